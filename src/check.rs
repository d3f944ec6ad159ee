//! `check-config`: validate a config file, optionally poll every endpoint once through the
//! scheduler's own poll pipeline ([`poll_once`]).

use crate::base::duration::format_duration;
use crate::config::{Config, ConfigError};
use crate::schedule::poll_once;
use crate::sources::{self, PollOutcome};
use crate::state::StateStore;
use crate::telemetry::Telemetry;
use std::path::{Path, PathBuf};

/// Why `check-config` failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The config file is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Some endpoints failed the probe (their errors were printed above).
    #[error("{failed} endpoint(s) failed the probe")]
    ProbeFailed {
        /// How many.
        failed: usize,
    },
}

/// Validates the config (and with `probe` polls each endpoint once); prints a summary.
pub async fn check_config(
    path: &Path,
    probe: bool,
    total_shards: Option<u32>,
) -> Result<(), CheckError> {
    let config = sources::load_config(path)?;
    if let Some(total) = total_shards {
        print_assignment(&config, total);
    }
    let telemetry = Telemetry::new();
    let instances = sources::build_all(&config, &telemetry.requests, &StateStore::in_memory())
        .map_err(|problems| ConfigError {
            file: PathBuf::from(path),
            problems,
        })?;
    println!(
        "{}: valid; {} targets",
        path.display(),
        config.targets.len()
    );
    let mut failed = 0;
    for instance in &instances {
        println!("  {} {}:", instance.source, instance.name);
        for endpoint in &instance.endpoints {
            let mut line = format!(
                "    {:<28} every {}",
                endpoint.name,
                format_duration(endpoint.interval)
            );
            if probe {
                let report = poll_once(instance, endpoint, std::time::SystemTime::now()).await;
                let verdict = match report.outcome {
                    Ok(PollOutcome::Data(s)) => format!("ok, {} series", s.series_count()),
                    Ok(PollOutcome::Skipped(why)) => format!("skipped: {why}"),
                    Ok(PollOutcome::Unsupported(why)) => format!("unsupported: {why}"),
                    Err(e) => {
                        failed += 1;
                        format!("FAILED ({}): {}", e.reason, e.message)
                    }
                };
                line.push_str(&format!(
                    "  {verdict} in {} ms",
                    report.duration.as_millis()
                ));
            }
            println!("{line}");
        }
    }
    if failed > 0 {
        return Err(CheckError::ProbeFailed { failed });
    }
    Ok(())
}

/// Prints which shard owns each target among `total` shards, so an operator sees where a target
/// lands before deploying.
fn print_assignment(config: &Config, total: u32) {
    println!("shard assignment ({total} shards):");
    let mut per_shard = vec![0usize; total as usize];
    for t in &config.targets {
        let owner = crate::shard::owner(t.kind, &t.name, total);
        per_shard[owner as usize] += 1;
        println!("  {} {} -> shard {owner}", t.kind, t.name);
    }
    let counts: Vec<String> = per_shard
        .iter()
        .enumerate()
        .map(|(i, n)| format!("shard {i}: {n}"))
        .collect();
    println!("  targets per shard: {}", counts.join(", "));
}
