//! TR50 usage histories → metric families. Pure functions of the parsed reply (and, for the
//! API call counters, of the accumulator's values).

use super::config::Series;
use super::counter::CounterValue;
use super::model::{BucketHistory, History};
use crate::snapshot::{Family, Labels, Snapshot};

/// The `usage.thing.history` fields with a family of their own (as the vendor documents them:
/// `total` things, `connected` things, `billable` things), by family name and help.
const THING_FIELDS: &[(&str, &str, &str)] = &[
    (
        "total",
        "tr50_things",
        "Things of the TR50 organisation in the newest usage.thing.history bucket (the reply's total).",
    ),
    (
        "connected",
        "tr50_things_connected",
        "Connected things of the TR50 organisation in the newest usage.thing.history bucket.",
    ),
    (
        "billable",
        "tr50_things_billable",
        "Billable things of the TR50 organisation in the newest usage.thing.history bucket.",
    ),
];

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

/// `usage.thing.history`: the documented fields of the newest bucket with a value, each in its
/// family (`total` → `tr50_things`, `connected` → `tr50_things_connected`, `billable` →
/// `tr50_things_billable`); other fields pass through with their name as label `counter`. A
/// field the reply lacks (or that [`BucketHistory`] left out) has no series.
pub fn thing_history(history: &BucketHistory) -> Snapshot {
    let mut own: Vec<Family> = THING_FIELDS
        .iter()
        .map(|&(_, name, help)| Family::gauge(name, help))
        .collect();
    let mut other = Family::gauge(
        "tr50_thing_history_latest",
        "Other usage.thing.history fields in their newest bucket, by the reply's field name.",
    );
    for (field, value) in history.newest_values() {
        match THING_FIELDS.iter().position(|(f, _, _)| *f == field) {
            Some(i) => own[i].push_gauge(Labels::new(), value),
            None => other.push_gauge(Labels::new().with("counter", field), value),
        }
    }
    let mut latest = Family::gauge(
        "tr50_things_latest_bucket_timestamp_seconds",
        "Start of the newest usage.thing.history bucket in Unix seconds.",
    );
    if let Some(ts) = history.latest_bucket() {
        latest.push_gauge(Labels::new(), ts as f64);
    }
    own.push(other);
    own.push(latest);
    Snapshot::from_families(own)
}

/// `usage.connection.history`: every field's value in the newest bucket with a value, label
/// `counter` = the field (`total`, `hasRatePlan`, `activated`, `inSession` as documented).
pub fn connection_history(history: &BucketHistory) -> Snapshot {
    let mut conns = Family::gauge(
        "tr50_connections_latest",
        "TR50 connections in the newest usage.connection.history bucket, by the reply's field name (total, hasRatePlan, activated, inSession).",
    );
    for (field, value) in history.newest_values() {
        conns.push_gauge(Labels::new().with("counter", field), value);
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
        let snap = with_bucket_period(
            api_history(&History::default(), &[], "service"),
            Series::Hour,
        );
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

    fn load_buckets(name: &str) -> BucketHistory {
        let path = format!("{}/tests/fixtures/tr50/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        BucketHistory::from_params("test", serde_json::from_str(&text).unwrap()).unwrap()
    }

    #[test]
    fn thing_history_reply() {
        assert_golden(
            "tests/fixtures/tr50/golden/thing_history.txt",
            &thing_history(&load_buckets("thing_history.json")).to_golden_text(),
        );
    }

    #[test]
    fn connection_history_reply() {
        assert_golden(
            "tests/fixtures/tr50/golden/connection_history.txt",
            &connection_history(&load_buckets("connection_history.json")).to_golden_text(),
        );
    }

    fn gauge(snap: &Snapshot, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = snap.to_golden_text();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let prefix = format!("{family}{{{}}} ", labels.join(","));
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.parse().unwrap())
    }

    #[test]
    fn thing_history_documented_example_gives_things_and_nothing_made_up() {
        let h = BucketHistory::from_params(
            "usage.thing.history",
            serde_json::json!({
                "connected": [0, 0, 0, 0, 1],
                "total": [1, 1, 1, 1, 1],
                "ts": [
                    "2019-01-26T00:00:00-05:00",
                    "2019-01-27T00:00:00-05:00",
                    "2019-01-28T00:00:00-05:00",
                    "2019-01-29T00:00:00-05:00",
                    "2019-01-30T00:00:00-05:00"
                ]
            }),
        )
        .unwrap();
        let snap = thing_history(&h);
        assert_eq!(gauge(&snap, "tr50_things", &[]), Some(1.0));
        assert_eq!(gauge(&snap, "tr50_things_connected", &[]), Some(1.0));
        assert_eq!(
            gauge(&snap, "tr50_things_latest_bucket_timestamp_seconds", &[]),
            Some(1_548_824_400.0)
        );
        // No `billable` in the reply: no series (never 0), and nothing passed through.
        assert_eq!(snap.series_count(), 3, "{}", snap.to_golden_text());
    }

    #[test]
    fn a_total_of_another_length_than_ts_gives_no_things() {
        let h = BucketHistory::from_params(
            "usage.thing.history",
            serde_json::json!({
                "connected": [2, 3],
                "total": [5, 6, 7],
                "spare": [1, 2],
                "ts": ["2024-03-10T00:00:00Z", "2024-03-10T01:00:00Z"]
            }),
        )
        .unwrap();
        let snap = thing_history(&h);
        assert_eq!(gauge(&snap, "tr50_things", &[]), None);
        assert_eq!(gauge(&snap, "tr50_things_connected", &[]), Some(3.0));
        // A field the vendor does not document passes through under its name.
        assert_eq!(
            gauge(&snap, "tr50_thing_history_latest", &[("counter", "spare")]),
            Some(2.0)
        );
    }

    #[test]
    fn connection_history_total_is_a_counter_label() {
        let h = BucketHistory::from_params(
            "usage.connection.history",
            serde_json::json!({
                "hasRatePlan": [0, 2],
                "activated": [0, "1"],
                "inSession": [0, "busy"],
                "total": [1, 3],
                "ts": ["2024-03-10T00:00:00-05:00", "2024-03-10T01:00:00-05:00"]
            }),
        )
        .unwrap();
        let snap = connection_history(&h);
        let conn = |c| gauge(&snap, "tr50_connections_latest", &[("counter", c)]);
        assert_eq!(conn("total"), Some(3.0));
        assert_eq!(conn("hasRatePlan"), Some(2.0));
        assert_eq!(conn("activated"), Some(1.0));
        // The newest `inSession` is unreadable: the newest bucket that reads counts.
        assert_eq!(conn("inSession"), Some(0.0));
    }
}
