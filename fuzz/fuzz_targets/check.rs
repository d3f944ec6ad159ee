// Shared by the targets (include!d): the invariants of a translated snapshot.

/// Panics (a fuzzer finding) when a snapshot breaks what the exposition relies on: counters
/// finite and non-negative, gauges not NaN, no repeated label in a series, no duplicate series.
#[allow(dead_code)]
fn check(snapshot: &usage_exporter::snapshot::Snapshot) {
    use usage_exporter::snapshot::Value;
    for family in &snapshot.families {
        let mut series = std::collections::HashSet::new();
        for sample in &family.samples {
            let mut names = std::collections::HashSet::new();
            for (name, _) in sample.labels.iter() {
                assert!(names.insert(name), "{}: label {name} twice", family.name);
            }
            assert!(
                series.insert(&sample.labels),
                "{}: duplicate series",
                family.name
            );
            match &sample.value {
                Value::Gauge(v) => assert!(!v.is_nan(), "{}: NaN gauge", family.name),
                Value::Counter { total, created } => {
                    assert!(
                        total.is_finite() && *total >= 0.0,
                        "{}: counter {total}",
                        family.name
                    );
                    assert!(
                        created.is_none_or(f64::is_finite),
                        "{}: created",
                        family.name
                    );
                }
                Value::Histogram { .. } => {}
            }
        }
    }
}
