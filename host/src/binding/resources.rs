//! Which resources of the WDS the binding controller watches, and the watches themselves.
//!
//! Upstream's rule (3.1): every resource whose verbs include list and watch, at the group's
//! preferred version, except some groups and resources; restricted to `--api-groups` when given;
//! and for CustomResourceDefinitions, every version that is served while the CRD is
//! Established, started and stopped as CRDs come and go.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::{WatchStreamExt, watcher};

use super::queue::AbortOnDrop;
use super::resolve::{Gvr, Index, ObjMeta, ResourceObjects};

/// Groups never watched.
pub const EXCLUDED_GROUPS: [&str; 5] = [
    "flowcontrol.apiserver.k8s.io",
    "discovery.k8s.io",
    "apiregistration.k8s.io",
    "coordination.k8s.io",
    "control.kubestellar.io",
];

/// (group, resource) pairs never watched.
pub const EXCLUDED_RESOURCES: [(&str, &str); 7] = [
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "nodes"),
    ("", "endpoints"),
    ("storage.k8s.io", "csistoragecapacities"),
    ("storage.k8s.io", "csinodes"),
    ("control.kubestellar.io", "workstatuses"),
];

/// Groups always allowed when `--api-groups` restricts the others.
pub const ALWAYS_ALLOWED_GROUPS: [&str; 2] = ["control.kubestellar.io", "apiextensions.k8s.io"];

/// Whether a resource may be watched: not excluded, and in `api_groups` when that is non-empty.
pub fn allowed(group: &str, resource: &str, api_groups: &[String]) -> bool {
    if EXCLUDED_GROUPS.contains(&group) || EXCLUDED_RESOURCES.contains(&(group, resource)) {
        return false;
    }
    api_groups.is_empty()
        || ALWAYS_ALLOWED_GROUPS.contains(&group)
        || api_groups.iter().any(|g| g == group)
}

/// A resource to watch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watchable {
    /// Its group, version and resource.
    pub gvr: Gvr,
    /// Its kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// The resources of CRDs: each served version of each Established CRD that is not being
/// deleted.
pub fn crd_watchables<'a>(
    crds: impl IntoIterator<Item = &'a CustomResourceDefinition>,
    api_groups: &[String],
) -> Vec<Watchable> {
    let mut out = Vec::new();
    for crd in crds {
        if crd.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        let (group, plural) = (&crd.spec.group, &crd.spec.names.plural);
        if !established || !allowed(group, plural, api_groups) {
            continue;
        }
        for v in crd.spec.versions.iter().filter(|v| v.served) {
            out.push(Watchable {
                gvr: Gvr::new(group, &v.name, plural),
                kind: crd.spec.names.kind.clone(),
                namespaced: crd.spec.scope == "Namespaced",
            });
        }
    }
    out
}

/// The built-in resources (not defined by any of `crd_resources`) at their group's preferred
/// version, by discovery.
pub async fn discover_builtin(
    client: &kube::Client,
    crd_resources: &HashSet<(String, String)>,
    api_groups: &[String],
) -> Result<Vec<Watchable>, kube::Error> {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "aggregated discovery failed; using per-group discovery");
            Discovery::new(client.clone()).run().await?
        }
    };
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) || !caps.supports_operation(verbs::WATCH) {
                continue;
            }
            if crd_resources.contains(&(ar.group.clone(), ar.plural.clone()))
                || !allowed(&ar.group, &ar.plural, api_groups)
            {
                continue;
            }
            out.push(Watchable {
                gvr: Gvr::new(&ar.group, &ar.version, &ar.plural),
                kind: ar.kind.clone(),
                namespaced: caps.scope == Scope::Namespaced,
            });
        }
    }
    Ok(out)
}

/// Called when objects of a resource changed (or its initial list arrived).
pub type OnResourceChange = Arc<dyn Fn(&Gvr) + Send + Sync>;

/// The running watches, feeding the shared object index.
pub struct Watches {
    client: kube::Client,
    index: Arc<RwLock<Index>>,
    /// Resources whose first list has completed or failed (so they no longer hold up writes).
    settled: Arc<RwLock<BTreeSet<Gvr>>>,
    running: BTreeMap<Gvr, AbortOnDrop>,
    on_change: OnResourceChange,
}

impl Watches {
    /// No watches yet.
    pub fn new(
        client: kube::Client,
        index: Arc<RwLock<Index>>,
        on_change: OnResourceChange,
    ) -> Watches {
        Watches {
            client,
            index,
            settled: Arc::default(),
            running: BTreeMap::new(),
            on_change,
        }
    }

    /// Watches exactly `wanted`: starts the missing watches, stops (and forgets the objects of)
    /// the others. Returns whether anything changed.
    pub fn set(&mut self, wanted: &[Watchable]) -> bool {
        let keep: BTreeSet<&Gvr> = wanted.iter().map(|w| &w.gvr).collect();
        let stale: Vec<Gvr> = self
            .running
            .keys()
            .filter(|g| !keep.contains(g))
            .cloned()
            .collect();
        let mut changed = !stale.is_empty();
        for g in stale {
            self.running.remove(&g);
            self.index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&g);
            self.settled
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&g);
            tracing::info!(resource = %g, "stopped watching");
            (self.on_change)(&g);
        }
        for w in wanted {
            if self.running.contains_key(&w.gvr) {
                continue;
            }
            changed = true;
            self.index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    w.gvr.clone(),
                    ResourceObjects {
                        kind: w.kind.clone(),
                        namespaced: w.namespaced,
                        synced: false,
                        objects: BTreeMap::new(),
                    },
                );
            let task = tokio::spawn(watch_resource(
                self.client.clone(),
                w.clone(),
                self.index.clone(),
                self.settled.clone(),
                self.on_change.clone(),
            ));
            tracing::debug!(resource = %w.gvr, "watching");
            self.running
                .insert(w.gvr.clone(), AbortOnDrop(task.abort_handle()));
        }
        changed
    }

    /// The watched resources.
    pub fn watched(&self) -> BTreeSet<Gvr> {
        self.running.keys().cloned().collect()
    }

    /// True when every watch has completed (or failed) its first list.
    pub fn all_settled(&self) -> bool {
        let settled = self.settled.read().unwrap_or_else(|e| e.into_inner());
        self.running.keys().all(|g| settled.contains(g))
    }
}

fn meta_of(o: &DynamicObject) -> ((String, String), ObjMeta) {
    let m = &o.metadata;
    (
        (
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default(),
        ),
        ObjMeta {
            resource_version: m.resource_version.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
        },
    )
}

/// Whether an object is a mirror written by the upsync controller.
fn is_upsync_mirror(o: &DynamicObject) -> bool {
    o.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(crate::api::labels::UPSYNC_MIRROR))
}

async fn watch_resource(
    client: kube::Client,
    w: Watchable,
    index: Arc<RwLock<Index>>,
    settled: Arc<RwLock<BTreeSet<Gvr>>>,
    on_change: OnResourceChange,
) {
    let gvr = w.gvr.clone();
    let api_version = if gvr.group.is_empty() {
        gvr.version.clone()
    } else {
        format!("{}/{}", gvr.group, gvr.version)
    };
    let ar = ApiResource {
        group: gvr.group.clone(),
        version: gvr.version.clone(),
        api_version,
        kind: w.kind.clone(),
        plural: gvr.resource.clone(),
    };
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut initial = BTreeMap::new();
    let write = || index.write().unwrap_or_else(|e| e.into_inner());
    while let Some(ev) = stream.next().await {
        let changed = match ev {
            Ok(watcher::Event::Init) => {
                initial.clear();
                false
            }
            // Upsync mirrors are never downsynced (they would travel back down and loop).
            Ok(watcher::Event::InitApply(o)) if is_upsync_mirror(&o) => false,
            Ok(watcher::Event::InitApply(o)) => {
                let (k, m) = meta_of(&o);
                initial.insert(k, m);
                false
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(r) = write().get_mut(&gvr) {
                    r.objects = std::mem::take(&mut initial);
                    r.synced = true;
                }
                settled
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(gvr.clone());
                true
            }
            Ok(watcher::Event::Apply(o)) if is_upsync_mirror(&o) => {
                let (k, _) = meta_of(&o);
                write()
                    .get_mut(&gvr)
                    .is_some_and(|r| r.objects.remove(&k).is_some())
            }
            Ok(watcher::Event::Apply(o)) => {
                let (k, m) = meta_of(&o);
                write()
                    .get_mut(&gvr)
                    .is_some_and(|r| r.objects.insert(k, m.clone()).as_ref() != Some(&m))
            }
            Ok(watcher::Event::Delete(o)) => {
                let (k, _) = meta_of(&o);
                write()
                    .get_mut(&gvr)
                    .is_some_and(|r| r.objects.remove(&k).is_some())
            }
            Err(e) => {
                // A resource that cannot be listed must not hold up every Binding forever; its
                // entries are carried over from the Bindings until it lists.
                let first = settled
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(gvr.clone());
                tracing::warn!(resource = %gvr, error = %e, "watch failed; retrying");
                first
            }
        };
        if changed {
            on_change(&gvr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_and_api_groups() {
        assert!(allowed("apps", "deployments", &[]));
        assert!(!allowed("", "events", &[]));
        assert!(!allowed("coordination.k8s.io", "leases", &[]));
        assert!(!allowed("control.kubestellar.io", "bindingpolicies", &[]));
        assert!(allowed("", "configmaps", &[]));
        let only = vec!["apps".to_string(), String::new()];
        assert!(allowed("apps", "deployments", &only));
        assert!(allowed("", "configmaps", &only));
        assert!(!allowed("rbac.authorization.k8s.io", "roles", &only));
        assert!(allowed(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            &only
        ));
    }
}
