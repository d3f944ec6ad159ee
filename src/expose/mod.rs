//! The `/metrics` body: all snapshots merged family by family and encoded in the format the
//! scraper negotiated (OpenMetrics 1.0, text 0.0.4 or delimited protobuf), plus the small
//! self-metrics part encoded per scrape. A scrape never triggers an upstream call and never waits
//! for a poll. For a format that was asked for in the last [`ExpositionOptions::idle_after`], a
//! background task woken by the store's generation change encodes (and compresses) it once per
//! data change; a scrape arriving meanwhile waits for that encode rather than serve older data
//! with newer self-metrics or newer data with older ones. A format nobody asked for recently is
//! not encoded until a scrape asks for it; that scrape encodes it once.

mod encode;
mod gzip;
mod negotiate;
pub mod proto;
mod text;

pub use encode::{encode_families, encode_groups, encode_groups_with, merge};
pub use gzip::GzipPrefix;
pub use negotiate::{
    negotiate, Encoding, Negotiated, OPENMETRICS_0_TYPE, OPENMETRICS_1_TYPE, PROTOBUF_TYPE,
    TEXT_TYPE,
};

use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::telemetry::{ExpositionFacts, Telemetry};
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use flate2::Compression;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Content type of the OpenMetrics exposition (what prometheus-client writes).
pub const CONTENT_TYPE: &str = OPENMETRICS_1_TYPE;

/// How the exposition encodes.
#[derive(Debug, Clone)]
pub struct ExpositionOptions {
    /// Write OpenMetrics `_created` lines for counters with a start time
    /// (`--web.enable-openmetrics-created-samples`). Off by default: each is one more series
    /// in a Prometheus that does not fold them into created timestamps.
    pub openmetrics_created: bool,
    /// A format not asked for within this long is no longer encoded in the background.
    pub idle_after: Duration,
}

impl Default for ExpositionOptions {
    fn default() -> Self {
        ExpositionOptions {
            openmetrics_created: false,
            idle_after: Duration::from_secs(600),
        }
    }
}

/// The encoded source metrics of one store generation in one format.
#[derive(Debug)]
pub struct EncodedBody {
    /// The format.
    pub encoding: Encoding,
    /// Store generation this body reflects.
    pub generation: u64,
    /// All source families, without self-metrics (and without `# EOF`).
    pub plain: Bytes,
    /// Number of source series in the body (samples; `_created` lines not counted).
    pub series: usize,
    /// Time the encoding took (compression not included).
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
    options: ExpositionOptions,
    cached: [ArcSwapOption<EncodedBody>; 3],
    locks: [tokio::sync::Mutex<()>; 3],
    /// Per encoding, plain and gzip: when it was last asked for, in ms since `epoch` + 1
    /// (0 = never).
    wanted: [[AtomicU64; 2]; 3],
    epoch: tokio::time::Instant,
    background: AtomicBool,
    encodes: AtomicU64,
    scrapes: [AtomicU64; 3],
}

impl Exposition {
    /// An exposition over a store with default options.
    pub fn new(store: Arc<Store>, telemetry: Arc<Telemetry>) -> Self {
        Self::with_options(store, telemetry, ExpositionOptions::default())
    }

    /// An exposition over a store.
    pub fn with_options(
        store: Arc<Store>,
        telemetry: Arc<Telemetry>,
        options: ExpositionOptions,
    ) -> Self {
        Exposition {
            store,
            telemetry,
            options,
            cached: Default::default(),
            locks: Default::default(),
            wanted: Default::default(),
            epoch: tokio::time::Instant::now(),
            background: AtomicBool::new(false),
            encodes: AtomicU64::new(0),
            scrapes: Default::default(),
        }
    }

    /// How many source encodes ran since start (all formats); tests use it to check that each
    /// format is encoded once per data change.
    pub fn encodes(&self) -> u64 {
        self.encodes.load(Ordering::Relaxed)
    }

    fn now_mark(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn recently(&self, mark: u64) -> bool {
        mark != 0
            && self.now_mark().saturating_sub(mark) <= self.options.idle_after.as_millis() as u64
    }

    fn wanted_recently(&self, encoding: Encoding, gzip: bool) -> bool {
        self.recently(self.wanted[encoding.index()][usize::from(gzip)].load(Ordering::Relaxed))
    }

    /// Runs the background encoder until `shutdown`: whenever the store's generation changes,
    /// every format asked for within `idle_after` is encoded (and gzipped, if asked for
    /// gzipped) once, off the scrape path.
    pub async fn run_encoder(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = self.store.subscribe();
        self.background.store(true, Ordering::Release);
        loop {
            for encoding in Encoding::ALL {
                let gzip = self.wanted_recently(encoding, true);
                if gzip || self.wanted_recently(encoding, false) {
                    let body = self.body(encoding, self.store.generation()).await;
                    if gzip {
                        body.gzip_prefix().await;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
        self.background.store(false, Ordering::Release);
    }

    /// The OpenMetrics source part for the current store generation, encoding it now if it is
    /// not (used by the landing page and the demo; not a scrape, so it marks no demand).
    pub async fn current(&self) -> Arc<EncodedBody> {
        self.body(Encoding::OpenMetrics, self.store.generation())
            .await
    }

    /// The cached body of `encoding` for `generation` or newer, encoding it (once, off the
    /// async runtime threads) if there is none.
    async fn body(&self, encoding: Encoding, generation: u64) -> Arc<EncodedBody> {
        let slot = &self.cached[encoding.index()];
        if let Some(body) = slot.load_full() {
            if body.generation >= generation {
                return body;
            }
        }
        let _guard = self.locks[encoding.index()].lock().await;
        let generation = self.store.generation();
        if let Some(body) = slot.load_full() {
            if body.generation >= generation {
                return body;
            }
        }
        let store = self.store.clone();
        let created = self.options.openmetrics_created;
        let task_store = store.clone();
        let body = match tokio::task::spawn_blocking(move || {
            Arc::new(encode_store(&task_store, generation, encoding, created))
        })
        .await
        {
            Ok(body) => body,
            // The runtime is shutting down and dropped the task: encode here instead.
            Err(e) if e.is_cancelled() => {
                Arc::new(encode_store(&store, generation, encoding, created))
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        self.encodes.fetch_add(1, Ordering::Relaxed);
        slot.store(Some(body.clone()));
        body
    }

    /// The full `/metrics` body in the negotiated encoding: cached source part, fresh
    /// self-metrics, and `# EOF` for OpenMetrics.
    pub async fn scrape(&self, encoding: Encoding, gzip: bool) -> ScrapeBody {
        self.scrapes[encoding.index()].fetch_add(1, Ordering::Relaxed);
        let mark = self.now_mark();
        self.wanted[encoding.index()][usize::from(gzip)].store(mark, Ordering::Relaxed);
        // Poll states first, data second: the data is then never older than the poll results
        // the self-metrics report (the store bumps its generation under the same lock as a
        // result). A scrape that arrives while the background encoder is encoding new data
        // waits for that encode (it never starts a second one): serving the previous data with
        // the poll states of its time would step the self-metric counters back, and Prometheus
        // would read a reset.
        let states = self.store.states();
        let generation = self.store.generation();
        let body = self.body(encoding, generation).await;
        let targets = self.store.target_calls();
        let facts = ExpositionFacts {
            series: body.series,
            encode_times: Encoding::ALL
                .iter()
                .filter_map(|e| {
                    let b = self.cached[e.index()].load_full()?;
                    Some((e.label(), b.encode_time))
                })
                .collect(),
            scrapes: Encoding::ALL
                .iter()
                .map(|e| (e.label(), self.scrapes[e.index()].load(Ordering::Relaxed)))
                .collect(),
        };
        let mut registry_text = String::with_capacity(4 * 1024);
        let _ = prometheus_client::encoding::text::encode_registry(
            &mut registry_text,
            self.telemetry.registry(),
        );
        let families = self.telemetry.families(&states, &targets, facts);
        let tail: Vec<u8> = match encoding {
            Encoding::OpenMetrics => {
                let mut tail = registry_text;
                encode_families(&mut tail, families);
                tail.push_str("# EOF\n");
                tail.into_bytes()
            }
            Encoding::Text | Encoding::Protobuf => {
                let mut all = encode::families_from_openmetrics(&registry_text);
                all.extend(families);
                let groups = merge([(None, Arc::new(Snapshot::from_families(all)))]);
                if encoding == Encoding::Text {
                    let mut tail = String::with_capacity(16 * 1024);
                    text::encode_groups(&mut tail, &groups);
                    tail.into_bytes()
                } else {
                    let mut tail = Vec::with_capacity(8 * 1024);
                    proto::encode_groups(&mut tail, &groups);
                    tail
                }
            }
        };
        if !gzip {
            return ScrapeBody {
                chunks: vec![body.plain.clone(), Bytes::from(tail)],
                gzip: false,
            };
        }
        let prefix = body.gzip_prefix().await;
        ScrapeBody {
            chunks: vec![prefix.bytes(), prefix.finish(&tail)],
            gzip: true,
        }
    }
}

impl EncodedBody {
    /// The gzip stream prefix of the body, compressed (once, off the runtime threads) on first
    /// use.
    async fn gzip_prefix(&self) -> Arc<GzipPrefix> {
        self.gzip
            .get_or_init(|| async {
                let plain = self.plain.clone();
                tokio::task::spawn_blocking(move || {
                    Arc::new(GzipPrefix::new(&plain, Compression::fast()))
                })
                .await
                .expect("gzip task panicked")
            })
            .await
            .clone()
    }
}

/// Encodes every snapshot of the store in one format.
pub fn encode_store(
    store: &Store,
    generation: u64,
    encoding: Encoding,
    openmetrics_created: bool,
) -> EncodedBody {
    let started = Instant::now();
    let snapshots = store.snapshots();
    let series = snapshots.iter().map(|(_, s)| s.series_count()).sum();
    let groups = merge(
        snapshots
            .into_iter()
            .map(|(key, snapshot)| (Some(key.target), snapshot)),
    );
    let plain = match encoding {
        Encoding::OpenMetrics | Encoding::Text => {
            // Series with long label sets take ~250 bytes (~330 with `_created` twins); the
            // body is kept for a whole generation, so spare capacity is trimmed.
            let mut out = String::with_capacity(series * 330 + 4096);
            if encoding == Encoding::OpenMetrics {
                encode_groups_with(&mut out, &groups, openmetrics_created);
            } else {
                text::encode_groups(&mut out, &groups);
            }
            out.shrink_to_fit();
            Bytes::from(out)
        }
        Encoding::Protobuf => {
            let mut out = Vec::with_capacity(series * 200 + 4096);
            proto::encode_groups(&mut out, &groups);
            out.shrink_to_fit();
            Bytes::from(out)
        }
    };
    EncodedBody {
        encoding,
        generation,
        plain,
        series,
        encode_time: started.elapsed(),
        gzip: tokio::sync::OnceCell::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Family, Labels};
    use crate::store::{EndpointKey, PollResult};

    fn key() -> EndpointKey {
        EndpointKey {
            source: "scc",
            target: Arc::from("t"),
            endpoint: "memory",
        }
    }

    fn record(store: &Store, value: f64) {
        let mut c = Family::counter("x_requests_total", "Requests.");
        c.push_counter(Labels::new(), value, Some(1_700_000_000.0));
        store.record(
            &key(),
            std::time::SystemTime::now(),
            Duration::from_millis(1),
            PollResult::Success,
            Some(Arc::new(Snapshot::from_families(vec![c]))),
        );
    }

    fn text_of(body: &ScrapeBody) -> String {
        String::from_utf8(body.chunks.concat()).unwrap()
    }

    #[tokio::test]
    async fn background_encoder_keeps_asked_formats_current_and_skips_idle_ones() {
        let store = Arc::new(Store::new());
        store.register(
            key(),
            &crate::store::EndpointSchedule {
                name: "memory",
                index: 0,
                interval: Duration::from_secs(60),
                stale_after: Duration::from_secs(180),
            },
        );
        record(&store, 1.0);
        let exposition = Arc::new(Exposition::new(store.clone(), Arc::new(Telemetry::new())));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(exposition.clone().run_encoder(shutdown.clone()));
        // Nothing asked yet: the first scrape of a format encodes it once.
        let body = exposition.scrape(Encoding::Text, false).await;
        assert!(text_of(&body).contains("x_requests_total{target=\"t\"} 1\n"));
        assert_eq!(exposition.encodes(), 1);
        // A data change: the background encodes text (asked) and nothing else.
        record(&store, 2.0);
        let generation = store.generation();
        for _ in 0..500 {
            if exposition.cached[Encoding::Text.index()]
                .load_full()
                .is_some_and(|b| b.generation == generation)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(exposition.encodes(), 2);
        assert!(exposition.cached[Encoding::Protobuf.index()]
            .load_full()
            .is_none());
        // The scrape finds it ready and does not encode again.
        let body = exposition.scrape(Encoding::Text, false).await;
        assert!(text_of(&body).contains("x_requests_total{target=\"t\"} 2\n"));
        assert_eq!(exposition.encodes(), 2);
        // OpenMetrics without `_created` by default.
        let om = text_of(&exposition.scrape(Encoding::OpenMetrics, false).await);
        assert!(om.contains("x_requests_total{target=\"t\"} 2.0\n") && !om.contains("_created"));
        assert!(om.ends_with("# EOF\n"));
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn formats_not_asked_for_within_idle_after_are_not_encoded() {
        let store = Arc::new(Store::new());
        store.register(
            key(),
            &crate::store::EndpointSchedule {
                name: "memory",
                index: 0,
                interval: Duration::from_secs(60),
                stale_after: Duration::from_secs(180),
            },
        );
        record(&store, 1.0);
        let exposition = Arc::new(Exposition::new(store.clone(), Arc::new(Telemetry::new())));
        exposition.scrape(Encoding::Protobuf, true).await;
        assert!(exposition.wanted_recently(Encoding::Protobuf, true));
        assert!(!exposition.wanted_recently(Encoding::Protobuf, false));
        tokio::time::advance(Duration::from_secs(601)).await;
        assert!(!exposition.wanted_recently(Encoding::Protobuf, true));
    }
}
