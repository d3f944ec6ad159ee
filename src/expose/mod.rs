//! The `/metrics` body: all snapshots merged family by family, encoded once per store
//! generation (plain and, on first demand, gzip), plus the small self-metrics part encoded per
//! scrape. A scrape never triggers an upstream call and never waits for a poll.

mod encode;
mod gzip;

pub use encode::{encode_families, encode_groups, merge};
pub use gzip::GzipPrefix;

use crate::store::Store;
use crate::telemetry::{ExpositionFacts, Telemetry};
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use flate2::Compression;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Content type of the exposition (what prometheus-client writes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The encoded source metrics of one store generation.
#[derive(Debug)]
pub struct EncodedBody {
    /// Store generation this body reflects.
    pub generation: u64,
    /// OpenMetrics text of all source families, without self-metrics and `# EOF`.
    pub plain: Bytes,
    /// Number of source series in the body.
    pub series: usize,
    /// Time the encoding took.
    pub encode_time: Duration,
    gzip: tokio::sync::OnceCell<Arc<GzipPrefix>>,
}

/// A response body as a list of chunks (sent without copying the cached part).
#[derive(Debug, Clone)]
pub struct ScrapeBody {
    /// Body chunks in order.
    pub chunks: Vec<Bytes>,
    /// True when the chunks form a gzip stream.
    pub gzip: bool,
}

impl ScrapeBody {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Builds and caches the exposition.
#[derive(Debug)]
pub struct Exposition {
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
    cached: ArcSwapOption<EncodedBody>,
    encoding: tokio::sync::Mutex<()>,
}

impl Exposition {
    /// An exposition over a store.
    pub fn new(store: Arc<Store>, telemetry: Arc<Telemetry>) -> Self {
        Exposition {
            store,
            telemetry,
            cached: ArcSwapOption::empty(),
            encoding: tokio::sync::Mutex::new(()),
        }
    }

    /// The encoded source part for the current store generation, re-encoding it (once, off the
    /// async runtime threads) if the data changed since the last scrape.
    pub async fn current(&self) -> Arc<EncodedBody> {
        let generation = self.store.generation();
        if let Some(body) = self.cached.load_full() {
            if body.generation == generation {
                return body;
            }
        }
        let _guard = self.encoding.lock().await;
        let generation = self.store.generation();
        if let Some(body) = self.cached.load_full() {
            if body.generation == generation {
                return body;
            }
        }
        let store = self.store.clone();
        let task_store = store.clone();
        let body = match tokio::task::spawn_blocking(move || {
            Arc::new(encode_store(&task_store, generation))
        })
        .await
        {
            Ok(body) => body,
            // The runtime is shutting down and dropped the task: encode here instead.
            Err(e) if e.is_cancelled() => Arc::new(encode_store(&store, generation)),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        self.cached.store(Some(body.clone()));
        body
    }

    /// The full `/metrics` body: cached source part, fresh self-metrics, `# EOF`.
    pub async fn scrape(&self, gzip: bool) -> ScrapeBody {
        // Poll states first, data second: the data is then never older than the poll results the
        // self-metrics report (the store bumps its generation under the same lock as a result).
        let states = self.store.states();
        let targets = self.store.target_calls();
        let body = self.current().await;
        let mut tail = String::with_capacity(16 * 1024);
        let _ = prometheus_client::encoding::text::encode_registry(
            &mut tail,
            self.telemetry.registry(),
        );
        let facts = ExpositionFacts {
            series: body.series,
            encode_time: body.encode_time,
        };
        encode_families(&mut tail, self.telemetry.families(&states, &targets, facts));
        tail.push_str("# EOF\n");
        if !gzip {
            return ScrapeBody {
                chunks: vec![body.plain.clone(), Bytes::from(tail)],
                gzip: false,
            };
        }
        let prefix = body
            .gzip
            .get_or_init(|| async {
                let plain = body.plain.clone();
                tokio::task::spawn_blocking(move || {
                    Arc::new(GzipPrefix::new(&plain, Compression::fast()))
                })
                .await
                .expect("gzip task panicked")
            })
            .await
            .clone();
        ScrapeBody {
            chunks: vec![prefix.bytes(), prefix.finish(tail.as_bytes())],
            gzip: true,
        }
    }
}

/// Encodes every snapshot of the store.
pub fn encode_store(store: &Store, generation: u64) -> EncodedBody {
    let started = Instant::now();
    let snapshots = store.snapshots();
    let series = snapshots.iter().map(|(_, s)| s.series_count()).sum();
    let groups = merge(
        snapshots
            .into_iter()
            .map(|(key, snapshot)| (Some(key.target), snapshot)),
    );
    // Series with long label sets and `_created` twins take ~300 bytes; the body is kept for a
    // whole generation, so spare capacity is trimmed rather than carried along.
    let mut out = String::with_capacity(series * 330 + 4096);
    encode_groups(&mut out, &groups);
    out.shrink_to_fit();
    EncodedBody {
        generation,
        plain: Bytes::from(out),
        series,
        encode_time: started.elapsed(),
        gzip: tokio::sync::OnceCell::new(),
    }
}
