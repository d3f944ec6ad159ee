//! The alerts, their runbooks and the dashboards point at each other; these tests keep the
//! pointers right (issue 15, "alerts that mean what they say").
//!
//! - Every alert in deploy/prometheus/alerts.yml has a `severity` of critical, warning or info, a
//!   `summary`, a `description`, a `for:`, and a `runbook_url` with the base below whose anchor is
//!   the GitHub anchor of its `## <AlertName>` section in docs/runbooks.md.
//! - Every section has the five parts (Meaning, Likely causes, How to confirm, What to do, Must
//!   not fire when) and quotes the alert's expression verbatim in a `promql` block; every `## `
//!   section is an alert's, apart from the introductory ones listed below.
//! - Every alert's `dashboard_url` (`/d/<uid>?viewPanel=<id>&var-<name>=...`) names a dashboard of
//!   dashboards/*.json, a panel of it whose queries use a metric of the alert's expression
//!   (recording rules expanded), template variables the dashboard has, and the panel links back
//!   to the runbook section; every runbook link of a dashboard leads to an existing alert.
//! - deploy/prometheus/tests.yml has, for every alert, a case where it fires and one where it
//!   does not.
//!
//! Run: `cargo test --test it runbooks::`. No network, no processes.

use crate::e2e_support::panels;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Where docs/runbooks.md is read; `runbook_url` is this plus `#<anchor>`.
const RUNBOOK_BASE: &str =
    "https://github.com/usage-exporter/usage_exporter/blob/main/docs/runbooks.md";

/// `## ` sections of docs/runbooks.md that belong to no alert.
const INTRO_SECTIONS: &[&str] = &["Reading the alerts", "The usage alerts: what they compare"];

/// The parts every alert section has, in this order.
const PARTS: &[&str] = &[
    "**Meaning**",
    "**Likely causes**",
    "**How to confirm**",
    "**What to do**",
    "**Must not fire when**",
];

const SEVERITIES: &[&str] = &["critical", "warning", "info"];

/// Alerts whose `dashboard_url` panel does not query a metric of the alert's expression, and why.
/// The test fails when an entry is no longer needed.
const PANEL_WITHOUT_ALERT_METRIC: &[(&str, &str)] = &[];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// One alerting rule as written in alerts.yml.
struct Alert {
    name: String,
    expr: String,
    rule: Yaml,
}

impl Alert {
    fn annotation(&self, key: &str) -> Option<&str> {
        self.rule["annotations"][key].as_str()
    }
}

fn alerts() -> Vec<Alert> {
    let file = yaml("deploy/prometheus/alerts.yml");
    let mut out = Vec::new();
    for group in file["groups"].as_sequence().expect("alerts.yml: groups") {
        for rule in group["rules"].as_sequence().expect("alerts.yml: rules") {
            if let Some(name) = rule["alert"].as_str() {
                out.push(Alert {
                    name: name.to_string(),
                    expr: rule["expr"].as_str().unwrap_or("").to_string(),
                    rule: rule.clone(),
                });
            }
        }
    }
    assert!(
        out.len() > 10,
        "alerts.yml: only {} alerts found",
        out.len()
    );
    out
}

/// Recording rule name → its expression, from recordings.yml.
fn recordings() -> BTreeMap<String, String> {
    let file = yaml("deploy/prometheus/recordings.yml");
    let mut out = BTreeMap::new();
    for group in file["groups"]
        .as_sequence()
        .expect("recordings.yml: groups")
    {
        for rule in group["rules"].as_sequence().expect("recordings.yml: rules") {
            if let (Some(record), Some(expr)) = (rule["record"].as_str(), rule["expr"].as_str()) {
                out.insert(record.to_string(), expr.to_string());
            }
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as `-`.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The `## ` sections of a Markdown text (heading → body), ignoring headings in code fences.
fn sections(markdown: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if !fenced {
            if let Some(heading) = line.strip_prefix("## ") {
                out.push((heading.trim().to_string(), String::new()));
                continue;
            }
        }
        if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The contents of the ```promql blocks of a Markdown text.
fn promql_blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```promql") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => out.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    out
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
    "atan2",
];
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Aggregation operators: `sum by (x) (...)` puts the label list between name and parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names (and recording rule names) a PromQL expression selects: identifiers that are
/// not functions, aggregations or keywords, outside label matchers, ranges, strings and comments.
/// Grafana variables (`$x`, `${x}`) are skipped.
fn selected_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_string = |i: &mut usize, quote: char| {
        *i += 1;
        while *i < chars.len() && chars[*i] != quote {
            if chars[*i] == '\\' {
                *i += 1;
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => skip_string(&mut i, c),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                i += 1;
                while i < chars.len() && chars[i] != close {
                    let q = chars[i];
                    if matches!(q, '"' | '\'' | '`') {
                        skip_string(&mut i, q);
                    } else {
                        i += 1;
                    }
                }
                i += 1;
            }
            '$' => {
                i += 1;
                if i < chars.len() && chars[i] == '{' {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // numbers and durations: 0.9, 1e6, 86400, 1d
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let called = j < chars.len() && chars[j] == '(';
                if LABEL_LIST_KEYWORDS.contains(&word.as_str()) && called {
                    // skip the label list
                    while j < chars.len() && chars[j] != ')' {
                        j += 1;
                    }
                    i = j + 1;
                } else if !called
                    && !KEYWORDS.contains(&word.to_lowercase().as_str())
                    && !AGGREGATIONS.contains(&word.as_str())
                {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The metric names an expression reads, recording rules replaced by what they read (the
/// recording rule's own name is kept too).
fn metrics_read(expr: &str, recordings: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = selected_names(expr).into_iter().collect();
    while let Some(name) = todo.pop() {
        if out.insert(name.clone()) {
            if let Some(inner) = recordings.get(&name) {
                todo.extend(selected_names(inner));
            }
        }
    }
    out
}

/// Every dashboard of dashboards/, by uid.
fn dashboards() -> BTreeMap<String, (String, Json)> {
    let mut out = BTreeMap::new();
    let dir = repo().join("dashboards");
    for entry in std::fs::read_dir(&dir).expect("dashboards/") {
        let path = entry.expect("dashboards/ entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).expect("dashboard");
        let d: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no uid"))
            .to_string();
        out.insert(uid, (file, d));
    }
    assert!(!out.is_empty(), "no dashboards in dashboards/");
    out
}

fn fail_on(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_alert_has_severity_summary_description_for_and_runbook_url() {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for a in alerts() {
        let n = &a.name;
        if !seen.insert(n.clone()) {
            problems.push(format!("{n}: defined twice"));
        }
        match a.rule["labels"]["severity"].as_str() {
            Some(s) if SEVERITIES.contains(&s) => {}
            other => problems.push(format!(
                "{n}: severity {other:?}, not one of {SEVERITIES:?}"
            )),
        }
        for key in ["summary", "description"] {
            if a.annotation(key).is_none_or(|v| v.trim().is_empty()) {
                problems.push(format!("{n}: no {key} annotation"));
            }
        }
        if a.rule["for"].as_str().is_none_or(|v| v.trim().is_empty()) {
            problems.push(format!("{n}: no for:"));
        }
        match a.annotation("runbook_url") {
            None => problems.push(format!("{n}: no runbook_url")),
            Some(url) => match url
                .strip_prefix(RUNBOOK_BASE)
                .and_then(|r| r.strip_prefix('#'))
            {
                None => problems.push(format!("{n}: runbook_url {url} is not {RUNBOOK_BASE}#...")),
                Some(anchor) if anchor != n.to_lowercase() => problems.push(format!(
                    "{n}: runbook_url anchor #{anchor}, expected #{}",
                    n.to_lowercase()
                )),
                Some(_) => {}
            },
        }
    }
    fail_on(problems);
}

#[test]
fn every_alert_has_a_complete_runbook_section_and_every_section_an_alert() {
    let runbooks = read("docs/runbooks.md");
    let sections = sections(&runbooks);
    let alerts = alerts();
    let mut problems = Vec::new();
    let by_anchor: BTreeMap<String, &(String, String)> =
        sections.iter().map(|s| (github_anchor(&s.0), s)).collect();
    for a in &alerts {
        let Some(anchor) = a
            .annotation("runbook_url")
            .and_then(|u| u.rsplit_once('#'))
            .map(|(_, anchor)| anchor)
        else {
            continue; // reported by the annotation test
        };
        let Some((heading, body)) = by_anchor.get(anchor) else {
            problems.push(format!(
                "{}: docs/runbooks.md has no `## ` heading with the anchor #{anchor}",
                a.name
            ));
            continue;
        };
        if heading != &a.name {
            problems.push(format!("{}: its section is headed `## {heading}`", a.name));
        }
        let mut last = 0;
        for part in PARTS {
            match body.lines().position(|l| l.starts_with(part)) {
                None => problems.push(format!("{}: the section has no {part} part", a.name)),
                Some(at) if at < last => {
                    problems.push(format!("{}: {part} is out of order", a.name))
                }
                Some(at) => last = at,
            }
        }
        let expr = squash(&a.expr);
        if !promql_blocks(body).iter().any(|b| squash(b) == expr) {
            problems.push(format!(
                "{}: the section quotes no ```promql block equal to the alert's expression:\n{}",
                a.name, a.expr
            ));
        }
    }
    let names: BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    for (heading, _) in &sections {
        if !names.contains(heading.as_str()) && !INTRO_SECTIONS.contains(&heading.as_str()) {
            problems.push(format!(
                "docs/runbooks.md: section `## {heading}` is for no alert in alerts.yml"
            ));
        }
    }
    let order: Vec<&str> = sections
        .iter()
        .map(|s| s.0.as_str())
        .filter(|h| names.contains(h))
        .collect();
    let expected: Vec<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    if problems.is_empty() && order != expected {
        problems.push(format!(
            "docs/runbooks.md: sections not in the order of alerts.yml:\n{order:?}\n{expected:?}"
        ));
    }
    fail_on(problems);
}

#[test]
fn dashboard_urls_open_a_panel_that_shows_the_alert_and_links_back() {
    let boards = dashboards();
    let recordings = recordings();
    let mut problems = Vec::new();
    let mut excused = BTreeSet::new();
    for a in alerts() {
        let n = &a.name;
        let Some(url) = a.annotation("dashboard_url") else {
            problems.push(format!("{n}: no dashboard_url annotation"));
            continue;
        };
        let Some((path, query)) = url.strip_prefix("/d/").and_then(|r| r.split_once('?')) else {
            problems.push(format!(
                "{n}: dashboard_url {url} is not /d/<uid>?viewPanel=<id>"
            ));
            continue;
        };
        let uid = path.split('/').next().unwrap_or("");
        let Some((file, board)) = boards.get(uid) else {
            problems.push(format!(
                "{n}: dashboard_url {url}: no dashboard with uid {uid}"
            ));
            continue;
        };
        let mut panel_id = None;
        let variables: BTreeSet<&str> = board["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for param in query.split('&') {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            if key == "viewPanel" {
                panel_id = value.parse::<u64>().ok();
            } else if let Some(var) = key.strip_prefix("var-") {
                if !variables.contains(var) {
                    problems.push(format!(
                        "{n}: dashboard_url sets var-{var}, {file} has no {var}"
                    ));
                }
                if value.is_empty() {
                    problems.push(format!("{n}: dashboard_url sets var-{var} to nothing"));
                }
            } else {
                problems.push(format!(
                    "{n}: dashboard_url has an unknown parameter {param}"
                ));
            }
        }
        let Some(id) = panel_id else {
            problems.push(format!("{n}: dashboard_url {url} has no numeric viewPanel"));
            continue;
        };
        let Some(panel) = panels(board)
            .into_iter()
            .find(|p| p["id"].as_u64() == Some(id))
        else {
            problems.push(format!("{n}: {file} has no panel {id}"));
            continue;
        };
        let title = panel["title"].as_str().unwrap_or("?");
        let alert_metrics = metrics_read(&a.expr, &recordings);
        let panel_metrics: BTreeSet<String> = panel["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["expr"].as_str())
            .flat_map(|e| metrics_read(e, &recordings))
            .collect();
        let shared: Vec<&String> = alert_metrics.intersection(&panel_metrics).collect();
        let exception = PANEL_WITHOUT_ALERT_METRIC
            .iter()
            .find(|(name, _)| name == n);
        match (shared.is_empty(), exception) {
            (true, None) => problems.push(format!(
                "{n}: panel {id} ({file}: {title}) queries none of the alert's metrics \
                 {alert_metrics:?} (it reads {panel_metrics:?})"
            )),
            (false, Some(_)) => problems.push(format!(
                "{n}: panel {id} ({file}: {title}) now reads {shared:?}: drop it from \
                 PANEL_WITHOUT_ALERT_METRIC"
            )),
            (true, Some((_, metric))) => {
                assert!(
                    alert_metrics.contains(*metric),
                    "{n}: exception names {metric}"
                );
                excused.insert(n.clone());
            }
            (false, None) => {}
        }
        let runbook = a.annotation("runbook_url").unwrap_or("");
        let links_back = panel["links"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["url"].as_str() == Some(runbook));
        if !links_back {
            problems.push(format!(
                "{n}: panel {id} ({file}: {title}) has no link to {runbook} \
                 (alerts=[...] in scripts/gen-dashboards.py)"
            ));
        }
    }
    for (name, _) in PANEL_WITHOUT_ALERT_METRIC {
        if !excused.contains(*name) && !problems.iter().any(|p| p.starts_with(name)) {
            problems.push(format!(
                "PANEL_WITHOUT_ALERT_METRIC names {name}, which needs no exception"
            ));
        }
    }
    fail_on(problems);
}

#[test]
fn dashboard_runbook_links_lead_to_alert_sections() {
    let names: BTreeSet<String> = alerts()
        .into_iter()
        .map(|a| a.name.to_lowercase())
        .collect();
    let mut problems = Vec::new();
    let mut links = 0;
    for (file, board) in dashboards().values() {
        for panel in panels(board) {
            for link in panel["links"].as_array().into_iter().flatten() {
                let url = link["url"].as_str().unwrap_or("");
                if !url.contains("runbooks.md") {
                    continue;
                }
                links += 1;
                let title = panel["title"].as_str().unwrap_or("?");
                match url
                    .strip_prefix(RUNBOOK_BASE)
                    .and_then(|r| r.strip_prefix('#'))
                {
                    Some(anchor) if names.contains(anchor) => {}
                    _ => problems.push(format!(
                        "{file}: panel {title} links to {url}, no alert's runbook"
                    )),
                }
            }
        }
    }
    assert!(links > 0, "no dashboard panel links to docs/runbooks.md");
    fail_on(problems);
}

#[test]
fn every_alert_has_promtool_cases_where_it_fires_and_where_it_does_not() {
    let tests = yaml("deploy/prometheus/tests.yml");
    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for case in tests["tests"].as_sequence().expect("tests.yml: tests") {
        for t in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = t["alertname"].as_str().unwrap_or("").to_string();
            match t["exp_alerts"].as_sequence() {
                Some(list) if !list.is_empty() => fires.insert(name),
                _ => silent.insert(name),
            };
        }
    }
    let mut problems = Vec::new();
    for a in alerts() {
        if !fires.contains(&a.name) {
            problems.push(format!("{}: no case in tests.yml where it fires", a.name));
        }
        if !silent.contains(&a.name) {
            problems.push(format!(
                "{}: no case in tests.yml where it must not fire",
                a.name
            ));
        }
    }
    fail_on(problems);
}

#[test]
fn selected_names_finds_metrics_not_functions_labels_or_variables() {
    let names = selected_names(
        r#"sum by (job, target) (rate(foo_total{source="tencent", x=~"a|b"}[1h] offset 1d)) * 30
          > on (job) group_left bar:baz:ratio + 1e6 unless max(qux{target=~"$target"}[$__rate_interval])
          # comment_metric
          and ${var} or label_replace(quux, "type", "x", "", "")"#,
    );
    let expected: BTreeSet<String> = ["foo_total", "bar:baz:ratio", "qux", "quux"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, expected);
}
