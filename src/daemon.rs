//! Wiring: load config, build targets, run the scheduler, the staleness sweeper and the HTTP
//! server; reload on demand (SIGHUP, `POST /-/reload`) keeping the old config on error.

use crate::base::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::expose::{Exposition, ExpositionOptions};
use crate::http::{self, AppState, WebConfig};
use crate::schedule::Scheduler;
use crate::shard::Shard;
use crate::sources::{self, TargetInstance};
use crate::state::StateStore;
use crate::store::Store;
use crate::telemetry::Telemetry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config file is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The web config file is invalid.
    #[error("{0}")]
    WebConfig(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: String,
        /// The OS error.
        reason: String,
    },
}

/// Where the config comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file, re-read on every reload.
    File(PathBuf),
    /// A fixed config (tests, demo); reload re-applies it.
    Fixed(Config),
}

/// Start options.
#[derive(Clone)]
pub struct Options {
    /// The config.
    pub config: ConfigSource,
    /// `host:port` or `:port`.
    pub listen: String,
    /// Parsed web config.
    pub web: WebConfig,
    /// Targets added programmatically (tests, benchmarks), kept across reloads.
    pub extra_targets: Vec<TargetInstance>,
    /// Where polls read "now" from (the system clock outside tests).
    pub clock: SharedClock,
    /// The state directory (`--storage.path`): counters, high-water marks and login back-off
    /// survive restarts there; `None` keeps them in memory (they survive reloads only).
    pub state_dir: Option<PathBuf>,
    /// Which targets this replica owns (`--shard`/`--total-shards`); the default owns all.
    pub shard: Shard,
    /// OpenMetrics `_created` lines (`--web.enable-openmetrics-created-samples`); off by
    /// default.
    pub openmetrics_created: bool,
}

impl Options {
    /// Options for this config and listen address, with no web config, no extra targets and
    /// the system clock.
    pub fn new(config: ConfigSource, listen: impl Into<String>) -> Self {
        Options {
            config,
            listen: listen.into(),
            web: WebConfig::default(),
            extra_targets: Vec::new(),
            clock: Arc::new(SystemClock),
            state_dir: None,
            shard: Shard::default(),
            openmetrics_created: false,
        }
    }
}

/// The running daemon's shared parts.
pub struct Daemon {
    /// Latest snapshots and endpoint states.
    pub store: Arc<Store>,
    /// Self-metrics.
    pub telemetry: Arc<Telemetry>,
    /// Exposition cache.
    pub exposition: Arc<Exposition>,
    /// What targets keep across reloads and (with a state directory) restarts.
    pub state: Arc<StateStore>,
    scheduler: Scheduler,
    options: Options,
    config: Mutex<Config>,
}

impl Daemon {
    fn read_config(&self) -> Result<Config, ConfigError> {
        match &self.options.config {
            ConfigSource::File(path) => sources::load_config(path),
            ConfigSource::Fixed(c) => Ok(c.clone()),
        }
    }

    /// The config in force.
    pub fn config(&self) -> Config {
        self.config.lock().expect("config lock").clone()
    }

    fn apply(&self, config: Config) -> Result<String, ConfigError> {
        // Another replica's targets are validated (a bad config is bad for every shard) but
        // neither built nor polled here.
        let shard = self.options.shard;
        let mut owned = config.clone();
        owned.targets.retain(|t| shard.owns(t.kind, &t.name));
        let mut instances = sources::build_all(&owned, &self.telemetry.requests, &self.state)
            .map_err(|problems| ConfigError {
                file: PathBuf::from(self.config_name()),
                problems,
            })?;
        self.telemetry
            .shard_assigned(shard, owned.targets.len(), config.targets.len());
        instances.extend(self.options.extra_targets.iter().cloned());
        let summary = self.scheduler.apply(instances);
        *self.config.lock().expect("config lock") = config;
        Ok(format!(
            "config applied: {} targets started, {} unchanged, {} stopped",
            summary.started, summary.kept, summary.stopped
        ))
    }

    fn config_name(&self) -> String {
        match &self.options.config {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Fixed(_) => "<built-in config>".into(),
        }
    }

    /// Re-reads the config and applies it; on error the running config stays.
    pub fn reload(&self) -> Result<String, String> {
        let result = self
            .read_config()
            .and_then(|c| self.apply(c))
            .map_err(|e| e.to_string());
        self.telemetry.config_loaded(result.is_ok());
        match &result {
            Ok(summary) => tracing::info!(%summary, "configuration reloaded"),
            Err(error) => {
                tracing::error!(%error, "configuration reload failed; keeping the previous configuration")
            }
        }
        result
    }
}

/// A started daemon.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Shared parts, for tests and the demo.
    pub daemon: Arc<Daemon>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// `http://addr` (or https when TLS is configured).
    pub fn url(&self) -> String {
        let scheme = if self.daemon.options.web.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// A token that stops the daemon when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the daemon stops (after its shutdown token is cancelled).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
        self.daemon.scheduler.stop().await;
    }

    /// Stops the daemon and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

/// Normalises `:9816` to `0.0.0.0:9816`.
pub fn listen_address(address: &str) -> String {
    if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_string()
    }
}

/// Loads the config, binds the listener and starts polling and serving.
pub async fn start(options: Options) -> Result<Running, StartError> {
    let config = match &options.config {
        ConfigSource::File(path) => sources::load_config(path)?,
        ConfigSource::Fixed(c) => c.clone(),
    };
    let address = listen_address(&options.listen);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| StartError::Listen {
            address: address.clone(),
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| StartError::Listen {
        address,
        reason: e.to_string(),
    })?;
    let shutdown = CancellationToken::new();
    let store = Arc::new(Store::new());
    let state = match &options.state_dir {
        Some(dir) => StateStore::in_dir(dir),
        None => StateStore::in_memory(),
    };
    let telemetry = Arc::new(Telemetry::new().with_state(state.clone()));
    let exposition = Arc::new(Exposition::with_options(
        store.clone(),
        telemetry.clone(),
        ExpositionOptions {
            openmetrics_created: options.openmetrics_created,
            ..ExpositionOptions::default()
        },
    ));
    let daemon = Arc::new(Daemon {
        store: store.clone(),
        telemetry: telemetry.clone(),
        exposition: exposition.clone(),
        state,
        scheduler: Scheduler::new(store.clone(), options.clock.clone(), shutdown.clone()),
        options: options.clone(),
        config: Mutex::new(config.clone()),
    });
    let applied = daemon.apply(config)?;
    telemetry.config_loaded(true);
    tracing::info!(%addr, %applied, "usage_exporter started");

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(
        exposition.clone().run_encoder(shutdown.clone()),
    ));
    let sweeper_store = store.clone();
    let sweeper_shutdown = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = sweeper_shutdown.cancelled() => return,
                _ = tick.tick() => { sweeper_store.expire(tokio::time::Instant::now()); }
            }
        }
    }));
    let reload_daemon = daemon.clone();
    let reload: http::Reloader = Arc::new(move || {
        let d = reload_daemon.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || d.reload())
                .await
                .unwrap_or_else(|e| Err(format!("reload task failed: {e}")))
        })
    });
    let state = AppState {
        exposition,
        store,
        reload,
        started: SystemTime::now(),
        config_file: daemon.config_name(),
    };
    tasks.push(tokio::spawn(http::serve(
        listener,
        state,
        options.web.clone(),
        shutdown.clone(),
    )));
    #[cfg(unix)]
    {
        let hup_daemon = daemon.clone();
        let hup_shutdown = shutdown.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = hup_shutdown.cancelled() => return,
                        got = hup.recv() => {
                            if got.is_none() { return; }
                            let d = hup_daemon.clone();
                            let _ = tokio::task::spawn_blocking(move || d.reload()).await;
                        }
                    }
                }
            }));
        }
    }
    Ok(Running {
        addr,
        daemon,
        shutdown,
        tasks,
    })
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
