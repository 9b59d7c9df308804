//! The catalogue of resources a space serves: the built-in kinds plus every established CRD
//! version. Discovery, routing, OpenAPI and validation all read it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kubestellar_apimachinery::schema::{Schema, compile_openapi_v3};
use serde_json::Value;

/// Where `/scale` reads and writes replicas.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleInfo {
    /// e.g. `.spec.replicas`
    pub spec_replicas_path: String,
    /// e.g. `.status.replicas`
    pub status_replicas_path: String,
    /// e.g. `.status.selector`
    pub label_selector_path: Option<String>,
}

/// A CRD `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// One served resource in one version.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    /// Plural, lowercase: `deployments`.
    pub resource: String,
    pub kind: String,
    pub list_kind: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<&'static str>,
    pub has_status: bool,
    pub scale: Option<ScaleInfo>,
    /// The structural schema of the whole object, if known.
    pub schema: Option<Schema>,
    /// CRD printer columns (empty for built-ins, whose tables are rendered in `table`).
    pub printer_columns: Vec<PrinterColumn>,
    /// Name of the CRD that defines it; `None` for built-ins.
    pub crd: Option<String>,
    /// The version objects are stored in (for CRDs, the storage version).
    pub storage_version: String,
}

impl ResourceInfo {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// True for custom resources (strategic merge patch is not supported for them).
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }

    /// The storage key prefix shared by every version of the resource.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.resource.clone(),
        }
    }

    /// True when the resource can be created/read like an object (not a virtual review kind).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get")
    }
}

/// A resource independent of version: the unit of storage and of watch history.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::error::qualified(&self.group, &self.resource))
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

struct Builtin {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
}

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        resource,
        kind,
        namespaced,
        short_names,
        categories,
        status,
        scale,
    }
}

/// The built-in resources every space serves from the start.
const BUILTINS: &[Builtin] = &[
    b(
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        &[],
        true,
        false,
    ),
    b(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        true,
        &["cm"],
        &[],
        false,
        false,
    ),
    b("", "v1", "secrets", "Secret", true, &[], &[], false, false),
    b(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        false,
        false,
    ),
    b(
        "",
        "v1",
        "services",
        "Service",
        true,
        &["svc"],
        &["all"],
        true,
        false,
    ),
    b(
        "",
        "v1",
        "pods",
        "Pod",
        true,
        &["po"],
        &["all"],
        true,
        false,
    ),
    b(
        "",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        &[],
        false,
        false,
    ),
    b(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        &[],
        false,
        false,
    ),
    b(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &[],
        true,
        false,
    ),
    b(
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
        &[],
        true,
        false,
    ),
    b("", "v1", "nodes", "Node", false, &["no"], &[], true, false),
    b(
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
        &[],
        true,
        false,
    ),
    b(
        "",
        "v1",
        "limitranges",
        "LimitRange",
        true,
        &["limits"],
        &[],
        false,
        false,
    ),
    b(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
        &["rc"],
        &["all"],
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        &["all"],
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        &["all"],
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        &["all"],
        true,
        true,
    ),
    b(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        &["all"],
        true,
        false,
    ),
    b(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "batch",
        "v1",
        "jobs",
        "Job",
        true,
        &[],
        &["all"],
        true,
        false,
    ),
    b(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        &["all"],
        true,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        &[],
        true,
        false,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        &[],
        false,
        false,
    ),
    b(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &[],
        true,
        false,
    ),
    b(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        &["all"],
        true,
        false,
    ),
    b(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        &[],
        false,
        false,
    ),
    b(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        &[],
        false,
        false,
    ),
    b(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        &[],
        false,
        false,
    ),
    b(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        &["api-extensions"],
        true,
        false,
    ),
];

fn builtin_infos() -> Vec<ResourceInfo> {
    let mut out: Vec<ResourceInfo> = BUILTINS
        .iter()
        .map(|b| ResourceInfo {
            group: b.group.into(),
            version: b.version.into(),
            resource: b.resource.into(),
            kind: b.kind.into(),
            list_kind: format!("{}List", b.kind),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            verbs: ALL_VERBS.to_vec(),
            has_status: b.status,
            scale: b.scale.then(|| ScaleInfo {
                spec_replicas_path: ".spec.replicas".into(),
                status_replicas_path: ".status.replicas".into(),
                label_selector_path: Some(".status.selector".into()),
            }),
            schema: kubestellar_apimachinery::builtin::schema_for(b.group, b.version, b.kind),
            printer_columns: Vec::new(),
            crd: None,
            storage_version: b.version.into(),
        })
        .collect();
    for (kind, resource) in [
        ("SelfSubjectAccessReview", "selfsubjectaccessreviews"),
        ("SubjectAccessReview", "subjectaccessreviews"),
        ("SelfSubjectRulesReview", "selfsubjectrulesreviews"),
    ] {
        out.push(ResourceInfo {
            group: "authorization.k8s.io".into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            singular: kind.to_lowercase(),
            namespaced: false,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: vec!["create"],
            has_status: false,
            scale: None,
            schema: kubestellar_apimachinery::builtin::schema_for(
                "authorization.k8s.io",
                "v1",
                kind,
            ),
            printer_columns: Vec::new(),
            crd: None,
            storage_version: "v1".into(),
        });
    }
    out
}

/// The resources served right now. Cheap to clone (snapshots are `Arc`s).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RwLock<Arc<Catalog>>>,
}

/// An immutable snapshot of everything served.
#[derive(Debug, Default)]
pub struct Catalog {
    /// All resources in all versions.
    pub resources: Vec<Arc<ResourceInfo>>,
    /// (group, version, plural) -> index
    by_gvr: BTreeMap<(String, String, String), usize>,
    /// Group name -> versions in preference order.
    pub groups: Vec<(String, Vec<String>)>,
}

impl Catalog {
    fn build(resources: Vec<ResourceInfo>) -> Catalog {
        let resources: Vec<Arc<ResourceInfo>> = resources.into_iter().map(Arc::new).collect();
        let mut by_gvr = BTreeMap::new();
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (i, r) in resources.iter().enumerate() {
            by_gvr.insert((r.group.clone(), r.version.clone(), r.resource.clone()), i);
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => groups.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        for (_, versions) in groups.iter_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        Catalog {
            resources,
            by_gvr,
            groups,
        }
    }

    /// The resource at (group, version, plural).
    pub fn get(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .map(|&i| self.resources[i].clone())
    }

    /// The resource of a kind in a group-version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Every served version of a group-resource.
    pub fn versions_of(&self, gr: &GroupResource) -> Vec<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .filter(|r| r.group == gr.group && r.resource == gr.resource)
            .cloned()
            .collect()
    }

    /// Resources of one group-version, in catalogue order.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    /// The preferred version of a group.
    pub fn preferred_version(&self, group: &str) -> Option<&str> {
        self.groups
            .iter()
            .find(|(g, _)| g == group)
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major: u32 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    (level, major, num.parse().unwrap_or(0))
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry serving only the built-in resources.
    pub fn new() -> Registry {
        Registry {
            inner: Arc::new(RwLock::new(Arc::new(Catalog::build(builtin_infos())))),
        }
    }

    /// The current snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Recomputes the catalogue from the built-ins and the given CRD objects (established ones).
    pub fn set_crds<'a>(&self, crds: impl Iterator<Item = &'a Value>) {
        let mut resources = builtin_infos();
        for crd in crds {
            resources.extend(infos_from_crd(crd));
        }
        let catalog = Arc::new(Catalog::build(resources));
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = catalog;
    }
}

/// The served versions of a CRD as resources. A CRD being deleted stays served so that its
/// custom resources can still be listed and removed.
pub fn infos_from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(plural), Some(kind)) = (
        spec["group"].as_str(),
        names["plural"].as_str(),
        names["kind"].as_str(),
    ) else {
        return Vec::new();
    };
    let crd_name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    for v in &versions {
        if v["served"].as_bool() != Some(true) {
            continue;
        }
        let Some(version) = v["name"].as_str() else {
            continue;
        };
        let schema = v["schema"]["openAPIV3Schema"]
            .as_object()
            .map(|_| &v["schema"]["openAPIV3Schema"]);
        let schema = schema.and_then(|s| compile_openapi_v3(&with_object_meta(s)).ok());
        let sub = &v["subresources"];
        let scale = sub["scale"].as_object().map(|s| ScaleInfo {
            spec_replicas_path: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .into(),
            status_replicas_path: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .into(),
            label_selector_path: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(String::from),
        });
        let printer_columns = v["additionalPrinterColumns"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        Some(PrinterColumn {
                            name: c["name"].as_str()?.to_string(),
                            type_: c["type"].as_str().unwrap_or("string").to_string(),
                            format: c["format"].as_str().unwrap_or_default().to_string(),
                            description: c["description"].as_str().unwrap_or_default().to_string(),
                            priority: c["priority"].as_i64().unwrap_or(0),
                            json_path: c["jsonPath"].as_str()?.to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceInfo {
            group: group.into(),
            version: version.into(),
            resource: plural.into(),
            kind: kind.into(),
            list_kind: names["listKind"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("{kind}List")),
            singular: names["singular"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| kind.to_lowercase()),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            verbs: ALL_VERBS.to_vec(),
            has_status: sub["status"].is_object(),
            scale,
            schema,
            printer_columns,
            crd: Some(crd_name.clone()),
            storage_version: storage_version.clone(),
        });
    }
    out
}

/// A CRD schema describes `metadata` loosely; give it the real ObjectMeta shape so that
/// validation, pruning and apply treat metadata like any built-in object's.
fn with_object_meta(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
        props.insert("kind".into(), serde_json::json!({"type": "string"}));
        if let Some(meta) = kubestellar_apimachinery::builtin::definitions()
            .raw("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .cloned()
        {
            props.insert("metadata".into(), meta);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_priority_orders_like_kube() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "v2", "v1beta2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_versions_become_resources() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "schema": {"openAPIV3Schema": {"type": "object"}},
                     "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]},
                    {"name": "v2", "served": false, "storage": false}
                ]}
        });
        let r = Registry::new();
        r.set_crds(std::iter::once(&crd));
        let c = r.catalog();
        let w = c.get("example.com", "v1", "widgets").expect("served");
        assert!(w.has_status && w.namespaced && w.is_custom());
        assert_eq!(w.short_names, vec!["wd"]);
        assert_eq!(w.printer_columns[0].json_path, ".spec.size");
        assert!(c.get("example.com", "v2", "widgets").is_none());
        assert!(c.get("apps", "v1", "deployments").is_some());
    }
}
