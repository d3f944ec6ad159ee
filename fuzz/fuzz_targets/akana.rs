//! Akana: the usage report (decode + translation) and the login answer / cookie helpers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::akana;

fuzz_target!(|data: &[u8]| {
    if let Ok(usage) = akana::decode_usage(data) {
        for item_info in [true, false] {
            let options = akana::Options {
                subscription: "sub".into(),
                item_info,
            };
            check(&akana::translate(&usage, &options));
        }
    }
    let _ = usage_exporter::upstream::decode_json::<akana::LoginAnswer>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = akana::parse_set_cookie(text);
        let _ = akana::token_lifetime_from_value(text);
    }
});

include!("check.rs");
