//! The `/metrics` body: all snapshots merged family by family and encoded in the format the
//! scraper negotiated (OpenMetrics 1.0, text 0.0.4 or delimited protobuf), plus the small
//! self-metrics part encoded per scrape. A scrape never triggers an upstream call, never waits
//! for a poll and never waits for an encode once its format has been asked for: for every
//! format (and, separately, its plain and gzip variants) asked for in the last
//! [`ExpositionOptions::idle_after`], a background task woken by the store's generation change
//! encodes it once per data change, streaming the text into the compressor so the plain body
//! is only kept when plain scrapes want it. A scrape meanwhile serves the newest finished body
//! (data at most one encode older than the store). An encode re-encodes only the ranges of
//! families whose snapshots changed since the format's previous encode (see [`ranges`]).
//! Bodies only ever get newer, so a counter never steps back between scrapes. A variant nobody asked for recently is not encoded until
//! a scrape asks for it; that first scrape encodes it.

mod encode;
mod gzip;
mod negotiate;
pub mod proto;
mod ranges;
mod text;

pub use encode::{encode_families, encode_groups, encode_groups_with, merge};
pub use gzip::{GzipPrefix, GzipPrefixWriter};
pub use negotiate::{
    negotiate, Encoding, Negotiated, OPENMETRICS_0_TYPE, OPENMETRICS_1_TYPE, PROTOBUF_TYPE,
    TEXT_TYPE,
};

use crate::snapshot::{Frozen, Snapshot};
use crate::store::Store;
use crate::telemetry::{ExpositionFacts, Telemetry};
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use ranges::RangeCache;
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
    /// All source families, without self-metrics (and without `# EOF`), as the pieces the
    /// encode threads wrote (sent one after another); kept only while plain scrapes of this
    /// format are asked for.
    pub plain: Option<Vec<Bytes>>,
    /// The same, as the start of a gzip stream; kept only while gzip scrapes are asked for.
    pub gzip: Option<GzipPrefix>,
    /// Length of the plain body in bytes (also when it is not kept).
    pub plain_len: usize,
    /// Number of source series in the body (samples; `_created` lines not counted).
    pub series: usize,
    /// Ranges of families encoded for this body, and ranges in it (the others were unchanged
    /// since the format's previous encode and reused).
    pub ranges_encoded: (usize, usize),
    /// Time the encoding took, compression included.
    pub encode_time: Duration,
}

/// Which variants of a format to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// Keep the plain body.
    pub plain: bool,
    /// Compress into a gzip prefix.
    pub gzip: bool,
}

impl EncodedBody {
    fn has(&self, variants: Variants) -> bool {
        (!variants.plain || self.plain.is_some()) && (!variants.gzip || self.gzip.is_some())
    }
}

/// What the landing page and the demo show about the exposition, without encoding anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpositionSummary {
    /// Source series stored now.
    pub series: usize,
    /// Plain size of the newest OpenMetrics body, once one was encoded.
    pub openmetrics_bytes: Option<usize>,
    /// How long the newest encode of any format took.
    pub last_encode: Option<Duration>,
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
    /// Per encoding, the ranges of its last encode, to reuse where the data is unchanged.
    ranges: [Arc<RangeCache>; 3],
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
            ranges: Default::default(),
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

    fn wanted_variants(&self, encoding: Encoding) -> Variants {
        Variants {
            plain: self.wanted_recently(encoding, false),
            gzip: self.wanted_recently(encoding, true),
        }
    }

    /// Runs the background encoder until `shutdown`: whenever the store's generation changes,
    /// every format variant asked for within `idle_after` is encoded once, off the scrape path.
    pub async fn run_encoder(self: Arc<Self>, shutdown: CancellationToken) {
        let mut changes = self.store.subscribe();
        self.background.store(true, Ordering::Release);
        loop {
            for encoding in Encoding::ALL {
                let variants = self.wanted_variants(encoding);
                if variants.plain || variants.gzip {
                    self.refresh(encoding, variants).await;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
        self.background.store(false, Ordering::Release);
    }

    /// Sizes and the last encode time as they stand (the landing page must not encode a
    /// million series to say how many there are).
    pub fn summary(&self) -> ExpositionSummary {
        let series = self
            .store
            .snapshots()
            .iter()
            .map(|(_, s)| s.series_count())
            .sum();
        let bodies: Vec<Arc<EncodedBody>> = self
            .cached
            .iter()
            .filter_map(|slot| slot.load_full())
            .collect();
        ExpositionSummary {
            series,
            openmetrics_bytes: self.cached[Encoding::OpenMetrics.index()]
                .load_full()
                .map(|b| b.plain_len),
            last_encode: bodies
                .iter()
                .max_by_key(|b| b.generation)
                .map(|b| b.encode_time),
        }
    }

    /// The cached body of `encoding` if it has `variants`, however old (the background encoder
    /// is bringing it up to date); otherwise one encoded now, with every variant wanted.
    async fn body(&self, encoding: Encoding, variants: Variants) -> Arc<EncodedBody> {
        if let Some(body) = self.cached[encoding.index()].load_full() {
            if body.has(variants) {
                return body;
            }
        }
        self.refresh(encoding, variants).await
    }

    /// Encodes `encoding` for the current generation unless the cached body already is that
    /// new and has `variants` (one encode at a time per format; off the async runtime threads).
    async fn refresh(&self, encoding: Encoding, variants: Variants) -> Arc<EncodedBody> {
        let slot = &self.cached[encoding.index()];
        let _guard = self.locks[encoding.index()].lock().await;
        let generation = self.store.generation();
        if let Some(body) = slot.load_full() {
            if body.generation >= generation && body.has(variants) {
                return body;
            }
        }
        // Whatever else is wanted now is built in the same pass (a range whose plain text is
        // cached and current is only compressed when gzip is new).
        let wanted = self.wanted_variants(encoding);
        let variants = Variants {
            plain: variants.plain || wanted.plain,
            gzip: variants.gzip || wanted.gzip,
        };
        let store = self.store.clone();
        let created = self.options.openmetrics_created;
        let cache = self.ranges[encoding.index()].clone();
        let (task_store, task_cache) = (store.clone(), cache.clone());
        let body = match tokio::task::spawn_blocking(move || {
            Arc::new(encode_store(
                &task_store,
                generation,
                encoding,
                variants,
                created,
                &task_cache,
            ))
        })
        .await
        {
            Ok(body) => body,
            // The runtime is shutting down and dropped the task: encode here instead.
            Err(e) if e.is_cancelled() => Arc::new(encode_store(
                &store, generation, encoding, variants, created, &cache,
            )),
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
        let variants = Variants { plain: !gzip, gzip };
        // Data first, poll states second: the self-metrics are then never older than the data
        // (a served body may lag the newest poll by one background encode).
        let body = self.body(encoding, variants).await;
        let states = self.store.states();
        let targets = self.store.target_calls();
        let cached: Vec<(&'static str, Arc<EncodedBody>)> = Encoding::ALL
            .iter()
            .filter_map(|e| Some((e.label(), self.cached[e.index()].load_full()?)))
            .collect();
        let facts = ExpositionFacts {
            series: body.series,
            encode_times: cached.iter().map(|(f, b)| (*f, b.encode_time)).collect(),
            encode_ranges: cached.iter().map(|(f, b)| (*f, b.ranges_encoded)).collect(),
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
                let groups = merge([(None, Arc::new(Frozen::new(&Snapshot::from_families(all))))]);
                if encoding == Encoding::Text {
                    let mut tail = String::with_capacity(16 * 1024);
                    text::encode_groups(&mut tail, &groups, text::Dialect::Text);
                    tail.into_bytes()
                } else {
                    let mut tail = Vec::with_capacity(8 * 1024);
                    proto::encode_groups(&mut tail, &groups);
                    tail
                }
            }
        };
        match (gzip, &body.plain, &body.gzip) {
            (true, _, Some(prefix)) => ScrapeBody {
                chunks: prefix.chunks().chain([prefix.finish(&tail)]).collect(),
                gzip: true,
            },
            (false, Some(plain), _) => ScrapeBody {
                chunks: plain.iter().cloned().chain([Bytes::from(tail)]).collect(),
                gzip: false,
            },
            _ => unreachable!("body() returns a body with the asked variant"),
        }
    }
}

/// Encodes every snapshot of the store in one format, into the asked variants, reusing from
/// `cache` the ranges whose data did not change since the last encode of this format.
fn encode_store(
    store: &Store,
    generation: u64,
    encoding: Encoding,
    variants: Variants,
    openmetrics_created: bool,
    cache: &RangeCache,
) -> EncodedBody {
    let started = Instant::now();
    let snapshots = store.snapshots();
    let series = snapshots.iter().map(|(_, s)| s.series_count()).sum();
    let groups = merge(
        snapshots
            .into_iter()
            .map(|(key, snapshot)| (Some(key.target), snapshot)),
    );
    let body = ranges::encode(&groups, encoding, variants, openmetrics_created, cache);
    EncodedBody {
        encoding,
        generation,
        plain: body.plain,
        gzip: body.gzip,
        plain_len: body.len,
        series,
        ranges_encoded: body.encoded,
        encode_time: started.elapsed(),
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
            Some(Snapshot::from_families(vec![c])),
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

    fn register(store: &Store, target: &str, endpoint: &'static str) -> EndpointKey {
        let key = EndpointKey {
            source: "scc",
            target: Arc::from(target),
            endpoint,
        };
        store.register(
            key.clone(),
            &crate::store::EndpointSchedule {
                name: endpoint,
                index: 0,
                interval: Duration::from_secs(60),
                stale_after: Duration::from_secs(180),
            },
        );
        key
    }

    /// Six targets of nine families (~70k series, several ranges) and one small `z_cpu` family
    /// per target from an endpoint of its own, whose values are `cpu`.
    fn large_store(cpu: f64) -> Store {
        let store = Store::new();
        for t in 0..6 {
            let families = (0..9)
                .map(|f| {
                    let mut family = Family::counter(format!("f{f}_total"), "F.");
                    for i in 0..(ranges::SPLIT_ABOVE / 40 + f * 13) {
                        let labels = Labels::new().with("i", i.to_string());
                        family.push_counter(labels, (i * t) as f64, Some(1.7e9));
                    }
                    family
                })
                .collect();
            poll(&store, &format!("t{t}"), "memory", families);
            record_cpu(&store, t, cpu);
        }
        store
    }

    /// A successful poll of `target`'s `endpoint` that produced `families`.
    fn poll(store: &Store, target: &str, endpoint: &'static str, families: Vec<Family>) {
        let key = register(store, target, endpoint);
        let (now, ms) = (std::time::SystemTime::now(), Duration::from_millis(1));
        let snapshot = Some(Snapshot::from_families(families));
        store.record(&key, now, ms, PollResult::Success, snapshot);
    }

    fn record_cpu(store: &Store, target: usize, value: f64) {
        let mut cpu = Family::gauge("z_cpu", "CPU.");
        cpu.push_gauge(Labels::new(), value);
        poll(store, &format!("t{target}"), "cpu", vec![cpu]);
    }

    /// The store encoded family by family in one piece, plain.
    fn whole(store: &Store, encoding: Encoding) -> Vec<u8> {
        let groups = merge(
            store
                .snapshots()
                .into_iter()
                .map(|(k, s)| (Some(k.target), s)),
        );
        let mut whole = Vec::new();
        for group in &groups {
            let group = std::slice::from_ref(group);
            let mut text = String::new();
            match encoding {
                Encoding::Protobuf => proto::encode_groups(&mut whole, group),
                Encoding::Text => text::encode_groups(&mut text, group, text::Dialect::Text),
                Encoding::OpenMetrics => encode_groups(&mut text, group),
            }
            whole.extend_from_slice(text.as_bytes());
        }
        whole
    }

    fn gunzip(prefix: &GzipPrefix) -> Vec<u8> {
        use std::io::Read;
        let mut stream: Vec<u8> = prefix.chunks().flat_map(|c| c.to_vec()).collect();
        stream.extend_from_slice(&prefix.finish(b""));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&stream[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Checks that `body`'s plain and gzip variants both hold `whole`.
    fn assert_holds(body: EncodedBody, whole: &[u8], what: &str) {
        assert!(
            body.plain.unwrap().concat() == whole,
            "{what}: the plain body differs"
        );
        assert!(
            gunzip(&body.gzip.unwrap()) == whole,
            "{what}: the gzip body differs"
        );
    }

    const BOTH: Variants = Variants {
        plain: true,
        gzip: true,
    };

    #[test]
    fn a_large_body_encoded_in_ranges_equals_one_encoded_whole() {
        let store = large_store(1.0);
        let groups = merge(
            store
                .snapshots()
                .into_iter()
                .map(|(k, s)| (Some(k.target), s)),
        );
        assert!(ranges::cut(&groups, ranges::RANGE_SERIES).len() >= 3);
        for encoding in Encoding::ALL {
            let cache = RangeCache::default();
            let body = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
            assert!(body.series > ranges::SPLIT_ABOVE);
            let (encoded, all) = body.ranges_encoded;
            assert!(
                encoded == all && all >= 3,
                "{encoding:?}: {encoded} of {all}"
            );
            assert_holds(body, &whole(&store, encoding), &format!("{encoding:?}"));
        }
    }

    #[test]
    fn a_change_re_encodes_only_the_ranges_it_touched() {
        let store = large_store(1.0);
        for (n, encoding) in Encoding::ALL.into_iter().enumerate() {
            let cache = RangeCache::default();
            let first = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
            // A new value each time: the store keeps the old snapshot for an equal one.
            record_cpu(&store, 3, 2.0 + n as f64);
            let again = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
            // Only the last range holds `z_cpu`.
            assert_eq!(
                again.ranges_encoded,
                (1, first.ranges_encoded.1),
                "{encoding:?}"
            );
            let whole = whole(&store, encoding);
            assert_holds(again, &whole, &format!("{encoding:?}"));
            // Unchanged data: nothing to encode.
            let same = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
            assert_eq!(same.ranges_encoded.0, 0, "{encoding:?}");
            assert_holds(same, &whole, &format!("{encoding:?}, unchanged"));
        }
    }

    #[test]
    fn a_poll_that_touches_every_range_re_encodes_them_all() {
        let store = large_store(1.0);
        let cache = RangeCache::default();
        let encoding = Encoding::OpenMetrics;
        let first = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
        let all = first.ranges_encoded.1;
        // Target t2's memory endpoint contributes to every `f*` family.
        let mut f = Family::counter("f0_total", "F.");
        f.push_counter(Labels::new().with("i", "x"), 1.0, None);
        poll(&store, "t2", "memory", vec![f]);
        let changed = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
        // t2 now adds one series to f0 instead of thousands to every family: each range has a
        // changed family (and the cuts move with the smaller families).
        let (encoded, now_all) = changed.ranges_encoded;
        assert!(
            encoded == now_all && now_all <= all,
            "{encoded} of {now_all} (was {all})"
        );
        assert_holds(changed, &whole(&store, encoding), "changed");
        let again = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
        assert_eq!(again.ranges_encoded.0, 0);
    }

    #[test]
    fn gzip_asked_for_later_compresses_the_cached_text_and_a_variant_not_kept_is_encoded_again() {
        let store = large_store(1.0);
        let cache = RangeCache::default();
        let encoding = Encoding::OpenMetrics;
        let plain = Variants {
            plain: true,
            gzip: false,
        };
        let gzip = Variants {
            plain: false,
            gzip: true,
        };
        let first = encode_store(&store, store.generation(), encoding, plain, false, &cache);
        assert!(first.gzip.is_none());
        let all = first.ranges_encoded.1;
        // gzip as well: every range is compressed from its cached text, not encoded again.
        let zipped = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
        assert_eq!(zipped.ranges_encoded, (all, all), "no range had gzip yet");
        let pointers = |body: &EncodedBody| -> Vec<*const u8> {
            body.plain.iter().flatten().map(|b| b.as_ptr()).collect()
        };
        assert_eq!(pointers(&zipped), pointers(&first), "the same text");
        assert_holds(zipped, &whole(&store, encoding), "compressed from the text");
        // gzip only: reused as it is, the text let go.
        let trimmed = encode_store(&store, store.generation(), encoding, gzip, false, &cache);
        assert_eq!(trimmed.ranges_encoded, (0, all));
        assert!(trimmed.plain.is_none());
        // Only gzip was kept, so plain is encoded again.
        let both = encode_store(&store, store.generation(), encoding, BOTH, false, &cache);
        assert_eq!(both.ranges_encoded, (all, all));
        let again = encode_store(&store, store.generation(), encoding, gzip, false, &cache);
        assert_eq!(again.ranges_encoded, (0, all));
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
