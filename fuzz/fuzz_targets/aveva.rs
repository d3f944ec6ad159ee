//! AVEVA CONNECT data services: billing cycles, tenant/community/resource usage, the token
//! answer and the error body. The first byte picks the parser; the rest is the body.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::aveva::{parse, CommunitySource, Cycle};
use usage_exporter::sources::PollContext;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
    let ctx = PollContext { now: now.into() };
    let cycle = Cycle {
        start: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        end: None,
    };
    match which % 5 {
        0 => {
            if let Ok((cycle, snapshot)) = parse::cycles(body, &ctx) {
                check(&snapshot);
                if let Some(cycle) = cycle {
                    check(&parse::tenant_usage(b"[]", cycle, &ctx).unwrap());
                }
            }
        }
        1 => {
            if let Ok(s) = parse::tenant_usage(body, cycle, &ctx) {
                check(&s);
            }
        }
        2 => {
            for source in CommunitySource::ALL {
                if let Ok(s) = parse::community_usage(body, "c", source, cycle, &ctx) {
                    check(&s);
                }
            }
        }
        3 => {
            if let Ok(s) = parse::resource_usage(body, &ctx) {
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
