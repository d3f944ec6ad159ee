//! TR50: a history reply, bare `params` or the whole command envelope, through the call counter
//! and all three translations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::tr50::{counter::CallCounter, model, translate};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let params = match &value {
        serde_json::Value::Object(map) => match model::Envelope::from_map(map) {
            model::Envelope::Replies(replies) => match replies.get("1") {
                Some(reply) => {
                    let _ = (reply.ok(), reply.describe());
                    reply.params.clone().unwrap_or(value.clone())
                }
                None => value.clone(),
            },
            model::Envelope::TopLevelFailure(reply) => {
                let _ = reply.describe();
                return;
            }
        },
        other => other.clone(),
    };
    let Ok(history) = serde_json::from_value::<model::History>(params) else {
        return;
    };
    let series = history.series();
    let mut counter = CallCounter::new();
    let mut values = Vec::new();
    for _ in 0..2 {
        values = counter.observe(series.iter().map(|(k, b)| (k.as_str(), b.iter().copied())));
    }
    check(&translate::api_history(&history, &values, "service"));
    check(&translate::thing_history(&history));
    check(&translate::connection_history(&history));
});

include!("check.rs");
