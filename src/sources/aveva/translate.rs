//! Model → metric families. Pure functions of the payload, the current cycle and the poll time
//! (and, for tenant usage, the high-water marks the answer updates).
//!
//! Every series carries the tenant as its first label. The translations leave it out and
//! [`for_tenant`] adds it to the whole snapshot, so that a body's parse function needs nothing
//! of the target (the way the exposition adds the `target` label).

use super::cycle::Cycle;
use super::highwater::{HighWater, SeriesKey, Update, Values, MEASURE_NAMES};
use super::model::{ResourceUsage, UsageRecord};
use crate::snapshot::{Family, Labels, Snapshot};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many days of per-day gauges (a cycle is at most a month long).
pub const MAX_DATES: usize = 31;

/// One usage measure: how to read it and the names it is exported under.
struct Measure {
    get: fn(&UsageRecord) -> Option<f64>,
    total: &'static str,
    total_help: &'static str,
    daily: &'static str,
    daily_help: &'static str,
    community: &'static str,
    community_help: &'static str,
}

const MEASURES: [Measure; 4] = [
    Measure {
        get: |r| r.ingress_events,
        total: "aveva_cds_ingress_events_total",
        total_help: "Events written to CONNECT data services in the current billing cycle so far (tenant usage API, polled in the background): the sum over the days of the highest value seen for each, so a day revised down keeps its counted value.",
        daily: "aveva_cds_daily_ingress_events",
        daily_help: "Events written to CONNECT data services on the UTC day given by the date label, for the days of the current billing cycle (today is partial).",
        community: "aveva_cds_community_daily_ingress_events",
        community_help: "Community events written on the UTC day given by the date label, per caller and callee tenant, for the current billing cycle.",
    },
    Measure {
        get: |r| r.ingress_streams_accessed,
        total: "aveva_cds_ingress_streams_accessed_total",
        total_help: "Sum over the days of the current billing cycle of the number of streams written to each day (tenant usage API; the highest value seen per day).",
        daily: "aveva_cds_daily_ingress_streams_accessed",
        daily_help: "Streams written to on the UTC day given by the date label, for the days of the current billing cycle (today is partial).",
        community: "aveva_cds_community_daily_ingress_streams_accessed",
        community_help: "Community streams written to on the UTC day given by the date label, per caller and callee tenant, for the current billing cycle.",
    },
    Measure {
        get: |r| r.egress_events,
        total: "aveva_cds_egress_events_total",
        total_help: "Events read from CONNECT data services in the current billing cycle so far (tenant usage API, polled in the background): the sum over the days of the highest value seen for each, so a day revised down keeps its counted value.",
        daily: "aveva_cds_daily_egress_events",
        daily_help: "Events read from CONNECT data services on the UTC day given by the date label, for the days of the current billing cycle (today is partial).",
        community: "aveva_cds_community_daily_egress_events",
        community_help: "Community events read on the UTC day given by the date label, per caller and callee tenant, for the current billing cycle.",
    },
    Measure {
        get: |r| r.egress_streams_accessed,
        total: "aveva_cds_egress_streams_accessed_total",
        total_help: "Sum over the days of the current billing cycle of the number of streams read from each day (tenant usage API; the highest value seen per day).",
        daily: "aveva_cds_daily_egress_streams_accessed",
        daily_help: "Streams read from on the UTC day given by the date label, for the days of the current billing cycle (today is partial).",
        community: "aveva_cds_community_daily_egress_streams_accessed",
        community_help: "Community streams read from on the UTC day given by the date label, per caller and callee tenant, for the current billing cycle.",
    },
];

/// Whose usage a community record describes (the API's `CommunityUsageSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommunitySource {
    /// The caller's own tenant accessing community data.
    Internal,
    /// Other tenants accessing this tenant's data.
    External,
}

impl CommunitySource {
    /// Both sources, in query order.
    pub const ALL: [CommunitySource; 2] = [CommunitySource::Internal, CommunitySource::External];

    /// The API's enum name (sent as `source=`).
    pub fn api_name(self) -> &'static str {
        match self {
            CommunitySource::Internal => "Internal",
            CommunitySource::External => "External",
        }
    }

    /// The `source` label value.
    pub fn label(self) -> &'static str {
        match self {
            CommunitySource::Internal => "internal",
            CommunitySource::External => "external",
        }
    }
}

/// The usage records of one community and source.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityUsage {
    /// The configured community id.
    pub community_id: String,
    /// Internal or External.
    pub source: CommunitySource,
    /// The records returned.
    pub records: Vec<UsageRecord>,
}

/// The days of `records` that belong to the cycle and are not in the future. "Future" allows
/// the cycle's first day when the local clock is still a little behind the vendor's at a cycle
/// boundary (the same allowance the query range makes).
fn cycle_days<'a>(
    records: impl Iterator<Item = &'a UsageRecord>,
    cycle: &Cycle,
    now: DateTime<Utc>,
) -> BTreeSet<NaiveDate> {
    let today = now.date_naive().max(cycle.start.date_naive());
    records
        .filter_map(|r| r.date.map(|d| d.date_naive()))
        .filter(|d| *d <= today && cycle.contains_day(*d))
        .collect()
}

/// The latest [`MAX_DATES`] of `days` (the per-day gauges).
fn recent(mut days: BTreeSet<NaiveDate>) -> BTreeSet<NaiveDate> {
    while days.len() > MAX_DATES {
        days.pop_first();
    }
    days
}

fn usage_labels(key: &SeriesKey) -> Labels {
    let mut labels = Labels::new();
    if let Some(ns) = &key.0 {
        labels.push("namespace_id", ns.clone());
    }
    if let Some(c) = &key.1 {
        labels.push("community_id", c.clone());
    }
    if let Some(r) = &key.2 {
        labels.push("cluster_region", r.clone());
    }
    labels
}

/// Adds a usage value to a sum. Negative values are no usage (a counter may not go below 0),
/// and a sum that overflows to infinity is dropped rather than exported.
fn add(slot: &mut Option<f64>, value: Option<f64>) {
    if let Some(v) = value.filter(|v| *v >= 0.0) {
        *slot = Some(slot.unwrap_or(0.0) + v).filter(|s| s.is_finite());
    }
}

/// Tenant usage of the current cycle: cycle-to-date counters (`_created` = cycle start) and one
/// gauge per day of the cycle, per namespace / community / cluster region as present.
///
/// The counters are the sums of the high-water marks in `marks`, which this answer updates (a
/// day revised down or missing keeps its counted value; see [`HighWater`]); the per-day gauges
/// show the answer as it is. Also returns what the answer changed in `marks` (to save, to log).
pub fn tenant_usage(
    records: &[UsageRecord],
    cycle: &Cycle,
    now: DateTime<Utc>,
    marks: &mut HighWater,
) -> (Snapshot, Update) {
    let days = cycle_days(records.iter(), cycle, now);
    let mut daily: BTreeMap<(SeriesKey, NaiveDate), Values> = BTreeMap::new();
    for record in records {
        let Some(day) = record.date.map(|d| d.date_naive()) else {
            continue;
        };
        if !days.contains(&day) {
            continue;
        }
        let key: SeriesKey = (
            record.namespace_id.clone(),
            record.community_id.clone(),
            record.cluster_region.clone(),
        );
        let per_day = daily.entry((key, day)).or_default();
        for (i, m) in MEASURES.iter().enumerate() {
            add(&mut per_day[i], (m.get)(record));
        }
    }
    let update = marks.update(cycle.start, &daily, now);
    let created = unix(cycle.start);
    let mut families = Vec::new();
    let totals = marks.totals();
    for (i, m) in MEASURES.iter().enumerate() {
        let mut counter = Family::counter(m.total, m.total_help);
        for (key, values) in &totals {
            if let Some(v) = values[i] {
                counter.push_counter(usage_labels(key), v, Some(created));
            }
        }
        families.push(counter);
    }
    let shown = recent(days.clone());
    for (i, m) in MEASURES.iter().enumerate() {
        let mut gauge = Family::gauge(m.daily, m.daily_help);
        for ((key, day), values) in &daily {
            if !shown.contains(day) {
                continue;
            }
            if let Some(v) = values[i] {
                let labels = usage_labels(key).with("date", day.to_string());
                gauge.push_gauge(labels, v);
            }
        }
        families.push(gauge);
    }
    families.push(latest_day(&days));
    families.push(downward_revisions(marks));
    (Snapshot::from_families(families), update)
}

/// `aveva_cds_usage_downward_revisions_total{measure}`: daily values seen lower than counted
/// (or missing), per measure, since counting began; `_created` = the first answer counted.
fn downward_revisions(marks: &HighWater) -> Family {
    let mut family = Family::counter(
        "aveva_cds_usage_downward_revisions_total",
        "Daily tenant usage values (per series, day and measure) seen lower than already counted, or missing from an answer, since counting began; the cycle-to-date counters keep the counted value. Counted once per change, again only after the value was back at its mark.",
    );
    let created = marks.counting_since().map(unix);
    for (name, n) in MEASURE_NAMES.iter().zip(marks.revisions()) {
        family.push_counter(Labels::new().with("measure", *name), n as f64, created);
    }
    family
}

/// `aveva_cds_usage_latest_day_timestamp_seconds`: 00:00 UTC of the newest day the tenant usage
/// answer holds a record for (of the days counted: in the current cycle, not after today). Usage
/// arrives late by design (today is partial, the pipeline lags), so an alert compares this with
/// the time instead of watching the counters. No day, no series.
fn latest_day(days: &BTreeSet<NaiveDate>) -> Family {
    let mut latest = Family::gauge(
        "aveva_cds_usage_latest_day_timestamp_seconds",
        "Start (00:00 UTC) of the newest day the tenant usage answer holds a record for, as Unix time in seconds; today's record is partial.",
    );
    if let Some(day) = days.last() {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        latest.push_gauge(Labels::new(), unix(midnight));
    }
    latest
}

/// Community usage of the current cycle: one gauge per day, community, source and
/// caller/callee tenant.
pub fn community_usage(usage: &[CommunityUsage], cycle: &Cycle, now: DateTime<Utc>) -> Snapshot {
    type Key = (
        String,
        CommunitySource,
        Option<String>,
        Option<String>,
        NaiveDate,
    );
    let mut daily: BTreeMap<Key, [Option<f64>; 4]> = BTreeMap::new();
    for part in usage {
        let days = recent(cycle_days(part.records.iter(), cycle, now));
        for record in &part.records {
            let Some(day) = record.date.map(|d| d.date_naive()) else {
                continue;
            };
            if !days.contains(&day) {
                continue;
            }
            let key = (
                part.community_id.clone(),
                part.source,
                record.caller_tenant_id.clone(),
                record.callee_tenant_id.clone(),
                day,
            );
            let slot = daily.entry(key).or_default();
            for (i, m) in MEASURES.iter().enumerate() {
                add(&mut slot[i], (m.get)(record));
            }
        }
    }
    let families = MEASURES
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut gauge = Family::gauge(m.community, m.community_help);
            for ((community, source, caller, callee, day), values) in &daily {
                let Some(v) = values[i] else { continue };
                let mut labels = Labels::new()
                    .with("community_id", community.clone())
                    .with("source", source.label());
                if let Some(caller) = caller {
                    labels.push("caller_tenant_id", caller.clone());
                }
                if let Some(callee) = callee {
                    labels.push("callee_tenant_id", callee.clone());
                }
                labels.push("date", day.to_string());
                gauge.push_gauge(labels, v);
            }
            gauge
        })
        .collect();
    Snapshot::from_families(families)
}

/// Current resources and entitlements of the tenant.
pub fn resource_usage(usage: &ResourceUsage) -> Snapshot {
    let table: [(&'static str, &'static str, Option<f64>); 5] = [
        (
            "aveva_cds_streams",
            "Streams currently allocated by the tenant across all namespaces.",
            usage.stream_count,
        ),
        (
            "aveva_cds_streams_entitled",
            "Streams the tenant's subscription entitles it to allocate.",
            usage.entitled_stream_count,
        ),
        (
            "aveva_cds_namespaces",
            "Namespaces currently allocated by the tenant.",
            usage.namespace_count,
        ),
        (
            "aveva_cds_namespaces_entitled",
            "Namespaces the tenant's subscription entitles it to allocate.",
            usage.entitled_namespace_count,
        ),
        (
            "aveva_cds_stream_accesses_entitled_per_day",
            "Average number of streams the subscription entitles the tenant to access per day.",
            usage.entitled_stream_access_count,
        ),
    ];
    let families = table
        .into_iter()
        .map(|(name, help, value)| {
            let mut family = Family::gauge(name, help);
            if let Some(v) = value {
                family.push_gauge(Labels::new(), v);
            }
            family
        })
        .collect();
    Snapshot::from_families(families)
}

/// Start and end of the current billing cycle (the end is absent when the API does not list it).
pub fn billing_cycle(cycle: Option<&Cycle>) -> Snapshot {
    let mut start = Family::gauge(
        "aveva_cds_billing_cycle_start_timestamp_seconds",
        "Start of the tenant's current billing cycle, as Unix time in seconds.",
    );
    let mut end = Family::gauge(
        "aveva_cds_billing_cycle_end_timestamp_seconds",
        "End of the tenant's current billing cycle, as Unix time in seconds.",
    );
    if let Some(cycle) = cycle {
        start.push_gauge(Labels::new(), unix(cycle.start));
        if let Some(e) = cycle.end {
            end.push_gauge(Labels::new(), unix(e));
        }
    }
    Snapshot::from_families(vec![start, end])
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Adds the `tenant_id` label, first, to every series of `snapshot`.
pub fn for_tenant(mut snapshot: Snapshot, tenant_id: &str) -> Snapshot {
    for sample in snapshot
        .families
        .iter_mut()
        .flat_map(|f| f.samples.iter_mut())
    {
        sample
            .labels
            .0
            .insert(0, ("tenant_id".into(), tenant_id.to_string()));
    }
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::assert_golden;
    use crate::sources::aveva::cycle::current_cycle;
    use crate::sources::aveva::model::{decode, parse_date, BillingCycles, UsageRecords};

    const TENANT: &str = "6c1ad4ba-6a49-4b33-a4a1-7e0f2d0b5c11";

    fn load<T: serde::de::DeserializeOwned>(file: &str) -> T {
        decode(
            &std::fs::read(format!(
                "{}/tests/fixtures/aveva/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap()
    }

    /// Tenant usage of one answer, as the first poll of a target (no marks yet) translates it.
    fn fresh(records: &[UsageRecord], cycle: &Cycle, now: DateTime<Utc>) -> Snapshot {
        tenant_usage(records, cycle, now, &mut HighWater::default()).0
    }

    fn november() -> Cycle {
        Cycle {
            start: parse_date("2026-11-01T00:00:00Z").unwrap(),
            end: parse_date("2026-12-01T00:00:00Z"),
        }
    }

    fn now() -> DateTime<Utc> {
        parse_date("2026-11-03T15:30:00Z").unwrap()
    }

    #[test]
    fn tenant_usage_by_namespace_golden() {
        let records: UsageRecords = load("tenant_usage_namespace.json");
        let snap = for_tenant(fresh(&records.0, &november(), now()), TENANT);
        assert_golden(
            "tests/fixtures/aveva/golden/tenant_usage_namespace.txt",
            &snap.to_golden_text(),
        );
        // Out-of-cycle (October) and future (Nov 4) records are not counted.
        let total = snap.family("aveva_cds_ingress_events_total").unwrap();
        assert_eq!(total.samples.len(), 2);
    }

    #[test]
    fn tenant_usage_odd_shapes_golden() {
        let records: UsageRecords = load("tenant_usage_odd.json");
        let snap = for_tenant(fresh(&records.0, &november(), now()), TENANT);
        assert_golden(
            "tests/fixtures/aveva/golden/tenant_usage_odd.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn tenant_usage_all_grouping_golden() {
        let records: UsageRecords = load("tenant_usage_all.json");
        let snap = for_tenant(fresh(&records.0, &november(), now()), TENANT);
        assert_golden(
            "tests/fixtures/aveva/golden/tenant_usage_all.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn daily_gauges_keep_at_most_31_dates() {
        let cycle = Cycle {
            start: parse_date("2026-01-01").unwrap(),
            end: None,
        };
        let records: Vec<UsageRecord> = (0..40)
            .map(|i| UsageRecord {
                date: Some(cycle.start + chrono::Duration::days(i)),
                ingress_events: Some(1.0),
                ..Default::default()
            })
            .collect();
        let snap = fresh(&records, &cycle, parse_date("2026-03-01").unwrap());
        let daily = snap.family("aveva_cds_daily_ingress_events").unwrap();
        assert_eq!(daily.samples.len(), MAX_DATES);
        assert_eq!(daily.samples[0].labels.get("date"), Some("2026-01-10"));
        // The counter counts every day of the cycle, not only the days shown.
        assert_eq!(
            value(&snap, "aveva_cds_ingress_events_total", &[]),
            Some(40.0)
        );
        // Absent measures give absent series, not zeros.
        assert!(snap.family("aveva_cds_egress_events").is_none());
        assert_eq!(value(&snap, "aveva_cds_egress_events_total", &[]), None);
    }

    /// The value of the one sample of `family` whose labels include `labels`.
    fn value(snap: &Snapshot, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = snap.family(family)?;
        let matching: Vec<_> = family
            .samples
            .iter()
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert!(matching.len() <= 1, "{labels:?} matches {matching:?}");
        matching.first().map(|s| match s.value {
            crate::snapshot::Value::Gauge(v) => v,
            crate::snapshot::Value::Counter { total, .. } => total,
            ref other => panic!("{other:?}"),
        })
    }

    #[test]
    fn a_revised_day_lowers_its_gauge_but_never_the_counter() {
        let record = |day: &str, ns: &str, events: f64| UsageRecord {
            date: parse_date(day),
            namespace_id: Some(ns.into()),
            ingress_events: Some(events),
            ..Default::default()
        };
        let mut marks = HighWater::default();
        let first = [
            record("2026-11-01", "a", 100.0),
            record("2026-11-02", "a", 50.0),
            record("2026-11-02", "b", 7.0),
        ];
        let (snap, update) = tenant_usage(&first, &november(), now(), &mut marks);
        assert!(update.changed);
        let a = [("namespace_id", "a")];
        assert_eq!(
            value(&snap, "aveva_cds_ingress_events_total", &a),
            Some(150.0)
        );
        let revisions = |snap: &Snapshot| {
            value(
                snap,
                "aveva_cds_usage_downward_revisions_total",
                &[("measure", "ingress_events")],
            )
        };
        assert_eq!(revisions(&snap), Some(0.0));
        // November 1st revised down, namespace b's day missing, November 2nd grew.
        let second = [
            record("2026-11-01", "a", 60.0),
            record("2026-11-02", "a", 55.0),
        ];
        let (snap, update) = tenant_usage(&second, &november(), now(), &mut marks);
        assert_eq!(update.lowered.len(), 2);
        assert_eq!(
            value(&snap, "aveva_cds_ingress_events_total", &a),
            Some(155.0)
        );
        let b = [("namespace_id", "b")];
        assert_eq!(
            value(&snap, "aveva_cds_ingress_events_total", &b),
            Some(7.0)
        );
        // The gauges show the answer as it is.
        let nov1 = [("namespace_id", "a"), ("date", "2026-11-01")];
        assert_eq!(
            value(&snap, "aveva_cds_daily_ingress_events", &nov1),
            Some(60.0)
        );
        assert_eq!(
            value(
                &snap,
                "aveva_cds_daily_ingress_events",
                &[("namespace_id", "b")]
            ),
            None
        );
        assert_eq!(revisions(&snap), Some(2.0));
        // One series per measure, there from the first answer (when counting began).
        let family = snap
            .family("aveva_cds_usage_downward_revisions_total")
            .unwrap();
        assert_eq!(family.samples.len(), 4);
        let egress = family
            .samples
            .iter()
            .find(|s| s.labels.get("measure") == Some("egress_events"))
            .unwrap();
        assert_eq!(
            egress.value,
            crate::snapshot::Value::Counter {
                total: 0.0,
                created: Some(now().timestamp() as f64)
            }
        );
        // The same answer again: nothing to save, nothing counted twice.
        let (snap, update) = tenant_usage(&second, &november(), now(), &mut marks);
        assert!(!update.changed);
        assert_eq!(revisions(&snap), Some(2.0));
        assert_eq!(
            value(&snap, "aveva_cds_ingress_events_total", &a),
            Some(155.0)
        );
    }

    #[test]
    fn a_new_cycle_restarts_the_counters_from_its_days() {
        let mut marks = HighWater::default();
        let records = [on("2026-11-29"), on("2026-11-30"), on("2026-12-01")];
        tenant_usage(
            &records,
            &november(),
            parse_date("2026-11-30T20:00:00Z").unwrap(),
            &mut marks,
        );
        assert_eq!(marks.days().len(), 2);
        let december = Cycle {
            start: parse_date("2026-12-01").unwrap(),
            end: None,
        };
        let (snap, update) = tenant_usage(
            &records,
            &december,
            parse_date("2026-12-01T00:10:00Z").unwrap(),
            &mut marks,
        );
        assert_eq!(update.previous_cycle, Some(november().start));
        assert!(update.lowered.is_empty());
        assert_eq!(
            marks.days(),
            [parse_date("2026-12-01").unwrap().date_naive()].into()
        );
        let total = &snap
            .family("aveva_cds_ingress_events_total")
            .unwrap()
            .samples[0];
        assert_eq!(
            total.value,
            crate::snapshot::Value::Counter {
                total: 1.0,
                created: Some(december.start.timestamp() as f64)
            }
        );
    }

    fn latest_day(records: &[UsageRecord], cycle: &Cycle, now: &str) -> Option<f64> {
        let snap = fresh(records, cycle, parse_date(now).unwrap());
        let family = snap.family("aveva_cds_usage_latest_day_timestamp_seconds")?;
        assert_eq!(family.samples.len(), 1);
        match family.samples[0].value {
            crate::snapshot::Value::Gauge(v) => Some(v),
            ref other => panic!("{other:?}"),
        }
    }

    fn on(day: &str) -> UsageRecord {
        UsageRecord {
            date: parse_date(day),
            ingress_events: Some(1.0),
            ..Default::default()
        }
    }

    #[test]
    fn latest_day_is_the_newest_counted_record() {
        let midnight = |d: &str| parse_date(d).unwrap().timestamp() as f64;
        let records = [on("2026-11-02"), on("2026-11-04"), on("2026-11-03")];
        // Just after 00:00 UTC the new day's (partial) record is the newest.
        assert_eq!(
            latest_day(&records, &november(), "2026-11-04T00:00:30Z"),
            Some(midnight("2026-11-04"))
        );
        // Just before, the record dated tomorrow (a vendor clock ahead) is not counted.
        assert_eq!(
            latest_day(&records, &november(), "2026-11-03T23:59:50Z"),
            Some(midnight("2026-11-03"))
        );
        // A lagging answer: its newest record, however old; a record without usage numbers
        // still is a record of its day; one without a date is none.
        let lagging = [
            on("2026-11-01"),
            UsageRecord {
                date: parse_date("2026-11-02T00:00:00Z"),
                ..Default::default()
            },
            UsageRecord {
                date: None,
                ingress_events: Some(5.0),
                ..Default::default()
            },
        ];
        assert_eq!(
            latest_day(&lagging, &november(), "2026-11-09T10:00:00Z"),
            Some(midnight("2026-11-02"))
        );
        // No record (or only records outside the cycle): no series, never 0.
        assert_eq!(latest_day(&[], &november(), "2026-11-09T10:00:00Z"), None);
        assert_eq!(
            latest_day(&[on("2026-10-31")], &november(), "2026-11-01T00:05:00Z"),
            None
        );
        // A cycle's first day just after midnight: only the new day's record counts.
        let december = Cycle {
            start: parse_date("2026-12-01").unwrap(),
            end: None,
        };
        assert_eq!(
            latest_day(
                &[on("2026-11-30"), on("2026-12-01")],
                &december,
                "2026-12-01T00:05:00Z"
            ),
            Some(midnight("2026-12-01"))
        );
    }

    #[test]
    fn community_usage_golden() {
        let internal: UsageRecords = load("community_usage_internal.json");
        let external: UsageRecords = load("community_usage_external.json");
        let usage = vec![
            CommunityUsage {
                community_id: "c0ffee00-0000-4000-8000-000000000001".into(),
                source: CommunitySource::Internal,
                records: internal.0,
            },
            CommunityUsage {
                community_id: "c0ffee00-0000-4000-8000-000000000001".into(),
                source: CommunitySource::External,
                records: external.0,
            },
        ];
        let snap = for_tenant(community_usage(&usage, &november(), now()), TENANT);
        assert_golden(
            "tests/fixtures/aveva/golden/community_usage.txt",
            &snap.to_golden_text(),
        );
    }

    #[test]
    fn resource_usage_golden() {
        let usage: ResourceUsage = load("resource_usage.json");
        let snap = for_tenant(resource_usage(&usage), TENANT);
        assert_golden(
            "tests/fixtures/aveva/golden/resource_usage.txt",
            &snap.to_golden_text(),
        );
        let partial: ResourceUsage = decode(br#"{"StreamCount": 5}"#).unwrap();
        assert_eq!(resource_usage(&partial).series_count(), 1);
    }

    #[test]
    fn billing_cycle_golden() {
        let cycles: BillingCycles = load("billing_cycles.json");
        let cycle = current_cycle(&cycles.0, now());
        let snap = for_tenant(billing_cycle(cycle.as_ref()), TENANT);
        assert_golden(
            "tests/fixtures/aveva/golden/billing_cycles.txt",
            &snap.to_golden_text(),
        );
        let open = Cycle {
            start: november().start,
            end: None,
        };
        assert_eq!(billing_cycle(Some(&open)).series_count(), 1);
        assert_eq!(billing_cycle(None).series_count(), 0);
    }
}
