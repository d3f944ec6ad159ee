//! The latest good [`Snapshot`] per (source, target, endpoint), the state of each endpoint's
//! polls, a generation counter that changes whenever exposed data changes, and staleness:
//! data older than `stale_after` is dropped and flagged.

use crate::base::budget::BudgetPeriod;
use crate::base::{ErrorReason, FailedUnit};
use crate::snapshot::{Frozen, SharedSnapshot, Snapshot};
use crate::upstream::{PhaseTimes, RequestLog};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Per-endpoint schedule of one target, resolved from the kind defaults and the config.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSchedule {
    /// Endpoint name.
    pub name: &'static str,
    /// Position in the kind's endpoint table (what the target polls by).
    pub index: usize,
    /// Poll interval.
    pub interval: Duration,
    /// Data older than this is dropped (default 3 × interval).
    pub stale_after: Duration,
}

/// Identifies one endpoint of one target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointKey {
    /// Source kind.
    pub source: &'static str,
    /// Target name.
    pub target: Arc<str>,
    /// Endpoint name.
    pub endpoint: &'static str,
}

/// At most this many failed units of a partial poll are kept (the rest are counted).
pub const KEPT_FAILED_UNITS: usize = 100;

/// The units that failed in one poll that delivered data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailedUnits {
    /// Units the poll tried, failed ones included.
    pub units: usize,
    /// Units that failed (may be more than `first` holds).
    pub failed: usize,
    /// The first [`KEPT_FAILED_UNITS`] failed units, in the order tried (secrets removed).
    pub first: Vec<FailedUnit>,
    /// Failed units by reason, all of them.
    pub by_reason: BTreeMap<ErrorReason, u64>,
}

impl FailedUnits {
    /// The failed units of a poll of `units` units.
    pub fn new(units: usize, failed: Vec<FailedUnit>) -> Self {
        let mut by_reason = BTreeMap::new();
        for unit in &failed {
            *by_reason.entry(unit.error.reason).or_default() += 1;
        }
        let count = failed.len();
        let mut first = failed;
        first.truncate(KEPT_FAILED_UNITS);
        FailedUnits {
            units: units.max(count),
            failed: count,
            first,
            by_reason,
        }
    }
}

/// How the last poll ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PollResult {
    /// Fresh data stored.
    Success,
    /// Fresh data stored, but some of the poll's units failed (a partial poll).
    Partial(FailedUnits),
    /// Deliberately not polled; the text says why.
    Skipped(String),
    /// Not offered by the upstream's version; the text says which version.
    Unsupported(String),
    /// Failed: reason class and operator message (secrets already removed).
    Failed(ErrorReason, String),
}

/// What is known about one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointState {
    /// Poll interval.
    pub interval: Duration,
    /// Staleness limit.
    pub stale_after: Duration,
    /// Latest good data, if still fresh.
    pub snapshot: Option<SharedSnapshot>,
    /// Wall-clock time of the last poll start.
    pub last_poll: Option<SystemTime>,
    /// Duration of the last poll.
    pub last_duration: Option<Duration>,
    /// Result of the last poll.
    pub last_result: Option<PollResult>,
    /// Wall-clock time of the last successful poll.
    pub last_success: Option<SystemTime>,
    /// Monotonic time of the data in `snapshot` (drives staleness).
    data_at: Option<Instant>,
    /// Where the last completed poll spent its time (absent after a timeout).
    pub last_phases: Option<PhaseTimes>,
    /// The last good data was dropped because it grew older than `stale_after`.
    pub stale: bool,
    /// Polls finished.
    pub polls_total: u64,
    /// Failures by reason.
    pub errors_total: BTreeMap<ErrorReason, u64>,
    /// The failed units of the last poll that delivered data: empty after a full success,
    /// `None` before the first such poll and while skipped or unsupported. A failed poll leaves
    /// it as it was (it describes the data being served).
    pub failed_units: Option<FailedUnits>,
    /// Failed units of partial polls, by reason.
    pub unit_errors_total: BTreeMap<ErrorReason, u64>,
    /// The last polls, newest last (at most [`POLL_HISTORY`]).
    pub history: VecDeque<PollRecord>,
    /// The upstream requests of the last poll.
    pub last_requests: Option<RequestLog>,
}

/// Polls remembered per endpoint for the landing page's detail view.
pub const POLL_HISTORY: usize = 10;

/// One finished poll, as the detail view lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    /// Wall-clock start.
    pub started: SystemTime,
    /// Duration.
    pub duration: Duration,
    /// What it came to.
    pub result: PollResult,
}

impl EndpointState {
    fn new(schedule: &EndpointSchedule) -> Self {
        EndpointState {
            interval: schedule.interval,
            stale_after: schedule.stale_after,
            snapshot: None,
            last_poll: None,
            last_duration: None,
            last_result: None,
            last_success: None,
            data_at: None,
            last_phases: None,
            stale: false,
            polls_total: 0,
            errors_total: BTreeMap::new(),
            failed_units: None,
            unit_errors_total: BTreeMap::new(),
            history: VecDeque::new(),
            last_requests: None,
        }
    }

    /// The last poll was skipped.
    pub fn skipped(&self) -> bool {
        matches!(self.last_result, Some(PollResult::Skipped(_)))
    }

    /// The upstream's version does not offer the endpoint.
    pub fn unsupported(&self) -> bool {
        matches!(self.last_result, Some(PollResult::Unsupported(_)))
    }
}

/// A target's upstream calls as the scheduler projects them (see `schedule`'s call budget).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetCalls {
    /// The period of the projection: the budget's, or a month without a budget.
    pub period: BudgetPeriod,
    /// Calls per period at the configured intervals and the measured calls per poll.
    pub projected: f64,
    /// The budget, when the target has one.
    pub budget: Option<u64>,
    /// Factor the target's intervals are stretched by (1 = not stretched).
    pub stretch: f64,
}

/// The store; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    entries: RwLock<BTreeMap<EndpointKey, EndpointState>>,
    targets: RwLock<BTreeMap<(&'static str, Arc<str>), TargetCalls>>,
    generation: AtomicU64,
    /// Tells waiters (the exposition's background encoder) that the generation changed.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            entries: RwLock::default(),
            targets: RwLock::default(),
            generation: AtomicU64::new(0),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes whenever the set of exposed snapshots changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.changes.send_replace(generation);
    }

    /// A receiver that is marked changed whenever the generation changes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Declares an endpoint (before its first poll), keeping existing data on reload.
    pub fn register(&self, key: EndpointKey, schedule: &EndpointSchedule) {
        let mut entries = self.entries.write().expect("store lock");
        let entry = entries
            .entry(key)
            .or_insert_with(|| EndpointState::new(schedule));
        entry.interval = schedule.interval;
        entry.stale_after = schedule.stale_after;
    }

    /// Forgets every endpoint of a target that is not in `keep` (reload removed it).
    ///
    /// Keys order by source, then target, so a target's endpoints are one range of the map:
    /// a reload restarting every target costs O(targets × log entries), not a scan of the
    /// whole store per target.
    pub fn retain_endpoints(&self, source: &'static str, target: &Arc<str>, keep: &[&str]) {
        let mut entries = self.entries.write().expect("store lock");
        let first = EndpointKey {
            source,
            target: target.clone(),
            endpoint: "",
        };
        let dropped: Vec<EndpointKey> = entries
            .range(first..)
            .take_while(|(k, _)| k.source == source && k.target == *target)
            .filter(|(k, _)| !keep.contains(&k.endpoint))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &dropped {
            entries.remove(key);
        }
        if !dropped.is_empty() {
            drop(entries);
            self.bump();
        }
    }

    /// Records a finished poll. `snapshot` is the new data for a success, `None` otherwise;
    /// the store keeps it frozen (compact, immutable).
    pub fn record(
        &self,
        key: &EndpointKey,
        started: SystemTime,
        duration: Duration,
        result: PollResult,
        snapshot: Option<Snapshot>,
    ) {
        // Frozen before the lock is taken: freezing a large snapshot takes milliseconds.
        let snapshot = snapshot.map(|s| Arc::new(Frozen::new(&s)));
        let now = Instant::now();
        let mut entries = self.entries.write().expect("store lock");
        let Some(entry) = entries.get_mut(key) else {
            return; // removed by a reload while the poll ran
        };
        entry.last_poll = Some(started);
        entry.last_duration = Some(duration);
        entry.polls_total += 1;
        if entry.history.len() == POLL_HISTORY {
            entry.history.pop_front();
        }
        entry.history.push_back(PollRecord {
            started,
            duration,
            result: result.clone(),
        });
        let mut changed = false;
        match &result {
            PollResult::Success | PollResult::Partial(_) => {
                // Unchanged data (a health check, a slow-moving list) keeps the generation, so the
                // cached body is not re-encoded; comparing is far cheaper than encoding.
                changed = entry.snapshot.as_deref() != snapshot.as_deref();
                if changed {
                    entry.snapshot = snapshot;
                }
                entry.data_at = Some(now);
                entry.last_success = Some(started + duration);
                entry.stale = false;
                let units = match &result {
                    PollResult::Partial(units) => units.clone(),
                    _ => FailedUnits::default(),
                };
                for (reason, n) in &units.by_reason {
                    *entry.unit_errors_total.entry(*reason).or_default() += n;
                }
                entry.failed_units = Some(units);
            }
            PollResult::Skipped(_) | PollResult::Unsupported(_) => {
                changed = entry.snapshot.take().is_some();
                entry.data_at = None;
                entry.stale = false;
                entry.failed_units = None;
            }
            PollResult::Failed(reason, _) => {
                *entry.errors_total.entry(*reason).or_default() += 1;
            }
        }
        entry.last_result = Some(result);
        // Bumped while the lock is held: whoever reads the states and then the generation sees
        // data at least as new as the poll results (see `Exposition::scrape`).
        if changed {
            self.bump();
        }
        drop(entries);
    }

    /// Sets (or with `None` forgets) a target's projected calls.
    pub fn set_target_calls(
        &self,
        source: &'static str,
        target: &Arc<str>,
        calls: Option<TargetCalls>,
    ) {
        let mut targets = self.targets.write().expect("store lock");
        match calls {
            Some(calls) => {
                targets.insert((source, target.clone()), calls);
            }
            None => {
                targets.remove(&(source, target.clone()));
            }
        }
    }

    /// Every target's projected calls, in (source, target) order.
    pub fn target_calls(&self) -> Vec<((&'static str, Arc<str>), TargetCalls)> {
        let targets = self.targets.read().expect("store lock");
        targets.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Records the upstream requests of a poll (before [`Store::record`] of the same poll).
    pub fn record_requests(&self, key: &EndpointKey, requests: RequestLog) {
        if let Some(entry) = self.entries.write().expect("store lock").get_mut(key) {
            entry.last_requests = Some(requests);
        }
    }

    /// Records where a poll spent its time (before [`Store::record`] of the same poll).
    pub fn record_phases(&self, key: &EndpointKey, phases: Option<PhaseTimes>) {
        if let Some(entry) = self.entries.write().expect("store lock").get_mut(key) {
            entry.last_phases = phases;
        }
    }

    /// Drops data older than its endpoint's `stale_after`; returns true if anything changed.
    pub fn expire(&self, now: Instant) -> bool {
        let mut entries = self.entries.write().expect("store lock");
        let mut changed = false;
        for (key, entry) in entries.iter_mut() {
            if let Some(at) = entry.data_at {
                if now.saturating_duration_since(at) > entry.stale_after {
                    tracing::warn!(
                        source = key.source,
                        target = %key.target,
                        endpoint = key.endpoint,
                        stale_after = %crate::base::duration::format_duration(entry.stale_after),
                        "dropping stale data: no successful poll within stale_after"
                    );
                    entry.snapshot = None;
                    entry.data_at = None;
                    entry.stale = true;
                    changed = true;
                }
            }
        }
        if changed {
            self.bump();
        }
        drop(entries);
        changed
    }

    /// Every stored snapshot with its key, in key order.
    pub fn snapshots(&self) -> Vec<(EndpointKey, SharedSnapshot)> {
        let entries = self.entries.read().expect("store lock");
        entries
            .iter()
            .filter_map(|(k, e)| e.snapshot.clone().map(|s| (k.clone(), s)))
            .collect()
    }

    /// A copy of every endpoint's state, in key order (for self-metrics and the landing page).
    pub fn states(&self) -> Vec<(EndpointKey, EndpointState)> {
        let entries = self.entries.read().expect("store lock");
        entries
            .iter()
            .map(|(k, e)| {
                let mut e = e.clone();
                e.snapshot = None; // callers want state, not data
                (k.clone(), e)
            })
            .collect()
    }

    /// One endpoint's state.
    pub fn state(&self, key: &EndpointKey) -> Option<EndpointState> {
        self.entries.read().expect("store lock").get(key).cloned()
    }

    /// True once every registered endpoint has finished its first poll.
    pub fn ready(&self) -> bool {
        let entries = self.entries.read().expect("store lock");
        entries.values().all(|e| e.last_result.is_some())
    }

    /// Number of registered endpoints.
    pub fn len(&self) -> usize {
        self.entries.read().expect("store lock").len()
    }

    /// True when no endpoint is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Family, Labels, Snapshot};

    fn key(t: &str) -> EndpointKey {
        EndpointKey {
            source: "test",
            target: Arc::from(t),
            endpoint: "ep",
        }
    }

    fn schedule(interval: u64) -> EndpointSchedule {
        EndpointSchedule {
            name: "ep",
            index: 0,
            interval: Duration::from_secs(interval),
            stale_after: Duration::from_secs(interval * 3),
        }
    }

    fn snap(v: f64) -> Snapshot {
        let mut f = Family::gauge("g", "G.");
        f.push_gauge(Labels::new(), v);
        Snapshot::from_families(vec![f])
    }

    #[tokio::test(start_paused = true)]
    async fn failures_keep_data_until_stale_after_then_drop_and_flag() {
        let store = Store::new();
        store.register(key("a"), &schedule(10));
        assert!(!store.ready());
        let g0 = store.generation();
        store.record(
            &key("a"),
            SystemTime::now(),
            Duration::from_millis(5),
            PollResult::Success,
            Some(snap(1.0)),
        );
        assert!(store.ready());
        assert!(store.generation() > g0);
        tokio::time::advance(Duration::from_secs(20)).await;
        store.record(
            &key("a"),
            SystemTime::now(),
            Duration::from_millis(5),
            PollResult::Failed(ErrorReason::Timeout, "slow".into()),
            None,
        );
        assert!(!store.expire(Instant::now()), "20s < 30s: still fresh");
        assert_eq!(store.snapshots().len(), 1);
        tokio::time::advance(Duration::from_secs(11)).await;
        let g1 = store.generation();
        assert!(store.expire(Instant::now()));
        assert!(store.generation() > g1);
        assert!(store.snapshots().is_empty());
        let state = store.state(&key("a")).unwrap();
        assert!(state.stale);
        assert_eq!(state.polls_total, 2);
        assert_eq!(state.errors_total[&ErrorReason::Timeout], 1);
    }

    #[test]
    fn identical_data_keeps_the_generation() {
        let store = Store::new();
        store.register(key("a"), &schedule(10));
        let record = |v| {
            store.record(
                &key("a"),
                SystemTime::now(),
                Duration::ZERO,
                PollResult::Success,
                Some(snap(v)),
            )
        };
        record(1.0);
        let g = store.generation();
        record(1.0);
        assert_eq!(store.generation(), g);
        record(2.0);
        assert!(store.generation() > g);
    }

    #[tokio::test(start_paused = true)]
    async fn skipped_poll_removes_data_without_failure() {
        let store = Store::new();
        store.register(key("a"), &schedule(10));
        store.record(
            &key("a"),
            SystemTime::now(),
            Duration::ZERO,
            PollResult::Success,
            Some(snap(1.0)),
        );
        store.record(
            &key("a"),
            SystemTime::now(),
            Duration::ZERO,
            PollResult::Skipped("shadow".into()),
            None,
        );
        assert!(store.snapshots().is_empty());
        let state = store.state(&key("a")).unwrap();
        assert!(state.skipped());
        assert!(state.errors_total.is_empty());
    }

    #[test]
    fn partial_polls_store_data_and_keep_their_failed_units_until_the_next_data() {
        use crate::base::PollError;
        let store = Store::new();
        store.register(key("a"), &schedule(10));
        let unit = |n: u32, reason| {
            FailedUnit::new(format!("batch {n}"), PollError::new(reason, "HTTP 500"))
        };
        let mut failed: Vec<FailedUnit> = (0..150).map(|n| unit(n, ErrorReason::Http5xx)).collect();
        failed.push(unit(150, ErrorReason::Timeout));
        let units = FailedUnits::new(200, failed);
        assert_eq!(
            (units.units, units.failed, units.first.len()),
            (200, 151, KEPT_FAILED_UNITS)
        );
        let record = |result, snapshot| {
            store.record(
                &key("a"),
                SystemTime::now(),
                Duration::ZERO,
                result,
                snapshot,
            )
        };
        record(PollResult::Partial(units), Some(snap(1.0)));
        assert_eq!(
            store.snapshots().len(),
            1,
            "a partial poll's data is served"
        );
        let state = store.state(&key("a")).unwrap();
        assert_eq!(state.failed_units.as_ref().unwrap().failed, 151);
        assert_eq!(state.unit_errors_total[&ErrorReason::Http5xx], 150);
        assert_eq!(state.unit_errors_total[&ErrorReason::Timeout], 1);
        assert!(state.errors_total.is_empty(), "not a failed poll");
        record(
            PollResult::Failed(ErrorReason::Connect, "down".into()),
            None,
        );
        let state = store.state(&key("a")).unwrap();
        assert_eq!(
            state.failed_units.as_ref().unwrap().failed,
            151,
            "a failure leaves them"
        );
        record(PollResult::Success, Some(snap(2.0)));
        let state = store.state(&key("a")).unwrap();
        assert_eq!(state.failed_units, Some(FailedUnits::default()));
        assert_eq!(
            state.unit_errors_total[&ErrorReason::Http5xx],
            150,
            "a counter"
        );
        record(PollResult::Skipped("shadow".into()), None);
        assert_eq!(store.state(&key("a")).unwrap().failed_units, None);
    }

    #[test]
    fn retain_removes_dropped_endpoints() {
        let store = Store::new();
        store.register(key("a"), &schedule(10));
        store.register(key("b"), &schedule(10));
        store.retain_endpoints("test", &Arc::from("a"), &[]);
        assert_eq!(store.len(), 1);
        assert!(store.state(&key("b")).is_some());
    }

    #[test]
    fn retain_touches_only_the_named_target() {
        let store = Store::new();
        let endpoint = |source: &'static str, target: &str, endpoint: &'static str| EndpointKey {
            source,
            target: Arc::from(target),
            endpoint,
        };
        // Neighbours in key order: a target whose name extends this one's, another source.
        let keys = [
            endpoint("scc", "a", "health"),
            endpoint("scc", "a", "memory"),
            endpoint("scc", "a", "tunnels"),
            endpoint("scc", "a-2", "health"),
            endpoint("scc", "b", "health"),
            endpoint("akana", "a", "health"),
            endpoint("tr50", "a", "health"),
        ];
        for k in &keys {
            store.register(k.clone(), &schedule(10));
        }
        let generation = store.generation();
        store.retain_endpoints("scc", &Arc::from("a"), &["memory"]);
        assert!(
            store.generation() > generation,
            "a removal changes the generation"
        );
        let left: Vec<bool> = keys.iter().map(|k| store.state(k).is_some()).collect();
        assert_eq!(left, [false, true, false, true, true, true, true]);
        let generation = store.generation();
        store.retain_endpoints("scc", &Arc::from("a"), &["memory"]);
        assert_eq!(
            store.generation(),
            generation,
            "nothing removed, nothing changed"
        );
    }
}
