//! The real binary restarted: what `increase()` sees across a restart without state, that a
//! state directory makes the counter continue (after `SIGTERM` and after `SIGKILL`), and that
//! a wrong TR50 password in a crash loop stays clear of the account lock-out with state.
//!
//! The simulator's clock is frozen and every call it serves is added by the test, so "the calls
//! actually served" is known exactly; the exporter's own clock only dates `_created`.

use crate::e2e_support::{tail, Procs};
use crate::support::{parse_lines, sample};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use usage_exporter_sim::tr50::{SimState, Tr50Sim};

const THING: &[(&str, &str)] = &[("target", "t"), ("service", "thing")];

/// What the window already held before the exporter first starts: calls in earlier hours.
const HISTORY_CALLS: u64 = 1_000;

struct Exporter {
    config: PathBuf,
    state_dir: Option<PathBuf>,
    logs: PathBuf,
    port: u16,
    client: reqwest::Client,
}

impl Exporter {
    fn new(dir: &Path, sim: &Tr50Sim, password: &str, with_state: bool) -> Exporter {
        let config = dir.join("usage_exporter.yml");
        std::fs::write(
            &config,
            format!(
                "sources:\n  tr50:\n    - name: t\n      url: {}\n      username: monitor@example.com\n      password: {password}\n      endpoints: {{api_history: 200ms}}\n",
                sim.url()
            ),
        )
        .unwrap();
        Exporter {
            config,
            state_dir: with_state.then(|| dir.join("state")),
            logs: dir.to_path_buf(),
            port: crate::e2e_support::free_port(),
            client: crate::support::openmetrics_client(),
        }
    }

    fn start(&self, procs: &mut Procs) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_usage_exporter"));
        cmd.arg("--config.file")
            .arg(&self.config)
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            // The test follows `_created` across restarts.
            .arg("--web.enable-openmetrics-created-samples");
        if let Some(dir) = &self.state_dir {
            cmd.arg("--storage.path").arg(dir);
        }
        procs.spawn("exporter", &mut cmd, &self.logs);
    }

    /// Stops the exporter with `signal` and waits until it has exited.
    fn stop(&self, procs: &mut Procs, signal: &str) {
        let pid = procs.pid("exporter").expect("the exporter runs");
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
        {
            assert!(
                Instant::now() < deadline,
                "the exporter did not stop on {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        procs.kill("exporter");
    }

    async fn metrics(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        self.client.get(url).send().await.ok()?.text().await.ok()
    }

    /// Scrapes until `done` holds for the TR50 counter, keeping every value seen (a scraper's
    /// view), and returns the last body.
    async fn scrape_until(
        &self,
        procs: &mut Procs,
        seen: &mut Vec<f64>,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(body) = self.metrics().await {
                if let Some(v) = sample(&body, "tr50_api_calls_total", THING) {
                    seen.push(v);
                }
                if done(&body) {
                    return body;
                }
            }
            procs.assert_running();
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.logs.join("exporter.log")).unwrap_or_default();
                panic!(
                    "timed out waiting for {what}; exporter log:\n{}",
                    tail(&log, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Prometheus's counter arithmetic without extrapolation: the sum of the rises, a drop being a
/// reset after which the counter counts from 0.
fn increase(values: &[f64]) -> f64 {
    values
        .windows(2)
        .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] })
        .sum()
}

fn created(body: &str) -> Option<f64> {
    sample(body, "tr50_api_calls_created", THING)
}

/// A simulator whose window already holds [`HISTORY_CALLS`] calls of earlier hours.
async fn sim_with_history() -> Tr50Sim {
    let sim = Tr50Sim::start(SimState::new()).await.unwrap();
    sim.advance(-5 * 3600);
    sim.state().add_calls("ACME", "thing", HISTORY_CALLS);
    sim.advance(5 * 3600);
    sim
}

#[tokio::test]
async fn without_state_a_restart_is_a_clean_reset_within_one_bucket_of_the_real_calls() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with_history().await;
    let exporter = Exporter::new(dir.path(), &sim, "secret-pw", false);
    let mut procs = Procs::new();
    let mut seen = Vec::new();
    exporter.start(&mut procs);
    exporter
        .scrape_until(&mut procs, &mut seen, "the baseline", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(0.0)
        })
        .await;
    // Every call from here on is a call the counters should see (they all fall in one hour).
    sim.state().add_calls("ACME", "thing", 5);
    exporter
        .scrape_until(&mut procs, &mut seen, "5 calls", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(5.0)
        })
        .await;
    exporter.stop(&mut procs, "-TERM");
    sim.state().add_calls("ACME", "thing", 3); // while the exporter is down
    exporter.start(&mut procs);
    let body = exporter
        .scrape_until(&mut procs, &mut seen, "the new baseline", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(0.0)
        })
        .await;
    assert!(created(&body).is_some());
    sim.state().add_calls("ACME", "thing", 4);
    exporter
        .scrape_until(&mut procs, &mut seen, "4 calls after the restart", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(4.0)
        })
        .await;
    let served = 5.0 + 3.0 + 4.0;
    let increase = increase(&seen);
    // Never more than was served (the window's 1,000 older calls are not counted again), and
    // less by at most the calls of the bucket that was filling during the restart.
    assert!(
        increase <= served,
        "increase {increase} > served {served}: {seen:?}"
    );
    let bucket_at_restart = served;
    assert!(
        served - increase <= bucket_at_restart,
        "{increase} vs {served}: {seen:?}"
    );
    assert_eq!(
        increase, 9.0,
        "the 3 calls of the downtime are lost: {seen:?}"
    );
}

#[tokio::test]
async fn with_state_the_counter_continues_after_sigterm_and_sigkill_and_counts_the_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with_history().await;
    let exporter = Exporter::new(dir.path(), &sim, "secret-pw", true);
    let mut procs = Procs::new();
    let mut seen = Vec::new();
    exporter.start(&mut procs);
    let body = exporter
        .scrape_until(&mut procs, &mut seen, "the baseline", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(0.0)
        })
        .await;
    let first_created = created(&body).unwrap();
    assert_eq!(
        sample(&body, "usage_exporter_state_persistent", &[]),
        Some(1.0)
    );
    sim.state().add_calls("ACME", "thing", 5);
    exporter
        .scrape_until(&mut procs, &mut seen, "5 calls", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(5.0)
        })
        .await;

    // SIGKILL: no shutdown at all. Meanwhile 3 calls in the same hour, 2 in the next one.
    exporter.stop(&mut procs, "-KILL");
    sim.state().add_calls("ACME", "thing", 3);
    sim.advance(3600);
    sim.state().add_calls("ACME", "thing", 2);
    exporter.start(&mut procs);
    let body = exporter
        .scrape_until(&mut procs, &mut seen, "the downtime's calls", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(10.0)
        })
        .await;
    assert_eq!(created(&body), Some(first_created));

    // SIGTERM, 4 more calls, start again.
    exporter.stop(&mut procs, "-TERM");
    sim.state().add_calls("ACME", "thing", 4);
    exporter.start(&mut procs);
    let body = exporter
        .scrape_until(&mut procs, &mut seen, "14 calls", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(14.0)
        })
        .await;
    assert_eq!(created(&body), Some(first_created));
    assert!(
        seen.windows(2).all(|w| w[1] >= w[0]),
        "the counter went down: {seen:?}"
    );
    assert_eq!(increase(&seen), 14.0, "{seen:?}");
    let state_files: Vec<String> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!state_files.is_empty());
    assert!(state_files.iter().all(|t| !t.contains("secret-pw")));
    assert_eq!(
        sample(&body, "usage_exporter_state_write_errors_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        parse_lines(&body)
            .iter()
            .filter(|l| l.name == "usage_exporter_state_load_errors_total" && l.value != 0.0)
            .count(),
        0
    );
}

/// Runs the exporter until its first `api_history` poll has failed, `restarts` times.
async fn crash_loop(exporter: &Exporter, restarts: usize) {
    let mut procs = Procs::new();
    let failed = |b: &str| {
        sample(
            b,
            "usage_exporter_poll_errors_total",
            &[("endpoint", "api_history"), ("reason", "auth")],
        )
        .is_some_and(|v| v >= 1.0)
    };
    for _ in 0..restarts {
        exporter.start(&mut procs);
        exporter
            .scrape_until(&mut procs, &mut Vec::new(), "a failed poll", failed)
            .await;
        exporter.stop(&mut procs, "-KILL");
    }
}

#[tokio::test]
async fn a_wrong_tr50_password_in_a_crash_loop_stays_clear_of_the_lock_out_with_state() {
    let sim = Tr50Sim::start(SimState::new()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::new(dir.path(), &sim, "not-the-password", true);
    crash_loop(&exporter, 10).await;
    let attempts = sim.counters().login_attempts;
    assert!(attempts <= 3, "{attempts} login attempts in 10 restarts");
    assert_eq!(attempts, 1, "the first rejection blocks the next 5 minutes");
    assert!(!sim.state().is_locked("monitor@example.com"));

    // Without state each start logs in once: ten restarts lock the account (8 failures in 30
    // minutes), as the README warns.
    let sim = Tr50Sim::start(SimState::new()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::new(dir.path(), &sim, "not-the-password", false);
    crash_loop(&exporter, 10).await;
    assert_eq!(sim.counters().login_attempts, 10);
    assert!(sim.state().is_locked("monitor@example.com"));
}

/// A damaged state file on the real binary: logged once, counted, set aside, and the counter
/// starts fresh from a baseline; an unusable state directory is reported and the exporter runs on.
#[tokio::test]
async fn a_damaged_state_file_or_an_unusable_directory_means_a_fresh_start_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim_with_history().await;
    let exporter = Exporter::new(dir.path(), &sim, "secret-pw", true);
    let mut procs = Procs::new();
    let mut seen = Vec::new();
    exporter.start(&mut procs);
    sim.state().add_calls("ACME", "thing", 0);
    let body = exporter
        .scrape_until(&mut procs, &mut seen, "the baseline", |b| {
            sample(b, "tr50_api_calls_total", THING) == Some(0.0)
        })
        .await;
    let first_created = created(&body).unwrap();
    exporter.stop(&mut procs, "-TERM");
    let state = dir.path().join("state");
    let counters = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("api_calls"))
        .expect("the counter's state file");
    let good = std::fs::read(&counters).unwrap();

    for (damage, reason) in [
        (good[..good.len() / 2].to_vec(), "corrupt"),
        (
            br#"{"format":"usage_exporter state","version":7,"slot":"x","data":{}}"#.to_vec(),
            "newer_version",
        ),
        (br#"{"some": "other program's file"}"#.to_vec(), "foreign"),
    ] {
        std::fs::write(&counters, &damage).unwrap();
        std::thread::sleep(Duration::from_millis(1100)); // a new _created second
        exporter.start(&mut procs);
        let body = exporter
            .scrape_until(&mut procs, &mut seen, "a fresh baseline", |b| {
                sample(b, "tr50_api_calls_total", THING) == Some(0.0)
                    && created(b).is_some_and(|c| c != first_created)
            })
            .await;
        assert_eq!(
            sample(
                &body,
                "usage_exporter_state_load_errors_total",
                &[("reason", reason)]
            ),
            Some(1.0),
            "{reason}"
        );
        assert!(
            counters.with_extension("json.rejected").exists(),
            "{reason}: set aside"
        );
        exporter.stop(&mut procs, "-TERM");
        let log = std::fs::read_to_string(dir.path().join("exporter.log")).unwrap();
        assert_eq!(
            log.matches("state file not used").count(),
            1,
            "{reason}: logged once:\n{log}"
        );
        assert!(log.contains(reason), "{reason}: {log}");
        assert!(!log.contains("panicked"), "{log}");
        std::fs::remove_file(counters.with_extension("json.rejected")).unwrap();
    }

    // A state "directory" that is a file: reported, and the exporter serves on from memory.
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"").unwrap();
    let broken = Exporter {
        state_dir: Some(blocked),
        ..Exporter::new(dir.path(), &sim, "secret-pw", false)
    };
    broken.start(&mut procs);
    let body = broken
        .scrape_until(
            &mut procs,
            &mut seen,
            "counters without a usable state directory",
            |b| sample(b, "tr50_api_calls_total", THING).is_some(),
        )
        .await;
    assert!(
        sample(&body, "usage_exporter_state_write_errors_total", &[]).is_some_and(|v| v >= 1.0),
        "write errors counted"
    );
    let log = std::fs::read_to_string(dir.path().join("exporter.log")).unwrap();
    assert!(log.contains("cannot write state"), "{log}");
}
