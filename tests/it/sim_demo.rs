//! The simulators' demo configuration (crate `usage_exporter_sim`) against the exporter's
//! config parser: what `demo` generates must be a valid configuration. These tests live on the
//! exporter side because the simulator crate does not depend on the exporter.

use usage_exporter_sim::{aveva, demo::DemoSims};

#[tokio::test]
async fn demo_yaml_is_a_valid_config_item() {
    let (sim, yaml) = aveva::start_demo(2).await.unwrap();
    let demo = DemoSims {
        servers: Vec::new(),
        handles: Vec::new(),
        sources: vec![("aveva", yaml)],
    };
    let config = usage_exporter::sources::parse_config(
        &demo.config_yaml(),
        std::path::Path::new("demo.yml"),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let target = &config.targets_of::<usage_exporter::sources::aveva::Settings>()[0];
    assert_eq!(target.url.as_str().trim_end_matches('/'), sim.url());
    assert_eq!(target.community_ids.len(), 4);
    assert_eq!(sim.namespaces().len(), 6);
    assert_eq!(config.targets[0].endpoints.len(), 4);
}
