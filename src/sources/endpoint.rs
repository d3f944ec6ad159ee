//! An endpoint as a source declares it: one row of the source's table.
//!
//! The table is the single place an endpoint exists. The scheduler polls through its `poll`
//! function, the config loader checks override names against it, `check-config --probe` and the
//! generated docs read it, and the property tests and fuzz targets call its `parse` function.

use crate::base::{FailedUnit, PollError};
use crate::snapshot::Snapshot;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

/// What a poll gets besides its target.
#[derive(Debug, Clone)]
pub struct PollContext {
    /// Wall-clock time the poll started (translations use it, never `SystemTime::now()`).
    pub now: SystemTime,
}

/// What a successful poll produced.
#[derive(Debug)]
pub enum PollOutcome {
    /// Fresh data replacing the previous snapshot.
    Data(Snapshot),
    /// Deliberately not polled this time (e.g. SCC shadow instance): previous series disappear,
    /// and the poll counts neither as success nor as failure. The text says why.
    Skipped(String),
    /// The upstream's version does not offer the endpoint (e.g. "not offered by SCC 2.16"):
    /// previous series disappear, no failure is counted, and the text says why.
    Unsupported(String),
    /// Some units of the poll (batches, namespaces, pages) failed, the others delivered
    /// `data`. The scheduler stores `data` like [`PollOutcome::Data`] (series limit,
    /// de-duplication and redaction apply; the poll counts as a success, so
    /// `usage_exporter_poll_success` is 1 because data is served), keeps `failed` in the
    /// endpoint's state (landing page, `usage_exporter_poll_failed_units`) and counts each
    /// failed unit's reason in `usage_exporter_poll_unit_errors_total`.
    ///
    /// `units` is how many units the poll tried, failed ones included (for "2 of 5 units
    /// failed"). A partial outcome without failed units is stored as plain data; one in which
    /// every unit failed is a failed poll (the first unit's error). Build it with
    /// [`PollOutcome::partial`].
    Partial {
        /// What the units that worked produced.
        data: Snapshot,
        /// The units that failed, in the order they were tried.
        failed: Vec<FailedUnit>,
        /// Units tried in all (at least `failed.len()`).
        units: usize,
    },
}

impl PollOutcome {
    /// The outcome of a poll of `units` units of which `failed` failed: [`PollOutcome::Data`]
    /// when none failed, otherwise [`PollOutcome::Partial`].
    pub fn partial(data: Snapshot, units: usize, failed: Vec<FailedUnit>) -> Self {
        if failed.is_empty() {
            PollOutcome::Data(data)
        } else {
            let units = units.max(failed.len());
            PollOutcome::Partial {
                data,
                failed,
                units,
            }
        }
    }
}

/// The boxed future of one poll.
pub type PollFuture<'a> = Pin<Box<dyn Future<Output = Result<PollOutcome, PollError>> + Send + 'a>>;

/// How one endpoint of source `S` is polled.
pub type PollFn<S> = for<'a> fn(&'a S, &'a PollContext) -> PollFuture<'a>;

/// The decode → model → translation path of one endpoint's response body, without HTTP: what
/// the poll function does after its request, exposed for property tests and fuzzing.
pub type ParseFn = fn(&[u8], &PollContext) -> Result<Snapshot, PollError>;

/// Conditions under which an endpoint is polled at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gates {
    /// Served by an HA pair's master instance only (SCC).
    pub master_only: bool,
    /// The vendor version that introduced the endpoint, as (major, minor).
    pub since_version: Option<(u16, u16)>,
}

/// The kind-independent facts of an endpoint.
#[derive(Debug, Clone, Copy)]
pub struct EndpointInfo {
    /// Config name, e.g. `subaccounts`.
    pub name: &'static str,
    /// Default interval; `None` means off unless the config enables it.
    pub default_interval: Option<Duration>,
    /// What it reads, for docs and the landing page.
    pub description: &'static str,
    /// When it is polled.
    pub gates: Gates,
    /// Its body parser, where the endpoint reads one body.
    pub parse: Option<ParseFn>,
}

impl EndpointInfo {
    /// An endpoint on by default, every `secs` seconds.
    pub const fn every(name: &'static str, secs: u64, description: &'static str) -> Self {
        EndpointInfo {
            name,
            default_interval: Some(Duration::from_secs(secs)),
            description,
            gates: Gates {
                master_only: false,
                since_version: None,
            },
            parse: None,
        }
    }

    /// An endpoint off by default.
    pub const fn off(name: &'static str, description: &'static str) -> Self {
        let mut info = Self::every(name, 0, description);
        info.default_interval = None;
        info
    }

    /// Only the master instance of an HA pair serves it.
    pub const fn master_only(mut self) -> Self {
        self.gates.master_only = true;
        self
    }

    /// Introduced in vendor version `major.minor`.
    pub const fn since(mut self, major: u16, minor: u16) -> Self {
        self.gates.since_version = Some((major, minor));
        self
    }

    /// Its body parser.
    pub const fn parse(mut self, parse: ParseFn) -> Self {
        self.parse = Some(parse);
        self
    }

    /// Together with its poll function: a row of a source's table.
    pub const fn poll<S>(self, poll: PollFn<S>) -> Endpoint<S> {
        Endpoint { info: self, poll }
    }
}

/// One row of a source's endpoint table.
pub struct Endpoint<S: 'static> {
    /// Name, default interval, gates, parser.
    pub info: EndpointInfo,
    /// How it is polled.
    pub poll: PollFn<S>,
}

impl<S> std::fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.info.fmt(f)
    }
}
