//! AVEVA CONNECT data services: billing cycles, tenant/community/resource usage, the token
//! answer and the error body. The first byte picks the parser; the rest is the body.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::aveva::parse;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
    let cycle = (Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(), None);
    match which % 5 {
        0 => {
            if let Ok((snapshot, cycle)) = parse::billing_cycles(body, "t", now) {
                check(&snapshot);
                if let Some(cycle) = cycle {
                    check(&parse::tenant_usage(b"[]", cycle, "t", now).unwrap());
                }
            }
        }
        1 => {
            if let Ok(s) = parse::tenant_usage(body, cycle, "t", now) {
                check(&s);
            }
        }
        2 => {
            if let Ok(s) = parse::community_usage((body, body), "c", cycle, "t", now) {
                check(&s);
            }
        }
        3 => {
            if let Ok(s) = parse::resource_usage(body, "t") {
                check(&s);
            }
        }
        _ => {
            let _ = parse::token(body);
            let _ = parse::error_body(body);
        }
    }
});

include!("check.rs");
