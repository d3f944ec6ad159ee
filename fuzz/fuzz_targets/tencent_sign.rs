//! Tencent signatures (v2 HMAC and TC3) and the TC3 header parser: never panic, always
//! deterministic. The input is split at NUL bytes into key, id, host, path and parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::tencent::sign::*;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let key = parts.next().unwrap_or_default();
    let id = parts.next().unwrap_or_default();
    let host = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let params: Vec<(String, String)> = rest
        .chunks(2)
        .map(|c| {
            (
                c[0].to_string(),
                c.get(1).copied().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for method in [V2Method::HmacSha1, V2Method::HmacSha256] {
        let a = v2_signature(key, "GET", host, path, &params, method);
        assert_eq!(a, v2_signature(key, "GET", host, path, &params, method));
    }
    let _ = V2Method::parse(key);
    let timestamp = data
        .iter()
        .take(8)
        .fold(0i64, |acc, b| acc.wrapping_shl(8) | i64::from(*b));
    let request = Tc3Request {
        service: path,
        host,
        content_type: "application/json",
        payload: data,
        timestamp,
    };
    let auth = request.authorization(id, key);
    assert_eq!(auth, request.authorization(id, key));
    let _ = Tc3Authorization::parse(&auth);
    let _ = Tc3Authorization::parse(&text);
    if let Ok(url) = url::Url::parse(&text) {
        let _ = signing_host(&url);
    }
});
