//! Instance discovery: `instances: all` or `filters:` in a metrics block lists the namespace's
//! instances through the product's own Describe API ([`super::products`]) in every region of
//! the target, page by page, on the `instance_discovery` schedule. The result is the target's
//! shared state: `metric_data` reads the instances it holds (and lists them itself when it has
//! none yet), so instances created upstream appear and deleted ones disappear without a
//! restart. `instance_discovery` exports `qce_instance_info` for every discovered instance a
//! block selects.

use super::client::{CallClock, Client, V3Service};
use super::config::{Instance, MetricBlock, TencentApi};
use super::products::{self, Described, Product};
use super::translate;
use super::FailedUnit;
use crate::base::PollError;
use crate::config::TargetProblem;
use crate::snapshot::{Family, Labels, Snapshot};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Most tags a target may turn into labels (`tag_labels`): each is a label on every
/// `qce_instance_info` series, so the set stays small and fixed.
pub const MAX_TAG_LABELS: usize = 16;

/// Most pages one listing reads (a guard against an answer whose total never ends).
const MAX_PAGES: u64 = 1000;

/// A dimension value, number or text in the file, taken as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// `metrics[].instances` as written: absent, `all`, or a list of dimension maps (numbers and
/// booleans are taken as text, so `loadBalancerPort: 443` works).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum InstancesFile {
    /// A list of instances (absent: empty).
    List(Vec<BTreeMap<String, String>>),
    /// `all`: discover the namespace's instances.
    All,
    /// Some other text (reported by validation).
    Other(String),
    /// Absent.
    #[default]
    Absent,
}

impl InstancesFile {
    /// The listed instances (none for `all`).
    pub fn list(&self) -> &[BTreeMap<String, String>] {
        match self {
            InstancesFile::List(l) => l,
            _ => &[],
        }
    }
}

impl<'de> Deserialize<'de> for InstancesFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Option<Vec<BTreeMap<String, Scalar>>>),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Text(t) if t.trim() == "all" => InstancesFile::All,
            Raw::Text(t) => InstancesFile::Other(t),
            Raw::List(None) => InstancesFile::Absent,
            Raw::List(Some(l)) => InstancesFile::List(
                l.into_iter()
                    .map(|m| m.into_iter().map(|(k, v)| (k, v.text())).collect())
                    .collect(),
            ),
        })
    }
}

fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw: Option<Vec<Scalar>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(Scalar::text)
        .collect())
}

fn tag_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, Scalar>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.text()))
        .collect())
}

/// One side of `filters` (`include` or `exclude`) as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchFile {
    /// Tag key → value (`"*"`: any value).
    #[serde(default, deserialize_with = "tag_map")]
    pub tags: BTreeMap<String, String>,
    /// Instance names; `*` matches any run of characters.
    #[serde(default, deserialize_with = "texts")]
    pub names: Vec<String>,
    /// Zones as the product lists them (e.g. `ap-guangzhou-3`; Redis and CKafka: the numeric
    /// zone id).
    #[serde(default, deserialize_with = "texts")]
    pub zones: Vec<String>,
    /// Project ids.
    #[serde(default, deserialize_with = "texts")]
    pub projects: Vec<String>,
    /// VPC ids.
    #[serde(default, deserialize_with = "texts")]
    pub vpcs: Vec<String>,
    /// Instance ids.
    #[serde(default, deserialize_with = "texts")]
    pub instance_ids: Vec<String>,
}

/// `metrics[].filters` as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiltersFile {
    /// An instance is kept when it matches every criterion given here.
    #[serde(default)]
    pub include: MatchFile,
    /// An instance is dropped when it matches any criterion given here.
    #[serde(default)]
    pub exclude: MatchFile,
}

/// A validated side of the filters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Match {
    tags: Vec<(String, String)>,
    names: Vec<String>,
    zones: Vec<String>,
    projects: Vec<String>,
    vpcs: Vec<String>,
    instance_ids: Vec<String>,
}

/// `*`-wildcard match (case-sensitive, as names are).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn has_tag(i: &Described, key: &str, value: &str) -> bool {
    i.tags
        .iter()
        .any(|(k, v)| k == key && (value == "*" || v == value))
}

fn one_of(list: &[String], value: &Option<String>) -> bool {
    value.as_ref().is_some_and(|v| list.iter().any(|l| l == v))
}

impl Match {
    /// Include: every given criterion holds (tags: every listed tag; lists: one of them).
    fn all(&self, i: &Described) -> bool {
        self.tags.iter().all(|(k, v)| has_tag(i, k, v))
            && (self.names.is_empty()
                || i.name
                    .as_ref()
                    .is_some_and(|n| self.names.iter().any(|p| glob(p, n))))
            && (self.zones.is_empty() || one_of(&self.zones, &i.zone))
            && (self.projects.is_empty() || one_of(&self.projects, &i.project_id))
            && (self.vpcs.is_empty() || one_of(&self.vpcs, &i.vpc_id))
            && (self.instance_ids.is_empty() || self.instance_ids.contains(&i.id))
    }

    /// Exclude: any given criterion holds (none given: false).
    fn any(&self, i: &Described) -> bool {
        self.tags.iter().any(|(k, v)| has_tag(i, k, v))
            || i.name
                .as_ref()
                .is_some_and(|n| self.names.iter().any(|p| glob(p, n)))
            || one_of(&self.zones, &i.zone)
            || one_of(&self.projects, &i.project_id)
            || one_of(&self.vpcs, &i.vpc_id)
            || self.instance_ids.contains(&i.id)
    }
}

/// How a metrics block discovers its instances.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDiscovery {
    /// The product listed.
    pub product: &'static Product,
    /// Instances kept.
    pub include: Match,
    /// Instances dropped.
    pub exclude: Match,
}

impl BlockDiscovery {
    /// True when the block reads this instance.
    pub fn selects(&self, i: &Described) -> bool {
        self.include.all(i) && !self.exclude.any(i)
    }
}

fn problem(key: String, reason: impl Into<String>) -> TargetProblem {
    (key, reason.into())
}

fn checked_match(key: &str, m: &MatchFile, problems: &mut Vec<TargetProblem>) -> Match {
    let mut list = |name: &str, values: &[String]| -> Vec<String> {
        if values.iter().any(|v| v.trim().is_empty()) {
            problems.push(problem(
                format!("{key}.{name}"),
                "entries must not be empty",
            ));
        }
        values.iter().map(|v| v.trim().to_string()).collect()
    };
    let names = list("names", &m.names);
    let zones = list("zones", &m.zones);
    let projects = list("projects", &m.projects);
    let vpcs = list("vpcs", &m.vpcs);
    let instance_ids = list("instance_ids", &m.instance_ids);
    if m.tags.keys().any(|k| k.trim().is_empty()) {
        problems.push(problem(format!("{key}.tags"), "tag keys must not be empty"));
    }
    Match {
        tags: m
            .tags
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        names,
        zones,
        projects,
        vpcs,
        instance_ids,
    }
}

/// Checks the discovery part of block `i` (`instances` and `filters`): `Ok(None)` for a block
/// of listed instances, `Ok(Some(..))` for a discovering one; problems are recorded.
pub fn block(
    i: usize,
    api: TencentApi,
    namespace: &str,
    instances: &InstancesFile,
    filters: &Option<FiltersFile>,
    problems: &mut Vec<TargetProblem>,
) -> Option<BlockDiscovery> {
    let key = |k: &str| format!("metrics[{i}].{k}");
    let discovers = match instances {
        InstancesFile::All => true,
        InstancesFile::Other(t) => {
            problems.push(problem(
                key("instances"),
                format!("unknown value {t:?}; write all, or list instances as maps of dimensions"),
            ));
            return None;
        }
        InstancesFile::List(l) if !l.is_empty() && filters.is_some() => {
            problems.push(problem(
                key("filters"),
                "filters select discovered instances; write instances: all (or leave instances out) or remove filters",
            ));
            return None;
        }
        InstancesFile::List(l) => l.is_empty() && filters.is_some(),
        InstancesFile::Absent => filters.is_some(),
    };
    if !discovers {
        return None;
    }
    let Some(product) = products::for_namespace(namespace) else {
        problems.push(problem(
            key("instances"),
            format!(
                "instance discovery does not cover namespace {namespace:?} (it covers {}); list the instances",
                products::namespaces()
            ),
        ));
        return None;
    };
    if api == TencentApi::V2 {
        problems.push(problem(
            key("instances"),
            "instance discovery needs api: v3 (the Describe APIs are API 3.0 and name the v3 dimensions); list the instances",
        ));
        return None;
    }
    let filters = filters.clone().unwrap_or_default();
    Some(BlockDiscovery {
        product,
        include: checked_match(&key("filters.include"), &filters.include, problems),
        exclude: checked_match(&key("filters.exclude"), &filters.exclude, problems),
    })
}

/// The label of a tag key: `tag_` + the key with every character outside `[A-Za-z0-9_]` as `_`.
pub fn tag_label(key: &str) -> String {
    let clean: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tag_{clean}")
}

/// Checks `tag_labels`: (tag key, label name) pairs.
pub fn tag_labels(keys: &[String], problems: &mut Vec<TargetProblem>) -> Vec<(String, String)> {
    if keys.len() > MAX_TAG_LABELS {
        problems.push(problem(
            "tag_labels".into(),
            format!(
                "at most {MAX_TAG_LABELS} tags, got {}: every tag is a label on every qce_instance_info series",
                keys.len()
            ),
        ));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (j, key) in keys.iter().enumerate() {
        let key = key.trim();
        if key.is_empty() {
            problems.push(problem(format!("tag_labels[{j}]"), "must not be empty"));
            continue;
        }
        let label = tag_label(key);
        if let Some((other, _)) = out.iter().find(|(_, l)| *l == label) {
            problems.push(problem(
                format!("tag_labels[{j}]"),
                format!(
                    "tag {key:?} gives the label {label}, as tag {other:?} does; list one of them"
                ),
            ));
            continue;
        }
        out.push((key.to_string(), label));
    }
    out
}

/// The discovered instances of one listing: per (region, namespace).
#[derive(Debug, Default)]
pub struct Inventory {
    listed: HashMap<(String, &'static str), Vec<Described>>,
}

impl Inventory {
    /// The instances of a namespace's product in a region.
    pub fn instances(&self, region: &str, namespace: &'static str) -> &[Described] {
        self.listed
            .get(&(region.to_string(), namespace))
            .map_or(&[], Vec::as_slice)
    }
}

/// What one listing came to.
pub struct Listing {
    /// The instances (a failed unit's from the previous listing).
    pub inventory: Arc<Inventory>,
    /// (region, product) listings tried.
    pub units: usize,
    /// The failed ones.
    pub failed: Vec<FailedUnit>,
}

impl Listing {
    /// True when some unit worked.
    pub fn worked(&self) -> bool {
        self.failed.len() < self.units
    }
}

/// The discovery state of a target.
pub struct Discovery {
    /// Per metrics block (same order): how it discovers, `None` for listed instances.
    blocks: Vec<Option<BlockDiscovery>>,
    /// (tag key, label) of `tag_labels`.
    tag_labels: Vec<(String, String)>,
    /// The regions listed.
    regions: Vec<String>,
    /// The last listing (held while listing, so endpoints starting together list once).
    inventory: tokio::sync::Mutex<Option<Arc<Inventory>>>,
}

impl Discovery {
    /// The state of a target: nothing listed yet.
    pub fn new(
        blocks: Vec<Option<BlockDiscovery>>,
        tag_labels: Vec<(String, String)>,
        regions: Vec<String>,
    ) -> Self {
        Discovery {
            blocks,
            tag_labels,
            regions,
            inventory: tokio::sync::Mutex::new(None),
        }
    }

    /// True when a block discovers instances.
    pub fn is_used(&self) -> bool {
        self.blocks.iter().any(Option::is_some)
    }

    /// The products to list, each once, in config order.
    fn products(&self) -> Vec<&'static Product> {
        let mut out: Vec<&'static Product> = Vec::new();
        for d in self.blocks.iter().flatten() {
            if !out.iter().any(|p| std::ptr::eq(*p, d.product)) {
                out.push(d.product);
            }
        }
        out
    }

    /// Lists every product in every region and stores the result: the listing, the units
    /// tried and the failed ones (for [`super::settle`]). Each (region, product) listing is a
    /// unit: one that fails keeps that unit's instances of the previous listing, and when every
    /// unit failed the stored listing stays as it was. The first listing is made under the
    /// state's lock (so `metric_data` starting at the same time waits for it instead of listing
    /// too); later ones list without it, so `metric_data` reads the previous listing meanwhile.
    pub async fn refresh(&self, client: &Client, clock: &CallClock) -> Listing {
        {
            let mut slot = self.inventory.lock().await;
            if slot.is_none() {
                let listing = self.list(client, clock, None).await;
                if listing.worked() {
                    *slot = Some(listing.inventory.clone());
                }
                return listing;
            }
        }
        let previous = self.inventory.lock().await.clone();
        let listing = self.list(client, clock, previous.as_deref()).await;
        if listing.worked() {
            *self.inventory.lock().await = Some(listing.inventory.clone());
        }
        listing
    }

    /// The stored listing; listed now when there is none yet (an error when no unit of that
    /// listing worked).
    pub async fn current(
        &self,
        client: &Client,
        clock: &CallClock,
    ) -> Result<Arc<Inventory>, PollError> {
        let mut slot = self.inventory.lock().await;
        if let Some(inventory) = &*slot {
            return Ok(inventory.clone());
        }
        let listing = self.list(client, clock, None).await;
        let units = (listing.units, listing.worked());
        let inventory = listing.inventory.clone();
        if units.1 {
            for (unit, error) in &listing.failed {
                tracing::warn!(target = client.target(), unit, error = %error, "instance listing failed for this unit; metric_data reads the others");
            }
        }
        super::settle(Snapshot::default(), units, listing.failed)?;
        *slot = Some(inventory.clone());
        Ok(inventory)
    }

    async fn list(
        &self,
        client: &Client,
        clock: &CallClock,
        previous: Option<&Inventory>,
    ) -> Listing {
        let mut inventory = Inventory::default();
        let mut units = 0;
        let mut failed = Vec::new();
        for region in &self.regions {
            for product in self.products() {
                units += 1;
                let key = (region.clone(), product.namespace);
                match list_product(client, clock, region, product).await {
                    Ok(listed) => {
                        inventory.listed.insert(key, listed);
                    }
                    Err(e) => {
                        let unit = format!("{region} {} {}", product.namespace, product.action);
                        if let Some(kept) = previous.and_then(|p| p.listed.get(&key)) {
                            inventory.listed.insert(key, kept.clone());
                        }
                        failed.push((unit, e));
                    }
                }
            }
        }
        Listing {
            inventory: Arc::new(inventory),
            units,
            failed,
        }
    }

    /// The blocks as `metric_data` reads them in `region`: listed instances as configured,
    /// discovering blocks with the selected instances that have every monitor dimension.
    pub fn blocks_in(
        &self,
        region: &str,
        blocks: &[MetricBlock],
        inventory: Option<&Inventory>,
    ) -> Vec<MetricBlock> {
        blocks
            .iter()
            .enumerate()
            .map(|(index, block)| match (self.blocks.get(index), inventory) {
                (Some(Some(d)), Some(inventory)) => {
                    let mut seen: HashSet<Instance> = HashSet::new();
                    let instances = inventory
                        .instances(region, d.product.namespace)
                        .iter()
                        .filter(|i| d.selects(i))
                        .filter_map(|i| i.dimensions.clone())
                        .filter(|dims| seen.insert(dims.clone()))
                        .collect();
                    MetricBlock {
                        instances,
                        ..block.clone()
                    }
                }
                (Some(Some(_)), None) => MetricBlock {
                    instances: Vec::new(),
                    ..block.clone()
                },
                _ => block.clone(),
            })
            .collect()
    }

    /// `qce_instance_info` for every discovered instance a block selects.
    pub fn info(&self, inventory: &Inventory) -> Snapshot {
        let mut family = Family::gauge(
            "qce_instance_info",
            "A Tencent Cloud instance found by instance_discovery (value 1), with its name, zone, VPC, project, the configured tags and its monitor dimensions, to join names onto qce_ series.",
        );
        for region in &self.regions {
            for d in self.blocks.iter().flatten() {
                for i in inventory.instances(region, d.product.namespace) {
                    if !d.selects(i) {
                        continue;
                    }
                    family.push_gauge(self.info_labels(region, d.product, i), 1.0);
                }
            }
        }
        Snapshot::from_families(vec![family])
    }

    fn info_labels(&self, region: &str, product: &Product, i: &Described) -> Labels {
        let mut labels = Labels::new()
            .with("region", region)
            .with("namespace", product.namespace)
            .with("instance_id", i.id.as_str());
        let optional = [
            ("name", &i.name),
            ("zone", &i.zone),
            ("vpc_id", &i.vpc_id),
            ("project_id", &i.project_id),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                labels.push(name, v.as_str());
            }
        }
        for (key, label) in &self.tag_labels {
            if let Some((_, v)) = i.tags.iter().find(|(k, _)| k == key) {
                labels.push(label.clone(), v.as_str());
            }
        }
        for (dimension, value) in i.dimensions.iter().flatten() {
            let name = translate::label_name(dimension);
            if labels.get(&name).is_none() {
                labels.push(name, value.as_str());
            }
        }
        labels
    }
}

/// Lists one product in one region, page by page (`Offset`/`Limit` until `TotalCount`).
async fn list_product(
    client: &Client,
    clock: &CallClock,
    region: &str,
    product: &'static Product,
) -> Result<Vec<Described>, PollError> {
    let service = V3Service {
        name: product.service,
        version: product.version,
    };
    let mut out: Vec<Described> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut offset = 0;
    for _ in 0..MAX_PAGES {
        let body = product.request_body(offset);
        let (total, entries, page) = client
            .v3_at(service, region, product.action, &body, clock, |b| {
                parse::page(product, b)
            })
            .await?;
        for i in page {
            if seen.insert(i.id.clone()) {
                out.push(i);
            }
        }
        offset += entries;
        let done = match total {
            Some(total) => offset >= total,
            None => entries < product.page_size,
        };
        if done || entries == 0 {
            break;
        }
    }
    Ok(out)
}

/// Byte-level parser of a Describe answer (envelope, vendor errors, page).
pub mod parse {
    use super::*;

    /// The total, the number of list entries and the instances of one Describe answer.
    pub fn page(
        product: &Product,
        body: &[u8],
    ) -> Result<(Option<u64>, u64, Vec<Described>), PollError> {
        let response: Value = super::super::parse::payload(TencentApi::V3, product.action, body)?;
        let entries = products::at(&response, product.list)
            .and_then(Value::as_array)
            .map_or(0, |a| a.len() as u64);
        let (total, page) = product.page(&response);
        Ok((total, entries, page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(id: &str, name: &str, zone: &str, tags: &[(&str, &str)]) -> Described {
        Described {
            id: id.into(),
            name: Some(name.into()),
            zone: Some(zone.into()),
            vpc_id: Some("vpc-1".into()),
            project_id: Some("0".into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dimensions: Some(vec![("InstanceId".into(), id.into())]),
        }
    }

    #[test]
    fn describe_answers_of_any_shape_decode_or_fail_without_panicking() {
        for product in products::PRODUCTS {
            for body in [
                &b""[..],
                b"null",
                b"[]",
                b"{\"Response\": null}",
                b"{\"Response\": {\"TotalCount\": \"x\", \"InstanceSet\": {}, \"Items\": 5}}",
                b"{\"Response\": {\"Result\": [], \"LoadBalancerSet\": [null, 1, \"a\", {\"LoadBalancerVips\": {}}]}}",
                b"{\"Response\": {\"TotalCount\": -1, \"DBInstanceSet\": [{\"DBInstanceId\": 7, \"TagList\": [{\"TagKey\": {}}]}]}}",
                b"{\"Response\": {\"Error\": {\"Code\": \"AuthFailure.SignatureFailure\", \"Message\": \"no\"}, \"RequestId\": \"r\"}}",
            ] {
                match parse::page(product, body) {
                    Ok((_, entries, page)) => assert!(page.len() as u64 <= entries),
                    Err(e) => assert!(e.message.starts_with(product.action), "{}", e.message),
                }
            }
        }
        let cvm = products::for_namespace("QCE/CVM").unwrap();
        let e = parse::page(
            cvm,
            br#"{"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "no"}, "RequestId": "r"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.reason, crate::base::ErrorReason::Auth);
        // A numeric id is still an id (the SDK types say text; numbers are read as their text).
        let pg = products::for_namespace("QCE/POSTGRES").unwrap();
        let (_, entries, page) = parse::page(
            pg,
            br#"{"Response": {"TotalCount": 1, "DBInstanceSet": [{"DBInstanceId": 7}]}}"#,
        )
        .unwrap();
        assert_eq!((entries, page[0].id.as_str()), (1, "7"));
    }

    #[test]
    fn globs() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("*-1", "web-1"));
        assert!(glob("w*b*1", "web-1"));
        assert!(glob("web-1", "web-1"));
        assert!(!glob("web-1", "web-10"));
        assert!(!glob("db-*", "web-1"));
        assert!(!glob("web-*-x", "web-x"));
        assert!(glob("*", ""));
    }

    #[test]
    fn include_needs_every_criterion_exclude_any() {
        let mut problems = Vec::new();
        let d = BlockDiscovery {
            product: products::for_namespace("QCE/CVM").unwrap(),
            include: checked_match(
                "i",
                &MatchFile {
                    tags: [("env".to_string(), "prod".to_string())].into(),
                    names: vec!["web-*".into()],
                    ..MatchFile::default()
                },
                &mut problems,
            ),
            exclude: checked_match(
                "e",
                &MatchFile {
                    zones: vec!["ap-guangzhou-4".into()],
                    tags: [("drain".to_string(), "*".to_string())].into(),
                    ..MatchFile::default()
                },
                &mut problems,
            ),
        };
        assert!(problems.is_empty());
        let g3 = "ap-guangzhou-3";
        assert!(d.selects(&described("a", "web-1", g3, &[("env", "prod")])));
        assert!(!d.selects(&described("b", "web-2", g3, &[("env", "dev")])));
        assert!(!d.selects(&described("c", "db-1", g3, &[("env", "prod")])));
        assert!(!d.selects(&described(
            "d",
            "web-3",
            "ap-guangzhou-4",
            &[("env", "prod")]
        )));
        assert!(!d.selects(&described(
            "e",
            "web-4",
            g3,
            &[("env", "prod"), ("drain", "")]
        )));
        let all = BlockDiscovery {
            include: Match::default(),
            exclude: Match::default(),
            ..d
        };
        assert!(all.selects(&described("f", "x", g3, &[])));
    }

    #[test]
    fn tag_labels_are_valid_bounded_and_distinct() {
        let mut p = Vec::new();
        let labels = tag_labels(
            &[
                "env".into(),
                "cost-center".into(),
                "cost_center".into(),
                " ".into(),
            ],
            &mut p,
        );
        assert_eq!(
            labels,
            vec![
                ("env".to_string(), "tag_env".to_string()),
                ("cost-center".to_string(), "tag_cost_center".to_string())
            ]
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].0, "tag_labels[2]");
        assert!(p[0].1.contains("tag_cost_center"), "{p:?}");
        assert_eq!(
            p[1],
            ("tag_labels[3]".to_string(), "must not be empty".to_string())
        );
        let many: Vec<String> = (0..17).map(|i| format!("k{i}")).collect();
        let mut p = Vec::new();
        tag_labels(&many, &mut p);
        assert_eq!(p[0].0, "tag_labels");
    }

    #[test]
    fn info_labels_are_absent_where_the_answer_says_nothing() {
        let cvm = products::for_namespace("QCE/CVM").unwrap();
        let d = Discovery::new(
            vec![Some(BlockDiscovery {
                product: cvm,
                include: Match::default(),
                exclude: Match::default(),
            })],
            vec![
                ("env".into(), "tag_env".into()),
                ("team".into(), "tag_team".into()),
            ],
            vec!["ap-guangzhou".into()],
        );
        let mut inventory = Inventory::default();
        let mut bare = described("ins-2", "b", "z", &[]);
        bare.name = None;
        bare.vpc_id = None;
        inventory.listed.insert(
            ("ap-guangzhou".into(), cvm.namespace),
            vec![described("ins-1", "a", "z", &[("env", "prod")]), bare],
        );
        let snap = d.info(&inventory);
        let family = snap.family("qce_instance_info").unwrap();
        let first: Vec<(&str, &str)> = family.samples[0].labels.iter().collect();
        assert_eq!(
            first,
            vec![
                ("region", "ap-guangzhou"),
                ("namespace", "QCE/CVM"),
                ("instance_id", "ins-1"),
                ("name", "a"),
                ("zone", "z"),
                ("vpc_id", "vpc-1"),
                ("project_id", "0"),
                ("tag_env", "prod"),
            ]
        );
        let second = &family.samples[1].labels;
        assert_eq!(second.get("name"), None);
        assert_eq!(second.get("vpc_id"), None);
        assert_eq!(second.get("tag_env"), None);
    }

    mod config {
        use crate::sources::parse_config as parse;
        use crate::sources::tencent::Settings;
        use std::path::Path;

        const HEAD: &str =
            "sources:\n  tencent:\n    - name: t\n      secret_id: AKID\n      secret_key: key\n";

        fn load(text: &str) -> Result<Settings, Vec<(String, String)>> {
            parse(&format!("{HEAD}{text}"), Path::new("t.yml"), &|_| None)
                .map(|c| c.targets_of::<Settings>()[0].clone())
                .map_err(|e| e.problems.into_iter().map(|p| (p.key, p.reason)).collect())
        }

        const CVM_ALL: &str = "      metrics:\n        - namespace: qce/cvm\n          names: [CPUUsage]\n          instances: all\n";

        #[test]
        fn instances_all_filters_regions_and_tag_labels() {
            let s = load(&format!(
                "      regions: [ap-guangzhou, ap-shanghai]\n      tag_labels: [env, cost-center]\n{CVM_ALL}        - namespace: QCE/REDIS\n          names: [CpuUtil]\n          filters:\n            include: {{tags: {{env: prod}}, zones: [100003], projects: [0]}}\n            exclude: {{names: [\"tmp-*\"]}}\n        - namespace: QCE/CBS\n          names: [DiskUsage]\n          instances: [{{diskId: disk-1}}]\n"
            ))
            .unwrap();
            assert_eq!(s.regions, ["ap-guangzhou", "ap-shanghai"]);
            assert_eq!(s.region, "ap-guangzhou");
            assert_eq!(
                s.tag_labels,
                vec![
                    ("env".to_string(), "tag_env".to_string()),
                    ("cost-center".to_string(), "tag_cost_center".to_string())
                ]
            );
            let products: Vec<Option<&str>> = s
                .discovery
                .iter()
                .map(|d| d.as_ref().map(|d| d.product.namespace))
                .collect();
            assert_eq!(products, [Some("QCE/CVM"), Some("QCE/REDIS"), None]);
            assert!(s.metrics[0].instances.is_empty());
            assert_eq!(s.metrics[2].instances.len(), 1);
            let redis = s.discovery[1].as_ref().unwrap();
            assert_eq!(redis.include.zones, ["100003"]);
            assert_eq!(redis.include.projects, ["0"]);
            // `region` alone is `regions` of one.
            let one = load(&format!("      region: ap-guangzhou\n{CVM_ALL}")).unwrap();
            assert_eq!(one.regions, ["ap-guangzhou"]);
        }

        #[test]
        fn errors_name_the_key_and_the_reason() {
            let p = load("      region: a\n      regions: [b]\n      metrics:\n        - namespace: QCE/CBS\n          names: [x]\n          instances: all\n").unwrap_err();
            let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "sources.tencent[0].regions",
                    "sources.tencent[0].metrics[0].instances"
                ]
            );
            assert!(
                p[1].1.contains("does not cover namespace \"QCE/CBS\""),
                "{p:?}"
            );
            let p = load("      regions: [a, a]\n      metrics:\n        - namespace: QCE/CVM\n          names: [x]\n          instances: some\n").unwrap_err();
            assert_eq!(
                p[0],
                (
                    "sources.tencent[0].regions[1]".to_string(),
                    "region a is listed twice".to_string()
                )
            );
            assert_eq!(p[1].0, "sources.tencent[0].metrics[0].instances");
            assert!(p[1].1.contains("unknown value \"some\""), "{p:?}");
            let p = load("      api: v2\n      regions: [gz, sh]\n      metrics:\n        - namespace: qce/cvm\n          names: [cpu_usage]\n          instances: all\n").unwrap_err();
            assert!(
                p.iter()
                    .any(|(k, r)| k == "sources.tencent[0].regions" && r.contains("api: v3")),
                "{p:?}"
            );
            assert!(
                p.iter()
                    .any(|(k, r)| k == "sources.tencent[0].metrics[0].instances"
                        && r.contains("api: v3")),
                "{p:?}"
            );
            let p = load("      region: a\n      tag_labels: [env]\n      metrics:\n        - namespace: QCE/CVM\n          names: [x]\n          instances: [{InstanceId: i}]\n          filters: {include: {names: [\"\"]}}\n").unwrap_err();
            let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "sources.tencent[0].metrics[0].filters",
                    "sources.tencent[0].tag_labels"
                ]
            );
            let p = load("      region: a\n      metrics:\n        - namespace: QCE/CVM\n          names: [x]\n          filters: {include: {names: [\" \"], colour: [red]}}\n").unwrap_err();
            assert_eq!(p.len(), 1, "{p:?}");
            assert!(
                p[0].1.contains("colour"),
                "an unknown filter key is refused: {p:?}"
            );
            let p = load("      region: a\n      metrics:\n        - namespace: QCE/CVM\n          names: [x]\n          filters: {exclude: {names: [\" \"]}}\n").unwrap_err();
            assert_eq!(
                p,
                vec![(
                    "sources.tencent[0].metrics[0].filters.exclude.names".to_string(),
                    "entries must not be empty".to_string()
                )]
            );
            let p = load("      metrics:\n        - namespace: QCE/CVM\n          names: [x]\n")
                .unwrap_err();
            assert_eq!(p[0].0, "sources.tencent[0].region");
            assert!(p[1].1.contains("instances: all"), "{p:?}");
        }
    }
}
