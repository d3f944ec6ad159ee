//! Lookups in the registry of source kinds ([`super::KINDS`], declared in `sources/mod.rs` with
//! one line per source).

use super::{Kind, KINDS};
use crate::config::SourceSchema;

/// The registry as the config loader sees it.
pub fn schemas() -> Vec<&'static dyn SourceSchema> {
    KINDS.iter().map(|k| *k as &dyn SourceSchema).collect()
}

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.kind() == name)
}

/// The endpoint table of kind `name`, as kind-independent facts (empty for an unknown kind).
pub fn endpoints(name: &str) -> Vec<&'static super::EndpointInfo> {
    kind(name).map(|k| k.endpoints()).unwrap_or_default()
}
