//! What a ManifestWork asks for: its manifests, each with an identity, an apply strategy and an
//! apply order (namespaces, then CRDs, then the rest, like OCM's work agent).

use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::api::ManifestWork;

/// Identity of an object in the WEC (resource is filled in after discovery).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gv = if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        if self.namespace.is_empty() {
            write!(f, "{gv}, Kind={} {}", self.kind, self.name)
        } else {
            write!(
                f,
                "{gv}, Kind={} {}/{}",
                self.kind, self.namespace, self.name
            )
        }
    }
}

impl ObjKey {
    /// The GroupVersionKind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// One manifest to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub ordinal: usize,
    pub key: ObjKey,
    /// The manifest without status and server-owned metadata.
    pub object: Value,
    pub create_only: bool,
}

/// A manifest that cannot be used, with the reason.
#[derive(Clone, Debug, PartialEq)]
pub struct BadManifest {
    pub ordinal: usize,
    pub reason: String,
}

/// Splits a ManifestWork into usable manifests (in apply order) and rejected ones.
pub fn desired(mw: &ManifestWork) -> (Vec<Desired>, Vec<BadManifest>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, m) in mw.spec.workload.manifests.iter().enumerate() {
        match identity(m) {
            Ok(key) => {
                let create_only = mw.spec.manifest_configs.iter().any(|c| {
                    let id = &c.resource_identifier;
                    id.group == key.group
                        && id.name == key.name
                        && id.namespace == key.namespace
                        && c.update_strategy
                            .as_ref()
                            .is_some_and(|s| s.type_ == "CreateOnly")
                        && resource_matches_kind(&id.resource, &key.kind)
                });
                good.push(Desired {
                    ordinal: i,
                    key,
                    object: with_hash(super::diff::applied_part(m)),
                    create_only,
                });
            }
            Err(reason) => bad.push(BadManifest { ordinal: i, reason }),
        }
    }
    good.sort_by_key(|d| (apply_rank(&d.key), d.ordinal));
    (good, bad)
}

/// Adds the applied-manifest hash annotation (over the manifest without it).
fn with_hash(mut object: Value) -> Value {
    use sha2::Digest;
    // serde_json maps are sorted, so the serialization (and the hash) is canonical.
    let digest = hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(&object).unwrap_or_default(),
    ));
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !ann.is_object() {
            *ann = Value::Object(Default::default());
        }
        if let Some(a) = ann.as_object_mut() {
            a.insert(
                crate::api::labels::APPLIED_MANIFEST_HASH.into(),
                Value::String(digest),
            );
        }
    }
    object
}

/// ManifestConfigs name the plural resource; kinds are compared loosely (lowercase kind is a
/// prefix of the resource), since discovery has not run yet when configs are read.
fn resource_matches_kind(resource: &str, kind: &str) -> bool {
    let k = kind.to_lowercase();
    resource == k
        || resource.starts_with(&k)
        || resource.trim_end_matches('s') == k.trim_end_matches('s')
}

/// Namespaces first, then CRDs, then everything else.
pub fn apply_rank(k: &ObjKey) -> u8 {
    match (k.group.as_str(), k.kind.as_str()) {
        ("", "Namespace") => 0,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 1,
        _ => 2,
    }
}

fn identity(m: &Value) -> Result<ObjKey, String> {
    let api_version = m["apiVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("manifest has no apiVersion")?;
    let kind = m["kind"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("manifest has no kind")?;
    let name = m["metadata"]["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("manifest has no metadata.name")?;
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    Ok(ObjKey {
        group,
        version,
        kind: kind.to_string(),
        namespace: m["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mw(v: Value) -> ManifestWork {
        serde_json::from_value(v).expect("valid ManifestWork")
    }

    #[test]
    fn orders_and_classifies_manifests() {
        let w = mw(json!({
            "apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
            "metadata": {"name": "w", "namespace": "c1"},
            "spec": {
                "workload": {"manifests": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}, "status": {"x": 1}},
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
                    {"kind": "Broken", "metadata": {"name": "b"}},
                    {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.y.z"}}
                ]},
                "manifestConfigs": [{"resourceIdentifier": {"group": "apps", "resource": "deployments", "name": "d", "namespace": "n"}, "updateStrategy": {"type": "CreateOnly"}}]
            }
        }));
        let (good, bad) = desired(&w);
        let kinds: Vec<&str> = good.iter().map(|d| d.key.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["Namespace", "CustomResourceDefinition", "Deployment"]
        );
        assert!(good[2].create_only && !good[0].create_only);
        assert!(good[2].object.get("status").is_none());
        assert_eq!(
            bad,
            vec![BadManifest {
                ordinal: 2,
                reason: "manifest has no apiVersion".into()
            }]
        );
    }
}
