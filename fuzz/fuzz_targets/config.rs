//! The config loader on arbitrary text: never panics; a rejection always says why.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |name: &str| (name == "SET").then(|| "value".to_string());
    if let Err(e) = usage_exporter::sources::parse_config(text, std::path::Path::new("fuzz.yml"), &lookup) {
        assert!(e.problems.iter().all(|p| !p.reason.is_empty()), "{e}");
    }
});
