//! The registry of source kinds: one line per source.

use super::source::{Kind, KindOf};
use super::{akana, aveva, scc, tencent, tr50};
use crate::config::SourceSchema;

/// Every source kind, in the order the docs, the landing page and `check-config` list them.
pub static KINDS: &[&dyn Kind] = &[
    &KindOf::<scc::Scc>::NEW,
    &KindOf::<akana::Akana>::NEW,
    &KindOf::<tr50::Tr50>::NEW,
    &KindOf::<tencent::Tencent>::NEW,
    &KindOf::<aveva::Aveva>::NEW,
];

/// The registry as the config loader sees it.
pub fn schemas() -> Vec<&'static dyn SourceSchema> {
    KINDS.iter().map(|k| *k as &dyn SourceSchema).collect()
}

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.kind() == name)
}
