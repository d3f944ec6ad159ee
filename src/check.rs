//! `check-config`: validate a config file, optionally poll every endpoint once.

use crate::config::{self, format_duration};
use crate::sources::{self, PollContext, PollOutcome};
use crate::telemetry::Telemetry;
use std::path::Path;
use std::time::{Instant, SystemTime};

/// Validates the config (and with `probe` polls each endpoint once); prints a summary.
/// `Err` carries the text to print before exiting with status 1.
pub async fn check_config(path: &Path, probe: bool) -> Result<(), String> {
    let config = config::load(path).map_err(|e| e.to_string())?;
    let telemetry = Telemetry::new();
    let instances = sources::build_all(&config, &telemetry.requests).map_err(|problems| {
        problems
            .iter()
            .map(|p| format!("{}: {}: {}", path.display(), p.key, p.reason))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    println!(
        "{}: valid; {} targets",
        path.display(),
        config.sources.target_count()
    );
    let mut failures = 0;
    for instance in &instances {
        println!("  {} {}:", instance.source, instance.name);
        for endpoint in &instance.endpoints {
            let mut line = format!(
                "    {:<28} every {}",
                endpoint.name,
                format_duration(endpoint.interval)
            );
            if probe {
                let started = Instant::now();
                let ctx = PollContext {
                    now: SystemTime::now(),
                };
                let result = tokio::time::timeout(
                    instance.poll_timeout,
                    instance.target.poll(endpoint.name, &ctx),
                )
                .await;
                let took = started.elapsed().as_millis();
                let verdict = match result {
                    Ok(Ok(PollOutcome::Data(s))) => format!("ok, {} series", s.series_count()),
                    Ok(Ok(PollOutcome::Skipped(why))) => format!("skipped: {why}"),
                    Ok(Err(e)) => {
                        failures += 1;
                        format!(
                            "FAILED ({}): {}",
                            e.reason,
                            instance.redactor.redact(&e.message)
                        )
                    }
                    Err(_) => {
                        failures += 1;
                        "FAILED (timeout)".to_string()
                    }
                };
                line.push_str(&format!("  {verdict} in {took} ms"));
            }
            println!("{line}");
        }
    }
    if failures > 0 {
        return Err(format!("{failures} endpoint(s) failed the probe"));
    }
    Ok(())
}
