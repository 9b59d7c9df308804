//! Identities the status controller works with: workload objects (version-free), resources, and
//! units of work.

use std::fmt;

/// A workload object in the WDS, independent of the API version it is read through (a Binding,
/// a WorkStatus and a ManifestWork may name different versions of one object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    /// API group (`""` for core).
    pub group: String,
    /// Lowercase plural resource.
    pub resource: String,
    /// Namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// A key from its parts.
    pub fn new(group: &str, resource: &str, namespace: &str, name: &str) -> ObjKey {
        ObjKey {
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Kinds whose status is never written back (upstream's `WEC2WDSExceptions`).
    pub fn status_is_exempt(&self) -> bool {
        (self.group.is_empty() && self.resource == "namespaces")
            || (self.group == "apiextensions.k8s.io"
                && self.resource == "customresourcedefinitions")
    }
}

impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gr = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.group, self.resource)
        };
        if self.namespace.is_empty() {
            write!(f, "{gr}({})", self.name)
        } else {
            write!(f, "{gr}({}/{})", self.namespace, self.name)
        }
    }
}

/// A group, version and resource of the WDS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl Gvr {
    /// `group/version` (or just `version` for core).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for Gvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version(), self.resource)
    }
}

/// A unit of work of the status controller. Each is level-triggered: handling it computes the
/// desired state of what it names from the index and writes only differences.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// A workload object's returned status, status labels and executing count.
    Object(ObjKey),
    /// The CombinedStatus of a (Binding, workload object) pair.
    Combined(String, ObjKey),
    /// The conditions of a BindingPolicy and its Binding.
    Policy(String),
    /// The status of a StatusCollector.
    Collector(String),
    /// The CombinedStatus summarizing the upsynced copies of an object for a BindingPolicy.
    Upsync(String, ObjKey),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_like_upstream_identifiers() {
        assert_eq!(
            ObjKey::new("apps", "deployments", "nginx", "web").to_string(),
            "apps/deployments(nginx/web)"
        );
        assert_eq!(
            ObjKey::new("", "namespaces", "", "nginx").to_string(),
            "namespaces(nginx)"
        );
        assert!(ObjKey::new("", "namespaces", "", "x").status_is_exempt());
        assert!(
            ObjKey::new("apiextensions.k8s.io", "customresourcedefinitions", "", "x")
                .status_is_exempt()
        );
        assert!(!ObjKey::new("apps", "deployments", "a", "x").status_is_exempt());
        let g = Gvr {
            group: "".into(),
            version: "v1".into(),
            resource: "configmaps".into(),
        };
        assert_eq!(g.to_string(), "v1/configmaps");
    }
}
