//! The dependency rule of `docs/architecture.md`, checked: every `crate::<module>` reference in a
//! module's files must point to a module below it.

use std::collections::BTreeSet;
use std::path::Path;

/// Each top-level module and the modules it may use. Keep in step with docs/architecture.md.
const ALLOWED: &[(&str, &[&str])] = &[
    ("base", &[]),
    ("shard", &[]),
    ("snapshot", &[]),
    ("config", &["base"]),
    ("upstream", &["base", "config"]),
    ("store", &["base", "snapshot", "upstream"]),
    ("state", &["snapshot"]),
    (
        "sources",
        &["base", "config", "snapshot", "state", "store", "upstream"],
    ),
    (
        "schedule",
        &["base", "snapshot", "sources", "store", "upstream"],
    ),
    (
        "telemetry",
        &["base", "shard", "snapshot", "state", "store", "upstream"],
    ),
    ("expose", &["base", "snapshot", "store", "telemetry"]),
    ("http", &["base", "expose", "shard", "store", "telemetry"]),
    (
        "check",
        &[
            "base",
            "config",
            "schedule",
            "shard",
            "sources",
            "state",
            "telemetry",
        ],
    ),
    (
        "daemon",
        &[
            "base",
            "config",
            "expose",
            "http",
            "schedule",
            "shard",
            "sources",
            "state",
            "store",
            "telemetry",
        ],
    ),
    ("demo", &["base", "config", "daemon", "http", "sources"]),
];

/// Macros exported at the crate root that belong to a module.
const MACROS: &[(&str, &str)] = &[
    ("target_config", "config"),
    ("target_config_accessors", "config"),
];

fn module_of(relative: &Path) -> String {
    let first = relative.components().next().expect("a path inside src");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

fn references(text: &str) -> BTreeSet<String> {
    let ident = |t: &str| -> String {
        t.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        // `$crate::` inside a macro body refers to the defining module's own crate paths.
        let rest = &text[i + 7..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b::{Y, Z}}`: the first name of each top-level item.
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        names.push(ident(&group[j..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(ident(rest));
        }
    }
    names
        .into_iter()
        .filter(|n| !n.is_empty() && n != "self")
        .map(|name| {
            MACROS
                .iter()
                .find(|(m, _)| *m == name)
                .map(|(_, owner)| owner.to_string())
                .unwrap_or(name)
        })
        .collect()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut violations = Vec::new();
    let mut checked = 0;
    for path in all {
        let relative = path.strip_prefix(&src).expect("inside src");
        let module = module_of(relative);
        if ["lib", "main", "architecture_tests"].contains(&module.as_str()) {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            violations.push(format!(
                "{}: module {module} has no place in the rule",
                relative.display()
            ));
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(&path).expect("readable source");
        for used in references(&text) {
            if used != module && !allowed.contains(&used.as_str()) {
                violations.push(format!("{} uses crate::{used}", relative.display()));
            }
        }
    }
    assert!(checked > 40, "the walk found the modules ({checked} files)");
    assert!(
        violations.is_empty(),
        "dependency rule broken (see docs/architecture.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn grouped_imports_are_seen() {
    let found = references("use crate::{config::X, store::{A, B}};\nuse crate::base::Y;");
    let expected: BTreeSet<String> = ["base", "config", "store"].map(String::from).into();
    assert_eq!(found, expected);
}

#[test]
fn the_rule_has_no_circle() {
    // A module's allowed list only names modules listed before it.
    for (i, (module, allowed)) in ALLOWED.iter().enumerate() {
        for used in *allowed {
            let position = ALLOWED.iter().position(|(m, _)| m == used);
            assert!(
                position.is_some_and(|p| p < i),
                "{module} may use {used}, which is not below it"
            );
        }
    }
}
