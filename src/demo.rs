//! `demo`: simulators of the vendor APIs on 127.0.0.1 and the exporter polling them, configured
//! through the real config code path (the generated YAML is printed so users can copy it).

use crate::config;
use crate::daemon::{self, ConfigSource, Options};
use crate::http::WebConfig;
use std::path::Path;

/// Runs the demo until SIGINT/SIGTERM.
pub async fn run(listen: &str, web: WebConfig, scale: u32) -> Result<(), String> {
    let scale = scale.max(1);
    let sims = crate::sim::demo::start(scale)
        .await
        .map_err(|e| format!("cannot start simulators: {e}"))?;
    let yaml = sims.config_yaml();
    println!("# usage_exporter demo: generated configuration (scale {scale})\n{yaml}");
    let config = config::parse(&yaml, Path::new("<demo>"), &|name| std::env::var(name).ok())
        .map_err(|e| e.to_string())?;
    let running = daemon::start(Options {
        config: ConfigSource::Fixed(config),
        listen: listen.to_string(),
        web,
        extra_targets: Vec::new(),
    })
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "# exporter listening on {} — open {}/ for the landing page",
        running.addr,
        running.url()
    );
    let shutdown = running.shutdown_token();
    tokio::spawn(async move {
        daemon::termination_signal().await;
        shutdown.cancel();
    });
    running.wait().await;
    drop(sims);
    Ok(())
}
