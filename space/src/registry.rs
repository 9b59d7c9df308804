//! The catalogue of resources a space serves: the built-in kinds plus every established CRD
//! version. Discovery, routing, OpenAPI and validation all read it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kubestellar_apimachinery::schema::Schema;
use serde_json::Value;

mod builtin;
mod crd;

use builtin::builtin_infos;
pub use crd::infos_from_crd;

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
