//! The landing page: version, links, and every target/endpoint with its last poll, so an
//! operator can see at once why a series is missing (blackbox_exporter's habit).

use super::AppState;
use crate::base::duration::format_duration;
use crate::store::{EndpointKey, EndpointState, FailedUnits, PollResult};
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

fn ago(now: SystemTime, t: Option<SystemTime>) -> String {
    match t.and_then(|t| now.duration_since(t).ok()) {
        Some(d) => format!(
            "{} ago",
            format_duration(std::time::Duration::from_secs(d.as_secs()))
        ),
        None => "never".into(),
    }
}

/// Renders the page.
pub async fn render(state: &AppState) -> String {
    let exposition = state.exposition.summary();
    let states = state.store.states();
    // Poll times come from the daemon's clock (a demo may run on another date).
    let now = state.clock.now();
    let mut html = String::with_capacity(4096 + states.len() * 300);
    html.push_str(&page_head("usage_exporter"));
    let _ = write!(
        html,
        "<h1>usage_exporter</h1>\
         <p>Version {} (revision {}). Config file: <code>{}</code>. Up for {}.</p>\
         <p><a href=\"{}\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>\
         <p>Upstream APIs are polled in the background; a scrape never calls them. \
         {} series from {} endpoints; {}.</p>",
        crate::telemetry::VERSION,
        crate::telemetry::REVISION,
        esc(&state.config_file),
        ago(SystemTime::now(), Some(state.started)).trim_end_matches(" ago"),
        esc(&state.telemetry_path),
        exposition.series,
        states.len(),
        match exposition.last_encode {
            Some(took) => format!("last encode took {} ms", took.as_millis()),
            None => "not encoded yet (the first scrape encodes)".into(),
        },
    );
    html.push_str(&summary(&states));
    if let Some(view) = state.telemetry.shard_view() {
        if view.shard.total > 1 {
            let _ = write!(
                html,
                "<p>Shard {} of {} (0-based): {} targets polled here, {} by other shards.</p>",
                view.shard.index,
                view.shard.total,
                view.owned,
                view.others.len()
            );
            if !view.others.is_empty() {
                html.push_str("<details><summary>Targets of other shards</summary><ul>");
                for (kind, name) in &view.others {
                    let owner = crate::shard::owner(kind, name, view.shard.total);
                    let _ = write!(html, "<li>{} {} (shard {owner})</li>", esc(kind), esc(name));
                }
                html.push_str("</ul></details>");
            }
        }
    }
    html.push_str("<div class=\"wide\">");
    html.push_str(
        "<table><tr><th>Source</th><th>Target</th><th>Endpoint</th><th>Interval</th>\
         <th>Last poll</th><th>Duration</th><th>Result</th><th>Last success</th><th>Polls</th>\
         <th>Errors</th><th>Message</th></tr>",
    );
    for (key, s) in &states {
        let (class, result, message) = outcome(s.last_result.as_ref(), s.stale);
        let units_html = match &s.last_result {
            Some(PollResult::Partial(units)) => units_list(units),
            _ => String::new(),
        };
        let errors: u64 = s.errors_total.values().sum();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{units_html}</td></tr>",
            esc(key.source),
            esc(&key.target),
            esc(&detail_link(key)),
            esc(key.endpoint),
            format_duration(s.interval),
            ago(now, s.last_poll),
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
            ago(now, s.last_success),
            s.polls_total,
            errors,
            esc(&message),
        );
    }
    html.push_str("</table></div>");
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

/// The page's head: title, a viewport for phones, and the one small stylesheet (no external
/// assets).
fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>\
         <style>body{{font-family:sans-serif;margin:1em;max-width:100%}}\
         table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}\
         .wide{{overflow-x:auto}}.ok{{color:#080}}.failed{{color:#b00}}.partial{{color:#b60}}\
         .skipped{{color:#888}}ul{{margin:0;padding-left:1.2em}}\
         .summary span{{display:inline-block;margin:0 1em 0.3em 0}}\
         @media (max-width:600px){{body{{margin:0.5em}}td,th{{padding:2px 4px}}}}</style>\
         </head><body>",
        esc(title)
    )
}

/// The class, result text and message of a poll outcome.
fn outcome(result: Option<&PollResult>, stale: bool) -> (&'static str, String, String) {
    match result {
        None => ("", "pending".to_string(), String::new()),
        Some(PollResult::Success) if stale => ("failed", "stale".into(), String::new()),
        Some(PollResult::Success) => ("ok", "success".into(), String::new()),
        Some(PollResult::Partial(units)) => (
            "partial",
            format!(
                "partial: {} of {} units failed (data of the others served)",
                units.failed, units.units
            ),
            String::new(),
        ),
        Some(PollResult::Skipped(why)) => ("skipped", "skipped".into(), why.clone()),
        Some(PollResult::Unsupported(why)) => ("skipped", "unsupported".into(), why.clone()),
        Some(PollResult::Failed(reason, message)) => {
            let result = if stale {
                format!("failed: {reason} (data dropped as stale)")
            } else {
                format!("failed: {reason}")
            };
            ("failed", result, message.clone())
        }
    }
}

/// The failed units of a partial poll, the first [`UNITS_SHOWN`] of them.
fn units_list(units: &FailedUnits) -> String {
    let mut html = String::from("<ul>");
    for unit in units.first.iter().take(UNITS_SHOWN) {
        let _ = write!(
            html,
            "<li>{}: {} ({})</li>",
            esc(&unit.unit),
            esc(&unit.error.message),
            unit.error.reason
        );
    }
    if units.failed > UNITS_SHOWN {
        let _ = write!(html, "<li>… and {} more</li>", units.failed - UNITS_SHOWN);
    }
    html.push_str("</ul>");
    html
}

/// How many endpoints are in each state: a glance is enough to know whether to read on.
fn summary(states: &[(EndpointKey, EndpointState)]) -> String {
    let mut counts = [0usize; 7];
    const NAMES: [(&str, &str); 7] = [
        ("failing", "failed"),
        ("stale", "failed"),
        ("partial", "partial"),
        ("skipped", "skipped"),
        ("unsupported", "skipped"),
        ("pending", ""),
        ("ok", "ok"),
    ];
    for (_, s) in states {
        let i = match &s.last_result {
            Some(PollResult::Failed(..)) => 0,
            _ if s.stale => 1,
            Some(PollResult::Partial(_)) => 2,
            Some(PollResult::Skipped(_)) => 3,
            Some(PollResult::Unsupported(_)) => 4,
            None => 5,
            Some(PollResult::Success) => 6,
        };
        counts[i] += 1;
    }
    let mut html = String::from("<p class=\"summary\">");
    for ((name, class), n) in NAMES.iter().zip(counts) {
        let class = if n > 0 { class } else { "" };
        let _ = write!(html, "<span class=\"{class}\"><b>{n}</b> {name}</span>");
    }
    html.push_str("</p>");
    html
}

/// The detail page's address of an endpoint.
fn detail_link(key: &EndpointKey) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("source", key.source)
        .append_pair("target", &key.target)
        .append_pair("endpoint", key.endpoint)
        .finish();
    format!("/status?{query}")
}

fn wall(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// The detail page of one endpoint (`/status?source=…&target=…&endpoint=…`): its last polls,
/// the upstream requests of the last one and the families it produced; `None` for an endpoint
/// that is not polled here.
pub fn render_detail(state: &AppState, query: &str) -> Option<String> {
    let mut wanted = (String::new(), String::new(), String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "source" => wanted.0 = v.into_owned(),
            "target" => wanted.1 = v.into_owned(),
            "endpoint" => wanted.2 = v.into_owned(),
            _ => {}
        }
    }
    let key = state
        .store
        .states()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.source == wanted.0 && *k.target == *wanted.1 && k.endpoint == wanted.2)?;
    // `state` (not `states`) carries the data, for the families it produced.
    let s = state.store.state(&key)?;
    let now = state.clock.now();
    let title = format!("{} {} {}", key.source, key.target, key.endpoint);
    let mut html = page_head(&format!("usage_exporter: {title}"));
    let (class, result, message) = outcome(s.last_result.as_ref(), s.stale);
    let _ = write!(
        html,
        "<p><a href=\"/\">← all endpoints</a></p><h1>{}</h1>\
         <p>Polled every {}; data kept {} after the last success. Now: \
         <span class=\"{class}\">{}</span>{}</p>",
        esc(&title),
        format_duration(s.interval),
        format_duration(s.stale_after),
        esc(&result),
        if message.is_empty() {
            String::new()
        } else {
            format!(" — {}", esc(&message))
        },
    );
    if let Some(PollResult::Partial(units)) = &s.last_result {
        html.push_str("<h2>Failed units of the last poll</h2>");
        html.push_str(&units_list(units));
    }
    html.push_str(
        "<h2>Last polls</h2><div class=\"wide\"><table><tr><th>Started</th><th>Duration</th>\
         <th>Outcome</th><th>Error</th></tr>",
    );
    for poll in s.history.iter().rev() {
        let (class, result, message) = outcome(Some(&poll.result), false);
        let _ = write!(
            html,
            "<tr><td>{} ({})</td><td>{} ms</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            wall(poll.started),
            ago(now, Some(poll.started)),
            poll.duration.as_millis(),
            esc(&result),
            esc(&message)
        );
    }
    if s.history.is_empty() {
        html.push_str("<tr><td colspan=\"4\">not polled yet</td></tr>");
    }
    html.push_str("</table></div>");
    html.push_str(
        "<h2>Upstream requests of the last poll</h2><p>Paths only: query strings, headers and \
         bodies (where credentials travel) are never shown.</p><div class=\"wide\"><table>\
         <tr><th>Method</th><th>Path</th><th>Status</th><th>Duration</th><th>Bytes</th></tr>",
    );
    match &s.last_requests {
        Some(log) if !log.requests.is_empty() => {
            for r in &log.requests {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
                    esc(&r.method),
                    esc(&r.path),
                    esc(&r.status),
                    r.duration.as_millis(),
                    r.bytes
                );
            }
            if log.more > 0 {
                let _ = write!(
                    html,
                    "<tr><td colspan=\"5\">… and {} more</td></tr>",
                    log.more
                );
            }
        }
        _ => html.push_str("<tr><td colspan=\"5\">none</td></tr>"),
    }
    html.push_str("</table></div><h2>Families produced</h2>");
    match &s.snapshot {
        Some(snapshot) => {
            let _ = write!(
                html,
                "<p>{} series in {} families.</p><div class=\"wide\"><table>\
                 <tr><th>Family</th><th>Type</th><th>Series</th></tr>",
                snapshot.series_count(),
                snapshot.families().len()
            );
            for f in snapshot.families() {
                let _ = write!(
                    html,
                    "<tr><td><code>{}</code></td><td>{:?}</td><td>{}</td></tr>",
                    esc(&f.name),
                    f.kind,
                    f.len()
                );
            }
            html.push_str("</table></div>");
        }
        None => html.push_str("<p>No data is served for this endpoint now.</p>"),
    }
    html.push_str("</body></html>\n");
    Some(html)
}
