//! From a BindingPolicy and what the WDS and the inventory hold, the Binding: which objects (with
//! their merged modulation) go to which WECs. Pure: the caller hands in the object index, the
//! namespace labels and the clusters.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::matching::{CompiledTest, Labels, ObjectFacts, select_clusters};
use crate::api::{
    BindingPolicySpec, BindingSpec, ClusterScopeDownsyncClause, Destination, DownsyncModulation,
    DownsyncObjectClauses, NamespaceScopeDownsyncClause,
};

/// Group, version and resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvr {
    /// API group, `""` for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Lowercase plural resource.
    pub resource: String,
}

impl Gvr {
    /// A GVR.
    pub fn new(group: &str, version: &str, resource: &str) -> Gvr {
        Gvr {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }
}

impl std::fmt::Display for Gvr {
    /// Go's `schema.GroupVersionResource.String()`, which upstream sorts Binding lists by.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}, Resource={}",
            self.group, self.version, self.resource
        )
    }
}

/// What the binding controller keeps of each object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjMeta {
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.labels`.
    pub labels: Labels,
}

/// The watched objects of one resource.
#[derive(Debug, Clone)]
pub struct ResourceObjects {
    /// Kind, for messages.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// The initial list has been received (else the objects are incomplete).
    pub synced: bool,
    /// Objects by (namespace, name).
    pub objects: BTreeMap<(String, String), ObjMeta>,
}

/// Every watched object of the WDS, by resource.
pub type Index = BTreeMap<Gvr, ResourceObjects>;

/// Identifies an object across policies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// Resource.
    pub gvr: Gvr,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One policy's resolution, kept to evaluate singleton requests across policies.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// The Binding spec.
    pub spec: BindingSpec,
    /// Clause and selector problems found on the way.
    pub errors: Vec<String>,
    /// Selected objects and whether this policy wants their singleton status.
    pub objects: HashMap<ObjectId, bool>,
    /// Selected objects in Binding order.
    pub order: Vec<ObjectId>,
}

/// Kube's version priority (`version.CompareKubeAwareVersionStrings`): GA before beta before
/// alpha, higher numbers first, anything else last, alphabetically.
pub fn version_priority(v: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    use std::cmp::Reverse;
    let parse = || -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((0, major, 0));
        }
        for (kind, rank) in [("beta", 1u8), ("alpha", 2u8)] {
            if let Some(n) = tail.strip_prefix(kind) {
                let minor: u64 = if n.is_empty() { 0 } else { n.parse().ok()? };
                return Some((rank, major, minor));
            }
        }
        None
    };
    match parse() {
        Some((rank, major, minor)) => (rank, Reverse(major), Reverse(minor), String::new()),
        None => (3, Reverse(0), Reverse(0), v.to_string()),
    }
}

/// For each (group, resource) watched at several versions (multi-version CRDs), the one whose
/// objects go into Bindings: the preferred (highest-priority) version.
fn preferred_versions(index: &Index) -> BTreeMap<(&str, &str), &str> {
    let mut out: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for gvr in index.keys() {
        let e = out
            .entry((gvr.group.as_str(), gvr.resource.as_str()))
            .or_insert(gvr.version.as_str());
        if version_priority(&gvr.version) < version_priority(e) {
            *e = gvr.version.as_str();
        }
    }
    out
}

/// The Binding spec for `policy`.
///
/// `existing` is the current Binding's spec: entries of resources whose watch has not delivered
/// its initial list yet are carried over from it, so that a restart never drops objects.
pub fn resolve<'n>(
    policy: &BindingPolicySpec,
    index: &Index,
    namespace_labels: &dyn Fn(&str) -> Option<&'n Labels>,
    clusters: &[(String, Labels)],
    existing: Option<&BindingSpec>,
) -> Resolution {
    let mut errors = Vec::new();
    let tests: Vec<(CompiledTest, &DownsyncModulation)> = policy
        .downsync
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                CompiledTest::compile(&c.test, i, &mut errors),
                &c.modulation,
            )
        })
        .collect();
    let destinations = select_clusters(
        &policy.cluster_selectors,
        clusters.iter().map(|(n, l)| (n.as_str(), l)),
        &mut errors,
    );

    let preferred = preferred_versions(index);
    let mut cluster_scope: Vec<ClusterScopeDownsyncClause> = Vec::new();
    let mut namespace_scope: Vec<NamespaceScopeDownsyncClause> = Vec::new();
    let mut objects = HashMap::new();
    for (gvr, res) in index {
        if preferred.get(&(gvr.group.as_str(), gvr.resource.as_str()))
            != Some(&gvr.version.as_str())
        {
            continue;
        }
        if !res.synced {
            if let Some(existing) = existing {
                carry_over(
                    gvr,
                    &res.kind,
                    existing,
                    &mut cluster_scope,
                    &mut namespace_scope,
                    &mut objects,
                );
            }
            continue;
        }
        let candidates: Vec<&(CompiledTest, &DownsyncModulation)> = tests
            .iter()
            .filter(|(t, _)| t.may_match_resource(&gvr.group, &gvr.resource))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        for ((namespace, name), meta) in &res.objects {
            let facts = ObjectFacts {
                group: &gvr.group,
                resource: &gvr.resource,
                namespace,
                name,
                labels: &meta.labels,
            };
            let mut merged: Option<DownsyncModulation> = None;
            for (t, m) in &candidates {
                if t.matches(&facts, namespace_labels) {
                    merged
                        .get_or_insert_with(DownsyncModulation::default)
                        .add(m);
                }
            }
            let Some(modulation) = merged else { continue };
            let id = ObjectId {
                gvr: gvr.clone(),
                kind: res.kind.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
            };
            objects.insert(id, modulation.want_singleton_reported_state);
            if res.namespaced {
                namespace_scope.push(NamespaceScopeDownsyncClause {
                    group: gvr.group.clone(),
                    version: gvr.version.clone(),
                    resource: gvr.resource.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                    resource_version: meta.resource_version.clone(),
                    modulation,
                });
            } else {
                cluster_scope.push(ClusterScopeDownsyncClause {
                    group: gvr.group.clone(),
                    version: gvr.version.clone(),
                    resource: gvr.resource.clone(),
                    name: name.clone(),
                    resource_version: meta.resource_version.clone(),
                    modulation,
                });
            }
        }
    }
    let gvr_of = |g: &str, v: &str, r: &str| Gvr::new(g, v, r).to_string();
    cluster_scope.sort_by_cached_key(|c| {
        (
            gvr_of(&c.group, &c.version, &c.resource),
            c.name.clone(),
            c.resource_version.clone(),
        )
    });
    namespace_scope.sort_by_cached_key(|c| {
        (
            gvr_of(&c.group, &c.version, &c.resource),
            format!("{}/{}", c.namespace, c.name),
            c.resource_version.clone(),
        )
    });
    let order = cluster_scope
        .iter()
        .map(|c| {
            (
                Gvr::new(&c.group, &c.version, &c.resource),
                String::new(),
                c.name.clone(),
            )
        })
        .chain(namespace_scope.iter().map(|c| {
            (
                Gvr::new(&c.group, &c.version, &c.resource),
                c.namespace.clone(),
                c.name.clone(),
            )
        }))
        .filter_map(|(gvr, namespace, name)| {
            let kind = index.get(&gvr).map(|r| r.kind.clone()).unwrap_or_default();
            let id = ObjectId {
                gvr,
                kind,
                namespace,
                name,
            };
            objects.contains_key(&id).then_some(id)
        })
        .collect();
    Resolution {
        spec: BindingSpec {
            workload: DownsyncObjectClauses {
                cluster_scope,
                namespace_scope,
            },
            destinations: destinations
                .into_iter()
                .map(|cluster_id| Destination { cluster_id })
                .collect(),
        },
        errors,
        objects,
        order,
    }
}

fn carry_over(
    gvr: &Gvr,
    kind: &str,
    existing: &BindingSpec,
    cluster_scope: &mut Vec<ClusterScopeDownsyncClause>,
    namespace_scope: &mut Vec<NamespaceScopeDownsyncClause>,
    objects: &mut HashMap<ObjectId, bool>,
) {
    let same = |g: &str, v: &str, r: &str| g == gvr.group && v == gvr.version && r == gvr.resource;
    for c in existing
        .workload
        .cluster_scope
        .iter()
        .filter(|c| same(&c.group, &c.version, &c.resource))
    {
        let id = ObjectId {
            gvr: gvr.clone(),
            kind: kind.into(),
            namespace: String::new(),
            name: c.name.clone(),
        };
        objects.insert(id, c.modulation.want_singleton_reported_state);
        cluster_scope.push(c.clone());
    }
    for c in existing
        .workload
        .namespace_scope
        .iter()
        .filter(|c| same(&c.group, &c.version, &c.resource))
    {
        let id = ObjectId {
            gvr: gvr.clone(),
            kind: kind.into(),
            namespace: c.namespace.clone(),
            name: c.name.clone(),
        };
        objects.insert(id, c.modulation.want_singleton_reported_state);
        namespace_scope.push(c.clone());
    }
}

/// Upstream's error for objects whose singleton status is requested while the policies that
/// request it bind them to a number of WECs other than one: at most 4 examples, in Binding
/// order, as `[{"ObjectID": {...}, "NumWECs": n}]`.
pub fn singleton_error<'a>(
    this: &Resolution,
    all: impl Iterator<Item = &'a Resolution> + Clone,
) -> Option<String> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Gvk<'a> {
        group: &'a str,
        version: &'a str,
        kind: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct ObjectName<'a> {
        namespace: &'a str,
        name: &'a str,
    }
    #[derive(Serialize)]
    #[allow(non_snake_case)]
    struct ObjectIdentifier<'a> {
        GVK: Gvk<'a>,
        Resource: &'a str,
        ObjectName: ObjectName<'a>,
    }
    #[derive(Serialize)]
    #[allow(non_snake_case)]
    struct Bad<'a> {
        ObjectID: ObjectIdentifier<'a>,
        NumWECs: usize,
    }
    let mut bad = Vec::new();
    for id in &this.order {
        let mut wanted = false;
        let mut wecs: BTreeSet<&str> = BTreeSet::new();
        for r in all.clone() {
            if r.objects.get(id) == Some(&true) {
                wanted = true;
                wecs.extend(r.spec.destinations.iter().map(|d| d.cluster_id.as_str()));
            }
        }
        if wanted && wecs.len() != 1 {
            bad.push(Bad {
                ObjectID: ObjectIdentifier {
                    GVK: Gvk {
                        group: &id.gvr.group,
                        version: &id.gvr.version,
                        kind: &id.kind,
                    },
                    Resource: &id.gvr.resource,
                    ObjectName: ObjectName {
                        namespace: &id.namespace,
                        name: &id.name,
                    },
                },
                NumWECs: wecs.len(),
            });
            if bad.len() > 3 {
                break;
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    let json = serde_json::to_string(&bad).unwrap_or_default();
    Some(format!(
        "Singleton reported status return is requested but some objects have the wrong number of associated WECs, for example: {json}"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn index() -> Index {
        let mut idx = Index::new();
        let mut deploys = BTreeMap::new();
        for (ns, name, l) in [
            ("nginx", "nginx", "nginx"),
            ("nginx", "other", "x"),
            ("apps", "a", "nginx"),
        ] {
            deploys.insert(
                (ns.into(), name.into()),
                ObjMeta {
                    resource_version: format!("{name}-1"),
                    labels: labels(&[("app", l)]),
                },
            );
        }
        idx.insert(
            Gvr::new("apps", "v1", "deployments"),
            ResourceObjects {
                kind: "Deployment".into(),
                namespaced: true,
                synced: true,
                objects: deploys,
            },
        );
        let mut nss = BTreeMap::new();
        nss.insert(
            (String::new(), "nginx".into()),
            ObjMeta {
                resource_version: "7".into(),
                labels: labels(&[("app", "nginx")]),
            },
        );
        idx.insert(
            Gvr::new("", "v1", "namespaces"),
            ResourceObjects {
                kind: "Namespace".into(),
                namespaced: false,
                synced: true,
                objects: nss,
            },
        );
        idx
    }

    fn policy(v: serde_json::Value) -> BindingPolicySpec {
        serde_json::from_value(v).unwrap()
    }

    fn no_ns(_: &str) -> Option<&'static Labels> {
        None
    }

    #[test]
    fn workload_sorted_and_merged() {
        let p = policy(json!({
            "clusterSelectors": [{"matchLabels": {"location-group": "edge"}}],
            "downsync": [
                {"objectSelectors": [{"matchLabels": {"app": "nginx"}}]},
                {"resources": ["deployments"], "objectNames": ["nginx"], "createOnly": true, "statusCollectors": ["b"]},
                {"apiGroup": "apps", "namespaces": ["nginx"], "statusCollectors": ["a"]},
            ]
        }));
        let clusters = vec![
            ("c2".to_string(), labels(&[("location-group", "edge")])),
            ("c1".to_string(), labels(&[("location-group", "edge")])),
            ("c3".to_string(), labels(&[])),
        ];
        let r = resolve(&p, &index(), &no_ns, &clusters, None);
        assert!(r.errors.is_empty());
        let got = serde_json::to_value(&r.spec).unwrap();
        assert_eq!(
            got,
            json!({
                "destinations": [{"clusterId": "c1"}, {"clusterId": "c2"}],
                "workload": {
                    "clusterScope": [{"group": "", "version": "v1", "resource": "namespaces", "name": "nginx", "resourceVersion": "7"}],
                    "namespaceScope": [
                        {"group": "apps", "version": "v1", "resource": "deployments", "namespace": "apps", "name": "a", "resourceVersion": "a-1"},
                        {"group": "apps", "version": "v1", "resource": "deployments", "namespace": "nginx", "name": "nginx", "resourceVersion": "nginx-1", "createOnly": true, "statusCollectors": ["a", "b"]},
                        {"group": "apps", "version": "v1", "resource": "deployments", "namespace": "nginx", "name": "other", "resourceVersion": "other-1", "statusCollectors": ["a"]},
                    ]
                }
            })
        );
        // Sorted by GVR string: "/v1, Resource=namespaces" < "apps/v1, ...".
        assert_eq!(r.order.first().map(|o| o.name.as_str()), Some("nginx"));
        assert_eq!(r.order.len(), 4);
    }

    #[test]
    fn unsynced_resources_keep_what_the_binding_had() {
        let p = policy(json!({"downsync": [{"resources": ["*"]}]}));
        let mut idx = index();
        let existing = resolve(&p, &idx, &no_ns, &[], None).spec;
        if let Some(r) = idx.get_mut(&Gvr::new("apps", "v1", "deployments")) {
            r.synced = false;
            r.objects.clear();
        }
        let again = resolve(&p, &idx, &no_ns, &[], Some(&existing));
        assert_eq!(again.spec, existing);
        assert!(
            again.spec.destinations.is_empty(),
            "no clusterSelectors: no destinations"
        );
    }

    #[test]
    fn multi_version_resources_bind_the_preferred_version() {
        let mut idx = Index::new();
        for v in ["v1alpha1", "v2beta1", "v1"] {
            let mut objs = BTreeMap::new();
            objs.insert(
                (String::new(), "x".into()),
                ObjMeta {
                    resource_version: "1".into(),
                    labels: Labels::new(),
                },
            );
            idx.insert(
                Gvr::new("ex.com", v, "things"),
                ResourceObjects {
                    kind: "Thing".into(),
                    namespaced: false,
                    synced: true,
                    objects: objs,
                },
            );
        }
        let r = resolve(
            &policy(json!({"downsync": [{"apiGroup": "ex.com"}]})),
            &idx,
            &no_ns,
            &[],
            None,
        );
        let versions: Vec<&str> = r
            .spec
            .workload
            .cluster_scope
            .iter()
            .map(|c| c.version.as_str())
            .collect();
        assert_eq!(versions, ["v1"]);
        let mut vs = vec![
            "v1alpha1",
            "v2",
            "v10",
            "v1beta2",
            "v1beta1",
            "foo",
            "v11alpha2",
            "v1",
        ];
        vs.sort_by_key(|v| version_priority(v));
        assert_eq!(
            vs,
            [
                "v10",
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v11alpha2",
                "v1alpha1",
                "foo"
            ]
        );
    }

    #[test]
    fn singleton_error_counts_wecs_across_policies() {
        let idx = index();
        let clusters = vec![
            ("c1".to_string(), labels(&[("name", "c1")])),
            ("c2".to_string(), labels(&[("name", "c2")])),
        ];
        let single = policy(
            json!({"clusterSelectors": [{"matchLabels": {"name": "c1"}}], "downsync": [{"objectNames": ["nginx"], "resources": ["deployments"], "wantSingletonReportedState": true}]}),
        );
        let other = policy(
            json!({"clusterSelectors": [{"matchLabels": {"name": "c2"}}], "downsync": [{"objectNames": ["nginx"], "resources": ["deployments"], "wantSingletonReportedState": true}]}),
        );
        let plain =
            policy(json!({"clusterSelectors": [{}], "downsync": [{"objectNames": ["nginx"]}]}));
        let a = resolve(&single, &idx, &no_ns, &clusters, None);
        let b = resolve(&other, &idx, &no_ns, &clusters, None);
        let c = resolve(&plain, &idx, &no_ns, &clusters, None);
        assert_eq!(
            singleton_error(&a, [&a, &c].into_iter()),
            None,
            "only requesting policies count"
        );
        assert_eq!(
            singleton_error(&a, [&a, &b, &c].into_iter()).as_deref(),
            Some(
                r#"Singleton reported status return is requested but some objects have the wrong number of associated WECs, for example: [{"ObjectID":{"GVK":{"Group":"apps","Version":"v1","Kind":"Deployment"},"Resource":"deployments","ObjectName":{"Namespace":"nginx","Name":"nginx"}},"NumWECs":2}]"#
            )
        );
    }
}
