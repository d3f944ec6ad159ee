//! SAP Cloud Connector: every JSON endpoint and the `hasMasterRole` text. The first byte picks
//! the endpoint; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::scc;

const ENDPOINTS: [&str; 15] = [
    "subaccounts",
    "backend_connections",
    "service_channel_connections",
    "backend_performance",
    "top_time_consumers",
    "memory",
    "certificates",
    "certificates_expired",
    "certificates_expiring",
    "certificates_ok",
    "usage",
    "disk",
    "cpu",
    "alerts",
    "version",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let endpoint = ENDPOINTS[which as usize % ENDPOINTS.len()];
    if let Ok(snapshot) = scc::parse_endpoint(endpoint, body, which & 0x80 != 0) {
        check(&snapshot);
    }
    let _ = scc::model::parse_master_role(&String::from_utf8_lossy(body));
});

include!("check.rs");
