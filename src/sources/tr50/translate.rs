//! TR50 usage histories → metric families. Pure functions of the parsed reply (and, for the
//! API call counters, of the accumulator's values).

use super::config::Series;
use super::counter::CounterValue;
use super::model::History;
use crate::snapshot::{Family, Labels, Snapshot};

/// Series keys of `usage.thing.history` read as the number of things.
const THINGS: &[&str] = &[
    "things",
    "thing",
    "total",
    "count",
    "thingcount",
    "registered",
];

/// Series keys of `usage.thing.history` read as the number of connected things.
const CONNECTED: &[&str] = &["connected", "thingsconnected", "connectedthings", "online"];

/// `usage.api.history`: counters per service (or org), window sums, the reply's total and the
/// newest bucket's start. `label` is `service`, or `org` with `dimension: org`.
pub fn api_history(history: &History, counters: &[CounterValue], label: &'static str) -> Snapshot {
    let mut total = Family::counter(
        "tr50_api_calls_total",
        "TR50 API calls counted from the usage.api.history buckets since the exporter began counting (the first poll is the baseline: what its window held is not counted); each bucket counts once, the still-filling newest bucket as it grows.",
    );
    for c in counters {
        total.push_counter(
            Labels::new().with(label, c.key.as_str()),
            c.total,
            Some(c.created as f64),
        );
    }
    let mut window = Family::gauge(
        "tr50_api_calls_window",
        "TR50 API calls in the polled usage.api.history window (the configured last period), per series.",
    );
    for (key, buckets) in history.series() {
        if buckets.is_empty() {
            continue;
        }
        let sum: f64 = buckets.iter().map(|(_, v)| v).sum();
        // Absurd counts can sum to infinity: no series rather than +Inf.
        if sum.is_finite() {
            window.push_gauge(Labels::new().with(label, key), sum);
        }
    }
    let mut all = Family::gauge(
        "tr50_api_calls_window_all_services",
        "TR50 API calls in the polled usage.api.history window over all series, as the platform's total field reports it.",
    );
    if let Some(t) = history.total {
        all.push_gauge(Labels::new(), t);
    }
    let mut latest = Family::gauge(
        "tr50_usage_latest_bucket_timestamp_seconds",
        "Start of the newest (still filling) usage.api.history bucket in Unix seconds.",
    );
    if let Some(ts) = history.latest_bucket() {
        latest.push_gauge(Labels::new(), ts as f64);
    }
    Snapshot::from_families(vec![total, window, all, latest])
}

/// `tr50_usage_bucket_period_seconds`: the bucket size the `api_history` poll asks for
/// (`series`). With `tr50_usage_latest_bucket_timestamp_seconds` (the start of the newest,
/// still filling bucket) it tells an alert how old the newest bucket may be before data has
/// stopped arriving: up to one period while it fills, plus the platform's lag.
pub fn bucket_period(series: Series) -> Family {
    let mut period = Family::gauge(
        "tr50_usage_bucket_period_seconds",
        "Length of the usage.api.history buckets the exporter asks for (series hour or day), in seconds.",
    );
    period.push_gauge(Labels::new(), series.bucket_secs() as f64);
    period
}

/// A `usage.api.history` snapshot ([`api_history`]) with the bucket period of `series` added.
pub fn with_bucket_period(snapshot: Snapshot, series: Series) -> Snapshot {
    let mut families = snapshot.families;
    families.push(bucket_period(series));
    Snapshot::from_families(families)
}

/// The value of each series in its newest bucket that has one.
fn newest_values(history: &History) -> Vec<(String, f64)> {
    history
        .series()
        .into_iter()
        .filter_map(|(k, buckets)| {
            let (_, v) = buckets.into_iter().max_by_key(|(t, _)| *t)?;
            Some((k, v))
        })
        .collect()
}

/// `usage.thing.history`: things and connected things in the newest bucket; other series pass
/// through with their key as label `counter`.
pub fn thing_history(history: &History) -> Snapshot {
    let mut things = Family::gauge(
        "tr50_things",
        "Things of the TR50 organisation in the newest usage.thing.history bucket.",
    );
    let mut connected = Family::gauge(
        "tr50_things_connected",
        "Connected things of the TR50 organisation in the newest usage.thing.history bucket.",
    );
    let mut other = Family::gauge(
        "tr50_thing_history_latest",
        "Other usage.thing.history series in their newest bucket, by the platform's series name.",
    );
    for (key, value) in newest_values(history) {
        let norm: String = key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if THINGS.contains(&norm.as_str()) {
            things.push_gauge(Labels::new(), value);
        } else if CONNECTED.contains(&norm.as_str()) {
            connected.push_gauge(Labels::new(), value);
        } else {
            other.push_gauge(Labels::new().with("counter", key), value);
        }
    }
    let mut latest = Family::gauge(
        "tr50_things_latest_bucket_timestamp_seconds",
        "Start of the newest usage.thing.history bucket in Unix seconds.",
    );
    if let Some(ts) = history.latest_bucket() {
        latest.push_gauge(Labels::new(), ts as f64);
    }
    Snapshot::from_families(vec![things, connected, other, latest])
}

/// `usage.connection.history`: every series' value in the newest bucket, label `counter`.
pub fn connection_history(history: &History) -> Snapshot {
    let mut conns = Family::gauge(
        "tr50_connections_latest",
        "TR50 connections in the newest usage.connection.history bucket, by the platform's series name.",
    );
    for (key, value) in newest_values(history) {
        conns.push_gauge(Labels::new().with("counter", key), value);
    }
    let mut latest = Family::gauge(
        "tr50_connections_latest_bucket_timestamp_seconds",
        "Start of the newest usage.connection.history bucket in Unix seconds.",
    );
    if let Some(ts) = history.latest_bucket() {
        latest.push_gauge(Labels::new(), ts as f64);
    }
    Snapshot::from_families(vec![conns, latest])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_golden;
    use crate::sources::tr50::counter::CallCounter;

    fn load(name: &str) -> History {
        let path = format!("{}/tests/fixtures/tr50/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// When the tests' polls happen (the baseline's `_created`).
    const NOW: i64 = 1_710_050_000;

    fn observe(counter: &mut CallCounter, h: &History) -> Vec<CounterValue> {
        let series = h.series();
        counter.observe(NOW, series.iter().map(|(k, b)| (k.as_str(), b.clone())))
    }

    #[test]
    fn api_history_documented_reply() {
        let h = load("api_history_documented.json");
        let mut c = CallCounter::new();
        let values = observe(&mut c, &h);
        assert_golden(
            "tests/fixtures/tr50/golden/api_history_documented.txt",
            &api_history(&h, &values, "service").to_golden_text(),
        );
    }

    #[test]
    fn api_history_second_poll_adds_increments_only() {
        let mut c = CallCounter::new();
        observe(&mut c, &load("api_history_poll1.json"));
        let h = load("api_history_poll2.json");
        let values = observe(&mut c, &h);
        assert_golden(
            "tests/fixtures/tr50/golden/api_history_poll2.txt",
            &api_history(&h, &values, "service").to_golden_text(),
        );
    }

    #[test]
    fn api_history_by_org_with_odd_shapes() {
        let h = load("api_history_org_odd.json");
        let mut c = CallCounter::new();
        let values = observe(&mut c, &h);
        assert_golden(
            "tests/fixtures/tr50/golden/api_history_org_odd.txt",
            &api_history(&h, &values, "org").to_golden_text(),
        );
    }

    #[test]
    fn api_history_day_buckets_newest_first_at_an_offset() {
        // `series: day` on a server at -05:00, read just after 00:00 UTC on 11 March (19:xx on
        // 10 March there): the newest bucket is the still filling local day 10 March, which
        // began at 05:00 UTC, whatever the order of `ts`.
        let h = load("api_history_day_offset.json");
        assert_eq!(h.latest_bucket(), Some(1_710_046_800));
        let mut c = CallCounter::new();
        let values = observe(&mut c, &h);
        let snap = with_bucket_period(api_history(&h, &values, "service"), Series::Day);
        assert_golden(
            "tests/fixtures/tr50/golden/api_history_day_offset.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn bucket_period_is_the_requested_series() {
        let period = |s| match bucket_period(s).samples[0].value {
            crate::snapshot::Value::Gauge(v) => v,
            ref other => panic!("{other:?}"),
        };
        assert_eq!(period(Series::Hour), 3600.0);
        assert_eq!(period(Series::Day), 86_400.0);
        // Known from the request, so present even when the reply holds no bucket (the latest
        // bucket gauge is absent then, and an alert on the pair stays quiet).
        let snap = with_bucket_period(api_history(&History::default(), &[], "service"), Series::Hour);
        assert_eq!(snap.series_count(), 1);
        assert!(snap
            .family("tr50_usage_latest_bucket_timestamp_seconds")
            .is_none());
    }

    #[test]
    fn api_history_empty_reply_has_no_series() {
        let h = History::default();
        let snap = api_history(&h, &[], "service");
        assert_eq!(snap.series_count(), 0);
    }

    #[test]
    fn thing_history_reply() {
        assert_golden(
            "tests/fixtures/tr50/golden/thing_history.txt",
            &thing_history(&load("thing_history.json")).to_golden_text(),
        );
    }

    #[test]
    fn connection_history_reply() {
        assert_golden(
            "tests/fixtures/tr50/golden/connection_history.txt",
            &connection_history(&load("connection_history.json")).to_golden_text(),
        );
    }
}
