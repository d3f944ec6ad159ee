//! Akana: the usage report (the endpoint table's parsers: decode + translation) and the login
//! answer / cookie helpers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::{akana, PollContext};

fuzz_target!(|data: &[u8]| {
    let ctx = PollContext {
        now: std::time::SystemTime::now(),
    };
    for parse in [akana::parse::metrics, akana::parse::metrics_without_item_info] {
        if let Ok(snapshot) = parse(data, &ctx) {
            check(&akana::with_subscription(snapshot, "sub"));
        }
    }
    let _ = akana::decode_login(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = akana::parse_set_cookie(text);
        let _ = akana::token_lifetime_from_value(text);
    }
});

include!("check.rs");
