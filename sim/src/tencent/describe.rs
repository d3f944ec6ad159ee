//! The products' Describe APIs (API 3.0), as the vendor SDK models define them
//! (`tencentcloud-sdk-python`, `tencentcloud/<product>/<version>/models.py`): CVM
//! `DescribeInstances` (cvm 2017-03-12), MySQL `DescribeDBInstances` (cdb 2017-03-20), Redis
//! `DescribeInstances` (redis 2018-04-12), CLB `DescribeLoadBalancers` (clb 2018-03-17, public
//! and private by `LoadBalancerType`), PostgreSQL `DescribeDBInstances` (postgres 2017-03-12),
//! MongoDB `DescribeDBInstances` (mongodb 2019-07-25) and CKafka `DescribeInstancesDetail`
//! (ckafka 2019-08-19).
//!
//! Each answers the instances of the request's region (`X-TC-Region`) page by page: `Offset`
//! and `Limit` with the product's documented default and maximum (a larger `Limit` is refused
//! with `InvalidParameterValue`), and the `TotalCount` of all matching instances. Instances can
//! be added and removed at run time (`TencentSimState::add_instance` / `remove_instance`), a
//! region's Describe calls can fail (`failing_regions`: `InternalError`); each accepted call is
//! recorded (`DescribeState::calls`).

use super::{v3_error, v3_ok, TencentSimState};
use crate::SimResponse;
use serde_json::{json, Value};

/// A simulated product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimProduct {
    /// CVM.
    Cvm,
    /// TencentDB for MySQL.
    Cdb,
    /// TencentDB for Redis.
    Redis,
    /// CLB, public network (`LoadBalancerType` `OPEN`).
    ClbOpen,
    /// CLB, private network (`INTERNAL`).
    ClbInternal,
    /// TencentDB for PostgreSQL.
    Postgres,
    /// TencentDB for MongoDB.
    Mongodb,
    /// CKafka.
    Ckafka,
}

/// One simulated instance of a product.
#[derive(Debug, Clone, PartialEq)]
pub struct SimInstance {
    /// Product.
    pub product: SimProduct,
    /// Region, e.g. `ap-guangzhou`.
    pub region: String,
    /// Instance id (CLB: `LoadBalancerId`, PostgreSQL: `DBInstanceId`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Zone: a name (`ap-guangzhou-3`), or for Redis and CKafka the numeric zone id.
    pub zone: String,
    /// Project id.
    pub project_id: i64,
    /// VPC id (`vpc-…`; empty: basic network).
    pub vpc_id: String,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// CLB VIPs.
    pub vips: Vec<String>,
}

impl SimInstance {
    /// An instance with a name, zone `<region>-3` (Redis, CKafka: `100003`), project 0, VPC
    /// `vpc-sim`, no tags and (CLB) the VIP `10.0.<n>.<m>` from a hash of the id.
    pub fn new(product: SimProduct, region: &str, id: &str) -> Self {
        let zone = match product {
            SimProduct::Redis | SimProduct::Ckafka => "100003".to_string(),
            _ => format!("{region}-3"),
        };
        let h = id
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        SimInstance {
            product,
            region: region.into(),
            id: id.into(),
            name: format!("{id}-name"),
            zone,
            project_id: 0,
            vpc_id: "vpc-sim".into(),
            tags: Vec::new(),
            vips: match product {
                SimProduct::ClbOpen | SimProduct::ClbInternal => {
                    vec![format!(
                        "10.{}.{}.{}",
                        h % 250,
                        (h / 250) % 250,
                        (h / 62500) % 250
                    )]
                }
                _ => Vec::new(),
            },
        }
    }

    /// With a tag.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// With a name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// In a zone.
    pub fn in_zone(mut self, zone: &str) -> Self {
        self.zone = zone.into();
        self
    }

    /// The values under which GetMonitorData serves this instance's data (its monitor
    /// dimension values: CLB the VIPs, the others the id).
    pub fn monitor_keys(&self) -> Vec<String> {
        match self.product {
            SimProduct::ClbOpen | SimProduct::ClbInternal => self.vips.clone(),
            _ => vec![self.id.clone()],
        }
    }
}

/// The record of one Describe call.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeCall {
    /// Service, e.g. `cvm`.
    pub service: String,
    /// Action.
    pub action: String,
    /// `X-TC-Region`.
    pub region: String,
    /// `Offset` asked.
    pub offset: u64,
    /// `Limit` asked (the default when absent).
    pub limit: u64,
}

/// The Describe side of the simulator.
#[derive(Debug, Default)]
pub struct DescribeState {
    /// Every instance of every product and region.
    pub instances: Vec<SimInstance>,
    /// Accepted Describe calls, in order.
    pub calls: Vec<DescribeCall>,
    /// `X-TC-Region` of the monitor request being answered.
    pub region: String,
    /// Regions whose Describe calls answer `InternalError` (a regional outage).
    pub failing_regions: std::collections::HashSet<String>,
}

impl DescribeState {
    /// False when `key` is the monitor key of a listed instance of another region than the
    /// request's: Cloud Monitor serves an instance's data in its own region only.
    pub fn serves(&self, key: &str) -> bool {
        self.instances
            .iter()
            .filter(|i| i.monitor_keys().iter().any(|k| k == key))
            .all(|i| i.region == self.region)
    }
}

impl TencentSimState {
    /// Adds an instance: listed by its Describe API and served by GetMonitorData.
    pub fn add_instance(&mut self, instance: SimInstance) {
        for key in instance.monitor_keys() {
            self.instances.insert(key);
        }
        self.describe.instances.push(instance);
    }

    /// Removes an instance by id (deleted upstream): no longer listed, no more data.
    pub fn remove_instance(&mut self, id: &str) {
        let (gone, kept): (Vec<SimInstance>, Vec<SimInstance>) =
            std::mem::take(&mut self.describe.instances)
                .into_iter()
                .partition(|i| i.id == id);
        self.describe.instances = kept;
        for i in gone {
            for key in i.monitor_keys() {
                self.instances.remove(&key);
            }
        }
    }

    /// Describe calls of one service.
    pub fn describe_calls(&self, service: &str) -> Vec<DescribeCall> {
        self.describe
            .calls
            .iter()
            .filter(|c| c.service == service)
            .cloned()
            .collect()
    }
}

/// (service, version, action, default Limit, maximum Limit) of every Describe API, from the
/// SDK models' field documentation.
const APIS: &[(&str, &str, &str, u64, u64)] = &[
    ("cvm", "2017-03-12", "DescribeInstances", 20, 100),
    ("cdb", "2017-03-20", "DescribeDBInstances", 20, 2000),
    ("redis", "2018-04-12", "DescribeInstances", 20, 1000),
    ("clb", "2018-03-17", "DescribeLoadBalancers", 20, 100),
    ("postgres", "2017-03-12", "DescribeDBInstances", 10, 100),
    ("mongodb", "2019-07-25", "DescribeDBInstances", 20, 100),
    ("ckafka", "2019-08-19", "DescribeInstancesDetail", 10, 20),
];

/// True for a service whose calls the simulator signs and answers (besides `monitor`).
pub fn known_service(service: &str) -> bool {
    APIS.iter().any(|(s, ..)| *s == service)
}

fn tags(i: &SimInstance, key: &str, value: &str) -> Value {
    Value::Array(
        i.tags
            .iter()
            .map(|(k, v)| json!({ key: k, value: v }))
            .collect(),
    )
}

fn number_or_text(text: &str) -> Value {
    text.parse::<i64>()
        .map_or_else(|_| json!(text), |n| json!(n))
}

fn render(i: &SimInstance) -> Value {
    match i.product {
        SimProduct::Cvm => json!({
            "InstanceId": i.id, "InstanceName": i.name, "InstanceState": "RUNNING",
            "Placement": {"Zone": i.zone, "ProjectId": i.project_id},
            "VirtualPrivateCloud": {"VpcId": i.vpc_id, "SubnetId": "subnet-sim"},
            "Tags": tags(i, "Key", "Value"),
        }),
        SimProduct::Cdb => json!({
            "InstanceId": i.id, "InstanceName": i.name, "Zone": i.zone, "Region": i.region,
            "ProjectId": i.project_id, "VpcId": 51102, "UniqVpcId": i.vpc_id, "Status": 1,
            "TagList": tags(i, "TagKey", "TagValue"),
        }),
        SimProduct::Redis => json!({
            "InstanceId": i.id, "InstanceName": i.name, "ZoneId": number_or_text(&i.zone),
            "Region": i.region, "ProjectId": i.project_id, "VpcId": 75101,
            "UniqVpcId": i.vpc_id, "Status": 2,
            "InstanceTags": tags(i, "TagKey", "TagValue"),
        }),
        SimProduct::ClbOpen | SimProduct::ClbInternal => json!({
            "LoadBalancerId": i.id, "LoadBalancerName": i.name,
            "LoadBalancerType": if i.product == SimProduct::ClbOpen { "OPEN" } else { "INTERNAL" },
            "LoadBalancerVips": i.vips, "ProjectId": i.project_id, "VpcId": i.vpc_id,
            "MasterZone": {"Zone": i.zone, "ZoneId": 100003, "ZoneName": i.zone},
            "Tags": tags(i, "TagKey", "TagValue"),
        }),
        SimProduct::Postgres => json!({
            "DBInstanceId": i.id, "DBInstanceName": i.name, "Zone": i.zone, "Region": i.region,
            "ProjectId": i.project_id, "VpcId": i.vpc_id, "DBInstanceStatus": "running",
            "TagList": tags(i, "TagKey", "TagValue"),
        }),
        SimProduct::Mongodb => json!({
            "InstanceId": i.id, "InstanceName": i.name, "Zone": i.zone, "Region": i.region,
            "ProjectId": i.project_id, "VpcId": i.vpc_id, "Status": 2,
            "Tags": tags(i, "TagKey", "TagValue"),
        }),
        SimProduct::Ckafka => json!({
            "InstanceId": i.id, "InstanceName": i.name, "ZoneId": number_or_text(&i.zone),
            "VpcId": i.vpc_id, "Status": 1, "Tags": tags(i, "TagKey", "TagValue"),
        }),
    }
}

/// The products an action of a service lists, given the request (CLB: `LoadBalancerType`).
fn products(service: &str, body: &Value) -> Vec<SimProduct> {
    match service {
        "cvm" => vec![SimProduct::Cvm],
        "cdb" => vec![SimProduct::Cdb],
        "redis" => vec![SimProduct::Redis],
        "clb" => match body["LoadBalancerType"].as_str() {
            Some("OPEN") => vec![SimProduct::ClbOpen],
            Some("INTERNAL") => vec![SimProduct::ClbInternal],
            _ => vec![SimProduct::ClbOpen, SimProduct::ClbInternal],
        },
        "postgres" => vec![SimProduct::Postgres],
        "mongodb" => vec![SimProduct::Mongodb],
        _ => vec![SimProduct::Ckafka],
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    })
}

/// The request's own filters that the simulator honours: CVM `InstanceIds` and `Filters`
/// (`zone`, `project-id`, `vpc-id`, `instance-id`, `instance-name`, `tag-key`, `tag:<key>`);
/// CDB and MongoDB `InstanceIds`; CLB `LoadBalancerIds`. Others are accepted and ignored.
fn matches(service: &str, body: &Value, i: &SimInstance) -> bool {
    let ids = match service {
        "clb" => strings(&body["LoadBalancerIds"]),
        "cvm" | "cdb" | "mongodb" => strings(&body["InstanceIds"]),
        _ => None,
    };
    if ids.is_some_and(|ids| !ids.is_empty() && !ids.contains(&i.id)) {
        return false;
    }
    if service != "cvm" {
        return true;
    }
    let filters = body["Filters"].as_array().cloned().unwrap_or_default();
    filters.iter().all(|f| {
        let values = strings(&f["Values"]).unwrap_or_default();
        let name = f["Name"].as_str().unwrap_or_default();
        match name {
            "zone" => values.contains(&i.zone),
            "project-id" => values.contains(&i.project_id.to_string()),
            "vpc-id" => values.contains(&i.vpc_id),
            "instance-id" => values.contains(&i.id),
            "instance-name" => values.iter().any(|v| i.name.contains(v.as_str())),
            "tag-key" => i.tags.iter().any(|(k, _)| values.contains(k)),
            _ => match name.strip_prefix("tag:") {
                Some(key) => i.tags.iter().any(|(k, v)| k == key && values.contains(v)),
                None => true,
            },
        }
    })
}

/// Answers a Describe call (signature, rate limit and action checks are done).
pub fn handle(
    state: &mut TencentSimState,
    service: &str,
    version: &str,
    region: &str,
    action: &str,
    body: &Value,
) -> SimResponse {
    let Some(&(_, expected_version, expected_action, default_limit, max_limit)) =
        APIS.iter().find(|(s, ..)| *s == service)
    else {
        return v3_error("InvalidAction", &format!("unknown service {service}"));
    };
    if version != expected_version {
        return v3_error(
            "NoSuchVersion",
            &format!("The requested version `{version}` of service `{service}` does not exist."),
        );
    }
    if action != expected_action {
        return v3_error(
            "InvalidAction",
            &format!("The action `{action}` is not supported by {service} {version}."),
        );
    }
    if state.describe.failing_regions.contains(region) {
        return v3_error(
            "InternalError",
            &format!("An internal error occurred in {region}; try again later."),
        );
    }
    let offset = body["Offset"].as_u64().unwrap_or(0);
    let limit = match body["Limit"].as_u64() {
        None | Some(0) => default_limit,
        Some(l) => l,
    };
    if limit > max_limit {
        return v3_error(
            "InvalidParameterValue",
            &format!("Limit must not exceed {max_limit}, got {limit}."),
        );
    }
    state.describe.calls.push(DescribeCall {
        service: service.into(),
        action: action.into(),
        region: region.into(),
        offset,
        limit,
    });
    let listed = products(service, body);
    let all: Vec<&SimInstance> = state
        .describe
        .instances
        .iter()
        .filter(|i| i.region == region && listed.contains(&i.product))
        .filter(|i| matches(service, body, i))
        .collect();
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(render)
        .collect();
    match service {
        "cvm" | "redis" => v3_ok(json!({"TotalCount": total, "InstanceSet": page})),
        "cdb" => v3_ok(json!({"TotalCount": total, "Items": page})),
        "clb" => v3_ok(json!({"TotalCount": total, "LoadBalancerSet": page})),
        "postgres" => v3_ok(json!({"TotalCount": total, "DBInstanceSet": page})),
        "mongodb" => v3_ok(json!({"TotalCount": total, "InstanceDetails": page})),
        _ => v3_ok(json!({"Result": {"TotalCount": total, "InstanceList": page}})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_regions_and_run_time_changes() {
        let mut s = TencentSimState::new("id", "key", 0);
        for n in 0..25 {
            s.add_instance(SimInstance::new(
                SimProduct::Cvm,
                "ap-guangzhou",
                &format!("ins-{n}"),
            ));
        }
        s.add_instance(SimInstance::new(SimProduct::Cvm, "ap-shanghai", "ins-sh"));
        let page = |s: &mut TencentSimState, body: Value| -> Value {
            let r = handle(
                s,
                "cvm",
                "2017-03-12",
                "ap-guangzhou",
                "DescribeInstances",
                &body,
            );
            serde_json::from_slice::<Value>(&r.body).unwrap()["Response"].clone()
        };
        let first = page(&mut s, json!({}));
        assert_eq!(first["TotalCount"], 25);
        assert_eq!(
            first["InstanceSet"].as_array().unwrap().len(),
            20,
            "default Limit 20"
        );
        let last = page(&mut s, json!({"Offset": 20, "Limit": 100}));
        assert_eq!(last["InstanceSet"].as_array().unwrap().len(), 5);
        let refused = page(&mut s, json!({"Limit": 101}));
        assert_eq!(refused["Error"]["Code"], "InvalidParameterValue");
        s.remove_instance("ins-3");
        assert!(!s.instances.contains("ins-3"));
        assert_eq!(page(&mut s, json!({}))["TotalCount"], 24);
        let calls = s.describe_calls("cvm");
        assert_eq!(calls.len(), 3, "the refused call is not recorded");
        assert_eq!((calls[1].offset, calls[1].limit), (20, 100));
    }

    #[test]
    fn clb_types_and_cvm_filters() {
        let mut s = TencentSimState::new("id", "key", 0);
        s.add_instance(SimInstance::new(SimProduct::ClbOpen, "r", "lb-open"));
        s.add_instance(SimInstance::new(SimProduct::ClbInternal, "r", "lb-int"));
        s.add_instance(SimInstance::new(SimProduct::Cvm, "r", "ins-a").tag("env", "prod"));
        s.add_instance(SimInstance::new(SimProduct::Cvm, "r", "ins-b").tag("env", "dev"));
        let call = |s: &mut TencentSimState, service, version, action, body: Value| -> Value {
            let r = handle(s, service, version, "r", action, &body);
            serde_json::from_slice::<Value>(&r.body).unwrap()["Response"].clone()
        };
        let open = call(
            &mut s,
            "clb",
            "2018-03-17",
            "DescribeLoadBalancers",
            json!({"LoadBalancerType": "OPEN"}),
        );
        assert_eq!(open["TotalCount"], 1);
        assert_eq!(open["LoadBalancerSet"][0]["LoadBalancerId"], "lb-open");
        let prod = call(
            &mut s,
            "cvm",
            "2017-03-12",
            "DescribeInstances",
            json!({"Filters": [{"Name": "tag:env", "Values": ["prod"]}]}),
        );
        assert_eq!(prod["TotalCount"], 1);
        assert_eq!(
            prod["InstanceSet"][0]["Tags"][0],
            json!({"Key": "env", "Value": "prod"})
        );
        let wrong = call(&mut s, "cvm", "2017-03-20", "DescribeInstances", json!({}));
        assert_eq!(wrong["Error"]["Code"], "NoSuchVersion");
    }
}
