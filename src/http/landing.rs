//! The landing page: version, links, and every target/endpoint with its last poll, so an
//! operator can see at once why a series is missing (blackbox_exporter's habit).

use super::AppState;
use crate::base::duration::format_duration;
use crate::store::PollResult;
use std::fmt::Write;
use std::time::SystemTime;

/// Failed units listed under a partially failing endpoint before "… and N more".
pub const UNITS_SHOWN: usize = 20;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn ago(t: Option<SystemTime>) -> String {
    match t.and_then(|t| SystemTime::now().duration_since(t).ok()) {
        Some(d) => format!(
            "{} ago",
            format_duration(std::time::Duration::from_secs(d.as_secs()))
        ),
        None => "never".into(),
    }
}

/// Renders the page.
pub async fn render(state: &AppState) -> String {
    let body = state.exposition.current().await;
    let states = state.store.states();
    let mut html = String::with_capacity(4096 + states.len() * 300);
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>usage_exporter</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}\
         .ok{{color:#080}}.failed{{color:#b00}}.partial{{color:#b60}}.skipped{{color:#888}}\
         ul{{margin:0;padding-left:1.2em}}</style></head><body>\
         <h1>usage_exporter</h1>\
         <p>Version {} (revision {}). Config file: <code>{}</code>. Up for {}.</p>\
         <p><a href=\"/metrics\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>\
         <p>Upstream APIs are polled in the background; a scrape never calls them. \
         {} series from {} endpoints; last encode took {} ms.</p>",
        crate::telemetry::VERSION,
        crate::telemetry::REVISION,
        esc(&state.config_file),
        ago(Some(state.started)).trim_end_matches(" ago"),
        body.series,
        states.len(),
        body.encode_time.as_millis(),
    );
    html.push_str(
        "<table><tr><th>Source</th><th>Target</th><th>Endpoint</th><th>Interval</th>\
         <th>Last poll</th><th>Duration</th><th>Result</th><th>Last success</th><th>Polls</th>\
         <th>Errors</th><th>Message</th></tr>",
    );
    for (key, s) in &states {
        let mut units_html = String::new();
        let (class, result, message) = match &s.last_result {
            None => ("", "pending".to_string(), String::new()),
            Some(PollResult::Success) if s.stale => ("failed", "stale".into(), String::new()),
            Some(PollResult::Success) => ("ok", "success".into(), String::new()),
            Some(PollResult::Partial(units)) => {
                units_html.push_str("<ul>");
                for unit in units.first.iter().take(UNITS_SHOWN) {
                    let _ = write!(
                        units_html,
                        "<li>{}: {} ({})</li>",
                        esc(&unit.unit),
                        esc(&unit.error.message),
                        unit.error.reason
                    );
                }
                if units.failed > UNITS_SHOWN {
                    let _ = write!(
                        units_html,
                        "<li>… and {} more</li>",
                        units.failed - UNITS_SHOWN
                    );
                }
                units_html.push_str("</ul>");
                let result = format!(
                    "partial: {} of {} units failed (data of the others served)",
                    units.failed, units.units
                );
                ("partial", result, String::new())
            }
            Some(PollResult::Skipped(why)) => ("skipped", "skipped".into(), why.clone()),
            Some(PollResult::Unsupported(why)) => ("skipped", "unsupported".into(), why.clone()),
            Some(PollResult::Failed(reason, message)) => {
                let result = if s.stale {
                    format!("failed: {reason} (data dropped as stale)")
                } else {
                    format!("failed: {reason}")
                };
                ("failed", result, message.clone())
            }
        };
        let errors: u64 = s.errors_total.values().sum();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{units_html}</td></tr>",
            esc(key.source),
            esc(&key.target),
            esc(key.endpoint),
            format_duration(s.interval),
            ago(s.last_poll),
            match (s.last_duration, s.last_phases) {
                (Some(d), Some(p)) => format!(
                    "{} ms (upstream {} ms, decode {} ms)",
                    d.as_millis(),
                    p.fetch.as_millis(),
                    p.decode.as_millis()
                ),
                (Some(d), None) => format!("{} ms", d.as_millis()),
                _ => String::new(),
            },
            esc(&result),
            ago(s.last_success),
            s.polls_total,
            errors,
            esc(&message),
        );
    }
    html.push_str("</table>");
    let calls = state.store.target_calls();
    if !calls.is_empty() {
        html.push_str(
            "<h2>Upstream calls</h2><p>Projected from the configured intervals and the measured \
             calls per poll. A target whose projection exceeds its call budget \
             (<code>max_calls_per_day</code>, <code>max_calls_per_month</code>) has its intervals \
             stretched by the factor shown.</p><table><tr><th>Source</th><th>Target</th>\
             <th>Projected calls</th><th>Budget</th><th>Interval stretch</th></tr>",
        );
        for ((source, target), c) in &calls {
            let budget = c
                .budget
                .map(|b| format!("{b} per {}", c.period))
                .unwrap_or_else(|| "none".into());
            let stretch = if c.stretch > 1.0 {
                format!("<span class=\"partial\">×{:.2}</span>", c.stretch)
            } else {
                "×1 (as configured)".into()
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{} per {}</td><td>{}</td><td>{stretch}</td></tr>",
                esc(source),
                esc(target),
                c.projected.round() as u64,
                c.period,
                esc(&budget),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    html
}
