//! The products whose instances `instance_discovery` can list: per Cloud Monitor namespace, the
//! product's own API 3.0 Describe action (service, version, action, page size), where its answer
//! keeps the instance list and the total, which instance fields give the id, name, zone, VPC,
//! project and tags, and which fields become the namespace's monitor dimensions.
//!
//! Every action, version, request field and response field is the one of the vendor SDK models
//! (`tencentcloud-sdk-python` 3.1.195, `tencentcloud/<product>/<version>/models.py` and the
//! `_apiVersion`/`_service` of its `<product>_client.py`); the dimension mapping is the one of the
//! vendor's exporter (`tencentyun/tencentcloud-exporter`, `pkg/collector/handler_<product>.go`
//! names the dimension, `pkg/instance/repository_<product>.go` the instance field, and
//! `pkg/instance/instance_clb.go` `GetMonitorQueryKey` the CLB VIP). docs/sources/tencent.md
//! has the table with these sources.

use super::Instance;
use serde_json::Value;

/// Where a monitor dimension's value comes from in a Describe answer's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimensionSource {
    /// A (nested) field, read as text.
    Field(&'static [&'static str]),
    /// The CLB VIP as the vendor exporter takes it (`GetMonitorQueryKey`): the only entry of
    /// `LoadBalancerVips` when there is exactly one, else `AddressIPv6` when not empty.
    ClbVip,
}

/// One product as discovery reads it.
#[derive(Debug, PartialEq)]
pub struct Product {
    /// The Cloud Monitor namespace whose instances this lists, e.g. `QCE/CVM`.
    pub namespace: &'static str,
    /// API 3.0 service (credential scope and host), e.g. `cvm`.
    pub service: &'static str,
    /// API version (`X-TC-Version`).
    pub version: &'static str,
    /// The Describe action.
    pub action: &'static str,
    /// Fixed request fields besides `Offset`/`Limit` (CLB: `LoadBalancerType`).
    pub request: &'static [(&'static str, &'static str)],
    /// `Limit` per page: the documented maximum, at most 100.
    pub page_size: u64,
    /// Path of the instance list in the answer's `Response`.
    pub list: &'static [&'static str],
    /// Path of the total count in the answer's `Response`.
    pub total: &'static [&'static str],
    /// Instance id field.
    pub id: &'static [&'static str],
    /// Name field.
    pub name: &'static [&'static str],
    /// Zone field (Redis and CKafka give a numeric `ZoneId` only).
    pub zone: &'static [&'static str],
    /// VPC id field.
    pub vpc: &'static [&'static str],
    /// Project id field (`None`: the answer has none, as CKafka's).
    pub project: Option<&'static [&'static str]>,
    /// Tag list field and the key and value fields of its entries.
    pub tags: (&'static str, &'static str, &'static str),
    /// Monitor dimensions: name → source.
    pub dimensions: &'static [(&'static str, DimensionSource)],
}

/// The products discovery covers, one per namespace.
pub const PRODUCTS: &[Product] = &[
    Product {
        namespace: "QCE/CVM",
        service: "cvm",
        version: "2017-03-12",
        action: "DescribeInstances",
        request: &[],
        page_size: 100,
        list: &["InstanceSet"],
        total: &["TotalCount"],
        id: &["InstanceId"],
        name: &["InstanceName"],
        zone: &["Placement", "Zone"],
        vpc: &["VirtualPrivateCloud", "VpcId"],
        project: Some(&["Placement", "ProjectId"]),
        tags: ("Tags", "Key", "Value"),
        dimensions: &[("InstanceId", DimensionSource::Field(&["InstanceId"]))],
    },
    Product {
        namespace: "QCE/CDB",
        service: "cdb",
        version: "2017-03-20",
        action: "DescribeDBInstances",
        request: &[],
        page_size: 100,
        list: &["Items"],
        total: &["TotalCount"],
        id: &["InstanceId"],
        name: &["InstanceName"],
        zone: &["Zone"],
        vpc: &["UniqVpcId"],
        project: Some(&["ProjectId"]),
        tags: ("TagList", "TagKey", "TagValue"),
        dimensions: &[("InstanceId", DimensionSource::Field(&["InstanceId"]))],
    },
    Product {
        namespace: "QCE/REDIS",
        service: "redis",
        version: "2018-04-12",
        action: "DescribeInstances",
        request: &[],
        page_size: 100,
        list: &["InstanceSet"],
        total: &["TotalCount"],
        id: &["InstanceId"],
        name: &["InstanceName"],
        zone: &["ZoneId"],
        vpc: &["UniqVpcId"],
        project: Some(&["ProjectId"]),
        tags: ("InstanceTags", "TagKey", "TagValue"),
        dimensions: &[("instanceid", DimensionSource::Field(&["InstanceId"]))],
    },
    Product {
        namespace: "QCE/LB_PUBLIC",
        service: "clb",
        version: "2018-03-17",
        action: "DescribeLoadBalancers",
        request: &[("LoadBalancerType", "OPEN")],
        page_size: 100,
        list: &["LoadBalancerSet"],
        total: &["TotalCount"],
        id: &["LoadBalancerId"],
        name: &["LoadBalancerName"],
        zone: &["MasterZone", "Zone"],
        vpc: &["VpcId"],
        project: Some(&["ProjectId"]),
        tags: ("Tags", "TagKey", "TagValue"),
        dimensions: &[("vip", DimensionSource::ClbVip)],
    },
    Product {
        namespace: "QCE/LB_PRIVATE",
        service: "clb",
        version: "2018-03-17",
        action: "DescribeLoadBalancers",
        request: &[("LoadBalancerType", "INTERNAL")],
        page_size: 100,
        list: &["LoadBalancerSet"],
        total: &["TotalCount"],
        id: &["LoadBalancerId"],
        name: &["LoadBalancerName"],
        zone: &["MasterZone", "Zone"],
        vpc: &["VpcId"],
        project: Some(&["ProjectId"]),
        tags: ("Tags", "TagKey", "TagValue"),
        dimensions: &[
            ("vip", DimensionSource::ClbVip),
            ("vpcId", DimensionSource::Field(&["VpcId"])),
        ],
    },
    Product {
        namespace: "QCE/POSTGRES",
        service: "postgres",
        version: "2017-03-12",
        action: "DescribeDBInstances",
        request: &[],
        page_size: 100,
        list: &["DBInstanceSet"],
        total: &["TotalCount"],
        id: &["DBInstanceId"],
        name: &["DBInstanceName"],
        zone: &["Zone"],
        vpc: &["VpcId"],
        project: Some(&["ProjectId"]),
        tags: ("TagList", "TagKey", "TagValue"),
        dimensions: &[("resourceId", DimensionSource::Field(&["DBInstanceId"]))],
    },
    Product {
        namespace: "QCE/CMONGO",
        service: "mongodb",
        version: "2019-07-25",
        action: "DescribeDBInstances",
        request: &[],
        page_size: 100,
        list: &["InstanceDetails"],
        total: &["TotalCount"],
        id: &["InstanceId"],
        name: &["InstanceName"],
        zone: &["Zone"],
        vpc: &["VpcId"],
        project: Some(&["ProjectId"]),
        tags: ("Tags", "TagKey", "TagValue"),
        dimensions: &[("target", DimensionSource::Field(&["InstanceId"]))],
    },
    Product {
        namespace: "QCE/CKAFKA",
        service: "ckafka",
        version: "2019-08-19",
        action: "DescribeInstancesDetail",
        request: &[],
        page_size: 20,
        list: &["Result", "InstanceList"],
        total: &["Result", "TotalCount"],
        id: &["InstanceId"],
        name: &["InstanceName"],
        zone: &["ZoneId"],
        vpc: &["VpcId"],
        project: None,
        tags: ("Tags", "TagKey", "TagValue"),
        dimensions: &[("instanceId", DimensionSource::Field(&["InstanceId"]))],
    },
];

/// The product of a namespace (any case), if discovery covers it.
pub fn for_namespace(namespace: &str) -> Option<&'static Product> {
    PRODUCTS
        .iter()
        .find(|p| p.namespace.eq_ignore_ascii_case(namespace.trim()))
}

/// The namespaces discovery covers, for messages.
pub fn namespaces() -> String {
    PRODUCTS
        .iter()
        .map(|p| p.namespace)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A key of an object: the documented spelling, else any case.
fn key<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The value at a path of keys.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| key(v, k))
}

/// A scalar as text: strings as they are, numbers in their JSON form; `None` for `null`,
/// empty strings, booleans, lists and objects (an absent value is no label, never a made-up one).
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One instance as a Describe answer lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Instance id.
    pub id: String,
    /// Name, when given.
    pub name: Option<String>,
    /// Zone (name, or numeric id where the product gives only that), when given.
    pub zone: Option<String>,
    /// VPC id, when given.
    pub vpc_id: Option<String>,
    /// Project id, when given.
    pub project_id: Option<String>,
    /// Tags (key, value) in answer order.
    pub tags: Vec<(String, String)>,
    /// The monitor dimensions, in the product's order; `None` when a dimension's field is
    /// missing (the instance is listed, but has no data to read).
    pub dimensions: Option<Instance>,
}

impl Product {
    /// The request body of the page at `offset`.
    pub fn request_body(&self, offset: u64) -> Value {
        let mut body = serde_json::Map::new();
        for (k, v) in self.request {
            body.insert((*k).into(), Value::String((*v).into()));
        }
        body.insert("Offset".into(), offset.into());
        body.insert("Limit".into(), self.page_size.into());
        Value::Object(body)
    }

    /// The total count and the instances of one answer's `Response`. Entries without an id are
    /// skipped (nothing could name them); a missing list is an empty page.
    pub fn page(&self, response: &Value) -> (Option<u64>, Vec<Described>) {
        let total = at(response, self.total).and_then(|t| match t {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let items = at(response, self.list)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|i| self.described(i)).collect())
            .unwrap_or_default();
        (total, items)
    }

    fn described(&self, item: &Value) -> Option<Described> {
        let id = text(at(item, self.id))?;
        let (list, k, v) = self.tags;
        let tags = at(item, &[list])
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| {
                        Some((text(at(t, &[k]))?, text(at(t, &[v])).unwrap_or_default()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let dimensions = self
            .dimensions
            .iter()
            .map(|(name, source)| {
                let value = match source {
                    DimensionSource::Field(path) => text(at(item, path)),
                    DimensionSource::ClbVip => clb_vip(item),
                };
                value.map(|v| ((*name).to_string(), v))
            })
            .collect::<Option<Vec<_>>>();
        Some(Described {
            id,
            name: text(at(item, self.name)),
            zone: text(at(item, self.zone)),
            vpc_id: text(at(item, self.vpc)),
            project_id: self.project.and_then(|p| text(at(item, p))),
            tags,
            dimensions,
        })
    }
}

/// The vendor exporter's CLB monitor key: the single VIP, else the IPv6 address.
fn clb_vip(item: &Value) -> Option<String> {
    let vips: Vec<String> = at(item, &["LoadBalancerVips"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| text(Some(v))).collect())
        .unwrap_or_default();
    if vips.len() == 1 {
        return vips.into_iter().next();
    }
    text(at(item, &["AddressIPv6"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_namespace_once_and_pages_within_the_documented_maximum() {
        for p in PRODUCTS {
            assert_eq!(
                PRODUCTS
                    .iter()
                    .filter(|q| q.namespace == p.namespace)
                    .count(),
                1
            );
            assert!(p.page_size >= 1 && p.page_size <= 100, "{}", p.namespace);
        }
        // CKafka DescribeInstancesDetail: "default 10, maximum 20".
        assert_eq!(for_namespace("qce/ckafka").unwrap().page_size, 20);
        assert!(for_namespace("QCE/NOPE").is_none());
    }

    #[test]
    fn request_bodies_page_with_offset_and_limit() {
        let clb = for_namespace("QCE/LB_PRIVATE").unwrap();
        assert_eq!(
            clb.request_body(200),
            json!({"LoadBalancerType": "INTERNAL", "Offset": 200, "Limit": 100})
        );
    }

    #[test]
    fn fields_as_the_sdk_models_name_them() {
        let cvm = for_namespace("QCE/CVM").unwrap();
        let (total, items) = cvm.page(&json!({
            "TotalCount": 2,
            "InstanceSet": [
                {"InstanceId": "ins-1", "InstanceName": "web-1",
                 "Placement": {"Zone": "ap-guangzhou-3", "ProjectId": 0},
                 "VirtualPrivateCloud": {"VpcId": "vpc-1"},
                 "Tags": [{"Key": "env", "Value": "prod"}]},
                {"InstanceName": "no id"}
            ],
            "RequestId": "r"
        }));
        assert_eq!(total, Some(2));
        assert_eq!(
            items,
            vec![Described {
                id: "ins-1".into(),
                name: Some("web-1".into()),
                zone: Some("ap-guangzhou-3".into()),
                vpc_id: Some("vpc-1".into()),
                project_id: Some("0".into()),
                tags: vec![("env".into(), "prod".into())],
                dimensions: Some(vec![("InstanceId".into(), "ins-1".into())]),
            }]
        );
        let kafka = for_namespace("QCE/CKAFKA").unwrap();
        let (total, items) = kafka.page(&json!({"Result": {"TotalCount": 1, "InstanceList": [
            {"InstanceId": "ckafka-1", "ZoneId": 100003, "VpcId": "", "Tags": null}]}}));
        assert_eq!(total, Some(1));
        assert_eq!(items[0].zone.as_deref(), Some("100003"));
        assert_eq!(items[0].vpc_id, None, "an empty VPC id is no VPC");
        assert_eq!(items[0].project_id, None, "CKafka lists no project");
        assert_eq!(
            items[0].dimensions,
            Some(vec![("instanceId".into(), "ckafka-1".into())])
        );
    }

    #[test]
    fn clb_vip_follows_the_vendor_exporter() {
        let private = for_namespace("QCE/LB_PRIVATE").unwrap();
        let one = |item: Value| {
            private
                .page(&json!({"LoadBalancerSet": [item]}))
                .1
                .remove(0)
        };
        let lb = one(
            json!({"LoadBalancerId": "lb-1", "LoadBalancerVips": ["10.0.0.1"], "VpcId": "vpc-9"}),
        );
        assert_eq!(
            lb.dimensions,
            Some(vec![
                ("vip".into(), "10.0.0.1".into()),
                ("vpcId".into(), "vpc-9".into())
            ])
        );
        let v6 = one(
            json!({"LoadBalancerId": "lb-2", "LoadBalancerVips": [], "AddressIPv6": "2402::1", "VpcId": "vpc-9"}),
        );
        assert_eq!(v6.dimensions.unwrap()[0].1, "2402::1");
        let none = one(
            json!({"LoadBalancerId": "lb-3", "LoadBalancerVips": ["1.1.1.1", "2.2.2.2"], "VpcId": "vpc-9"}),
        );
        assert_eq!(none.dimensions, None, "no single VIP: listed, no data");
    }
}
