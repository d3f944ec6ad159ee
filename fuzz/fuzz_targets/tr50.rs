//! TR50: a history reply, bare `params` or the whole command envelope, through the parse fns of
//! the endpoint table (the call counter and all three translations), plus a window observed
//! twice by one counter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::tr50::{self, counter::CallCounter, model, Tr50};
use usage_exporter::sources::{ParseFn, PollContext, Source};

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
    let body = params.to_string();
    let ctx = PollContext {
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    let parsers = Tr50::ENDPOINTS
        .iter()
        .filter_map(|e| e.info.parse)
        .chain([tr50::parse::api_history_by_org as ParseFn]);
    for parse in parsers {
        if let Ok(snapshot) = parse(body.as_bytes(), &ctx) {
            check(&snapshot);
        }
    }
    let Ok(history) = model::History::from_params(tr50::API_HISTORY, params) else {
        return;
    };
    let series = history.series();
    let mut counter = CallCounter::new();
    let mut values = Vec::new();
    for _ in 0..2 {
        values = counter.observe(
            1_700_000_000,
            series.iter().map(|(k, b)| (k.as_str(), b.iter().copied())),
        );
    }
    check(&tr50::translate::api_history(&history, &values, "service"));
});

include!("check.rs");
