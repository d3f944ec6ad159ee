//! SAP Cloud Connector: the body parser of every row of the endpoint table that has one, and
//! the `hasMasterRole` text. The first byte picks the row (in table order, rows without a parser
//! left out; the high bit picks the default top-time-consumers parser without the user label);
//! the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usage_exporter::sources::{registry, scc, PollContext};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let rows: Vec<_> = registry::endpoints("scc")
        .into_iter()
        .filter_map(|e| e.parse.map(|parse| (e.name, parse)))
        .collect();
    let (name, mut parse) = rows[(which & 0x7f) as usize % rows.len()];
    if name == "top_time_consumers" && which & 0x80 != 0 {
        parse = scc::parse::top_time_consumers;
    }
    let ctx = PollContext {
        now: std::time::UNIX_EPOCH,
    };
    if let Ok(snapshot) = parse(body, &ctx) {
        check(&snapshot);
    }
    let _ = scc::model::parse_master_role(&String::from_utf8_lossy(body));
});

include!("check.rs");
