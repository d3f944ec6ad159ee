//! One task per (target, endpoint): first poll promptly with a small random spread (wider when
//! a reload restarts many endpoints at once, see [`first_poll_spread`]), then every interval;
//! a poll never overlaps itself; failures back off exponentially with jitter (capped
//! at `max_backoff_factor` × interval) and honour the error's `retry_after` hint. Results go to
//! the store; state changes (ok → failing, failing → ok, full → partial → full) are logged
//! once, not every retry.
//!
//! **Partial polls** ([`PollOutcome::Partial`]): the data of the units that worked is stored like
//! any data, the failed units go to the endpoint's state; the poll counts as a success. The
//! longest `retry_after` of the failed units is a floor on the next delay.
//!
//! **Call budget** ([`CallTracker`]): per target, a moving average of the upstream calls each
//! endpoint's poll makes (measured with [`crate::upstream::count_calls`]) projects the calls per
//! day or month at the configured intervals; when that exceeds the target's
//! `max_calls_per_day`/`max_calls_per_month`, every interval of the target is multiplied by
//! `projected / budget`, so the target's calls stay within its budget.

use crate::base::budget::{projected_calls, stretch_factor, BudgetPeriod, CallBudget};
use crate::base::clock::SharedClock;
use crate::base::duration::format_duration;
use crate::base::{ErrorReason, PollError};
use crate::snapshot::Snapshot;
use crate::sources::{PollContext, PollOutcome, TargetInstance};
use crate::store::{EndpointKey, EndpointSchedule, FailedUnits, PollResult, Store, TargetCalls};
use crate::upstream::{PhaseTimes, RequestLog};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Back-off never starts above this, so long intervals still retry reasonably soon.
const BACKOFF_BASE_CAP: Duration = Duration::from_secs(60);

/// An endpoint the upstream does not offer is retried at most this often.
const UNSUPPORTED_RETRY: Duration = Duration::from_secs(3600);

/// The largest random delay before a target's first polls, when few endpoints start at once.
const FIRST_POLL_SPREAD: Duration = Duration::from_secs(2);

/// The first polls of endpoints one reload restarts are spread so that about this many begin
/// per second: each poll costs CPU (an SCC poll is a TLS handshake and a JSON decode), so a
/// reload restarting 500 targets would otherwise put thousands of polls into two seconds,
/// saturate the cores and delay scrapes, the reload's own answer and the upstreams alike.
/// Restarted targets keep serving their data meanwhile. New targets (all of them at start-up)
/// have nothing to serve yet and poll as promptly as the cores allow.
const FIRST_POLLS_PER_SECOND: f64 = 250.0;

/// The window an endpoint's first poll is spread over when `restarting` endpoints restart at
/// once: `FIRST_POLL_SPREAD` (at most a tenth of the interval) for a few, widened to keep to
/// `FIRST_POLLS_PER_SECOND` for many, never beyond half the interval.
pub fn first_poll_spread(interval: Duration, restarting: usize) -> Duration {
    let few = FIRST_POLL_SPREAD.min(interval / 10);
    let many = Duration::from_secs_f64(restarting as f64 / FIRST_POLLS_PER_SECOND);
    few.max(many.min(interval / 2))
}

/// Each measured poll moves an endpoint's average calls per poll this share of the way (an
/// exponential moving average over roughly the last ten polls).
const CALLS_PER_POLL_SMOOTHING: f64 = 0.2;

/// A stretch factor that moved less than this share since it was last logged is not logged.
const STRETCH_LOG_STEP: f64 = 0.1;

/// One target's upstream calls: the average calls per poll of each endpoint, the projection of
/// the target's calls over its budget's period (a month without a budget) at the configured
/// intervals, and the factor its intervals are stretched by.
///
/// Until an endpoint's first poll is measured, its calls per poll are the target's
/// [`crate::sources::Target::estimated_calls_per_poll`] (1 unless the source knows better).
/// The projection uses the configured intervals, not the stretched ones, so the factor
/// `projected / budget` brings the calls to the budget and does not feed back on itself.
/// Back-off after failures and skipped polls make fewer calls than projected, never more.
#[derive(Debug)]
pub struct CallTracker {
    source: &'static str,
    target: Arc<str>,
    budget: Option<CallBudget>,
    clock: SharedClock,
    state: Mutex<TrackerState>,
}

#[derive(Debug)]
struct TrackerState {
    /// (configured interval, average calls per poll, measured yet) per scheduled endpoint.
    endpoints: Vec<(Duration, f64, bool)>,
    /// The stretch factor last logged (1 at start).
    logged_stretch: f64,
    /// The current figures.
    calls: TargetCalls,
}

impl CallTracker {
    /// A tracker of `instance`'s calls, estimated until polls are measured.
    pub fn new(instance: &TargetInstance, clock: SharedClock) -> Self {
        let endpoints = instance
            .endpoints
            .iter()
            .map(|e| {
                let estimate = instance.target.estimated_calls_per_poll(e.index);
                (e.interval, estimate.max(0.0), false)
            })
            .collect();
        let budget = instance.limits.call_budget;
        let tracker = CallTracker {
            source: instance.source,
            target: instance.name.clone(),
            budget,
            clock,
            state: Mutex::new(TrackerState {
                endpoints,
                logged_stretch: 1.0,
                calls: TargetCalls {
                    period: budget.map_or(BudgetPeriod::Month, |b| b.period),
                    projected: 0.0,
                    budget: budget.map(|b| b.calls),
                    stretch: 1.0,
                },
            }),
        };
        {
            let mut state = tracker.state.lock().expect("tracker lock");
            tracker.recompute(&mut state);
        }
        tracker
    }

    /// The current projection, budget and stretch factor.
    pub fn current(&self) -> TargetCalls {
        self.state.lock().expect("tracker lock").calls
    }

    /// Records that a poll of scheduled endpoint number `position` made `calls` upstream calls;
    /// returns the updated figures.
    pub fn observe(&self, position: usize, calls: u64) -> TargetCalls {
        let mut state = self.state.lock().expect("tracker lock");
        if let Some(endpoint) = state.endpoints.get_mut(position) {
            let calls = calls as f64;
            endpoint.1 = if endpoint.2 {
                endpoint.1 + CALLS_PER_POLL_SMOOTHING * (calls - endpoint.1)
            } else {
                calls
            };
            endpoint.2 = true;
        }
        self.recompute(&mut state);
        state.calls
    }

    fn recompute(&self, state: &mut TrackerState) {
        let period = state.calls.period.length_at(self.clock.now());
        let projected = projected_calls(period, state.endpoints.iter().map(|e| (e.0, e.1)));
        let stretch = self
            .budget
            .map_or(1.0, |b| stretch_factor(projected, b.calls));
        state.calls.projected = projected;
        state.calls.stretch = stretch;
        let logged = state.logged_stretch;
        let period = state.calls.period;
        let budget = state.calls.budget.unwrap_or(0);
        let projected = projected.round() as u64;
        if logged <= 1.0 && stretch > 1.0 {
            tracing::warn!(source = self.source, target = %self.target, projected, budget, %period, stretch = format!("{stretch:.2}"), "projected upstream calls exceed the call budget; stretching the target's intervals");
        } else if logged > 1.0 && stretch <= 1.0 {
            tracing::info!(source = self.source, target = %self.target, projected, budget, %period, "projected upstream calls within the call budget again; intervals as configured");
        } else if logged > 1.0 && (stretch - logged).abs() > STRETCH_LOG_STEP * logged {
            tracing::info!(source = self.source, target = %self.target, projected, budget, %period, stretch = format!("{stretch:.2}"), "interval stretch factor changed");
        } else {
            return;
        }
        state.logged_stretch = stretch;
    }
}

/// Delay before the next poll after `failures` consecutive failures (0 = success).
///
/// Success: the interval. Failure n: `min(interval, 60s) × 2^(n-1)`, capped at
/// `interval × max_factor`, with ±10 % jitter (never above the cap); an error's `retry_after`
/// is a floor; `unsupported` waits at least an hour.
pub fn next_delay(
    interval: Duration,
    failures: u32,
    max_factor: u32,
    error: Option<&PollError>,
    jitter: f64,
) -> Duration {
    if failures == 0 {
        return interval;
    }
    let cap = interval * max_factor.max(1);
    let base = interval.min(BACKOFF_BASE_CAP);
    let exp = base.saturating_mul(1u32 << (failures - 1).min(20));
    let mut delay = exp.min(cap).mul_f64(jitter.clamp(0.9, 1.1)).min(cap);
    if let Some(error) = error {
        if error.reason == ErrorReason::Unsupported {
            delay = delay.max(cap).max(UNSUPPORTED_RETRY);
        }
        if let Some(after) = error.retry_after {
            delay = delay.max(after);
        }
    }
    delay
}

struct Running {
    fingerprint: [u8; 32],
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// What [`Scheduler::apply`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplySummary {
    /// Targets started (new or changed).
    pub started: usize,
    /// Targets left running untouched (same config).
    pub kept: usize,
    /// Targets stopped (removed or changed).
    pub stopped: usize,
}

/// Owns the polling tasks.
pub struct Scheduler {
    store: Arc<Store>,
    clock: SharedClock,
    shutdown: CancellationToken,
    running: Mutex<BTreeMap<(&'static str, Arc<str>), Running>>,
}

impl Scheduler {
    /// A scheduler writing into `store`, reading "now" from `clock`, stopping when
    /// `shutdown` is cancelled.
    pub fn new(store: Arc<Store>, clock: SharedClock, shutdown: CancellationToken) -> Self {
        Scheduler {
            store,
            clock,
            shutdown,
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Makes the running tasks match `instances`: unchanged targets keep running (with their
    /// sessions and counters), changed ones restart, removed ones stop and their data goes.
    pub fn apply(&self, instances: Vec<TargetInstance>) -> ApplySummary {
        let mut running = self.running.lock().expect("scheduler lock");
        let mut summary = ApplySummary::default();
        let wanted: BTreeSet<(&'static str, Arc<str>)> = instances
            .iter()
            .map(|i| (i.source, i.name.clone()))
            .collect();
        let gone: Vec<_> = running
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = running.remove(&key) {
                old.cancel.cancel();
                self.store.retain_endpoints(key.0, &key.1, &[]);
                self.store.set_target_calls(key.0, &key.1, None);
                summary.stopped += 1;
            }
        }
        let restarting: usize = instances
            .iter()
            .filter(|i| {
                running
                    .get(&(i.source, i.name.clone()))
                    .is_some_and(|r| r.fingerprint != i.fingerprint)
            })
            .map(|i| i.endpoints.len())
            .sum();
        for instance in instances {
            let key = (instance.source, instance.name.clone());
            // Endpoints restarted together pace their first polls; a new target's count is 0.
            let mut paced_with = 0;
            if let Some(existing) = running.get(&key) {
                if existing.fingerprint == instance.fingerprint {
                    summary.kept += 1;
                    continue;
                }
                existing.cancel.cancel();
                summary.stopped += 1;
                paced_with = restarting;
            }
            let names: Vec<&str> = instance.endpoints.iter().map(|e| e.name).collect();
            self.store
                .retain_endpoints(instance.source, &instance.name, &names);
            let cancel = self.shutdown.child_token();
            let mut tasks = Vec::new();
            let calls = Arc::new(CallTracker::new(&instance, self.clock.clone()));
            self.store
                .set_target_calls(instance.source, &instance.name, Some(calls.current()));
            for (position, schedule) in instance.endpoints.iter().enumerate() {
                let key = EndpointKey {
                    source: instance.source,
                    target: instance.name.clone(),
                    endpoint: schedule.name,
                };
                self.store.register(key.clone(), schedule);
                tasks.push(tokio::spawn(run_endpoint(
                    instance.clone(),
                    schedule.clone(),
                    key,
                    TrackedCalls {
                        calls: calls.clone(),
                        position,
                    },
                    self.store.clone(),
                    self.clock.clone(),
                    Start {
                        first_poll: first_poll_spread(schedule.interval, paced_with)
                            .mul_f64(rand::rng().random_range(0.0..1.0)),
                        cancel: cancel.clone(),
                    },
                )));
            }
            running.insert(
                key,
                Running {
                    fingerprint: instance.fingerprint,
                    cancel,
                    tasks,
                },
            );
            summary.started += 1;
        }
        summary
    }

    /// Stops every task and waits for them to end.
    pub async fn stop(&self) {
        let all: Vec<Running> = {
            let mut running = self.running.lock().expect("scheduler lock");
            std::mem::take(&mut *running).into_values().collect()
        };
        for r in &all {
            r.cancel.cancel();
        }
        for r in all {
            for t in r.tasks {
                let _ = t.await;
            }
        }
    }
}

/// What one poll of one endpoint came to: the one poll pipeline, shared by the scheduler and
/// `check-config --probe`.
#[derive(Debug)]
pub struct PollReport {
    /// Wall-clock time the poll started.
    pub started: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// Time spent per phase, when the poll finished.
    pub phases: Option<PhaseTimes>,
    /// Data (de-duplicated, within the series limit), a skip, or a redacted error.
    pub outcome: Result<PollOutcome, PollError>,
    /// Duplicate series dropped from the data.
    pub duplicates_dropped: usize,
    /// Upstream requests the poll made (counted even when it timed out).
    pub upstream_calls: u64,
    /// Those requests (method, path, status, time, bytes), paths redacted.
    pub requests: RequestLog,
}

/// Polls one endpoint once: with the target's poll timeout, phase timing, call counting, the
/// series limit, duplicate removal and secrets redacted from any error, skip text and failed
/// unit. A partial outcome without failed units becomes plain data; one whose every unit
/// failed becomes the failed poll it is.
pub async fn poll_once(
    instance: &TargetInstance,
    endpoint: &EndpointSchedule,
    now: SystemTime,
) -> PollReport {
    let started = Instant::now();
    let ctx = PollContext { now };
    let calls = Arc::new(AtomicU64::new(0));
    let log = Arc::new(std::sync::Mutex::new(RequestLog::default()));
    let poll = crate::upstream::count_calls(
        calls.clone(),
        crate::upstream::trace_requests(
            log.clone(),
            crate::upstream::measure_phases(instance.target.poll(endpoint.index, &ctx)),
        ),
    );
    let (outcome, phases) = match tokio::time::timeout(instance.poll_timeout, poll).await {
        Ok((outcome, phases)) => (outcome, Some(phases)),
        Err(_) => (
            Err(PollError::new(
                ErrorReason::Timeout,
                format!(
                    "poll did not finish within {}; the upstream is slow or hanging",
                    format_duration(instance.poll_timeout)
                ),
            )),
            None,
        ),
    };
    let duration = started.elapsed();
    let mut duplicates_dropped = 0;
    let outcome = outcome
        .and_then(settle_partial)
        .and_then(|o| check_series_limit(o, instance.limits.max_series))
        .map(|o| match o {
            PollOutcome::Data(snapshot) => {
                let (snapshot, dropped) = Snapshot::build(snapshot.families);
                duplicates_dropped = dropped;
                PollOutcome::Data(snapshot)
            }
            PollOutcome::Partial {
                data,
                mut failed,
                units,
            } => {
                let (data, dropped) = Snapshot::build(data.families);
                duplicates_dropped = dropped;
                for unit in &mut failed {
                    unit.unit = instance.redactor.redact(&unit.unit);
                    unit.error.message = instance.redactor.redact(&unit.error.message);
                }
                PollOutcome::Partial {
                    data,
                    failed,
                    units,
                }
            }
            // Skip and unsupported texts may quote a vendor answer too: redact them like errors.
            PollOutcome::Skipped(why) => PollOutcome::Skipped(instance.redactor.redact(&why)),
            PollOutcome::Unsupported(why) => {
                PollOutcome::Unsupported(instance.redactor.redact(&why))
            }
        })
        .map_err(|mut error| {
            error.message = instance.redactor.redact(&error.message);
            error
        });
    PollReport {
        started: now,
        duration,
        phases,
        outcome,
        duplicates_dropped,
        upstream_calls: calls.load(Ordering::Relaxed),
        requests: {
            let mut log = log.lock().expect("request log lock").clone();
            for r in &mut log.requests {
                r.path = instance.redactor.redact(&r.path);
            }
            log
        },
    }
}

/// A partial outcome without failed units is data; one whose every unit failed is a failure
/// (the first unit's error, saying so).
fn settle_partial(outcome: PollOutcome) -> Result<PollOutcome, PollError> {
    match outcome {
        PollOutcome::Partial { data, failed, .. } if failed.is_empty() => {
            Ok(PollOutcome::Data(data))
        }
        PollOutcome::Partial { failed, units, .. } if failed.len() >= units => {
            let count = failed.len();
            let first = failed.into_iter().next().expect("not empty");
            Err(first
                .error
                .context(format!("all {count} units failed; first {}", first.unit)))
        }
        other => Ok(other),
    }
}

/// An endpoint task's handle on its target's [`CallTracker`].
struct TrackedCalls {
    calls: Arc<CallTracker>,
    /// The endpoint's position among the target's scheduled endpoints.
    position: usize,
}

/// When an endpoint's task polls first, and what stops it.
struct Start {
    /// The random delay before the first poll (within [`first_poll_spread`]).
    first_poll: Duration,
    cancel: CancellationToken,
}

/// The life of one endpoint's poller.
async fn run_endpoint(
    instance: TargetInstance,
    schedule: EndpointSchedule,
    key: EndpointKey,
    tracked: TrackedCalls,
    store: Arc<Store>,
    clock: SharedClock,
    start: Start,
) {
    let cancel = start.cancel;
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep(start.first_poll) => {}
    }
    let mut failures: u32 = 0;
    let mut last_error: Option<ErrorReason> = None;
    // Whether the last poll that delivered data was partial (logged on change only).
    let mut partial = false;
    let mut wakeups = instance.target.wakeups();
    if let Some(rx) = &mut wakeups {
        rx.mark_unchanged();
    }
    loop {
        // Waiting for a permit is not part of the poll: timing starts once it is held.
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            p = instance.limits.concurrency.clone().acquire_owned() => p.ok(),
        };
        let started = Instant::now();
        let report = tokio::select! {
            _ = cancel.cancelled() => return,
            r = poll_once(&instance, &schedule, clock.now()) => r,
        };
        drop(permit);
        let calls = tracked
            .calls
            .observe(tracked.position, report.upstream_calls);
        store.set_target_calls(key.source, &key.target, Some(calls));
        store.record_phases(&key, report.phases);
        store.record_requests(&key, report.requests.clone());
        let (wall, duration) = (report.started, report.duration);
        let was_unsupported = store.state(&key).is_some_and(|s| s.unsupported());
        let mut unit_retry_after: Option<Duration> = None;
        let error = match report.outcome {
            Ok(PollOutcome::Data(snapshot)) => {
                if report.duplicates_dropped > 0 {
                    tracing::warn!(source = key.source, target = %key.target, endpoint = key.endpoint, dropped = report.duplicates_dropped, "upstream data held duplicate series; kept the first of each");
                }
                store.record(&key, wall, duration, PollResult::Success, Some(snapshot));
                if let Some(reason) = last_error.take() {
                    tracing::info!(source = key.source, target = %key.target, endpoint = key.endpoint, previous_reason = %reason, "endpoint recovered");
                }
                if std::mem::take(&mut partial) {
                    tracing::info!(source = key.source, target = %key.target, endpoint = key.endpoint, "all units of the endpoint answer again");
                }
                failures = 0;
                None
            }
            Ok(PollOutcome::Partial {
                data,
                failed,
                units,
            }) => {
                if report.duplicates_dropped > 0 {
                    tracing::warn!(source = key.source, target = %key.target, endpoint = key.endpoint, dropped = report.duplicates_dropped, "upstream data held duplicate series; kept the first of each");
                }
                let first = &failed[0];
                if !partial {
                    tracing::warn!(source = key.source, target = %key.target, endpoint = key.endpoint, failed = failed.len(), units, first_unit = %first.unit, reason = %first.error.reason, error = %first.error.message, "endpoint partially failing: some units failed, the data of the others is served");
                } else {
                    tracing::debug!(source = key.source, target = %key.target, endpoint = key.endpoint, failed = failed.len(), units, "partial poll again");
                }
                partial = true;
                unit_retry_after = failed.iter().filter_map(|u| u.error.retry_after).max();
                store.record(
                    &key,
                    wall,
                    duration,
                    PollResult::Partial(FailedUnits::new(units, failed)),
                    Some(data),
                );
                if let Some(reason) = last_error.take() {
                    tracing::info!(source = key.source, target = %key.target, endpoint = key.endpoint, previous_reason = %reason, "endpoint recovered (partially)");
                }
                failures = 0;
                None
            }
            Ok(PollOutcome::Skipped(why)) => {
                tracing::debug!(source = key.source, target = %key.target, endpoint = key.endpoint, reason = %why, "poll skipped");
                store.record(&key, wall, duration, PollResult::Skipped(why), None);
                last_error = None;
                partial = false;
                failures = 0;
                None
            }
            Ok(PollOutcome::Unsupported(why)) => {
                if !was_unsupported {
                    tracing::info!(source = key.source, target = %key.target, endpoint = key.endpoint, reason = %why, "endpoint not offered by this upstream version");
                }
                store.record(&key, wall, duration, PollResult::Unsupported(why), None);
                last_error = None;
                partial = false;
                failures = 0;
                None
            }
            Err(error) => {
                if last_error != Some(error.reason) {
                    tracing::warn!(source = key.source, target = %key.target, endpoint = key.endpoint, reason = %error.reason, error = %error.message, "endpoint failing");
                } else {
                    tracing::debug!(source = key.source, target = %key.target, endpoint = key.endpoint, reason = %error.reason, error = %error.message, "poll failed again");
                }
                last_error = Some(error.reason);
                failures = failures.saturating_add(1);
                store.record(
                    &key,
                    wall,
                    duration,
                    PollResult::Failed(error.reason, error.message.clone()),
                    None,
                );
                Some(error)
            }
        };
        let jitter = rand::rng().random_range(0.9..1.1);
        // The call budget stretches the interval, and with it the back-off built on it.
        let interval = schedule.interval.mul_f64(calls.stretch);
        let mut delay = next_delay(
            interval,
            failures,
            instance.limits.max_backoff_factor,
            error.as_ref(),
            jitter,
        );
        if let Some(after) = unit_retry_after {
            delay = delay.max(after);
        }
        // A wake-up from the target (an SCC instance turned master, or its version changed)
        // polls at once instead of after the interval or a back-off.
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(started + delay) => {}
            _ = woken(&mut wakeups) => {}
        }
    }
}

/// Resolves when the target asks for its endpoints to poll now; never without a channel.
async fn woken(wakeups: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    match wakeups {
        Some(rx) => {
            if rx.changed().await.is_err() {
                *wakeups = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Rejects a snapshot with more series than allowed: a cardinality explosion upstream must not
/// take the exporter (and the Prometheus scraping it) down.
fn check_series_limit(outcome: PollOutcome, max_series: usize) -> Result<PollOutcome, PollError> {
    if let PollOutcome::Data(snapshot) | PollOutcome::Partial { data: snapshot, .. } = &outcome {
        let series = snapshot.series_count();
        if series > max_series {
            return Err(PollError::decode(format!(
                "the endpoint produced {series} series, more than global.max_series_per_endpoint ({max_series}); \
                 raise the limit if this landscape is really that large"
            )));
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Redactor;
    use crate::snapshot::{Family, Labels};
    use crate::sources::{PollFuture, Target};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A target that records when it is polled and answers from a script.
    struct Scripted {
        calls: Mutex<Vec<Instant>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        poll_time: Duration,
        script: Mutex<Vec<Result<(), PollError>>>,
    }

    impl Scripted {
        fn new(poll_time: Duration, script: Vec<Result<(), PollError>>) -> Arc<Self> {
            Arc::new(Scripted {
                calls: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                poll_time,
                script: Mutex::new(script),
            })
        }

        fn call_offsets(&self, t0: Instant) -> Vec<f64> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|t| (*t - t0).as_secs_f64())
                .collect()
        }
    }

    impl Target for Scripted {
        fn poll<'a>(&'a self, _endpoint: usize, _ctx: &'a PollContext) -> PollFuture<'a> {
            Box::pin(async move {
                self.calls.lock().unwrap().push(Instant::now());
                let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_in_flight.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(self.poll_time).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                let next = {
                    let mut script = self.script.lock().unwrap();
                    if script.is_empty() {
                        Ok(())
                    } else {
                        script.remove(0)
                    }
                };
                next.map(|()| {
                    let mut f = Family::gauge("g", "G.");
                    f.push_gauge(Labels::new(), 1.0);
                    PollOutcome::Data(Snapshot::from_families(vec![f]))
                })
            })
        }
    }

    fn instance(target: Arc<Scripted>, interval: u64, poll_timeout: u64) -> TargetInstance {
        TargetInstance {
            source: "test",
            name: Arc::from("t"),
            target,
            endpoints: vec![EndpointSchedule {
                name: "ep",
                index: 0,
                interval: Duration::from_secs(interval),
                stale_after: Duration::from_secs(interval * 3),
            }],
            redactor: Redactor::new(&["s3cr3t"]),
            fingerprint: [0; 32],
            poll_timeout: Duration::from_secs(poll_timeout),
            limits: crate::sources::PollLimits::default(),
        }
    }

    /// A scheduler over an empty store.
    fn scheduler() -> (Arc<Store>, Scheduler) {
        let store = Arc::new(Store::new());
        let scheduler = Scheduler::new(
            store.clone(),
            Arc::new(crate::base::clock::SystemClock),
            CancellationToken::new(),
        );
        (store, scheduler)
    }

    async fn run_for(instance: TargetInstance, secs: u64) -> (Arc<Store>, Instant) {
        let (store, scheduler) = scheduler();
        let t0 = Instant::now();
        scheduler.apply(vec![instance]);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        scheduler.stop().await;
        (store, t0)
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_hints() {
        let i = Duration::from_secs(30);
        assert_eq!(next_delay(i, 0, 4, None, 1.0), i);
        assert_eq!(next_delay(i, 1, 4, None, 1.0), i);
        assert_eq!(next_delay(i, 2, 4, None, 1.0), i * 2);
        assert_eq!(next_delay(i, 3, 4, None, 1.0), i * 4);
        assert_eq!(
            next_delay(i, 9, 4, None, 1.1),
            i * 4,
            "jitter never exceeds the cap"
        );
        assert_eq!(next_delay(i, 2, 4, None, 0.9), i * 2 * 9 / 10);
        let hint = PollError::new(ErrorReason::RateLimited, "slow down")
            .retry_after(Duration::from_secs(300));
        assert_eq!(
            next_delay(i, 1, 4, Some(&hint), 1.0),
            Duration::from_secs(300)
        );
        let unsupported = PollError::new(ErrorReason::Unsupported, "old SCC");
        assert_eq!(
            next_delay(i, 1, 4, Some(&unsupported), 1.0),
            UNSUPPORTED_RETRY
        );
        let hour = Duration::from_secs(3600);
        assert_eq!(next_delay(hour, 1, 4, None, 1.0), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn polls_promptly_then_every_interval() {
        let target = Scripted::new(Duration::from_millis(100), vec![]);
        let (store, t0) = run_for(instance(target.clone(), 10, 10), 35).await;
        let calls = target.call_offsets(t0);
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert!(calls[0] <= 1.0, "first poll within the spread: {calls:?}");
        for pair in calls.windows(2) {
            assert!((pair[1] - pair[0] - 10.0).abs() < 0.01, "{calls:?}");
        }
        assert_eq!(store.snapshots().len(), 1);
    }

    #[test]
    fn first_polls_spread_wider_when_many_start() {
        let secs = Duration::from_secs;
        assert_eq!(first_poll_spread(secs(30), 9), secs(2), "a few: 2 s");
        assert_eq!(
            first_poll_spread(secs(5), 9),
            Duration::from_millis(500),
            "a short interval: a tenth of it"
        );
        assert_eq!(first_poll_spread(secs(30), 1000), secs(4), "1,000 at 250/s");
        assert_eq!(first_poll_spread(secs(60), 4500), secs(18));
        assert_eq!(
            first_poll_spread(secs(30), 4500),
            secs(15),
            "never beyond half the interval"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn many_restarted_at_once_poll_first_at_a_bounded_rate() {
        let target = Scripted::new(Duration::from_millis(10), vec![]);
        let named = |i: usize| TargetInstance {
            name: Arc::from(format!("t{i}")),
            ..instance(target.clone(), 60, 10)
        };
        let (_store, scheduler) = scheduler();
        // New targets have nothing to serve yet: all first polls within the 2 s spread.
        let t0 = Instant::now();
        let summary = scheduler.apply((0..1000).map(named).collect());
        assert_eq!(summary.started, 1000);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let calls = target.call_offsets(t0);
        assert_eq!(calls.len(), 1000);
        let last = calls.iter().fold(0.0f64, |a, &b| a.max(b));
        assert!(
            last <= 2.0,
            "new targets poll promptly, the last at {last} s"
        );

        // A reload restarting all 1,000 paces their first polls at about 250 a second.
        let restarted: Vec<TargetInstance> = (0..1000)
            .map(|i| TargetInstance {
                fingerprint: [1; 32],
                ..named(i)
            })
            .collect();
        let t0 = Instant::now();
        let summary = scheduler.apply(restarted.clone());
        assert_eq!((summary.started, summary.stopped), (1000, 1000));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let calls = target.call_offsets(t0).split_off(1000);
        assert_eq!(calls.len(), 1000, "every first poll within the 4 s spread");
        let last = calls.iter().fold(0.0f64, |a, &b| a.max(b));
        assert!(last <= 4.0, "the last first poll came at {last} s");
        for second in 0..4 {
            let in_it = calls
                .iter()
                .filter(|&&t| t >= second as f64 && t < second as f64 + 1.0)
                .count();
            assert!(
                (150..=350).contains(&in_it),
                "about 250 first polls in second {second}, not a burst: {in_it}"
            );
        }

        // A reload that changes one target restarts only it, with the few-targets spread.
        let mut changed = restarted;
        changed[7].fingerprint = [2; 32];
        let t1 = Instant::now();
        let summary = scheduler.apply(changed);
        assert_eq!((summary.started, summary.kept), (1, 999));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = target.call_offsets(t1).split_off(2000);
        assert_eq!(
            after.len(),
            1,
            "only the restarted target polled: {after:?}"
        );
        assert!(after[0] <= 2.0, "within the 2 s spread: {after:?}");
        scheduler.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn slow_polls_never_overlap() {
        let target = Scripted::new(Duration::from_secs(25), vec![]);
        let _ = run_for(instance(target.clone(), 10, 60), 100).await;
        assert_eq!(target.max_in_flight.load(Ordering::SeqCst), 1);
        let calls = target.call_offsets(Instant::now() - Duration::from_secs(100));
        for pair in calls.windows(2) {
            assert!(pair[1] - pair[0] >= 24.99, "{calls:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_and_success_resets() {
        let fail = || Err(PollError::new(ErrorReason::Http5xx, "HTTP 500"));
        let target = Scripted::new(Duration::ZERO, vec![fail(), fail(), fail(), Ok(())]);
        let (store, t0) = run_for(instance(target.clone(), 10, 10), 95).await;
        let calls = target.call_offsets(t0);
        let gaps: Vec<f64> = calls.windows(2).map(|p| p[1] - p[0]).collect();
        // failure 1 → ~10s, failure 2 → ~20s, failure 3 → ~40s (cap), success → 10s.
        // Bounds widened by 10 ms: jittered durations are floats (40 s × 0.9 may be 35.9999 s).
        assert!((8.99..=11.01).contains(&gaps[0]), "{gaps:?}");
        assert!((17.99..=22.01).contains(&gaps[1]), "{gaps:?}");
        assert!((35.99..=40.01).contains(&gaps[2]), "{gaps:?}");
        assert!((gaps[3] - 10.0).abs() < 0.01, "{gaps:?}");
        let key = EndpointKey {
            source: "test",
            target: Arc::from("t"),
            endpoint: "ep",
        };
        let state = store.state(&key).unwrap();
        assert_eq!(state.errors_total[&ErrorReason::Http5xx], 3);
        assert_eq!(state.last_result, Some(PollResult::Success));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_hint_delays_the_next_poll() {
        let limited = PollError::new(ErrorReason::RateLimited, "HTTP 429")
            .retry_after(Duration::from_secs(120));
        let target = Scripted::new(Duration::ZERO, vec![Err(limited)]);
        let (_, t0) = run_for(instance(target.clone(), 10, 10), 130).await;
        let calls = target.call_offsets(t0);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls[1] - calls[0] >= 120.0, "{calls:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn hanging_poll_times_out_and_messages_are_redacted() {
        let target = Scripted::new(Duration::from_secs(3600), vec![]);
        let (store, _) = run_for(instance(target.clone(), 10, 5), 8).await;
        let key = EndpointKey {
            source: "test",
            target: Arc::from("t"),
            endpoint: "ep",
        };
        let state = store.state(&key).unwrap();
        assert_eq!(state.errors_total[&ErrorReason::Timeout], 1);

        let leaky = Err(PollError::auth("rejected password s3cr3t"));
        let target = Scripted::new(Duration::ZERO, vec![leaky]);
        let (store, _) = run_for(instance(target, 10, 5), 3).await;
        match store.state(&key).unwrap().last_result {
            Some(PollResult::Failed(_, message)) => {
                assert_eq!(message, "rejected password <secret>")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn series_limit_rejects_oversized_snapshots() {
        let mut f = Family::gauge("g", "G.");
        for i in 0..3 {
            f.push_gauge(Labels::new().with("i", i.to_string()), 1.0);
        }
        let snapshot = || PollOutcome::Data(Snapshot::from_families(vec![f.clone()]));
        assert!(check_series_limit(snapshot(), 3).is_ok());
        let e = check_series_limit(snapshot(), 2).unwrap_err();
        assert_eq!(e.reason, ErrorReason::Decode);
        assert!(
            e.message.contains("3 series") && e.message.contains("max_series_per_endpoint (2)"),
            "{}",
            e.message
        );
    }

    /// A target answering "unsupported" with a text that quotes a secret.
    struct QuotesSecret;

    impl Target for QuotesSecret {
        fn poll<'a>(&'a self, _endpoint: usize, _ctx: &'a PollContext) -> PollFuture<'a> {
            Box::pin(async {
                Ok(PollOutcome::Unsupported(
                    "HTTP 400: the vendor said s3cr3t".into(),
                ))
            })
        }
    }

    #[tokio::test]
    async fn unsupported_texts_are_redacted_like_errors() {
        let mut inst = instance(Scripted::new(Duration::ZERO, vec![]), 60, 30);
        inst.target = Arc::new(QuotesSecret);
        let report = poll_once(&inst, &inst.endpoints[0].clone(), SystemTime::UNIX_EPOCH).await;
        match report.outcome {
            Ok(PollOutcome::Unsupported(why)) => {
                assert_eq!(why, "HTTP 400: the vendor said <secret>")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_bound_limits_parallel_polls_of_a_target() {
        let target = Scripted::new(Duration::from_secs(5), vec![]);
        let mut inst = instance(target.clone(), 60, 30);
        inst.limits.concurrency = Arc::new(tokio::sync::Semaphore::new(2));
        inst.endpoints = ["a", "b", "c", "d", "e"]
            .into_iter()
            .enumerate()
            .map(|(index, name)| EndpointSchedule {
                name,
                index,
                interval: Duration::from_secs(60),
                stale_after: Duration::from_secs(180),
            })
            .collect();
        let _ = run_for(inst, 20).await;
        assert_eq!(target.calls.lock().unwrap().len(), 5);
        assert_eq!(target.max_in_flight.load(Ordering::SeqCst), 2);
    }

    /// A target answering partial polls from a script, making `calls` upstream calls per poll.
    struct Units {
        polls: Mutex<Vec<Instant>>,
        calls: u32,
        script: Mutex<Vec<PollOutcome>>,
    }

    impl Units {
        fn new(calls: u32, script: Vec<PollOutcome>) -> Arc<Self> {
            Arc::new(Units {
                polls: Mutex::new(Vec::new()),
                calls,
                script: Mutex::new(script),
            })
        }
    }

    fn data(v: f64) -> Snapshot {
        let mut f = Family::gauge("g", "G.");
        f.push_gauge(Labels::new(), v);
        Snapshot::from_families(vec![f])
    }

    fn unit(name: &str, reason: ErrorReason, message: &str) -> crate::base::FailedUnit {
        crate::base::FailedUnit::new(name, PollError::new(reason, message))
    }

    impl Target for Units {
        fn poll<'a>(&'a self, _endpoint: usize, _ctx: &'a PollContext) -> PollFuture<'a> {
            Box::pin(async move {
                self.polls.lock().unwrap().push(Instant::now());
                for _ in 0..self.calls {
                    crate::upstream::count_test_call();
                }
                let mut script = self.script.lock().unwrap();
                Ok(if script.is_empty() {
                    PollOutcome::Data(data(1.0))
                } else {
                    script.remove(0)
                })
            })
        }
    }

    fn key() -> EndpointKey {
        EndpointKey {
            source: "test",
            target: Arc::from("t"),
            endpoint: "ep",
        }
    }

    #[tokio::test(start_paused = true)]
    async fn partial_polls_serve_data_keep_redacted_units_and_reset_on_full_success() {
        let partial = PollOutcome::partial(
            data(2.0),
            5,
            vec![
                unit(
                    "QCE/CVM CPUUsage instances 51-100",
                    ErrorReason::Http5xx,
                    "HTTP 500",
                ),
                unit(
                    "batch with s3cr3t",
                    ErrorReason::RateLimited,
                    "quota for s3cr3t",
                ),
            ],
        );
        let target = Units::new(1, vec![partial]);
        let mut inst = instance(Scripted::new(Duration::ZERO, vec![]), 10, 5);
        inst.target = target.clone();
        let (store, scheduler) = scheduler();
        scheduler.apply(vec![inst]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let state = store.state(&key()).unwrap();
        let Some(PollResult::Partial(units)) = &state.last_result else {
            panic!("{:?}", state.last_result);
        };
        assert_eq!((units.failed, units.units), (2, 5));
        assert_eq!(units.first[1].unit, "batch with <secret>");
        assert_eq!(units.first[1].error.message, "quota for <secret>");
        assert_eq!(state.unit_errors_total[&ErrorReason::Http5xx], 1);
        assert_eq!(state.unit_errors_total[&ErrorReason::RateLimited], 1);
        assert!(
            state.errors_total.is_empty(),
            "a partial poll is no failed poll"
        );
        assert_eq!(
            store.snapshots()[0].1.thaw(),
            data(2.0),
            "the data is served"
        );
        // The next poll answers fully: no failed units any more, the counter stays.
        tokio::time::sleep(Duration::from_secs(10)).await;
        scheduler.stop().await;
        let state = store.state(&key()).unwrap();
        assert_eq!(state.last_result, Some(PollResult::Success));
        assert_eq!(state.failed_units.unwrap().failed, 0);
        assert_eq!(state.unit_errors_total[&ErrorReason::Http5xx], 1);
        assert_eq!(target.polls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn partial_without_failures_is_data_and_with_every_unit_failed_a_failure() {
        let mut inst = instance(Scripted::new(Duration::ZERO, vec![]), 60, 30);
        let all_failed = PollOutcome::Partial {
            data: Snapshot::default(),
            failed: vec![
                unit("page 1", ErrorReason::Auth, "token s3cr3t rejected"),
                unit("page 2", ErrorReason::Auth, "token rejected"),
            ],
            units: 2,
        };
        let none_failed = PollOutcome::Partial {
            data: data(3.0),
            failed: vec![],
            units: 4,
        };
        inst.target = Units::new(0, vec![all_failed, none_failed]);
        let endpoint = inst.endpoints[0].clone();
        let report = poll_once(&inst, &endpoint, SystemTime::UNIX_EPOCH).await;
        let error = report.outcome.unwrap_err();
        assert_eq!(error.reason, ErrorReason::Auth);
        assert_eq!(
            error.message,
            "all 2 units failed; first page 1: token <secret> rejected"
        );
        let report = poll_once(&inst, &endpoint, SystemTime::UNIX_EPOCH).await;
        assert!(matches!(report.outcome, Ok(PollOutcome::Data(ref s)) if *s == data(3.0)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_units_retry_after_delays_the_next_poll() {
        let limited = PollError::new(ErrorReason::RateLimited, "slow down")
            .retry_after(Duration::from_secs(45));
        let partial = PollOutcome::partial(
            data(1.0),
            3,
            vec![crate::base::FailedUnit::new("batch 2", limited)],
        );
        let target = Units::new(1, vec![partial]);
        let mut inst = instance(Scripted::new(Duration::ZERO, vec![]), 10, 5);
        inst.target = target.clone();
        let (_, t0) = run_for(inst, 60).await;
        let polls: Vec<f64> = target
            .polls
            .lock()
            .unwrap()
            .iter()
            .map(|t| (*t - t0).as_secs_f64())
            .collect();
        assert!(polls[1] - polls[0] >= 45.0, "{polls:?}");
        assert!(polls[1] - polls[0] < 46.0, "{polls:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_budget_stretches_every_interval_of_the_target_proportionally() {
        // Two endpoints every 10 s and 20 s making 2 calls per poll: 8640 + 17280 = 25 920
        // calls a day. A budget of 6480 a day stretches both intervals 4× (to 40 s and 80 s).
        let target = Units::new(2, vec![]);
        let mut inst = instance(Scripted::new(Duration::ZERO, vec![]), 10, 5);
        inst.target = target.clone();
        inst.endpoints.push(EndpointSchedule {
            name: "slow",
            index: 1,
            interval: Duration::from_secs(20),
            stale_after: Duration::from_secs(60),
        });
        inst.limits.call_budget = Some(CallBudget {
            calls: 6480,
            period: BudgetPeriod::Day,
        });
        let (store, scheduler) = scheduler();
        scheduler.apply(vec![inst]);
        let before = store.target_calls();
        assert_eq!(before.len(), 1);
        // Before any poll: estimated at 1 call per poll, 8640 + 4320 = 12 960, stretch 2.
        assert_eq!(before[0].1.projected, 12_960.0);
        assert_eq!(before[0].1.stretch, 2.0);
        tokio::time::sleep(Duration::from_secs(400)).await;
        scheduler.stop().await;
        let calls = store.target_calls()[0].1;
        assert_eq!(calls.budget, Some(6480));
        assert!((calls.projected - 25_920.0).abs() < 1e-6, "{calls:?}");
        assert!((calls.stretch - 4.0).abs() < 1e-9, "{calls:?}");
        // 400 s at 6480 calls a day is 30 calls: 15 polls of 2 calls, give or take the first.
        let polls = target.polls.lock().unwrap().len();
        assert!(
            (14..=17).contains(&polls),
            "{polls} polls, unstretched would be 60"
        );
        // Without a budget nothing stretches, and the projection is a monthly one.
        let mut free = instance(Scripted::new(Duration::ZERO, vec![]), 10, 5);
        free.target = Units::new(1, vec![]);
        let clock = crate::base::clock::TestClock::frozen(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_164_800), // 2024-02-29
        );
        let tracker = CallTracker::new(&free, Arc::new(clock));
        let calls = tracker.observe(0, 3);
        assert_eq!(calls.period, BudgetPeriod::Month);
        assert_eq!(calls.projected, 3.0 * 8640.0 * 29.0);
        assert_eq!((calls.stretch, calls.budget), (1.0, None));
    }

    #[test]
    fn calls_per_poll_are_a_moving_average() {
        let mut inst = instance(Scripted::new(Duration::ZERO, vec![]), 86_400, 5);
        inst.limits.call_budget = Some(CallBudget {
            calls: 1,
            period: BudgetPeriod::Day,
        });
        let tracker = CallTracker::new(&inst, Arc::new(crate::base::clock::SystemClock));
        assert_eq!(
            tracker.current().projected,
            1.0,
            "estimated: 1 call per poll"
        );
        assert_eq!(
            tracker.observe(0, 10).projected,
            10.0,
            "the first poll replaces it"
        );
        assert_eq!(
            tracker.observe(0, 0).projected,
            8.0,
            "then a fifth of the way"
        );
        assert_eq!(tracker.observe(0, 0).stretch, 6.4);
    }

    #[tokio::test(start_paused = true)]
    async fn apply_keeps_unchanged_targets_and_stops_removed_ones() {
        let (store, scheduler) = scheduler();
        let target = Scripted::new(Duration::ZERO, vec![]);
        let s = scheduler.apply(vec![instance(target.clone(), 10, 10)]);
        assert_eq!(s.started, 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let s = scheduler.apply(vec![instance(target.clone(), 10, 10)]);
        assert_eq!((s.started, s.kept, s.stopped), (0, 1, 0));
        assert_eq!(
            target.calls.lock().unwrap().len(),
            1,
            "kept target is not re-polled"
        );
        let s = scheduler.apply(vec![]);
        assert_eq!(s.stopped, 1);
        assert!(store.is_empty());
        scheduler.stop().await;
    }
}
