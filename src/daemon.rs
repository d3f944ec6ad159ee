//! Wiring: load config, build targets, run the scheduler, the staleness sweeper and the HTTP
//! server; reload on demand (SIGHUP, `POST /-/reload`) keeping the old config on error.

use crate::base::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::expose::{Exposition, ExpositionOptions};
use crate::http::{self, AppState, ServeOptions, WebConfig, WebConfigError, WebHandle};
use crate::schedule::Scheduler;
use crate::shard::Shard;
use crate::sources::{self, TargetInstance};
use crate::state::StateStore;
use crate::store::Store;
use crate::telemetry::Telemetry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
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
    WebConfig(#[from] WebConfigError),
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
    /// More addresses served the same way (`--web.listen-address` given several times).
    pub also_listen: Vec<String>,
    /// Serve the sockets systemd passes (`--web.systemd-socket`) instead of binding any address.
    pub systemd_socket: bool,
    /// Request limits and the exposition path.
    pub serve: ServeOptions,
    /// Web config used when `web_file` is unset (tests, demo).
    pub web: WebConfig,
    /// The web config file (`--web.config.file`): read at start and on every reload, where a
    /// bad one is refused like a bad config and the one in force stays.
    pub web_file: Option<PathBuf>,
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
    /// Export the process and exposition metrics (`--web.disable-exporter-metrics` turns it off).
    pub exporter_metrics: bool,
}

impl Options {
    /// Options for this config and listen address, with no web config, no extra targets and
    /// the system clock.
    pub fn new(config: ConfigSource, listen: impl Into<String>) -> Self {
        Options {
            config,
            listen: listen.into(),
            also_listen: Vec::new(),
            systemd_socket: false,
            serve: ServeOptions::default(),
            web: WebConfig::default(),
            web_file: None,
            extra_targets: Vec::new(),
            clock: Arc::new(SystemClock),
            state_dir: None,
            shard: Shard::default(),
            openmetrics_created: false,
            exporter_metrics: true,
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
    web: WebHandle,
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
        let started = Instant::now();
        // Another replica's targets are validated (a bad config is bad for every shard) but
        // neither built nor polled here.
        let shard = self.options.shard;
        let mut owned = config.clone();
        owned.targets.retain(|t| shard.owns(t.kind, &t.name));
        let others: Vec<(String, String)> = config
            .targets
            .iter()
            .filter(|t| !shard.owns(t.kind, &t.name))
            .map(|t| (t.kind.to_string(), t.name.to_string()))
            .collect();
        let mut instances = sources::build_all(&owned, &self.telemetry.requests, &self.state)
            .map_err(|problems| ConfigError {
                file: PathBuf::from(self.config_name()),
                problems,
            })?;
        self.telemetry
            .shard_assigned(shard, owned.targets.len(), others);
        instances.extend(self.options.extra_targets.iter().cloned());
        let summary = self.scheduler.apply(instances);
        *self.config.lock().expect("config lock") = config;
        Ok(format!(
            "config applied in {:.1} ms: {} targets started, {} unchanged, {} stopped",
            started.elapsed().as_secs_f64() * 1e3,
            summary.started,
            summary.kept,
            summary.stopped
        ))
    }

    fn config_name(&self) -> String {
        match &self.options.config {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Fixed(_) => "<built-in config>".into(),
        }
    }

    /// The web config in force.
    pub fn web(&self) -> Arc<WebConfig> {
        self.web.load_full()
    }

    /// Re-reads the web config file, if there is one. An unchanged rate limit keeps its bucket,
    /// so a reload does not hand out a fresh burst.
    fn read_web(&self) -> Result<Option<WebConfig>, WebConfigError> {
        let Some(path) = &self.options.web_file else {
            return Ok(None);
        };
        let mut web = WebConfig::load(path)?;
        if let (Some(new), Some(old)) = (&web.rate_limit, &self.web.load().rate_limit) {
            if new.interval() == old.interval() && new.burst() == old.burst() {
                web.rate_limit = Some(old.clone());
            }
        }
        Ok(Some(web))
    }

    /// Re-reads the config and the web config and applies both; if either is bad, neither is
    /// applied and the running ones stay.
    pub fn reload(&self) -> Result<String, String> {
        let result = self.read_web().map_err(|e| e.to_string()).and_then(|web| {
            let mut summary = self
                .read_config()
                .and_then(|c| self.apply(c))
                .map_err(|e| e.to_string())?;
            if let Some(web) = web {
                self.web.store(Arc::new(web));
                summary.push_str("; web config applied to new connections");
            }
            Ok(summary)
        });
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
    /// The first bound address.
    pub addr: SocketAddr,
    /// Every address served.
    pub addrs: Vec<SocketAddr>,
    /// Shared parts, for tests and the demo.
    pub daemon: Arc<Daemon>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// `http://addr` (or https when TLS is configured).
    pub fn url(&self) -> String {
        let scheme = if self.daemon.web.load().tls.is_some() {
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

/// Sockets bound for serving, before anything else starts (see [`start_on`]).
pub struct Listeners(Vec<TcpListener>);

/// The listeners: systemd's sockets with `--web.systemd-socket`, else every listen address bound.
pub async fn bind(options: &Options) -> Result<Listeners, StartError> {
    let failed = |address: &str, e: &dyn std::fmt::Display| StartError::Listen {
        address: address.to_string(),
        reason: e.to_string(),
    };
    if options.systemd_socket {
        let what = "the sockets passed by systemd (--web.systemd-socket)";
        let mut fds = listenfd::ListenFd::from_env();
        let mut listeners = Vec::new();
        for i in 0..fds.len() {
            let std_listener = fds
                .take_tcp_listener(i)
                .map_err(|e| failed(what, &e))?
                .ok_or_else(|| failed(what, &format!("socket {i} is not a TCP listener")))?;
            std_listener
                .set_nonblocking(true)
                .map_err(|e| failed(what, &e))?;
            listeners.push(TcpListener::from_std(std_listener).map_err(|e| failed(what, &e))?);
        }
        if listeners.is_empty() {
            return Err(failed(
                what,
                &"none were passed (LISTEN_FDS/LISTEN_PID unset): start the exporter from a systemd .socket unit, or drop --web.systemd-socket",
            ));
        }
        return Ok(Listeners(listeners));
    }
    let mut listeners = Vec::new();
    for address in std::iter::once(&options.listen).chain(&options.also_listen) {
        let address = listen_address(address);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|e| failed(&address, &e))?;
        listeners.push(listener);
    }
    Ok(Listeners(listeners))
}

/// Loads the config, binds the listener and starts polling and serving.
pub async fn start(options: Options) -> Result<Running, StartError> {
    let listeners = bind(&options).await?;
    start_on(options, listeners).await
}

/// Like [`start`] on listeners bound earlier: the demo binds its address before its simulators
/// take ports, so a simulator can never be handed the port the exporter was asked to listen on.
pub async fn start_on(options: Options, listeners: Listeners) -> Result<Running, StartError> {
    let Listeners(listeners) = listeners;
    let config = match &options.config {
        ConfigSource::File(path) => sources::load_config(path)?,
        ConfigSource::Fixed(c) => c.clone(),
    };
    let web = match &options.web_file {
        Some(path) => WebConfig::load(path)?,
        None => options.web.clone(),
    };
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let addr = addrs[0];
    let shutdown = CancellationToken::new();
    let store = Arc::new(Store::new());
    let state = match &options.state_dir {
        Some(dir) => StateStore::in_dir(dir),
        None => StateStore::in_memory(),
    };
    let telemetry = Arc::new(
        Telemetry::new()
            .with_state(state.clone())
            .with_exporter_metrics(options.exporter_metrics),
    );
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
        web: http::web_handle(web),
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
        telemetry_path: options.serve.telemetry_path.clone(),
        telemetry: telemetry.clone(),
        clock: options.clock.clone(),
    };
    tasks.push(tokio::spawn(http::serve(
        listeners,
        state,
        daemon.web.clone(),
        options.serve.clone(),
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
        addrs,
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
