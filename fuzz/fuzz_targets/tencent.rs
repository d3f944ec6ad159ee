//! Tencent Cloud Monitor: catalog (v3/v2) and monitor data (v3/v2) answers. The first byte picks
//! the parser; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::tencent::TencentApi;
use usage_exporter::sources::tencent::parse;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let series = ("QCE/CVM", "CPUUsage", 60, "avg");
    let instances = vec![
        vec![("InstanceId".to_string(), "ins-1".to_string())],
        vec![("InstanceId".to_string(), "ins-5e6f7a8b".to_string())],
    ];
    let result = match which % 4 {
        0 => parse::metric_catalog(TencentApi::V3, "QCE/CVM", body),
        1 => parse::metric_catalog(TencentApi::V2, "qce/cvm", body),
        2 => parse::metric_data_v3("ap-guangzhou", series, &instances, body),
        _ => parse::metric_data_v2("gz", series, &instances[0], (1_700_000_000, 8 * 3600), body),
    };
    if let Ok(snapshot) = result {
        check(&snapshot);
    }
});

include!("check.rs");
