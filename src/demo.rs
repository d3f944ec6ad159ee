//! `demo`: simulators of the vendor APIs on 127.0.0.1 and the exporter polling them, configured
//! through the real config code path (the generated YAML is printed so users can copy it).
//! Only with the `demo` feature (on by default), which brings in the `usage_exporter_sim` crate.

use crate::base::clock::{SharedClock, SystemClock, TestClock};
use crate::daemon::{self, ConfigSource, Options};
use crate::sources;
use std::path::Path;
use std::sync::Arc;

/// Runs the demo until SIGINT/SIGTERM with `options` (listeners, web config, limits; its config
/// and clock are the demo's); with `at`, the simulators and the exporter read time as running on
/// from that instant.
pub async fn run(
    options: Options,
    scale: u32,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), String> {
    let scale = scale.max(1);
    let listeners = daemon::bind(&options).await.map_err(|e| e.to_string())?;
    let sims = usage_exporter_sim::demo::start(scale)
        .await
        .map_err(|e| format!("cannot start simulators: {e}"))?;
    let clock: SharedClock = match at {
        Some(at) => {
            sims.run_clocks_from(at);
            println!("# clocks run from {}", at.to_rfc3339());
            Arc::new(TestClock::running_from(at.into()))
        }
        None => Arc::new(SystemClock),
    };
    let yaml = sims.config_yaml();
    println!("# usage_exporter demo: generated configuration (scale {scale})\n{yaml}");
    let config =
        sources::parse_config(&yaml, Path::new("<demo>"), &|name| std::env::var(name).ok())
            .map_err(|e| e.to_string())?;
    let running = daemon::start_on(
        Options {
            config: ConfigSource::Fixed(config),
            clock,
            ..options
        },
        listeners,
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "# exporter listening on {} — open {}/ for the landing page",
        running.addr,
        running.url()
    );
    let daemon = running.daemon.clone();
    tokio::spawn(async move {
        // Print the size of the landscape once every endpoint has been polled.
        for _ in 0..600 {
            if daemon.store.ready() {
                let summary = daemon.exposition.summary();
                println!(
                    "# all endpoints polled: {} series exposed (encoded in the background once a scraper asks)",
                    summary.series
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let shutdown = running.shutdown_token();
    tokio::spawn(async move {
        daemon::termination_signal().await;
        shutdown.cancel();
    });
    running.wait().await;
    drop(sims);
    Ok(())
}
