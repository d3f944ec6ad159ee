//! `check-config`: validate a config file, optionally poll every endpoint once through the
//! scheduler's own poll pipeline ([`poll_once`]).

use crate::base::clock::SystemClock;
use crate::base::duration::format_duration;
use crate::config::{Config, ConfigError};
use crate::schedule::{poll_once, CallTracker};
use crate::sources::{self, PollOutcome};
use crate::state::StateStore;
use crate::telemetry::Telemetry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Failed units of a partial probe printed before "… and N more".
const PROBE_UNITS_SHOWN: usize = 3;

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
        println!("{}", projection(instance));
        for endpoint in &instance.endpoints {
            let mut line = format!(
                "    {:<28} every {}",
                endpoint.name,
                format_duration(endpoint.interval)
            );
            if probe {
                let report = poll_once(instance, endpoint, std::time::SystemTime::now()).await;
                if report.outcome.is_err() {
                    failed += 1;
                }
                line.push_str(&probe_verdict(&report.outcome, report.duration));
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

/// How one probed endpoint did, after its name and interval: ok, partial with the first few
/// failed units on lines of their own, skipped, unsupported or failed. A partial poll is not a
/// probe failure: the daemon would serve the data of the units that worked.
fn probe_verdict(outcome: &Result<PollOutcome, crate::base::PollError>, took: Duration) -> String {
    let mut units_text = String::new();
    let verdict = match outcome {
        Ok(PollOutcome::Data(s)) => format!("ok, {} series", s.series_count()),
        Ok(PollOutcome::Partial {
            data,
            failed,
            units,
        }) => {
            for unit in failed.iter().take(PROBE_UNITS_SHOWN) {
                units_text.push_str(&format!(
                    "\n        {}: {} ({})",
                    unit.unit, unit.error.message, unit.error.reason
                ));
            }
            if failed.len() > PROBE_UNITS_SHOWN {
                units_text.push_str(&format!(
                    "\n        … and {} more",
                    failed.len() - PROBE_UNITS_SHOWN
                ));
            }
            format!(
                "partial: {} of {units} units failed, {} series from the others",
                failed.len(),
                data.series_count()
            )
        }
        Ok(PollOutcome::Skipped(why)) => format!("skipped: {why}"),
        Ok(PollOutcome::Unsupported(why)) => format!("unsupported: {why}"),
        Err(e) => format!("FAILED ({}): {}", e.reason, e.message),
    };
    format!("  {verdict} in {} ms{units_text}", took.as_millis())
}

/// The target's projected upstream calls before start: an estimate from the configured
/// intervals and the source's estimate of calls per poll (1 unless it knows its batches), with
/// the stretch its call budget would impose. The daemon measures the real calls per poll.
fn projection(instance: &crate::sources::TargetInstance) -> String {
    let calls = CallTracker::new(instance, Arc::new(SystemClock)).current();
    let per_poll: Vec<f64> = instance
        .endpoints
        .iter()
        .map(|e| instance.target.estimated_calls_per_poll(e.index))
        .collect();
    let basis = if per_poll.iter().all(|c| (*c - 1.0).abs() < f64::EPSILON) {
        "1 upstream call per endpoint poll".to_string()
    } else {
        "the source's estimate of calls per endpoint poll".to_string()
    };
    let mut text = format!(
        "    upstream calls: ~{} per {} projected at the configured intervals (an estimate: {basis}; \
         logins, paging and retries can add more, the daemon measures them)",
        calls.projected.round() as u64,
        calls.period
    );
    if let Some(budget) = calls.budget {
        if calls.stretch > 1.0 {
            text.push_str(&format!(
                "\n    call budget: {budget} per {}: intervals will be stretched ×{:.2}",
                calls.period, calls.stretch
            ));
        } else {
            text.push_str(&format!(
                "\n    call budget: {budget} per {}: within budget",
                calls.period
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{ErrorReason, FailedUnit, PollError};

    #[test]
    fn a_partial_probe_says_how_many_units_failed_and_shows_the_first_few() {
        let failed = (1..=5)
            .map(|i| {
                FailedUnit::new(
                    format!("batch {i}"),
                    PollError::new(ErrorReason::Http5xx, "HTTP 500"),
                )
            })
            .collect();
        let outcome = Ok(PollOutcome::partial(Default::default(), 8, failed));
        assert_eq!(
            probe_verdict(&outcome, Duration::from_millis(12)),
            "  partial: 5 of 8 units failed, 0 series from the others in 12 ms\n        \
             batch 1: HTTP 500 (http_5xx)\n        batch 2: HTTP 500 (http_5xx)\n        \
             batch 3: HTTP 500 (http_5xx)\n        … and 2 more"
        );
    }

    #[test]
    fn the_projection_is_printed_per_target_with_the_budget_it_would_stretch_to() {
        let yaml = "sources:\n  scc:\n    - name: p\n      url: http://127.0.0.1:1\n      \
                    username: u\n      password: secret\n      max_calls_per_day: 1000\n      \
                    endpoints: {health: 1m, master_role: off, subaccounts: off, backend_connections: off, \
                    service_channel_connections: off, backend_performance: off, top_time_consumers: off, \
                    memory: off, usage: off, disk: off, cpu: off, alerts: off, version: off, \
                    certificates: off}\n";
        let config =
            crate::sources::parse_config(yaml, Path::new("t.yml"), &|_| None).expect("valid");
        let instances = crate::sources::build_all(
            &config,
            &Telemetry::new().requests,
            &StateStore::in_memory(),
        )
        .expect("builds");
        let text = projection(&instances[0]);
        assert!(
            text.starts_with("    upstream calls: ~1440 per day projected at the configured intervals (an estimate: 1 upstream call per endpoint poll;"),
            "{text}"
        );
        assert!(
            text.ends_with("call budget: 1000 per day: intervals will be stretched ×1.44"),
            "{text}"
        );
    }
}
