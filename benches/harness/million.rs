//! The million-series row: the demo landscape at a scale that yields about a million series,
//! the exporter at default poll intervals, one Prometheus-like scraper (OpenMetrics, gzip)
//! while polls run. The demo puts a whole scale's subaccounts into one SCC target, whose
//! payloads then exceed the per-endpoint guards meant for real instances, so those guards are
//! raised for this row only (and said so in the table).

use super::process::{peak_rss_of, Exporter};
use super::{load, mb, ms, samples, wait_ready, LoadResult, FORMATS};
use std::io::Read;
use std::time::{Duration, Instant};

/// What the row reports.
pub struct MillionRow {
    /// Demo scale used.
    pub scale: u32,
    /// Source series exposed.
    pub series: usize,
    /// From start to `/-/ready` (every first poll done).
    pub ready: Duration,
    /// RSS after the first polls, before any scrape.
    pub rss_after_polls: u64,
    /// RSS after the scrape load.
    pub rss_after_load: u64,
    /// Highest RSS of the whole run (VmHWM).
    pub peak_rss: u64,
    /// The first OpenMetrics encode (every range; the first scrape asks for it), seconds, and
    /// its ranges (encoded, all).
    pub full_encode: (f64, (usize, usize)),
    /// Last OpenMetrics encode time (background, compression included) under the scrape load, seconds.
    pub encode_seconds: f64,
    /// Its ranges (encoded, all).
    pub encode_ranges: (usize, usize),
    /// The OpenMetrics encodes seen afterwards, with a scrape every 5 s as Prometheus would
    /// (sorted), seconds.
    pub quiet_encodes: Vec<f64>,
    /// The ranges those encodes encoded (sorted) and the ranges in the body.
    pub quiet_ranges: (Vec<usize>, usize),
    /// gzip body size.
    pub gzip_bytes: usize,
    /// The scrape load.
    pub load: LoadResult,
}

/// The guards the row raises, as YAML keys of `global`.
pub const RAISED: &str = "timeout 120s, body_limit_bytes 1 GiB, max_series_per_endpoint 2,000,000";

fn raise_limits(yaml: &str) -> String {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let global = doc
        .as_mapping_mut()
        .unwrap()
        .entry("global".into())
        .or_insert_with(|| serde_yaml_ng::Value::Mapping(Default::default()));
    let global = global.as_mapping_mut().unwrap();
    global.insert("timeout".into(), "120s".into());
    global.insert("body_limit_bytes".into(), (1u64 << 30).into());
    global.insert("max_series_per_endpoint".into(), 2_000_000u64.into());
    serde_yaml_ng::to_string(&doc).unwrap()
}

/// Runs the row at `scale` with a `seconds` long scrape load.
pub async fn run(client: &reqwest::Client, scale: u32, seconds: u64) -> MillionRow {
    let sims = usage_exporter_sim::demo::start(scale)
        .await
        .expect("simulators");
    let exporter = Exporter::start(&raise_limits(&sims.config_yaml()));
    let started = Instant::now();
    wait_ready(client, &exporter.url, Duration::from_secs(1200)).await;
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after_polls = exporter.rss_bytes();
    let (body, _) = gzip_scrape(client, &exporter.url).await;
    let full_encode = (openmetrics_encode_seconds(&body), openmetrics_ranges(&body));
    let load = load(&exporter, 1, FORMATS[0].1, true, seconds).await;
    let rss_after_load = exporter.rss_bytes();
    let (body, gzip_bytes) = gzip_scrape(client, &exporter.url).await;
    let one = |name: &str| samples(&body, name).first().map(|(_, v)| *v);
    let series = one("usage_exporter_exposed_series").unwrap_or(0.0) as usize;
    let encode_seconds = openmetrics_encode_seconds(&body);
    let encode_ranges = openmetrics_ranges(&body);
    // Then as Prometheus scrapes: every 5 s for a minute, while the polls go on. Each scrape
    // reports the newest background encode; a new value is a new encode.
    let mut quiet_encodes: Vec<f64> = Vec::new();
    let mut quiet_ranges = (Vec::new(), 0);
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (body, _) = gzip_scrape(client, &exporter.url).await;
        let seconds = openmetrics_encode_seconds(&body);
        if quiet_encodes.last() != Some(&seconds) && seconds != encode_seconds {
            quiet_encodes.push(seconds);
            let (encoded, all) = openmetrics_ranges(&body);
            quiet_ranges.0.push(encoded);
            quiet_ranges.1 = all;
        }
    }
    quiet_encodes.sort_by(f64::total_cmp);
    quiet_ranges.0.sort_unstable();
    let peak_rss = peak_rss_of(exporter.child.id());
    drop(exporter);
    drop(sims);
    MillionRow {
        scale,
        series,
        ready,
        rss_after_polls,
        rss_after_load,
        peak_rss,
        full_encode,
        encode_seconds,
        encode_ranges,
        quiet_encodes,
        quiet_ranges,
        gzip_bytes,
        load,
    }
}

/// A gzip OpenMetrics scrape, decoded, and its compressed size. A plain scrape would make the
/// exporter keep a plain body from then on, which a Prometheus-only deployment does not hold.
async fn gzip_scrape(client: &reqwest::Client, url: &str) -> (String, usize) {
    let gzip = client
        .get(format!("{url}/metrics"))
        .header("accept", FORMATS[0].1)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut body = String::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_string(&mut body)
        .expect("gzip body");
    (body, gzip.len())
}

/// The last OpenMetrics encode time the exporter reports.
fn openmetrics_encode_seconds(body: &str) -> f64 {
    samples(body, "usage_exporter_exposition_encode_duration_seconds")
        .into_iter()
        .find(|(l, _)| l.get("format").map(String::as_str) == Some("openmetrics"))
        .map(|(_, v)| v)
        .unwrap_or(f64::NAN)
}

/// The ranges of the last OpenMetrics encode the exporter reports: (encoded, all).
fn openmetrics_ranges(body: &str) -> (usize, usize) {
    let mut ranges = (0, 0);
    for (labels, v) in samples(body, "usage_exporter_exposition_ranges") {
        if labels.get("format").map(String::as_str) != Some("openmetrics") {
            continue;
        }
        if labels.get("state").map(String::as_str) == Some("encoded") {
            ranges.0 += v as usize;
        }
        ranges.1 += v as usize;
    }
    ranges
}

/// The row's table; `base` is the main table's (scale, series, RSS after load), for the growth
/// per additional series.
pub fn table(m: &MillionRow, seconds: u64, base: Option<(u32, usize, u64)>) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!(
        "\n## A million series\n\nDemo scale {} at default poll intervals, one scraper asking \
         for OpenMetrics with gzip back to back for {} s while the polls run (raised for this \
         row: {}).\n",
        m.scale, seconds, RAISED
    ));
    out.push("| measure | value |\n|---|---|".into());
    out.push(format!("| series (source) | {} |", m.series));
    out.push(format!(
        "| time to ready (all first polls) | {:.1} s |",
        m.ready.as_secs_f64()
    ));
    out.push(format!(
        "| RSS after first polls | {} |",
        mb(m.rss_after_polls as usize)
    ));
    out.push(format!(
        "| RSS after the scrape load | {} |",
        mb(m.rss_after_load as usize)
    ));
    out.push(format!(
        "| peak RSS of the run (VmHWM; during the first polls' JSON decoding) | {} |",
        mb(m.peak_rss as usize)
    ));
    out.push(format!(
        "| full encode of OpenMetrics + gzip (the first scrape's: {} of {} ranges) | {:.2} s |",
        m.full_encode.1 .0, m.full_encode.1 .1, m.full_encode.0
    ));
    out.push(format!(
        "| re-encode of OpenMetrics + gzip (background), under the back-to-back scrape load: {} of {} ranges changed | {:.2} s |",
        m.encode_ranges.0, m.encode_ranges.1, m.encode_seconds
    ));
    let quiet = &m.quiet_encodes;
    out.push(match (quiet.first(), quiet.last()) {
        (Some(min), Some(max)) => format!(
            "| re-encode of OpenMetrics + gzip, polls running, a scrape every 5 s: {} encodes ({} of {} ranges changed), min / median / max | {:.2} / {:.2} / {:.2} s |",
            quiet.len(),
            match (m.quiet_ranges.0.first(), m.quiet_ranges.0.last()) {
                (Some(few), Some(most)) if few != most => format!("{few} to {most}"),
                (Some(few), _) => few.to_string(),
                _ => "0".into(),
            },
            m.quiet_ranges.1,
            min,
            quiet[quiet.len() / 2],
            max
        ),
        _ => "| re-encode, polls running, a scrape every 5 s | no data change in the minute |".into(),
    });
    out.push(format!("| /metrics body, gzip | {} |", mb(m.gzip_bytes)));
    out.push(format!(
        "| gzip scrapes while polls run: requests, p50 / p99 | {} , {} / {} |",
        m.load.requests,
        ms(m.load.p50),
        ms(m.load.p99)
    ));
    if let Some((scale, series, rss)) = base {
        let growth =
            (m.rss_after_load as f64 - rss as f64) / (m.series as f64 - series as f64).max(1.0);
        out.push(format!(
            "| RSS growth per additional series, scale {scale} → {} (Prometheus-like load) | {:.2} KB |",
            m.scale,
            growth / 1e3
        ));
    }
    out
}
