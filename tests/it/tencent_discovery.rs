//! Tencent instance discovery and several regions: the real daemon over HTTP against the
//! simulator's Describe APIs, and the vendor's Python SDK against the simulator.

use crate::support::{self, assert_valid_openmetrics, sample, samples};
use std::time::{Duration, UNIX_EPOCH};
use usage_exporter::base::clock::TestClock;
use usage_exporter_sim::tencent::describe::{SimInstance, SimProduct};
use usage_exporter_sim::tencent::{value_at, SimMetric, TencentSim, TencentSimState};
use usage_exporter_sim::SimClock;

const ID: &str = "AKIDdisc00000000000000000000000";
const KEY: &str = "disc-secret-key-0123456789abcdef";
/// The simulator's and the exporter's "now" (no test reads the wall clock for data).
const T0: i64 = 1_835_438_430;
const WAIT: Duration = Duration::from_secs(30);

/// A simulator (no legacy instances) and an exporter clock, both frozen at `T0`.
async fn frozen_sim() -> (TencentSim, TestClock) {
    let mut state = TencentSimState::new(ID, KEY, 0);
    state.clock = SimClock::fixed_unix(T0);
    let sim = TencentSim::start(state).await.expect("simulator starts");
    let clock = TestClock::frozen(UNIX_EPOCH + Duration::from_secs(T0 as u64));
    (sim, clock)
}

/// The newest published point at `T0` (one period of ingest lag).
fn newest() -> i64 {
    T0.div_euclid(60) * 60 - 60
}

fn target(sim: &TencentSim, region_lines: &str, extra: &str, blocks: &str) -> String {
    format!(
        "sources:\n  tencent:\n    - name: disc\n      url: {}\n{region_lines}      secret_id: {ID}\n      secret_key: {KEY}\n      endpoints: {{metric_data: 200ms, metric_catalog: off, instance_discovery: 300ms}}\n{extra}      metrics:\n{blocks}",
        sim.url()
    )
}

const CVM_ALL: &str =
    "        - namespace: QCE/CVM\n          names: [CPUUsage]\n          period: 60s\n          instances: all\n";

fn ids_of(body: &str, family: &str) -> Vec<String> {
    let mut ids: Vec<String> = samples(body, family, &[])
        .into_iter()
        .filter_map(|l| {
            l.labels
                .iter()
                .find(|(k, _)| k == "instance_id")
                .map(|(_, v)| v.clone())
        })
        .collect();
    ids.sort();
    ids
}

/// (family, its dimension labels, the monitor key the simulator serves, metric name).
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

fn cvm(region: &str, id: &str) -> SimInstance {
    SimInstance::new(SimProduct::Cvm, region, id)
}

#[tokio::test]
async fn discovered_instances_appear_and_disappear_at_run_time_with_tag_labels() {
    let (sim, clock) = frozen_sim().await;
    sim.with(|s| {
        s.add_instance(
            cvm("ap-guangzhou", "ins-a")
                .named("web-a")
                .tag("env", "prod")
                .tag("team", "core"),
        );
        s.add_instance(
            cvm("ap-guangzhou", "ins-b")
                .named("web-b")
                .tag("env", "dev"),
        );
        s.add_instance(cvm("ap-guangzhou", "ins-c").named("web-c"));
    });
    let yaml = target(
        &sim,
        "      region: ap-guangzhou\n",
        "      tag_labels: [env, team]\n",
        CVM_ALL,
    );
    let d = support::start_with_clock(&yaml, clock).await;
    let body = d
        .wait_for(WAIT, |b| {
            ids_of(b, "qce_cvm_cpuusage_avg").len() == 3
                && ids_of(b, "qce_instance_info").len() == 3
        })
        .await;
    assert_valid_openmetrics(&body);
    let t = newest();
    assert_eq!(
        sample(
            &body,
            "qce_cvm_cpuusage_avg",
            &[("instance_id", "ins-a"), ("region", "ap-guangzhou")]
        ),
        Some(value_at("ins-a", "CPUUsage", "avg", t))
    );
    let info = samples(&body, "qce_instance_info", &[("instance_id", "ins-a")]);
    assert_eq!(info.len(), 1);
    let labels: Vec<(&str, &str)> = info[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for expected in [
        ("target", "disc"),
        ("region", "ap-guangzhou"),
        ("namespace", "QCE/CVM"),
        ("instance_id", "ins-a"),
        ("name", "web-a"),
        ("zone", "ap-guangzhou-3"),
        ("vpc_id", "vpc-sim"),
        ("project_id", "0"),
        ("tag_env", "prod"),
        ("tag_team", "core"),
    ] {
        assert!(labels.contains(&expected), "{expected:?} not in {labels:?}");
    }
    assert_eq!(info[0].value, 1.0);
    // A tag the instance does not carry is no label (never an empty or made-up one).
    let b = samples(&body, "qce_instance_info", &[("instance_id", "ins-b")]);
    assert!(
        b[0].labels.iter().all(|(k, _)| k != "tag_team"),
        "{:?}",
        b[0].labels
    );
    let c = samples(&body, "qce_instance_info", &[("instance_id", "ins-c")]);
    assert!(c[0].labels.iter().all(|(k, _)| !k.starts_with("tag_")));

    // Deleted upstream, and a new one: no restart.
    sim.with(|s| {
        s.remove_instance("ins-b");
        s.add_instance(cvm("ap-guangzhou", "ins-d").tag("env", "prod"));
    });
    let body = d
        .wait_for(WAIT, |b| {
            ids_of(b, "qce_cvm_cpuusage_avg") == ["ins-a", "ins-c", "ins-d"]
                && ids_of(b, "qce_instance_info") == ["ins-a", "ins-c", "ins-d"]
        })
        .await;
    assert_eq!(
        sample(&body, "qce_cvm_cpuusage_avg", &[("instance_id", "ins-d")]),
        Some(value_at("ins-d", "CPUUsage", "avg", t))
    );
    // Describe calls go through the target's client: counted like every other call.
    let made = sim.with(|s| s.describe_calls("cvm").len() as u64 + s.calls_of("GetMonitorData"));
    let counted: f64 = samples(
        &d.metrics().await,
        "usage_exporter_upstream_requests_total",
        &[("source", "tencent"), ("target", "disc")],
    )
    .iter()
    .map(|l| l.value)
    .sum();
    assert!(counted >= made as f64, "{counted} counted, {made} made");
    d.stop().await;
}

#[tokio::test]
async fn filters_select_by_tag_name_zone_project_vpc_and_exclude() {
    let (sim, clock) = frozen_sim().await;
    sim.with(|s| {
        let g3 = "ap-guangzhou-3";
        s.add_instance(
            cvm("ap-guangzhou", "ins-keep")
                .named("web-1")
                .tag("env", "prod"),
        );
        s.add_instance(
            cvm("ap-guangzhou", "ins-dev")
                .named("web-2")
                .tag("env", "dev"),
        );
        s.add_instance(
            cvm("ap-guangzhou", "ins-db")
                .named("db-1")
                .tag("env", "prod"),
        );
        s.add_instance(
            cvm("ap-guangzhou", "ins-z4")
                .named("web-3")
                .tag("env", "prod")
                .in_zone("ap-guangzhou-4"),
        );
        s.add_instance(
            cvm("ap-guangzhou", "ins-drain")
                .named("web-4")
                .tag("env", "prod")
                .tag("drain", "yes"),
        );
        s.add_instance(
            cvm("ap-guangzhou", "ins-listed")
                .named("web-5")
                .tag("env", "prod")
                .in_zone(g3),
        );
        let mut other_vpc = cvm("ap-guangzhou", "ins-vpc2")
            .named("web-6")
            .tag("env", "prod");
        other_vpc.vpc_id = "vpc-other".into();
        s.add_instance(other_vpc);
        let mut project = cvm("ap-guangzhou", "ins-p7")
            .named("web-7")
            .tag("env", "prod");
        project.project_id = 7;
        s.add_instance(project);
    });
    let block = "        - namespace: QCE/CVM\n          names: [CPUUsage]\n          period: 60s\n          filters:\n            include:\n              tags: {env: prod}\n              names: [\"web-*\"]\n              projects: [0]\n              vpcs: [vpc-sim]\n            exclude:\n              zones: [ap-guangzhou-4]\n              tags: {drain: \"*\"}\n              instance_ids: [ins-listed]\n";
    let yaml = target(&sim, "      region: ap-guangzhou\n", "", block);
    let d = support::start_with_clock(&yaml, clock).await;
    let body = d
        .wait_for(WAIT, |b| {
            !ids_of(b, "qce_instance_info").is_empty()
                && !ids_of(b, "qce_cvm_cpuusage_avg").is_empty()
        })
        .await;
    assert_eq!(ids_of(&body, "qce_instance_info"), ["ins-keep"]);
    assert_eq!(ids_of(&body, "qce_cvm_cpuusage_avg"), ["ins-keep"]);
    d.stop().await;
}

#[tokio::test]
async fn pagination_lists_all_of_260_instances() {
    let (sim, clock) = frozen_sim().await;
    sim.with(|s| {
        for n in 0..260 {
            s.add_instance(cvm("ap-guangzhou", &format!("ins-p{n:03}")));
        }
    });
    let yaml = target(&sim, "      region: ap-guangzhou\n", "", CVM_ALL);
    let d = support::start_with_clock(&yaml, clock).await;
    let body = d
        .wait_for(WAIT, |b| {
            ids_of(b, "qce_instance_info").len() == 260
                && ids_of(b, "qce_cvm_cpuusage_avg").len() == 260
        })
        .await;
    assert!(ids_of(&body, "qce_instance_info").contains(&"ins-p259".to_string()));
    // One listing: pages of 100 (the documented maximum) at offsets 0, 100, 200.
    let calls = sim.with(|s| s.describe_calls("cvm"));
    let first: Vec<(u64, u64)> = calls.iter().take(3).map(|c| (c.offset, c.limit)).collect();
    assert_eq!(first, [(0, 100), (100, 100), (200, 100)]);
    // GetMonitorData batches the discovered instances like configured ones (50 at a time).
    let batches = sim.with(|s| s.batch_sizes.clone());
    assert!(batches.iter().all(|b| *b <= 50), "{batches:?}");
    d.stop().await;
}

#[tokio::test]
async fn several_regions_with_one_credential() {
    let (sim, clock) = frozen_sim().await;
    sim.with(|s| {
        s.add_instance(cvm("ap-guangzhou", "ins-gz").tag("env", "prod"));
        s.add_instance(cvm("ap-shanghai", "ins-sh").tag("env", "prod"));
    });
    let yaml = target(
        &sim,
        "      regions: [ap-guangzhou, ap-shanghai]\n",
        "      tag_labels: [env]\n",
        CVM_ALL,
    );
    let d = support::start_with_clock(&yaml, clock).await;
    let body = d
        .wait_for(WAIT, |b| {
            ids_of(b, "qce_cvm_cpuusage_avg").len() == 2
                && ids_of(b, "qce_instance_info").len() == 2
        })
        .await;
    let t = newest();
    // The simulator serves an instance's data in its own region only: each series was read in
    // the region it is labelled with.
    assert_eq!(
        sample(
            &body,
            "qce_cvm_cpuusage_avg",
            &[("instance_id", "ins-gz"), ("region", "ap-guangzhou")]
        ),
        Some(value_at("ins-gz", "CPUUsage", "avg", t))
    );
    assert_eq!(
        sample(
            &body,
            "qce_cvm_cpuusage_avg",
            &[("instance_id", "ins-sh"), ("region", "ap-shanghai")]
        ),
        Some(value_at("ins-sh", "CPUUsage", "avg", t))
    );
    assert_eq!(
        sample(
            &body,
            "qce_instance_info",
            &[
                ("instance_id", "ins-sh"),
                ("region", "ap-shanghai"),
                ("tag_env", "prod")
            ]
        ),
        Some(1.0)
    );
    let regions: std::collections::BTreeSet<String> = sim.with(|s| {
        s.describe_calls("cvm")
            .into_iter()
            .map(|c| c.region)
            .collect()
    });
    assert_eq!(
        regions.into_iter().collect::<Vec<_>>(),
        ["ap-guangzhou", "ap-shanghai"]
    );
    d.stop().await;
}

#[tokio::test]
async fn every_product_maps_its_instances_to_its_monitor_dimensions() {
    let (sim, clock) = frozen_sim().await;
    let r = "ap-guangzhou";
    sim.with(|s| {
        for (namespace, metric) in [
            ("QCE/CDB", "CpuUseRate"),
            ("QCE/REDIS", "CpuUtil"),
            ("QCE/LB_PUBLIC", "ClientConnum"),
            ("QCE/LB_PRIVATE", "ClientConnum"),
            ("QCE/POSTGRES", "Cpu"),
            ("QCE/CMONGO", "Inserts"),
            ("QCE/CKAFKA", "InstanceConnectCount"),
        ] {
            s.metrics.push(SimMetric {
                namespace: namespace.into(),
                name: metric.into(),
                unit: "".into(),
                periods: vec![60, 300],
                stats: vec!["avg".into()],
            });
        }
        s.add_instance(SimInstance::new(SimProduct::Cdb, r, "cdb-1"));
        s.add_instance(SimInstance::new(SimProduct::Redis, r, "crs-1"));
        s.add_instance(SimInstance::new(SimProduct::ClbOpen, r, "lb-open"));
        s.add_instance(SimInstance::new(SimProduct::ClbInternal, r, "lb-int"));
        s.add_instance(SimInstance::new(SimProduct::Postgres, r, "postgres-1"));
        s.add_instance(SimInstance::new(SimProduct::Mongodb, r, "cmgo-1"));
        // 25 CKafka instances: DescribeInstancesDetail pages 20 at most.
        for n in 0..25 {
            s.add_instance(SimInstance::new(
                SimProduct::Ckafka,
                r,
                &format!("ckafka-{n:02}"),
            ));
        }
    });
    let block = |ns: &str, metric: &str| {
        format!("        - namespace: {ns}\n          names: [{metric}]\n          period: 60s\n          instances: all\n")
    };
    let blocks = [
        block("QCE/CDB", "CpuUseRate"),
        block("QCE/REDIS", "CpuUtil"),
        block("QCE/LB_PUBLIC", "ClientConnum"),
        block("QCE/LB_PRIVATE", "ClientConnum"),
        block("QCE/POSTGRES", "Cpu"),
        block("QCE/CMONGO", "Inserts"),
        block("QCE/CKAFKA", "InstanceConnectCount"),
    ]
    .concat();
    let yaml = target(&sim, "      region: ap-guangzhou\n", "", &blocks);
    let d = support::start_with_clock(&yaml, clock).await;
    let body = d
        .wait_for(WAIT, |b| {
            ids_of(b, "qce_instance_info").len() == 31
                && samples(b, "qce_ckafka_instanceconnectcount_avg", &[]).len() == 25
                && !samples(b, "qce_lb_private_clientconnum_avg", &[]).is_empty()
        })
        .await;
    let vip = |id: &str| {
        sim.with(|s| {
            s.describe
                .instances
                .iter()
                .find(|i| i.id == id)
                .unwrap()
                .vips[0]
                .clone()
        })
    };
    let t = newest();
    // (family, dimension labels, the instance the sim serves the values of)
    let open_vip = vip("lb-open");
    let int_vip = vip("lb-int");
    let cases: Vec<Case> = vec![
        (
            "qce_cdb_cpuuserate_avg",
            vec![("instance_id", "cdb-1")],
            "cdb-1",
            "CpuUseRate",
        ),
        (
            "qce_redis_cpuutil_avg",
            vec![("instanceid", "crs-1")],
            "crs-1",
            "CpuUtil",
        ),
        (
            "qce_lb_public_clientconnum_avg",
            vec![("vip", &open_vip)],
            &open_vip,
            "ClientConnum",
        ),
        (
            "qce_lb_private_clientconnum_avg",
            vec![("vip", &int_vip), ("vpc_id", "vpc-sim")],
            &int_vip,
            "ClientConnum",
        ),
        (
            "qce_postgres_cpu_avg",
            vec![("resource_id", "postgres-1")],
            "postgres-1",
            "Cpu",
        ),
        (
            "qce_cmongo_inserts_avg",
            vec![("dimension_target", "cmgo-1")],
            "cmgo-1",
            "Inserts",
        ),
        (
            "qce_ckafka_instanceconnectcount_avg",
            vec![("instance_id", "ckafka-24")],
            "ckafka-24",
            "InstanceConnectCount",
        ),
    ];
    for (family, labels, served, metric) in cases {
        assert_eq!(
            sample(&body, family, &labels),
            Some(value_at(served, metric, "avg", t)),
            "{family} {labels:?}"
        );
    }
    // qce_instance_info carries the dimension labels too, for joins: the Redis instanceid,
    // the CLB vip; Redis lists a numeric zone id; CKafka lists no project: no label.
    assert_eq!(
        sample(
            &body,
            "qce_instance_info",
            &[
                ("instance_id", "crs-1"),
                ("instanceid", "crs-1"),
                ("zone", "100003")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            "qce_instance_info",
            &[
                ("instance_id", "lb-open"),
                ("namespace", "QCE/LB_PUBLIC"),
                ("vip", &open_vip)
            ]
        ),
        Some(1.0)
    );
    let kafka = samples(&body, "qce_instance_info", &[("instance_id", "ckafka-00")]);
    assert!(
        kafka[0].labels.iter().all(|(k, _)| k != "project_id"),
        "{:?}",
        kafka[0].labels
    );
    // CKafka pages of 20: offsets 0 and 20 in the first listing.
    let pages: Vec<u64> = sim.with(|s| {
        s.describe_calls("ckafka")
            .iter()
            .take(2)
            .map(|c| c.offset)
            .collect()
    });
    assert_eq!(pages, [0, 20]);
    // CLB public and private are two listings (LoadBalancerType OPEN and INTERNAL).
    assert!(sim.with(|s| s.describe_calls("clb").len()) >= 2);
    d.stop().await;
}

#[tokio::test]
async fn a_listing_that_fails_keeps_the_last_instances() {
    let (sim, clock) = frozen_sim().await;
    sim.with(|s| s.add_instance(cvm("ap-guangzhou", "ins-a")));
    let yaml = target(&sim, "      region: ap-guangzhou\n", "", CVM_ALL);
    let d = support::start_with_clock(&yaml, clock).await;
    d.wait_for(WAIT, |b| ids_of(b, "qce_cvm_cpuusage_avg") == ["ins-a"])
        .await;
    // DescribeInstances withdrawn: instance_discovery fails, metric_data goes on with the last
    // listing.
    sim.with(|s| s.unoffered_actions.insert("DescribeInstances".into()));
    d.wait_for(WAIT, |b| {
        sample(
            b,
            "usage_exporter_poll_success",
            &[("target", "disc"), ("endpoint", "instance_discovery")],
        ) == Some(0.0)
    })
    .await;
    let before = sim.with(|s| s.calls_of("GetMonitorData"));
    let body = d
        .wait_for(WAIT, |_| {
            sim.with(|s| s.calls_of("GetMonitorData")) > before + 2
        })
        .await;
    assert_eq!(ids_of(&body, "qce_cvm_cpuusage_avg"), ["ins-a"]);
    d.stop().await;
}

#[tokio::test]
async fn a_region_whose_listing_fails_keeps_its_instances_and_the_others_go_on() {
    let (sim, clock) = frozen_sim().await;
    sim.with(|s| {
        s.add_instance(cvm("ap-guangzhou", "ins-gz"));
        s.add_instance(cvm("ap-shanghai", "ins-sh"));
    });
    let yaml = target(
        &sim,
        "      regions: [ap-guangzhou, ap-shanghai]\n",
        "",
        CVM_ALL,
    );
    let d = support::start_with_clock(&yaml, clock).await;
    d.wait_for(WAIT, |b| {
        ids_of(b, "qce_instance_info") == ["ins-gz", "ins-sh"]
    })
    .await;
    // Shanghai's Describe API fails; a new Guangzhou instance still appears, and Shanghai's
    // instance stays as last listed: a partial listing, not a failed poll.
    sim.with(|s| {
        s.describe.failing_regions.insert("ap-shanghai".into());
        s.add_instance(cvm("ap-guangzhou", "ins-gz2"));
    });
    let body = d
        .wait_for(WAIT, |b| {
            ids_of(b, "qce_instance_info") == ["ins-gz", "ins-gz2", "ins-sh"]
                && ids_of(b, "qce_cvm_cpuusage_avg") == ["ins-gz", "ins-gz2", "ins-sh"]
        })
        .await;
    assert_eq!(
        sample(
            &body,
            "usage_exporter_poll_success",
            &[("target", "disc"), ("endpoint", "instance_discovery")]
        ),
        Some(1.0)
    );
    // Every region failing is a failed poll; the last listing stays in use.
    sim.with(|s| s.describe.failing_regions.insert("ap-guangzhou".into()));
    let body = d
        .wait_for(WAIT, |b| {
            sample(
                b,
                "usage_exporter_poll_success",
                &[("target", "disc"), ("endpoint", "instance_discovery")],
            ) == Some(0.0)
        })
        .await;
    assert_eq!(
        ids_of(&body, "qce_cvm_cpuusage_avg"),
        ["ins-gz", "ins-gz2", "ins-sh"]
    );
    d.stop().await;
}

/// The vendor's own SDK for Python, pointed at the simulator, gets the answers its models
/// describe for every discovery action and for GetMonitorData, and a wrongly signed request is
/// refused. (Signatures carry the SDK's own time, so this simulator runs on the real clock.)
#[tokio::test]
async fn the_vendor_python_sdk_reads_the_simulator() {
    let sim = TencentSim::start(TencentSimState::new(ID, KEY, 0))
        .await
        .expect("simulator starts");
    sim.with(|s| {
        for n in 0..5 {
            let mut i = cvm("ap-guangzhou", &format!("ins-{n}")).named(&format!("web-{n}"));
            if n % 2 == 0 {
                i = i.tag("env", "prod");
            }
            s.add_instance(i);
        }
        s.add_instance(cvm("ap-shanghai", "ins-sh"));
        let r = "ap-guangzhou";
        s.add_instance(SimInstance::new(SimProduct::Cdb, r, "cdb-1").tag("team", "db"));
        s.add_instance(SimInstance::new(SimProduct::Redis, r, "crs-1"));
        s.add_instance(SimInstance::new(SimProduct::ClbOpen, r, "lb-open"));
        s.add_instance(SimInstance::new(SimProduct::ClbInternal, r, "lb-int"));
        s.add_instance(SimInstance::new(SimProduct::Postgres, r, "postgres-1"));
        s.add_instance(SimInstance::new(SimProduct::Mongodb, r, "cmgo-1"));
        for n in 0..21 {
            s.add_instance(SimInstance::new(
                SimProduct::Ckafka,
                r,
                &format!("ckafka-{n:02}"),
            ));
        }
    });
    let endpoint = sim
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/tencent_sdk_check.py"
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, endpoint.as_str(), ID, KEY])
            // The simulator is on loopback: never through a proxy from the environment.
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
            .expect("python3 runs (the test command installs tencentcloud-sdk-python)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    let gz = &r["cvm/ap-guangzhou"];
    assert_eq!(gz["total"], 5);
    assert_eq!(gz["pages"], 3, "Limit 2 over 5 instances");
    let ids: Vec<&str> = gz["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ins-0", "ins-1", "ins-2", "ins-3", "ins-4"]);
    assert_eq!(
        gz["instances"][0],
        serde_json::json!({"id": "ins-0", "name": "web-0", "zone": "ap-guangzhou-3", "project": 0, "vpc": "vpc-sim", "tags": {"env": "prod"}})
    );
    assert_eq!(r["cvm/ap-shanghai"]["total"], 1);
    assert_eq!(
        r["cvm_filtered"],
        serde_json::json!(["ins-0", "ins-2", "ins-4"])
    );
    assert_eq!(
        r["cdb"][0],
        serde_json::json!({"id": "cdb-1", "zone": "ap-guangzhou-3", "vpc": "vpc-sim", "tags": {"team": "db"}})
    );
    assert_eq!(r["redis"][0]["zone_id"], 100003);
    assert_eq!(r["clb/OPEN"].as_array().unwrap().len(), 1);
    assert_eq!(r["clb/OPEN"][0]["id"], "lb-open");
    assert_eq!(r["clb/INTERNAL"][0]["type"], "INTERNAL");
    assert_eq!(r["clb/INTERNAL"][0]["vips"].as_array().unwrap().len(), 1);
    assert_eq!(r["postgres"][0]["id"], "postgres-1");
    assert_eq!(r["mongodb"][0]["id"], "cmgo-1");
    assert_eq!(r["ckafka"]["pages"], 2, "pages of 20 over 21 instances");
    assert_eq!(r["ckafka"]["instances"].as_array().unwrap().len(), 21);
    assert_eq!(r["monitor"]["metric"], "CPUUsage");
    assert_eq!(r["monitor"]["period"], 60);
    let point = &r["monitor"]["points"][0];
    assert_eq!(
        point["dimensions"],
        serde_json::json!({"InstanceId": "ins-0"})
    );
    assert!(point["values"].as_u64().unwrap() >= 9, "{point}");
    assert_eq!(point["timestamps"], point["values"]);
    assert!(r["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "CPUUsage"));
    assert_eq!(r["wrong_key"], "AuthFailure.SignatureFailure");
    assert!(sim.with(|s| s.auth_failures) >= 1);
}
