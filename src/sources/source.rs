//! The source abstraction: a kind declares its config, its endpoint table and its builder; the
//! registry erases the type so the loader and the scheduler handle every kind alike.

use super::endpoint::{Endpoint, EndpointInfo, PollContext, PollFuture};
use crate::config::{Global, SourceSchema, TargetConfig};
use crate::state::StateStore;
use crate::store::EndpointSchedule;
use crate::upstream::Upstream;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// What a kind's builder gets besides its validated settings.
pub struct BuildContext<'a> {
    /// Global settings.
    pub global: &'a Global,
    /// The target's upstream HTTP client (TLS, timeouts, body cap, request counting).
    pub upstream: Upstream,
    /// The target's enabled endpoints with their intervals and `stale_after`, as scheduled.
    pub endpoints: &'a [EndpointSchedule],
    /// Where the target keeps what must survive reloads and restarts (see [`crate::state`]).
    pub state: &'a Arc<StateStore>,
}

/// A source kind. Implemented by the kind's target type (`scc::Scc`, …), which owns the
/// upstream client and any session state (cookies, tokens, counters) its endpoints share.
pub trait Source: Sized + Send + Sync + 'static {
    /// Kind name: the key under `sources:` and the `source` label of self-metrics.
    const KIND: &'static str;
    /// One target as written in the file (serde, `deny_unknown_fields`).
    type FileConfig: TargetConfig + DeserializeOwned;
    /// One target validated into typed values; whatever validation accepted builds.
    type Settings: Send + Sync + std::fmt::Debug + 'static;
    /// The endpoint table.
    const ENDPOINTS: &'static [Endpoint<Self>];

    /// Checks a target (secrets resolved) and turns it into typed settings; problems are
    /// (key relative to the target, reason).
    fn validate(file: &Self::FileConfig) -> Result<Self::Settings, Vec<(String, String)>>;

    /// Builds a target from validated settings.
    fn build(settings: &Self::Settings, ctx: BuildContext) -> Self;

    /// A channel whose every change asks all the target's endpoints to poll now (e.g. an SCC
    /// instance that became master); `None` for sources that never ask.
    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// An estimate of the upstream calls one poll of endpoint number `endpoint` of the table
    /// makes, used by `check-config` for its projection and by the call budget until the first
    /// polls were measured. The default is 1; a source that batches (one call per 100
    /// instances, one per page) and knows its batches from its settings can say so here.
    fn estimated_calls_per_poll(&self, endpoint: usize) -> f64 {
        let _ = endpoint;
        1.0
    }
}

/// A built target as the scheduler sees it: something whose endpoints can be polled by
/// their position in the kind's table.
pub trait Target: Send + Sync + 'static {
    /// Polls endpoint number `endpoint` of the kind's table.
    fn poll<'a>(&'a self, endpoint: usize, ctx: &'a PollContext) -> PollFuture<'a>;

    /// See [`Source::wakeups`].
    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// See [`Source::estimated_calls_per_poll`].
    fn estimated_calls_per_poll(&self, endpoint: usize) -> f64 {
        let _ = endpoint;
        1.0
    }
}

impl<S: Source> Target for S {
    fn poll<'a>(&'a self, endpoint: usize, ctx: &'a PollContext) -> PollFuture<'a> {
        (S::ENDPOINTS[endpoint].poll)(self, ctx)
    }

    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Source::wakeups(self)
    }

    fn estimated_calls_per_poll(&self, endpoint: usize) -> f64 {
        Source::estimated_calls_per_poll(self, endpoint)
    }
}

/// A registry entry: a source kind with its type erased.
pub trait Kind: SourceSchema {
    /// The endpoint table's kind-independent facts, in table order.
    fn endpoints(&self) -> Vec<&'static EndpointInfo>;
    /// Builds a target from the settings its own validation produced.
    fn build(&self, settings: &(dyn Any + Send + Sync), ctx: BuildContext) -> Arc<dyn Target>;
}

/// The registry's handle of source `S`.
pub struct KindOf<S>(PhantomData<fn() -> S>);

impl<S> KindOf<S> {
    /// The handle (a constant, for the registry's static table).
    pub const NEW: KindOf<S> = KindOf(PhantomData);
}

impl<S: Source> SourceSchema for KindOf<S> {
    fn kind(&self) -> &'static str {
        S::KIND
    }

    fn endpoint_names(&self) -> Vec<&'static str> {
        S::ENDPOINTS.iter().map(|e| e.info.name).collect()
    }

    fn deserialize(
        &self,
        value: serde_yaml_ng::Value,
    ) -> Result<Vec<Box<dyn TargetConfig>>, (String, String)> {
        let targets: Vec<S::FileConfig> = serde_path_to_error::deserialize(value)
            .map_err(|e| (e.path().to_string(), e.inner().to_string()))?;
        Ok(targets
            .into_iter()
            .map(|t| Box::new(t) as Box<dyn TargetConfig>)
            .collect())
    }

    fn validate(
        &self,
        target: &dyn TargetConfig,
    ) -> Result<Arc<dyn Any + Send + Sync>, Vec<(String, String)>> {
        let file = target
            .as_any()
            .downcast_ref::<S::FileConfig>()
            .expect("the loader validates a target with the kind that parsed it");
        S::validate(file).map(|s| Arc::new(s) as Arc<dyn Any + Send + Sync>)
    }
}

impl<S: Source> Kind for KindOf<S> {
    fn endpoints(&self) -> Vec<&'static EndpointInfo> {
        S::ENDPOINTS.iter().map(|e| &e.info).collect()
    }

    fn build(&self, settings: &(dyn Any + Send + Sync), ctx: BuildContext) -> Arc<dyn Target> {
        let settings = settings
            .downcast_ref::<S::Settings>()
            .expect("settings come from this kind's validation");
        Arc::new(S::build(settings, ctx))
    }
}
