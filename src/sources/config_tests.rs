//! Loading whole config files through the registry: the loader's error texts, secrets,
//! endpoint overrides (formerly in `config`, which no longer knows any source kind).

use crate::base::duration::ConfigDuration;
use crate::config::{Config, ConfigError, EndpointSetting};
use std::path::Path;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    match name {
        "SCC_PASSWORD" => Some("from-env".into()),
        _ => None,
    }
}

fn parse_text(text: &str) -> Result<Config, ConfigError> {
    super::parse_config(text, Path::new("/etc/ue.yml"), &env)
}

fn error_of(text: &str) -> String {
    parse_text(text).unwrap_err().to_string()
}

const SCC: &str =
    "sources:\n  scc:\n    - name: prod\n      url: https://scc:8443\n      username: monitor\n";

#[test]
fn empty_file_is_valid_with_defaults() {
    let c = parse_text("").unwrap();
    assert_eq!(c.global.timeout.get(), Duration::from_secs(10));
    assert!(c.targets.is_empty());
    let c = parse_text("global: {timeout: 3s}\nsources: {}\n").unwrap();
    assert_eq!(c.global.timeout.get(), Duration::from_secs(3));
}

#[test]
fn unknown_key_names_file_key_and_reason() {
    let e = error_of(&format!("{SCC}      password: x\n      pasword: y\n"));
    assert!(e.starts_with("/etc/ue.yml: sources.scc[0]"), "{e}");
    assert!(e.contains("unknown field `pasword`"), "{e}");
    let e = error_of("global:\n  timeout: 1s\n  colour: red\n");
    assert!(
        e.contains("global") && e.contains("unknown field `colour`"),
        "{e}"
    );
}

#[test]
fn duplicate_target_name_is_rejected() {
    let e = error_of(&format!(
        "{SCC}      password: x\n    - name: prod\n      url: https://other:8443\n      username: m\n      password: y\n"
    ));
    assert_eq!(
        e,
        "/etc/ue.yml: sources.scc[1].name: duplicate target name \"prod\" in sources.scc; names must be unique per source kind"
    );
}

#[test]
fn bad_duration_names_the_key() {
    let e = error_of(&format!(
        "{SCC}      password: x\n      timeout: 10 seconds\n"
    ));
    assert!(
        e.starts_with("/etc/ue.yml: sources.scc[0].timeout: invalid duration \"10 seconds\""),
        "{e}"
    );
    let e = error_of(&format!(
        "{SCC}      password: x\n      endpoints: {{memory: fast}}\n"
    ));
    assert!(
        e.contains("sources.scc[0].endpoints.memory") && e.contains("or `off`"),
        "{e}"
    );
}

#[test]
fn unreadable_secret_file_is_named() {
    let e = error_of(&format!("{SCC}      password_file: /nonexistent/scc-pw\n"));
    assert!(
        e.starts_with("/etc/ue.yml: sources.scc[0].password_file: cannot read secret file /nonexistent/scc-pw"),
        "{e}"
    );
}

#[test]
fn unknown_endpoint_lists_the_known_ones() {
    let e = error_of(&format!(
        "{SCC}      password: x\n      endpoints: {{memroy: 1m}}\n"
    ));
    assert!(e.starts_with("/etc/ue.yml: sources.scc[0].endpoints.memroy: unknown endpoint for source scc; known endpoints: health, "), "{e}");
}

#[test]
fn missing_required_fields_and_both_secret_forms() {
    let e = error_of(
        "sources:\n  akana:\n    - name: a\n      password: x\n      password_file: /tmp/x\n",
    );
    assert!(
        e.contains("sources.akana[0].password: set either password or password_file, not both"),
        "{e}"
    );
    assert!(e.contains("sources.akana[0].url: missing"), "{e}");
    assert!(
        e.contains("sources.akana[0].subscription_id: missing"),
        "{e}"
    );
}

#[test]
fn env_and_file_secrets_resolve() {
    let c = parse_text(&format!("{SCC}      password: ${{SCC_PASSWORD}}\n")).unwrap();
    assert_eq!(scc_settings(&c).password.expose(), "from-env");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let c = parse_text(&format!("{SCC}      password_file: {}\n", file.display())).unwrap();
    assert_eq!(scc_settings(&c).password.expose(), "from-file");
    assert!(
        !format!("{c:?}").contains("from-file"),
        "Debug never shows secrets"
    );
    let e = error_of(&format!("{SCC}      password: ${{NOT_SET}}\n"));
    assert_eq!(
        e,
        "/etc/ue.yml: sources.scc[0].password: environment variable NOT_SET is not set"
    );
}

#[test]
fn endpoint_off_and_intervals() {
    let c = parse_text(&format!(
        "{SCC}      password: x\n      endpoints: {{memory: 15s, top_time_consumers: off, usage: false}}\n"
    ))
    .unwrap();
    let e = &c.targets[0].endpoints;
    assert_eq!(
        e["memory"],
        EndpointSetting::Every(ConfigDuration(Duration::from_secs(15)))
    );
    assert_eq!(e["top_time_consumers"], EndpointSetting::Off);
    assert_eq!(e["usage"], EndpointSetting::Off);
}

#[test]
fn invalid_yaml_and_wrong_types() {
    let e = error_of("sources: [\n");
    assert!(e.starts_with("/etc/ue.yml: not valid YAML"), "{e}");
    let e = error_of("sources:\n  scc: {name: x}\n");
    assert!(
        e.contains("sources.scc") && e.contains("expected a sequence"),
        "{e}"
    );
}

fn scc_settings(c: &Config) -> &crate::sources::scc::Settings {
    c.targets_of::<crate::sources::scc::Settings>()[0]
}

#[test]
fn unknown_source_kind_lists_the_known_ones() {
    let e = error_of("sources:\n  sap: []\n");
    assert_eq!(
        e,
        "/etc/ue.yml: sources.sap: unknown source kind; known kinds: scc, akana, tr50, tencent, aveva"
    );
}

#[test]
fn call_budget_is_validated_into_typed_config() {
    use crate::base::budget::{BudgetPeriod, CallBudget};
    let c = parse_text(&format!(
        "{SCC}      password: x\n      max_calls_per_month: 1000000\n"
    ))
    .unwrap();
    assert_eq!(
        c.targets[0].call_budget,
        Some(CallBudget {
            calls: 1_000_000,
            period: BudgetPeriod::Month
        })
    );
    let c = parse_text(&format!(
        "{SCC}      password: x\n      max_calls_per_day: 500\n"
    ))
    .unwrap();
    assert_eq!(
        c.targets[0].call_budget,
        Some(CallBudget {
            calls: 500,
            period: BudgetPeriod::Day
        })
    );
    assert_eq!(
        parse_text(&format!("{SCC}      password: x\n"))
            .unwrap()
            .targets[0]
            .call_budget,
        None
    );
    assert_eq!(
        error_of(&format!(
            "{SCC}      password: x\n      max_calls_per_day: 10\n      max_calls_per_month: 300\n"
        )),
        "/etc/ue.yml: sources.scc[0].max_calls_per_day: set either max_calls_per_day or max_calls_per_month, not both"
    );
    assert_eq!(
        error_of(&format!("{SCC}      password: x\n      max_calls_per_month: 0\n")),
        "/etc/ue.yml: sources.scc[0].max_calls_per_month: must be at least 1 (leave it out for no call budget)"
    );
    let e = error_of(&format!(
        "{SCC}      password: x\n      max_calls_per_day: lots\n"
    ));
    assert!(
        e.starts_with("/etc/ue.yml: sources.scc[0]") && e.contains("max_calls_per_day"),
        "{e}"
    );
}
