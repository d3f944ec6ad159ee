//! Cloud Connector payloads → metric families (pure functions; golden-tested).
//!
//! Subaccount series carry `subaccount`, `region_host`, `location_id` (the exposition adds
//! `target` first). Times become Unix seconds, KB/MB become bytes, percent becomes a ratio.
//! Absent upstream fields give absent series.

use super::model::*;
use crate::snapshot::{Family, Labels, Snapshot, Value};
use std::collections::HashMap;

/// Tunnel states SCC documents; each gets a series so a state change is a value change.
pub const KNOWN_TUNNEL_STATES: [&str; 3] = ["Connected", "ConnectFailure", "Disconnected"];

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

fn subaccount_labels(key: &SubaccountKey) -> Labels {
    Labels::new()
        .with("subaccount", key.subaccount.clone())
        .with("region_host", key.region_host.clone())
        .with("location_id", key.location_id.clone())
}

fn s(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// Gauge samples combined by label set (sum or max), in first-seen order, so entries that
/// share labels never become duplicate series.
struct Combined {
    family: Family,
    index: HashMap<Labels, usize>,
}

impl Combined {
    fn new(family: Family) -> Self {
        Combined {
            family,
            index: HashMap::new(),
        }
    }

    fn merge(&mut self, labels: Labels, value: f64, combine: fn(f64, f64) -> f64) {
        match self.index.get(&labels) {
            Some(&i) => {
                if let Value::Gauge(v) = &mut self.family.samples[i].value {
                    *v = combine(*v, value);
                }
            }
            None => {
                self.index.insert(labels.clone(), self.family.samples.len());
                self.family.push_gauge(labels, value);
            }
        }
    }

    fn add(&mut self, labels: Labels, value: f64) {
        self.merge(labels, value, |a, b| a + b);
    }

    fn max(&mut self, labels: Labels, value: f64) {
        self.merge(labels, value, f64::max);
    }

    fn into_family(self) -> Family {
        self.family
    }
}

/// `ping`: whether the instance answered with 2xx, and the HA group it belongs to (from the
/// config, so it is there while the instance is down too).
pub fn health(up: bool, ha_group: Option<&str>) -> Snapshot {
    let mut f = Family::gauge(
        "scc_health_check_up",
        "Whether the Cloud Connector answered its health check (ping) with HTTP 2xx (1) or not (0).",
    );
    f.push_gauge(Labels::new(), if up { 1.0 } else { 0.0 });
    let mut families = vec![f];
    if let Some(group) = ha_group {
        let mut info = Family::gauge(
            "scc_ha_group_info",
            "The HA group (master and shadow of one Cloud Connector pair) this instance belongs to, from the config (always 1).",
        );
        info.push_gauge(Labels::new().with("ha_group", group), 1.0);
        families.push(info);
    }
    Snapshot::from_families(families)
}

/// `hasMasterRole`, with the role changes seen since `since` (Unix seconds).
pub fn master_role(is_master: bool, changes: u64, since: Option<f64>) -> Snapshot {
    let mut f = Family::gauge(
        "scc_master_role",
        "Whether this Cloud Connector instance currently has the master role (1) or is a shadow instance (0).",
    );
    f.push_gauge(Labels::new(), if is_master { 1.0 } else { 0.0 });
    let mut changed = Family::counter(
        "scc_master_role_changes",
        "Changes of this instance's role (master to shadow or back) seen by the exporter since it started polling the instance.",
    );
    changed.push_counter(Labels::new(), changes as f64, since);
    Snapshot::from_families(vec![f, changed])
}

/// `/api/monitoring/subaccounts`.
pub fn subaccounts(payload: &SubaccountsPayload) -> Snapshot {
    let mut info = Family::gauge(
        "scc_subaccount_info",
        "Subaccounts configured in the Cloud Connector, with their display name (always 1).",
    );
    let mut state = Family::gauge(
        "scc_tunnel_state",
        "Tunnel state of the subaccount: 1 for the current state, 0 for the other known states.",
    );
    let mut since = Family::gauge(
        "scc_tunnel_connected_since_timestamp_seconds",
        "Time the subaccount tunnel connected, as Unix seconds; only present while connected.",
    );
    let mut connections = Family::gauge(
        "scc_tunnel_connections",
        "Number of connections of the subaccount tunnel.",
    );
    let mut apps = Combined::new(Family::gauge(
        "scc_tunnel_application_connections",
        "Number of tunnel connections to a cloud application instance.",
    ));
    let mut channels = Combined::new(Family::gauge(
        "scc_tunnel_service_channels",
        "Number of service channels of the subaccount by type and state.",
    ));
    let mut not_after = Family::gauge(
        "scc_subaccount_certificate_not_after_timestamp_seconds",
        "End of validity of the subaccount certificate, as Unix seconds.",
    );
    let mut not_before = Family::gauge(
        "scc_subaccount_certificate_not_before_timestamp_seconds",
        "Start of validity of the subaccount certificate, as Unix seconds.",
    );
    for sub in &payload.subaccounts {
        let base = subaccount_labels(&sub.ids.key());
        info.push_gauge(base.clone().with("display_name", s(&sub.display_name)), 1.0);
        let certificate = sub
            .tunnel
            .as_ref()
            .and_then(|t| t.subaccount_certificate.as_ref())
            .or(sub.subaccount_certificate.as_ref());
        if let Some(cert) = certificate {
            if let Some(t) = cert.not_after_time_stamp {
                not_after.push_gauge(base.clone(), t);
            }
            if let Some(t) = cert.not_before_time_stamp {
                not_before.push_gauge(base.clone(), t);
            }
        }
        let Some(tunnel) = &sub.tunnel else { continue };
        if let Some(current) = tunnel.state.as_deref().filter(|s| !s.is_empty()) {
            for known in KNOWN_TUNNEL_STATES {
                let value = if known == current { 1.0 } else { 0.0 };
                state.push_gauge(base.clone().with("state", known), value);
            }
            if !KNOWN_TUNNEL_STATES.contains(&current) {
                state.push_gauge(base.clone().with("state", current), 1.0);
            }
            if current == "Connected" {
                if let Some(t) = tunnel.connected_since_secs() {
                    since.push_gauge(base.clone(), t);
                }
            }
        }
        if let Some(n) = tunnel.connections {
            connections.push_gauge(base.clone(), n);
        }
        for app in &tunnel.application_connections {
            if let Some(n) = app.connection_count {
                apps.add(
                    base.clone()
                        .with("application", s(&app.name))
                        .with("application_type", s(&app.kind)),
                    n,
                );
            }
        }
        for channel in &tunnel.service_channels {
            let (kind, st) = service_channel_type_state(channel);
            channels.add(base.clone().with("type", kind).with("state", st), 1.0);
        }
    }
    Snapshot::from_families(vec![
        info,
        state,
        since,
        connections,
        apps.into_family(),
        channels.into_family(),
        not_after,
        not_before,
    ])
}

/// `/api/monitoring/connections/backends`.
pub fn backend_connections(payload: &BackendConnectionsPayload) -> Snapshot {
    let mut f = Combined::new(Family::gauge(
        "scc_backend_connections",
        "Open connections from the Cloud Connector to an on-premise backend, by state (idle or active).",
    ));
    for sub in &payload.subaccounts {
        let base = subaccount_labels(&sub.ids.key());
        for c in &sub.backend_connections {
            let labels = base
                .clone()
                .with("virtual_backend", s(&c.virtual_backend))
                .with("internal_backend", s(&c.internal_backend))
                .with("protocol", s(&c.protocol));
            for (st, value) in [("idle", c.idle), ("active", c.active)] {
                if let Some(v) = value {
                    f.add(labels.clone().with("state", st), v);
                }
            }
        }
    }
    Snapshot::from_families(vec![f.into_family()])
}

/// `/api/monitoring/connections/serviceChannels`.
pub fn service_channel_connections(payload: &ServiceChannelConnectionsPayload) -> Snapshot {
    let mut f = Combined::new(Family::gauge(
        "scc_service_channel_connections",
        "Open connections of a service channel (cloud service to on-premise system).",
    ));
    for sub in &payload.subaccounts {
        let base = subaccount_labels(&sub.ids.key());
        for c in &sub.service_channel_connections {
            let Some(n) = c.connections else { continue };
            let desc = c.type_desc.clone().unwrap_or_default();
            f.add(
                base.clone()
                    .with("port", s(&c.port))
                    .with("type_key", s(&desc.type_key))
                    .with("type_name", s(&desc.type_name)),
                n,
            );
        }
    }
    Snapshot::from_families(vec![f.into_family()])
}

/// Formats a bucket bound in seconds the way Prometheus clients do (`0.01`, `1`, `+Inf`).
pub fn format_le(seconds: f64) -> String {
    if seconds.is_infinite() {
        "+Inf".into()
    } else {
        format!("{seconds}")
    }
}

/// `(le label, cumulative count)` pairs of one backend's buckets: bucket *i* counts calls in
/// (min_i, min_{i+1}] ms, so the cumulative count through bucket *i* is `le = min_{i+1}` in
/// seconds; the last bucket closes with `+Inf`. Buckets sharing a lower bound are merged.
///
/// `None` when a bucket's count or lower bound is absent or unreadable (negative, not finite),
/// or the counts sum to infinity: every cumulative count above such a bucket would be made up,
/// so the backend gets no bucket series rather than a 0 inside a cumulative counter (found by
/// tests/fuzz_props.rs for negative counts).
pub fn cumulative_buckets(buckets: &[Bucket]) -> Option<Vec<(String, f64)>> {
    let mut pairs: Vec<(f64, f64)> = buckets
        .iter()
        .map(|b| {
            let calls = b.number_of_calls.filter(|n| *n >= 0.0 && n.is_finite())?;
            Some((b.minimum_ms()?, calls))
        })
        .collect::<Option<_>>()?;
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(pairs.len());
    for (min, calls) in pairs {
        match merged.last_mut() {
            Some(last) if last.0 == min => last.1 += calls,
            _ => merged.push((min, calls)),
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    let mut total = 0.0;
    for (i, (_, calls)) in merged.iter().enumerate() {
        total += calls;
        let le = merged
            .get(i + 1)
            .map(|next| next.0 / 1000.0)
            .unwrap_or(f64::INFINITY);
        out.push((format_le(le), total));
    }
    out.iter()
        .all(|(_, count)| count.is_finite())
        .then_some(out)
}

/// `/api/monitoring/performance/backends`.
pub fn backend_performance(payload: &PerformancePayload) -> Snapshot {
    let mut f = Family::counter(
        "scc_backend_calls_total",
        "Calls from the Cloud Connector to a backend that took at most `le` seconds, counted since the performance statistics were last reset (cumulative buckets; no sum of durations is available).",
    );
    for sub in &payload.subaccounts {
        let base = subaccount_labels(&sub.ids.key());
        for b in &sub.backend_performance {
            let created = b.since_time.or(sub.since_time).or(payload.since_time);
            let labels = base
                .clone()
                .with("virtual_host", s(&b.virtual_host))
                .with("virtual_port", s(&b.virtual_port))
                .with("protocol", s(&b.protocol));
            // A backend with an unreadable bucket gets no series (see cumulative_buckets).
            let Some(buckets) = cumulative_buckets(&b.buckets) else {
                continue;
            };
            for (le, count) in buckets {
                f.push_counter(labels.clone().with("le", le), count, created);
            }
        }
    }
    Snapshot::from_families(vec![f])
}

/// `/api/monitoring/performance/topTimeConsumers`: entries sharing labels are combined (max
/// of times and bytes, count of entries); `user` is a label only with `include_user`.
pub fn top_time_consumers(payload: &TopTimeConsumersPayload, include_user: bool) -> Snapshot {
    let mut duration = Combined::new(Family::gauge(
        "scc_top_time_consumer_duration_seconds",
        "Longest duration of a request phase among the Cloud Connector's current top time consumers sharing these labels.",
    ));
    let mut requests = Combined::new(Family::gauge(
        "scc_top_time_consumer_requests",
        "Number of entries in the Cloud Connector's current top time consumer list sharing these labels.",
    ));
    let mut sent = Combined::new(Family::gauge(
        "scc_top_time_consumer_sent_bytes",
        "Largest number of bytes sent by a request among the top time consumers sharing these labels.",
    ));
    let mut received = Combined::new(Family::gauge(
        "scc_top_time_consumer_received_bytes",
        "Largest number of bytes received by a request among the top time consumers sharing these labels.",
    ));
    for sub in &payload.subaccounts {
        let base = subaccount_labels(&sub.ids.key());
        for r in &sub.requests {
            let mut labels = base
                .clone()
                .with("protocol", s(&r.protocol))
                .with("virtual_backend", s(&r.virtual_backend))
                .with("internal_backend", s(&r.internal_backend))
                .with("resource", s(&r.resource));
            if include_user {
                labels.push("user", s(&r.user));
            }
            requests.add(labels.clone(), 1.0);
            if let Some(v) = r.sent_bytes {
                sent.max(labels.clone(), v);
            }
            if let Some(v) = r.received_bytes {
                received.max(labels.clone(), v);
            }
            for (phase, ms) in r.phases() {
                if let Some(ms) = ms {
                    duration.max(labels.clone().with("phase", phase), ms / 1000.0);
                }
            }
        }
    }
    Snapshot::from_families(vec![
        duration.into_family(),
        requests.into_family(),
        sent.into_family(),
        received.into_family(),
    ])
}

fn usage_family(
    name: &'static str,
    help: &'static str,
    block: Option<&MemoryBlock>,
    factor: f64,
) -> Family {
    let mut f = Family::gauge(name, help);
    if let Some(block) = block {
        for (usage, value) in block.usages() {
            if let Some(v) = value {
                f.push_gauge(Labels::new().with("usage", usage), v * factor);
            }
        }
    }
    f
}

/// `/api/monitoring/memory`.
pub fn memory(payload: &MemoryPayload) -> Snapshot {
    let physical = usage_family(
        "scc_memory_physical_bytes",
        "Physical memory of the Cloud Connector host in bytes: total, used by the Cloud Connector, used by others, free.",
        payload.physical.as_ref(),
        KIB,
    );
    let virtual_ = usage_family(
        "scc_memory_virtual_bytes",
        "Virtual memory of the Cloud Connector host in bytes: total, used by the Cloud Connector, used by others, free.",
        payload.virtual_.as_ref(),
        KIB,
    );
    let mut heap = Family::gauge(
        "scc_java_heap_bytes",
        "Java heap of the Cloud Connector in bytes: total, used, free.",
    );
    if let Some(h) = &payload.heap {
        for (usage, value) in [("total", h.total), ("used", h.used), ("free", h.free)] {
            if let Some(v) = value {
                heap.push_gauge(Labels::new().with("usage", usage), v * KIB);
            }
        }
    }
    Snapshot::from_families(vec![physical, virtual_, heap])
}

fn certificate_families() -> (Family, Family) {
    (
        Family::gauge(
            "scc_certificate_not_after_timestamp_seconds",
            "End of validity of a certificate used by the Cloud Connector, as Unix seconds.",
        ),
        Family::gauge(
            "scc_certificates",
            "Number of certificates used by the Cloud Connector by status (expired, expiring within the alert window, ok).",
        ),
    )
}

fn push_certificates(not_after: &mut Family, list: &[Certificate]) {
    for c in list {
        let Some(valid_to) = c.valid_to else { continue };
        let key = c.ids.key();
        not_after.push_gauge(
            Labels::new()
                .with("type", s(&c.kind))
                .with("subject_dn", s(&c.subject_dn))
                .with("issuer_dn", s(&c.issuer_dn))
                .with("serial_number", s(&c.serial_number))
                .with("subaccount", key.subaccount)
                .with("region_host", key.region_host),
            valid_to,
        );
    }
}

/// `/api/monitoring/certificates` (all three lists).
pub fn certificates(payload: &CertificatesPayload) -> Snapshot {
    let (mut not_after, mut counts) = certificate_families();
    for (status, list) in [
        ("expired", &payload.expired),
        ("expiring", &payload.expiring),
        ("ok", &payload.ok),
    ] {
        if let Some(list) = list {
            push_certificates(&mut not_after, list);
            counts.push_gauge(Labels::new().with("status", status), list.len() as f64);
        }
    }
    Snapshot::from_families(vec![not_after, counts])
}

/// `/api/monitoring/certificates/{status}` (one list).
pub fn certificate_selection(status: &'static str, list: &CertificateList) -> Snapshot {
    let (mut not_after, mut counts) = certificate_families();
    push_certificates(&mut not_after, &list.0);
    counts.push_gauge(Labels::new().with("status", status), list.0.len() as f64);
    Snapshot::from_families(vec![not_after, counts])
}

/// `/api/monitoring/usage`. Negative values are left out: a counter cannot be negative (found
/// by tests/fuzz_props.rs).
pub fn usage(payload: &UsagePayload) -> Snapshot {
    let counter = Family::counter;
    let mut b_recv = counter(
        "scc_backend_received_bytes_total",
        "Bytes the Cloud Connector received from cloud requests to a backend since the usage statistics were reset.",
    );
    let mut b_sent = counter(
        "scc_backend_sent_bytes_total",
        "Bytes the Cloud Connector sent back in responses from a backend since the usage statistics were reset.",
    );
    let mut b_calls = counter(
        "scc_backend_requests_total",
        "Requests the Cloud Connector forwarded to a backend since the usage statistics were reset.",
    );
    let mut b_last = Family::gauge(
        "scc_backend_last_access_timestamp_seconds",
        "Time of the most recent request to a backend, as Unix seconds; absent before the first request.",
    );
    let mut r_recv = counter(
        "scc_resource_received_bytes_total",
        "Bytes received for requests to a backend resource since the usage statistics were reset.",
    );
    let mut r_sent = counter(
        "scc_resource_sent_bytes_total",
        "Bytes sent back for requests to a backend resource since the usage statistics were reset.",
    );
    let mut r_calls = counter(
        "scc_resource_requests_total",
        "Requests to a backend resource since the usage statistics were reset.",
    );
    let mut r_enabled = Family::gauge(
        "scc_resource_enabled",
        "Whether the backend resource is active (1) or suspended (0).",
    );
    let mut r_last = Family::gauge(
        "scc_resource_last_access_timestamp_seconds",
        "Time of the most recent request to a backend resource, as Unix seconds; absent before the first request.",
    );
    let mut c_recv = counter(
        "scc_service_channel_received_bytes_total",
        "Bytes received through a service channel since the usage statistics were reset.",
    );
    let mut c_sent = counter(
        "scc_service_channel_sent_bytes_total",
        "Bytes sent back through a service channel since the usage statistics were reset.",
    );
    for sub in &payload.subaccounts {
        let base = subaccount_labels(&sub.ids.key());
        let created = sub.since_time;
        for b in &sub.usage_statistics {
            let labels = base
                .clone()
                .with("virtual_host", s(&b.virtual_host))
                .with("virtual_port", s(&b.virtual_port))
                .with("protocol", s(&b.protocol));
            for (family, value) in [
                (&mut b_recv, b.bytes_received),
                (&mut b_sent, b.bytes_sent),
                (&mut b_calls, b.calls),
            ] {
                if let Some(v) = value.filter(|v| *v >= 0.0) {
                    family.push_counter(labels.clone(), v, created);
                }
            }
            if let Some(t) = b.most_recent_access {
                b_last.push_gauge(labels.clone(), t);
            }
            for r in &b.resources {
                let labels = labels.clone().with("resource", s(&r.resource_name));
                for (family, value) in [
                    (&mut r_recv, r.bytes_received),
                    (&mut r_sent, r.bytes_sent),
                    (&mut r_calls, r.calls),
                ] {
                    if let Some(v) = value.filter(|v| *v >= 0.0) {
                        family.push_counter(labels.clone(), v, created);
                    }
                }
                if let Some(e) = r.enabled {
                    r_enabled.push_gauge(labels.clone(), if e { 1.0 } else { 0.0 });
                }
                if let Some(t) = r.most_recent_access {
                    r_last.push_gauge(labels.clone(), t);
                }
            }
        }
        for c in &sub.service_channel_usage_statistics {
            let desc = c.type_desc.clone().unwrap_or_default();
            let labels = base
                .clone()
                .with("port", s(&c.port))
                .with("type_key", s(&desc.type_key));
            if let Some(v) = c.bytes_received.filter(|v| *v >= 0.0) {
                c_recv.push_counter(labels.clone(), v, created);
            }
            if let Some(v) = c.bytes_sent.filter(|v| *v >= 0.0) {
                c_sent.push_counter(labels.clone(), v, created);
            }
        }
    }
    Snapshot::from_families(vec![
        b_recv, b_sent, b_calls, b_last, r_recv, r_sent, r_calls, r_enabled, r_last, c_recv, c_sent,
    ])
}

/// `/api/monitoring/disk` (MB).
pub fn disk(block: Option<&MemoryBlock>) -> Snapshot {
    Snapshot::from_families(vec![usage_family(
        "scc_disk_bytes",
        "Disk space of the Cloud Connector host in bytes: total, used by the Cloud Connector, used by others, free.",
        block,
        MIB,
    )])
}

/// `/api/monitoring/cpu` (percent).
pub fn cpu(block: Option<&MemoryBlock>) -> Snapshot {
    let mut f = Family::gauge(
        "scc_cpu_usage_ratio",
        "CPU usage of the Cloud Connector host (total) and of the Cloud Connector process, as a ratio of 0 to 1.",
    );
    if let Some(b) = block {
        let cc = b.cloud_connector.or(b.cloud_connector_lower);
        for (scope, value) in [("total", b.total), ("cloud_connector", cc)] {
            if let Some(v) = value {
                f.push_gauge(Labels::new().with("scope", scope), v / 100.0);
            }
        }
    }
    Snapshot::from_families(vec![f])
}

/// `/api/monitoring/alerts`.
pub fn alerts(payload: &AlertsPayload) -> Snapshot {
    let mut f = Combined::new(Family::gauge(
        "scc_alerts",
        "Number of current Cloud Connector alerts by type and status.",
    ));
    for a in &payload.alerts {
        f.add(
            Labels::new()
                .with("type", s(&a.kind))
                .with("status", s(&a.status)),
            1.0,
        );
    }
    Snapshot::from_families(vec![f.into_family()])
}

/// `/api/v1/connector/version`.
pub fn version(payload: &VersionPayload) -> Snapshot {
    let mut f = Family::gauge(
        "scc_version_info",
        "Version of the Cloud Connector (always 1).",
    );
    if let Some(v) = payload.version.as_deref().filter(|v| !v.is_empty()) {
        f.push_gauge(Labels::new().with("version", v), 1.0);
    }
    Snapshot::from_families(vec![f])
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
