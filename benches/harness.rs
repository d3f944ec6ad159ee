//! Performance harness: simulators at a given scale, the release exporter as its own process,
//! and a table of what matters (series, body sizes, per-endpoint poll phases, encode time,
//! /metrics throughput and latency, CPU per scrape, RSS; with 50 to 500 targets, idle CPU, RSS
//! per target, connection reuse and reload time). Writes `docs/benchmarks.md`.
//!
//! ```sh
//! cargo bench --bench harness -- --scale 50 --seconds 10
//! cargo bench --bench harness -- --scale 100 --serve-sims /tmp/sims.yml   # simulators only
//! cargo bench --bench harness -- --only many-targets --many-targets 500     # that table only
//! cargo bench --bench harness -- --only million --million-scale 820        # that table only
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "harness/process.rs"]
mod process;

#[path = "harness/golang.rs"]
mod golang;
#[path = "harness/many_targets.rs"]
mod many_targets;
#[path = "harness/million.rs"]
mod million;

use golang::GoExporter;
use process::{Exporter, Measured};

struct Args {
    scale: u32,
    seconds: u64,
    out: Option<PathBuf>,
    /// Only start the simulators, write their configuration here and wait (for manual runs).
    serve: Option<PathBuf>,
    /// Demo scale of the million-series row (0 skips it).
    million_scale: u32,
    /// Only measure this table and print it: `million` or `many-targets`.
    only: Option<String>,
    /// SCC target counts of the many-targets table.
    many_targets: Vec<usize>,
}

fn parse_args() -> Args {
    let mut args = Args {
        scale: 50,
        seconds: 10,
        out: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/benchmarks.md"
        ))),
        serve: None,
        million_scale: 820,
        only: None,
        many_targets: many_targets::COUNTS.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scale" => args.scale = it.next().and_then(|v| v.parse().ok()).expect("--scale N"),
            "--seconds" => {
                args.seconds = it.next().and_then(|v| v.parse().ok()).expect("--seconds S")
            }
            "--no-write" => args.out = None,
            "--serve-sims" => args.serve = it.next().map(PathBuf::from),
            "--million-scale" => {
                args.million_scale = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--million-scale N")
            }
            "--only" => args.only = it.next(),
            "--many-targets" => {
                args.many_targets = it
                    .next()
                    .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
                    .expect("--many-targets N,N,…")
            }
            "--bench" => {}
            other => eprintln!("ignoring argument {other}"),
        }
    }
    args
}

async fn wait_ready(client: &reqwest::Client, url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client.get(format!("{url}/-/ready")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "exporter not ready within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The formats a scraper can negotiate: (row name, Accept header).
const FORMATS: [(&str, &str); 3] = [
    ("OpenMetrics", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
    ("text 0.0.4", "text/plain;version=0.0.4"),
    ("protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,*/*;q=0.1"),
];

async fn fetch(client: &reqwest::Client, url: &str, gzip: bool) -> (usize, Duration) {
    fetch_as(client, url, FORMATS[0].1, gzip).await
}

async fn fetch_as(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
    gzip: bool,
) -> (usize, Duration) {
    let started = Instant::now();
    let mut req = client
        .get(format!("{url}/metrics"))
        .header("accept", accept);
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let mut resp = req.send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    let mut len = 0;
    while let Some(chunk) = resp.chunk().await.expect("body") {
        len += chunk.len();
    }
    (len, started.elapsed())
}

async fn metrics_text(client: &reqwest::Client, url: &str) -> String {
    metrics_text_as(client, url, FORMATS[0].1).await
}

async fn metrics_text_as(client: &reqwest::Client, url: &str, accept: &str) -> String {
    client
        .get(format!("{url}/metrics"))
        .header("accept", accept)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The data families of a text 0.0.4 body: all but the exporter's own `usage_exporter_*` and
/// `process_*` families.
fn data_families(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        let name = match line.strip_prefix("# ") {
            // "# HELP name …" / "# TYPE name …"
            Some(comment) => comment.split_whitespace().nth(1).unwrap_or(""),
            None => line.split(['{', ' ']).next().unwrap_or(""),
        };
        if !name.starts_with("usage_exporter_") && !name.starts_with("process_") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Sample lines (series, counting each histogram bucket, _sum and _count) of a text body.
fn series_lines(body: &str) -> usize {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// Samples of `name` as (labels, value).
fn samples(body: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.rsplit_once("} ") {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        let mut map = BTreeMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            if let Some((k, v)) = pair.split_once("=\"") {
                map.insert(k.to_string(), v.trim_end_matches('"').to_string());
            }
        }
        if let Ok(v) = value.trim().parse() {
            out.push((map, v));
        }
    }
    out
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

struct LoadResult {
    requests: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_100: f64,
}

async fn load(
    exporter: &impl Measured,
    concurrency: usize,
    accept: &'static str,
    gzip: bool,
    seconds: u64,
) -> LoadResult {
    let cpu_before = exporter.cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let url = exporter.url().to_string();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_gzip().build().unwrap();
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                latencies.push(fetch_as(&client, &url, accept, gzip).await.1);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = exporter.cpu_seconds() - cpu_before;
    latencies.sort();
    LoadResult {
        requests: latencies.len(),
        rps: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_per_100: cpu / latencies.len().max(1) as f64 * 100.0,
    }
}

/// Rewrites the demo config so every default-on endpoint polls every `interval`.
fn with_intervals(yaml: &str, interval: &str) -> String {
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    if let Some(sources) = doc.get_mut("sources").and_then(|s| s.as_mapping_mut()) {
        for (kind, targets) in sources.iter_mut() {
            let kind = kind.as_str().unwrap_or_default().to_string();
            for target in targets.as_sequence_mut().into_iter().flatten() {
                let map = target.as_mapping_mut().unwrap();
                let mut endpoints = serde_yaml_ng::Mapping::new();
                for spec in usage_exporter::sources::registry::endpoints(&kind) {
                    let setting = if spec.default_interval.is_some() {
                        interval
                    } else {
                        "off"
                    };
                    endpoints.insert(spec.name.into(), setting.into());
                }
                map.insert("endpoints".into(), serde_yaml_ng::Value::Mapping(endpoints));
            }
        }
    }
    serde_yaml_ng::to_string(&doc).unwrap()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!(
        "{cores} cores ({model}), {mem} RAM, {}",
        std::env::consts::OS
    )
}

pub(crate) fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Decode + translate of the SCC subaccounts payload with `n` subaccounts: median of 7 runs.
fn scc_subaccounts_cost(n: usize) -> (usize, Duration) {
    use usage_exporter::sources::scc::{model::SubaccountsPayload, translate};
    let state = usage_exporter_sim::scc::SccState::generated(n);
    let body = serde_json::to_vec(&state.subaccounts_json()).unwrap();
    let mut times: Vec<Duration> = (0..7)
        .map(|_| {
            let started = Instant::now();
            let payload: SubaccountsPayload =
                usage_exporter::upstream::decode_json(&body).expect("payload decodes");
            let snapshot = translate::subaccounts(&payload);
            assert!(snapshot.series_count() > n);
            started.elapsed()
        })
        .collect();
    times.sort();
    (body.len(), times[3])
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    if let Some(path) = &args.serve {
        let sims = usage_exporter_sim::demo::start(args.scale)
            .await
            .expect("simulators");
        std::fs::write(path, sims.config_yaml()).expect("write the configuration");
        eprintln!(
            "simulators at scale {} serving; configuration in {}",
            args.scale,
            path.display()
        );
        std::future::pending::<()>().await;
    }
    match args.only.as_deref() {
        Some("many-targets") => {
            for l in many_targets::table(&many_targets::run(args.seconds, &args.many_targets).await)
            {
                println!("{l}");
            }
            return;
        }
        Some("million") => {
            let client = reqwest::Client::builder().no_gzip().build().unwrap();
            let m = million::run(&client, args.million_scale, args.seconds * 6).await;
            for l in million::table(&m, args.seconds * 6, None) {
                println!("{l}");
            }
            return;
        }
        Some(other) => panic!("--only {other}: expected `million` or `many-targets`"),
        None => {}
    }
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };

    // Idle RSS at scale 1.
    let idle_rss = {
        let sims = usage_exporter_sim::demo::start(1)
            .await
            .expect("simulators");
        let exporter = Exporter::start(&sims.config_yaml());
        wait_ready(&client, &exporter.url, Duration::from_secs(120)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = metrics_text(&client, &exporter.url).await;
        exporter.rss_bytes()
    };

    // At scale: fast polling to measure poll phases, default schedules for the load.
    let sims = usage_exporter_sim::demo::start(args.scale)
        .await
        .expect("simulators");
    let fast = Exporter::start(&with_intervals(&sims.config_yaml(), "10s"));
    let ready_started = Instant::now();
    wait_ready(&client, &fast.url, Duration::from_secs(600)).await;
    let ready_after = ready_started.elapsed();
    let mut phases: BTreeMap<(String, String), BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let mut polls_seen: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut encode_times = Vec::new();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(35) {
        let body = metrics_text(&client, &fast.url).await;
        encode_times.extend(
            samples(&body, "usage_exporter_exposition_encode_duration_seconds")
                .into_iter()
                .map(|(_, v)| v),
        );
        for (labels, polls) in samples(&body, "usage_exporter_polls_total") {
            let key = (
                labels.get("source").cloned().unwrap_or_default(),
                labels.get("endpoint").cloned().unwrap_or_default(),
            );
            let target = labels.get("target").cloned().unwrap_or_default();
            let seen = polls_seen
                .entry((format!("{}/{target}", key.0), key.1.clone()))
                .or_insert(-1.0);
            if *seen == polls {
                continue;
            }
            *seen = polls;
            for (pl, v) in samples(&body, "usage_exporter_poll_phase_duration_seconds") {
                if pl.get("source") == labels.get("source")
                    && pl.get("target") == labels.get("target")
                    && pl.get("endpoint") == labels.get("endpoint")
                {
                    let phase = match pl.get("phase").map(String::as_str) {
                        Some("fetch") => "fetch",
                        Some("decode") => "decode",
                        _ => "process",
                    };
                    phases
                        .entry(key.clone())
                        .or_default()
                        .entry(phase)
                        .or_default()
                        .push(v);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Scrapes issued right after a data change: scrape back to back for 20 s; a scrape whose
    // source part differs from the previous one is the first after a change (the background
    // encoder had at most one scrape's time to finish).
    let mut after_change = Vec::new();
    let mut steady = Vec::new();
    let mut previous = String::new();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(20) {
        let started = Instant::now();
        let body = metrics_text(&client, &fast.url).await;
        let took = started.elapsed();
        let source: String = body
            .lines()
            .filter(|l| !l.starts_with("usage_exporter_") && !l.starts_with("process_"))
            .collect();
        if !previous.is_empty() && source != previous {
            after_change.push(took);
        } else {
            steady.push(took);
        }
        previous = source;
    }
    after_change.sort();
    steady.sort();
    drop(fast);

    let exporter = Exporter::start(&sims.config_yaml());
    wait_ready(&client, &exporter.url, Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after_polls = exporter.rss_bytes();
    // A Prometheus-like load first (OpenMetrics, gzip): what a Prometheus-only deployment holds.
    let _ = load(&exporter, 1, FORMATS[0].1, true, 3).await;
    let rss_prometheus_like = exporter.rss_bytes();
    let body = metrics_text(&client, &exporter.url).await;
    let series = samples(&body, "usage_exporter_exposed_series")
        .first()
        .map(|(_, v)| *v as usize)
        .unwrap_or(0);
    let (plain_size, _) = fetch(&client, &exporter.url, false).await;
    let (gzip_size, _) = fetch(&client, &exporter.url, true).await;
    let mut sizes = Vec::new();
    for (name, accept) in FORMATS {
        let (plain, _) = fetch_as(&client, &exporter.url, accept, false).await;
        let (gzip, _) = fetch_as(&client, &exporter.url, accept, true).await;
        sizes.push((name, plain, gzip));
    }
    let mut loads = Vec::new();
    for (format, concurrency, gzip) in [
        (0, 1, false),
        (0, 4, false),
        (0, 1, true),
        (0, 4, true),
        (1, 1, false),
        (1, 1, true),
        (2, 1, false),
        (2, 1, true),
    ] {
        let (name, accept) = FORMATS[format];
        loads.push((
            name.to_string(),
            concurrency,
            gzip,
            load(&exporter, concurrency, accept, gzip, args.seconds).await,
        ));
    }
    let exposition_body = metrics_text(&client, &exporter.url).await;
    let mut encode_by_format = Vec::new();
    for (labels, v) in samples(
        &exposition_body,
        "usage_exporter_exposition_encode_duration_seconds",
    ) {
        let format = labels.get("format").cloned().unwrap_or_default();
        let ranges = |state: &str| {
            samples(&exposition_body, "usage_exporter_exposition_ranges")
                .into_iter()
                .filter(|(l, _)| {
                    l.get("format") == Some(&format)
                        && l.get("state").map(String::as_str) == Some(state)
                })
                .map(|(_, v)| v as usize)
                .sum::<usize>()
        };
        let (encoded, reused) = (ranges("encoded"), ranges("reused"));
        encode_by_format.push((format, v, (encoded, encoded + reused)));
    }
    let rss_after_load = exporter.rss_bytes();
    let data_text = data_families(&metrics_text_as(&client, &exporter.url, FORMATS[1].1).await);
    drop(exporter);

    // The same data families served by client_golang, loaded the same way (our exporter stopped,
    // so the two never share the cores). OpenMetrics and text 0.0.4 only: Prometheus asks for
    // OpenMetrics first and text 0.0.4 as the fallback; protobuf only with native histograms on.
    let ours_series = series_lines(&data_text);
    let mut go_rows = Vec::new();
    let go = match tokio::task::block_in_place(|| GoExporter::start(&data_text)) {
        Ok(go) => {
            let go_text = metrics_text_as(&client, &go.url, FORMATS[1].1).await;
            let go_series = series_lines(&go_text);
            eprintln!(
                "series lines, text 0.0.4: usage_exporter (data families) {ours_series}, client_golang {go_series}"
            );
            assert!(
                ours_series.abs_diff(go_series) <= 5,
                "client_golang serves {go_series} series lines, usage_exporter {ours_series}: not the same series"
            );
            for (format, gzip) in [(0, false), (0, true), (1, false), (1, true)] {
                let (name, accept) = FORMATS[format];
                go_rows.push((
                    format!("client_golang (Go), {name}"),
                    1,
                    gzip,
                    load(&go, 1, accept, gzip, args.seconds).await,
                ));
            }
            Ok((go_series, go.rss_bytes(), go.versions.clone()))
        }
        Err(reason) => {
            eprintln!("client_golang: not measured: {reason}");
            Err(reason)
        }
    };
    loads.extend(go_rows);

    line(format!("# Benchmarks\n\nMachine: {}. Scale {} ({} source series). Load phases of {} s each; \
                  the exporter runs as its own process (release build), the simulators and the load \
                  generator share the same 2 cores.\n", machine(), args.scale, series, args.seconds));
    line(format!(
        "Reproduce: `cargo bench --bench harness -- --scale {} --seconds {}`.\n",
        args.scale, args.seconds
    ));
    line("| measure | value |\n|---|---|".into());
    line(format!("| series (source) | {series} |"));
    line(format!(
        "| /metrics body plain / gzip (OpenMetrics) | {} / {} |",
        mb(plain_size),
        mb(gzip_size)
    ));
    for (name, plain, gzip) in &sizes {
        line(format!(
            "| /metrics body plain / gzip, {name} | {} / {} |",
            mb(*plain),
            mb(*gzip)
        ));
    }
    for (format, v, (encoded, all)) in &encode_by_format {
        line(format!(
            "| last encode of the {format} body (background, once per data change; {encoded} of {all} ranges changed) | {:.1} ms |",
            v * 1e3
        ));
    }
    line(format!(
        "| scrape right after a data change, p50 / max of {} (10 s polling, OpenMetrics) | {} / {} |",
        after_change.len(),
        ms(percentile(&after_change, 0.5)),
        ms(after_change.last().copied().unwrap_or_default())
    ));
    line(format!(
        "| scrape with unchanged data, p50 / p99 of {} (same run) | {} / {} |",
        steady.len(),
        ms(percentile(&steady, 0.5)),
        ms(percentile(&steady, 0.99))
    ));
    line(format!(
        "| time to ready (all first polls) | {:.1} s |",
        ready_after.as_secs_f64()
    ));
    let mut enc = encode_times.clone();
    line(format!(
        "| re-encode after a data change, OpenMetrics, 10 s polling (median of {}) | {:.1} ms |",
        enc.len(),
        median(&mut enc) * 1e3
    ));
    let (scc_bytes, scc_cost) = scc_subaccounts_cost(2000);
    line(format!(
        "| SCC subaccounts payload, 2,000 subaccounts ({}): decode + translate (median of 7) | {} |",
        mb(scc_bytes),
        ms(scc_cost)
    ));
    line(format!(
        "| RSS idle (scale 1) | {} |",
        mb(idle_rss as usize)
    ));
    line(format!(
        "| RSS after first polls (scale {}) | {} |",
        args.scale,
        mb(rss_after_polls as usize)
    ));
    line(format!(
        "| RSS after a Prometheus-like load (OpenMetrics gzip only, scale {}) | {} |",
        args.scale,
        mb(rss_prometheus_like as usize)
    ));
    line(format!(
        "| RSS per series, Prometheus-like load (above minus idle, per series) | {:.2} KB |",
        (rss_prometheus_like.saturating_sub(idle_rss)) as f64 / series.max(1) as f64 / 1e3
    ));
    line(format!(
        "| RSS after load of every format, plain and gzip (scale {}) | {} |",
        args.scale,
        mb(rss_after_load as usize)
    ));
    if let Ok((go_series, go_rss, _)) = &go {
        line(format!(
            "| series lines, text 0.0.4, data families: usage_exporter / client_golang | {ours_series} / {go_series} |"
        ));
        line(format!(
            "| RSS of the client_golang exporter serving the same series (after its load) | {} |",
            mb(*go_rss as usize)
        ));
    }
    line(String::new());
    line("| /metrics load | requests | req/s | p50 | p99 | CPU s per 100 scrapes |\n|---|---|---|---|---|---|".into());
    for (name, concurrency, gzip, r) in &loads {
        line(format!(
            "| {name}, {} scraper{}, {} | {} | {:.1} | {} | {} | {:.3} |",
            concurrency,
            if *concurrency == 1 { "" } else { "s" },
            if *gzip { "gzip" } else { "plain" },
            r.requests,
            r.rps,
            ms(r.p50),
            ms(r.p99),
            r.cpu_per_100
        ));
    }
    line(String::new());
    line("Per endpoint, median over the polls seen in a 35 s window with every endpoint polled every 10 s \
          (fetch = waiting for the simulator, decode = JSON parsing, process = translation and the rest):\n".into());
    line("| source | endpoint | polls | fetch | decode | process | decode + process |\n|---|---|---|---|---|---|---|".into());
    for ((source, endpoint), by_phase) in &phases {
        let get = |p: &str| by_phase.get(p).cloned().unwrap_or_default();
        let (mut f, mut d, mut p) = (get("fetch"), get("decode"), get("process"));
        let n = f.len();
        let mut dp: Vec<f64> = d.iter().zip(p.iter()).map(|(a, b)| a + b).collect();
        line(format!(
            "| {source} | {endpoint} | {n} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            median(&mut f) * 1e3,
            median(&mut d) * 1e3,
            median(&mut p) * 1e3,
            median(&mut dp) * 1e3
        ));
    }
    line(String::new());
    line("Reading the table: `process` is the poll time not spent waiting for the upstream or decoding JSON; \
          for Tencent it is mostly the per-target token bucket (15 requests/s by default; at scale 50 one \
          `metric_data` poll makes 60 GetMonitorData calls), not CPU. \"RSS after first polls\" is taken before \
          the first scrape (a format is encoded once first asked for, then in the background after each data change \
          while scrapers keep asking for it within 10 minutes); \"after load\" includes the cached bodies of all three \
          formats and their gzip prefixes.".into());
    match &go {
        Ok((_, _, versions)) => line(format!(
            "\nThe client_golang rows: benches/golang/main.go ({versions}, Debian's packages) serving \
             usage_exporter's data families (its text 0.0.4 body without the `usage_exporter_*` and \
             `process_*` families) from a fresh registry through `promhttp.HandlerFor` with OpenMetrics \
             enabled, as GaugeVec/CounterVec set once (const metrics where a family's samples differ \
             in label names or carry timestamps). It gathers and encodes on every scrape, where \
             usage_exporter serves a body encoded once per data change; its OpenMetrics is version \
             0.0.1 (the newest this client_golang knows), and neither serves `_created` lines \
             (usage_exporter's are off by default)."
        )),
        Err(reason) => line(format!("\nclient_golang: not measured: {reason}")),
    }
    drop(sims);
    if args.million_scale > 0 {
        let m = million::run(&client, args.million_scale, args.seconds * 6).await;
        for l in million::table(
            &m,
            args.seconds * 6,
            Some((args.scale, series, rss_prometheus_like)),
        ) {
            line(l);
        }
    }
    line(String::new());
    for l in many_targets::table(&many_targets::run(args.seconds, &args.many_targets).await) {
        line(l);
    }
    if let Some(out) = args.out {
        let mut file = std::fs::File::create(&out).expect("write benchmarks.md");
        file.write_all(report.as_bytes()).unwrap();
        eprintln!("wrote {}", out.display());
    }
}
