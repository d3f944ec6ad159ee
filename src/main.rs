//! Command line: flags, subcommands, and starting the runtime. Everything else is in the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use usage_exporter::daemon::{self, ConfigSource, Options};
use usage_exporter::http::ServeOptions;
use usage_exporter::shard::Shard;
use usage_exporter::telemetry::{self, LogFormat};

/// jemalloc instead of the system allocator: with glibc's per-thread arenas the memory freed
/// after each poll's JSON decoding stays fragmented across arenas, and RSS at 123k series was
/// 3.5 times what jemalloc holds (docs/benchmarks.md, "Allocator").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc options: a background thread returns freed pages to the OS about a second after
/// they are freed (the default of 10 s kept each poll's decoding buffers resident in between).
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Prometheus exporter for SAP Cloud Connector, Akana, TR50, Tencent Cloud Monitor and AVEVA
/// CONNECT data services. Upstream APIs are polled in the background; scrapes never call them.
#[derive(Parser, Debug)]
#[command(name = "usage_exporter", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(
        long = "config.file",
        default_value = "usage_exporter.yml",
        global = true
    )]
    config_file: PathBuf,
    /// Address to listen on for the web interface and /metrics; repeat to serve several.
    #[arg(long = "web.listen-address", default_value = ":9816", global = true)]
    listen_address: Vec<String>,
    /// Serve the sockets systemd passes (socket activation) instead of the listen addresses.
    #[arg(long = "web.systemd-socket", global = true)]
    systemd_socket: bool,
    /// Path under which the metrics are exposed.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", global = true)]
    telemetry_path: String,
    /// Requests served at once; beyond it a request gets 503 at once (0: no limit).
    #[arg(long = "web.max-requests", default_value_t = 40, global = true)]
    max_requests: usize,
    /// Directory for state that must survive restarts (counter accumulators, AVEVA high-water
    /// marks, TR50 login back-off); without it that state lives in memory only.
    #[arg(long = "storage.path", global = true)]
    storage_path: Option<PathBuf>,
    /// This replica's shard (0-based) when `--total-shards` replicas share the targets.
    #[arg(long = "shard", global = true)]
    shard: Option<u32>,
    /// Number of replicas sharing the targets; each target is polled by exactly one.
    #[arg(long = "total-shards", default_value_t = 1, global = true)]
    total_shards: u32,
    /// StatefulSet pod name (e.g. usage-exporter-2): the shard is its ordinal.
    #[arg(long = "pod", global = true, conflicts_with = "shard")]
    pod: Option<String>,
    /// Write OpenMetrics `_created` lines for counters whose start is known. Off by default:
    /// each is one more series in a Prometheus without created-timestamp-zero-ingestion. The
    /// protobuf format always carries start times (at no series cost); text 0.0.4 never does.
    #[arg(long = "web.enable-openmetrics-created-samples", global = true)]
    openmetrics_created: bool,
    /// Leave out the metrics about the exporter process and its exposition (process_*,
    /// usage_exporter_exposition_*); poll health, state and shard metrics stay.
    #[arg(long = "web.disable-exporter-metrics", global = true)]
    disable_exporter_metrics: bool,
    /// Web config file (exporter-toolkit format: TLS, client certificates, headers, basic auth,
    /// rate limit); re-read on reload (SIGHUP, POST /-/reload).
    #[arg(long = "web.config.file", global = true)]
    web_config_file: Option<PathBuf>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", default_value = "info", global = true)]
    log_level: String,
    /// Log format.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[cfg(feature = "demo")]
    /// Start simulators of all five APIs on 127.0.0.1 and the exporter polling them.
    Demo {
        /// Multiplies the simulated landscape (subaccounts, instances, namespaces, ...).
        #[arg(long, default_value_t = 1)]
        scale: u32,
        /// Run the simulators' and the exporter's clocks from this instant (RFC 3339, e.g.
        /// 2028-02-29T23:50:00Z) instead of now: to show a month end, a billing-cycle start or a
        /// leap day.
        #[arg(long = "demo.time", value_parser = parse_instant)]
        time: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Validate the configuration and exit (0 valid, 1 invalid).
    CheckConfig {
        /// Also poll every enabled endpoint once and report the results.
        #[arg(long)]
        probe: bool,
    },
}

#[cfg(feature = "demo")]
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("not an RFC 3339 time such as 2028-02-29T23:50:00Z: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = telemetry::init_logging(&cli.log_level, cli.log_format) {
        eprintln!("usage_exporter: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("usage_exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => run(&cli).await,
            Some(Command::CheckConfig { probe }) => {
                let shards = (cli.total_shards > 1).then_some(cli.total_shards);
                if let Some(web) = &cli.web_config_file {
                    usage_exporter::http::WebConfig::load(web).map_err(|e| e.to_string())?;
                }
                usage_exporter::check::check_config(&cli.config_file, probe, shards)
                    .await
                    .map_err(|e| e.to_string())
            }
            #[cfg(feature = "demo")]
            Some(Command::Demo { scale, time }) => {
                let options = options(&cli)?;
                usage_exporter::demo::run(options, scale, time).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn shard(cli: &Cli) -> Result<Shard, String> {
    let shard = match (&cli.pod, cli.shard) {
        (Some(pod), _) => Shard::from_pod(pod, cli.total_shards),
        (None, index) => Shard::new(index.unwrap_or(0), cli.total_shards),
    };
    shard.map_err(|e| format!("usage_exporter: {e}"))
}

/// The daemon's options from the flags (the config file as its config source).
fn options(cli: &Cli) -> Result<Options, String> {
    if !cli.telemetry_path.starts_with('/') || cli.telemetry_path.len() < 2 {
        return Err(format!(
            "usage_exporter: --web.telemetry-path={:?} must be a path such as /metrics",
            cli.telemetry_path
        ));
    }
    Ok(Options {
        web_file: cli.web_config_file.clone(),
        shard: shard(cli)?,
        state_dir: cli.storage_path.clone(),
        also_listen: cli.listen_address[1..].to_vec(),
        systemd_socket: cli.systemd_socket,
        serve: ServeOptions {
            max_requests: cli.max_requests,
            telemetry_path: cli.telemetry_path.clone(),
        },
        openmetrics_created: cli.openmetrics_created,
        exporter_metrics: !cli.disable_exporter_metrics,
        ..Options::new(
            ConfigSource::File(cli.config_file.clone()),
            cli.listen_address[0].clone(),
        )
    })
}

async fn run(cli: &Cli) -> Result<(), String> {
    let running = daemon::start(options(cli)?)
        .await
        .map_err(|e| e.to_string())?;
    let shutdown = running.shutdown_token();
    tokio::spawn(async move {
        daemon::termination_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    running.wait().await;
    Ok(())
}
