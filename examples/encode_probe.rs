//! Quick probe: encode time of ~100k SCC-like series (not part of the test suite).
use std::sync::Arc;
use std::time::Instant;
use usage_exporter::expose::{encode_groups, merge, GzipPrefix};
use usage_exporter::snapshot::{Family, Labels, Snapshot};

fn main() {
    let mut families = Vec::new();
    for f in 0..10 {
        let mut fam = Family::counter(format!("scc_backend_calls_{f}_total"), "Calls.");
        for i in 0..10_000 {
            let labels = Labels::new()
                .with("subaccount", format!("0f2c3a5e-1b2c-4d5e-8f90-{i:012}"))
                .with("region_host", "cf.eu10.hana.ondemand.com")
                .with("location_id", "loc1")
                .with("virtual_host", format!("backend-{i}.example.com"))
                .with("virtual_port", "443")
                .with("protocol", "HTTPS")
                .with("le", "0.5");
            fam.push_counter(labels, i as f64, Some(1_700_000_000.0));
        }
        families.push(fam);
    }
    let snap = Arc::new(Snapshot::from_families(families));
    for _ in 0..3 {
        let t = Instant::now();
        let groups = merge([(Some(Arc::from("prod")), snap.clone())]);
        let mut out = String::new();
        encode_groups(&mut out, &groups);
        let enc = t.elapsed();
        let t = Instant::now();
        let gz = GzipPrefix::new(out.as_bytes(), flate2::Compression::fast());
        println!(
            "encode {:?} ({} bytes), gzip fast {:?} ({} bytes)",
            enc,
            out.len(),
            t.elapsed(),
            gz.bytes().len()
        );
    }
}
