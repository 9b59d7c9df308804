//! CombinedStatus: one per (workload object, BindingPolicy) whose matched clauses name at least
//! one StatusCollector, named `<object UID>.<BindingPolicy UID>`, in the object's namespace
//! (`kubestellar-report` for cluster-scoped objects), labelled with exactly the five
//! `status.kubestellar.io/*` labels and owned by the object. `results` holds one entry per
//! usable collector, sorted by collector name, computed by the collector's summarizer from one
//! report per destination WEC of the Binding. The controller owns these objects fully: it
//! recreates, rewrites (order of rows aside) and deletes them as needed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use super::collectors::{self, CollectorState, Runner};
use super::index::{cs_labelled_pair, destinations};
use super::keys::{ObjKey, Work};
use super::writer::{Op, Target, bump};
use super::{Shared, lock};
use crate::api::combined_status::NamedStatusCombination;
use crate::api::labels::{
    CS_API_GROUP, CS_BINDING_POLICY, CS_NAME, CS_NAMESPACE, CS_RESOURCE, REPORT_NS,
};
use crate::api::{CombinedStatus, ManagedCluster};
use crate::plugins::combined::named_result;
use crate::plugins::{ClusterContext, Pair, Report};

/// Last summary per (Binding, object, collector), with a hash of its inputs.
pub type SummaryCache = HashMap<(String, ObjKey, String), (u64, NamedStatusCombination)>;

/// The cluster context summarizers get for a WEC.
pub(super) fn cluster_context(
    name: &str,
    mc: Option<&ManagedCluster>,
    props: Option<&BTreeMap<String, String>>,
) -> ClusterContext {
    let pairs = |m: Option<&BTreeMap<String, String>>| -> Vec<Pair> {
        m.into_iter()
            .flatten()
            .map(|(k, v)| Pair {
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    };
    ClusterContext {
        name: name.to_string(),
        labels: pairs(mc.and_then(|m| m.metadata.labels.as_ref())),
        annotations: pairs(mc.and_then(|m| m.metadata.annotations.as_ref())),
        properties: pairs(props),
    }
}

/// The five labels of the CombinedStatus for (`binding`, `key`).
pub fn labels(binding: &str, key: &ObjKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CS_API_GROUP.to_string(), key.group.clone()),
        (CS_RESOURCE.to_string(), key.resource.clone()),
        (CS_NAMESPACE.to_string(), key.namespace.clone()),
        (CS_NAME.to_string(), key.name.clone()),
        (CS_BINDING_POLICY.to_string(), binding.to_string()),
    ])
}

/// Rows in a canonical order, so that comparisons ignore row order.
fn canonical(results: &[NamedStatusCombination]) -> Vec<NamedStatusCombination> {
    results
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.rows
                .sort_by_cached_key(|row| serde_json::to_string(row).unwrap_or_default());
            r
        })
        .collect()
}

/// True when `existing` is what `desired` describes (row order aside).
pub fn same(existing: &CombinedStatus, desired: &CombinedStatus) -> bool {
    let m = &existing.metadata;
    m.labels.clone().unwrap_or_default() == desired.metadata.labels.clone().unwrap_or_default()
        && m.owner_references.clone().unwrap_or_default()
            == desired
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default()
        && m.annotations.as_ref().is_none_or(|a| a.is_empty())
        && m.finalizers.as_ref().is_none_or(|f| f.is_empty())
        && canonical(&existing.results) == canonical(&desired.results)
}

/// A results entry reporting that the summarizer failed.
fn failed(name: &str, error: String) -> NamedStatusCombination {
    NamedStatusCombination {
        name: name.to_string(),
        aggregation_errors: vec![crate::api::combined_status::AggregationError {
            column_name: String::new(),
            error,
        }],
        ..Default::default()
    }
}

fn hash_inputs(runner: &Runner, object: &str, reports: &[Report]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    runner.plugin.digest().hash(&mut h);
    runner.config.hash(&mut h);
    object.hash(&mut h);
    format!("{reports:?}").hash(&mut h);
    h.finish()
}

/// Runs (or reuses) one collector's summary.
pub(super) async fn summarize(
    sh: &Arc<Shared>,
    cache_key: (String, ObjKey, String),
    runner: Arc<Runner>,
    object: Arc<String>,
    reports: Arc<Vec<Report>>,
) -> NamedStatusCombination {
    let name = cache_key.2.clone();
    let h = hash_inputs(&runner, &object, &reports);
    if let Some((old, r)) = lock(&sh.summaries).get(&cache_key)
        && *old == h
    {
        bump(&sh.stats.summarize_cached);
        return r.clone();
    }
    bump(&sh.stats.summarize_calls);
    let n = name.clone();
    let result = tokio::task::spawn_blocking(move || {
        runner.plugin.summarize(&object, &reports, &runner.config)
    })
    .await;
    let entry = match result {
        Ok(Ok(summary)) => {
            serde_json::from_value::<NamedStatusCombination>(named_result(&n, &summary))
                .unwrap_or_else(|e| failed(&n, format!("summarizer output cannot be stored: {e}")))
        }
        Ok(Err(e)) => {
            tracing::warn!(wds = %sh.ctx.cfg.wds_name, collector = %n, error = %e, "summarizer failed");
            failed(&n, e.to_string())
        }
        Err(e) => failed(&n, format!("summarizer task failed: {e}")),
    };
    lock(&sh.summaries).insert(cache_key, (h, entry.clone()));
    entry
}

/// What a reconcile needs, read from the index at once.
struct Snapshot {
    /// The desired CombinedStatus identity and inputs, when one is needed.
    needed: Option<Needed>,
    /// Existing CombinedStatuses labelled for this pair or bearing its name.
    existing: Vec<Arc<CombinedStatus>>,
    /// CombinedStatus ids other pairs claim.
    claimed: Vec<(String, String)>,
}

pub(super) struct Needed {
    pub namespace: String,
    pub name: String,
    pub owner: OwnerReference,
    pub collectors: Vec<String>,
    pub object: Arc<String>,
    pub reports: Arc<Vec<Report>>,
}

fn snapshot(sh: &Shared, binding: &str, key: &ObjKey) -> Option<Snapshot> {
    let ix = lock(&sh.index);
    if let Some(gvr) = ix.gvr_of(key)
        && !ix.gvr_synced.contains(&gvr)
    {
        // The object's resource is still being listed; its listing queues this again.
        return None;
    }
    let b = ix.bindings.get(binding);
    let entry = ix.entries_of(binding).get(key).cloned();
    let policy_uid = ix
        .policies
        .get(binding)
        .and_then(|p| p.metadata.uid.clone());
    let obj = ix.objects.get(key);
    let obj_uid = obj.and_then(|o| o["metadata"]["uid"].as_str().map(String::from));
    let needed = match (b, entry, policy_uid, obj, obj_uid) {
        (Some(b), Some(e), Some(puid), Some(obj), Some(ouid))
            if !e.modulation.status_collectors.is_empty() =>
        {
            let mut collectors = e.modulation.status_collectors.clone();
            collectors.sort();
            collectors.dedup();
            let reports: Vec<Report> = destinations(b)
                .into_iter()
                .map(|wec| {
                    let ws = ix
                        .ws_by_obj
                        .get(key)
                        .into_iter()
                        .flatten()
                        .filter(|(w, _)| *w == wec)
                        .find_map(|id| ix.workstatuses.get(id));
                    Report {
                        cluster: cluster_context(
                            &wec,
                            ix.clusters.get(&wec).map(|c| c.as_ref()),
                            ix.properties.get(&wec),
                        ),
                        status: ws.and_then(|w| w.status.as_ref()).map(Value::to_string),
                        last_update: ws.and_then(|w| w.last_update),
                    }
                })
                .collect();
            Some(Needed {
                namespace: if key.namespace.is_empty() {
                    REPORT_NS.to_string()
                } else {
                    key.namespace.clone()
                },
                name: format!("{ouid}.{puid}"),
                owner: OwnerReference {
                    api_version: obj["apiVersion"].as_str().unwrap_or_default().to_string(),
                    kind: obj["kind"].as_str().unwrap_or_default().to_string(),
                    name: key.name.clone(),
                    uid: ouid,
                    ..Default::default()
                },
                collectors,
                object: Arc::new(obj.to_string()),
                reports: Arc::new(reports),
            })
        }
        _ => None,
    };
    let pair = (binding.to_string(), key.clone());
    let existing = ix
        .combined
        .iter()
        .filter(|(id, cs)| {
            cs_labelled_pair(cs).as_ref() == Some(&pair)
                || needed
                    .as_ref()
                    .is_some_and(|n| id.0 == n.namespace && id.1 == n.name)
        })
        .map(|(_, cs)| cs.clone())
        .collect();
    let claimed = ix
        .cs_pairs
        .iter()
        .filter(|(_, p)| **p != pair)
        .map(|(id, _)| id.clone())
        .collect();
    Some(Snapshot {
        needed,
        existing,
        claimed,
    })
}

pub(super) fn id_of(cs: &CombinedStatus) -> (String, String) {
    (
        cs.metadata.namespace.clone().unwrap_or_default(),
        cs.metadata.name.clone().unwrap_or_default(),
    )
}

/// Makes the CombinedStatus of (`binding`, `key`) what it should be.
pub(super) async fn reconcile(sh: &Arc<Shared>, binding: &str, key: &ObjKey) -> Result<(), String> {
    let Some(snap) = snapshot(sh, binding, key) else {
        return Ok(());
    };
    let origin = Work::Combined(binding.to_string(), key.clone());
    let pair = (binding.to_string(), key.clone());
    let mut keep: Option<(String, String)> = None;
    if let Some(n) = &snap.needed {
        let results = summarize_all(sh, binding, key, n).await?;
        let id = (n.namespace.clone(), n.name.clone());
        lock(&sh.index).cs_pairs.insert(id.clone(), pair.clone());
        put(
            sh,
            n,
            labels(binding, key),
            results,
            &snap.existing,
            &origin,
        )
        .await;
        keep = Some(id);
    } else {
        let mut ix = lock(&sh.index);
        ix.cs_pairs.retain(|_, p| *p != pair);
        drop(ix);
        lock(&sh.summaries).retain(|k, _| !(k.0 == pair.0 && k.1 == pair.1));
    }
    // Anything else claiming to be this pair's goes, unless another pair owns that name.
    delete_others(
        sh,
        &snap.existing,
        |id| Some(id) == keep.as_ref() || snap.claimed.contains(id),
        &origin,
    )
    .await;
    Ok(())
}

/// Runs every collector of `n` (summaries cached under `owner`); fails while a collector's
/// plugin is still loading.
pub(super) async fn summarize_all(
    sh: &Arc<Shared>,
    owner: &str,
    key: &ObjKey,
    n: &Needed,
) -> Result<Vec<NamedStatusCombination>, String> {
    let mut results = Vec::new();
    for c in &n.collectors {
        match collectors::state(sh, c).await {
            CollectorState::Ready(runner) => {
                let cache_key = (owner.to_string(), key.clone(), c.clone());
                results.push(
                    summarize(sh, cache_key, runner, n.object.clone(), n.reports.clone()).await,
                );
            }
            CollectorState::Missing | CollectorState::Invalid(_) => {}
            CollectorState::Pending(why) => {
                return Err(format!(
                    "StatusCollector {c}: waiting for its plugin: {why}"
                ));
            }
        }
    }
    Ok(results)
}

/// Writes the CombinedStatus `n` names with `results` (create, or replace when it differs
/// from the one among `existing`).
pub(super) async fn put(
    sh: &Arc<Shared>,
    n: &Needed,
    labels: BTreeMap<String, String>,
    results: Vec<NamedStatusCombination>,
    existing: &[Arc<CombinedStatus>],
    origin: &Work,
) {
    let id = (n.namespace.clone(), n.name.clone());
    let current = existing.iter().find(|cs| id_of(cs) == id);
    let desired = CombinedStatus {
        metadata: ObjectMeta {
            name: Some(n.name.clone()),
            namespace: Some(n.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![n.owner.clone()]),
            resource_version: current.and_then(|c| c.metadata.resource_version.clone()),
            ..Default::default()
        },
        results,
    };
    let in_sync = current.is_some_and(|c| same(c, &desired));
    let op = if current.is_some() {
        Op::CombinedReplace(desired)
    } else {
        Op::CombinedCreate(desired)
    };
    sh.writer
        .reconcile(
            &sh.stats,
            Target::Combined(id.0, id.1),
            op,
            in_sync,
            origin.clone(),
        )
        .await;
}

/// Deletes the CombinedStatuses among `existing` that `spare` does not keep.
pub(super) async fn delete_others(
    sh: &Arc<Shared>,
    existing: &[Arc<CombinedStatus>],
    spare: impl Fn(&(String, String)) -> bool,
    origin: &Work,
) {
    for cs in existing {
        let id = id_of(cs);
        if spare(&id) {
            continue;
        }
        let op = Op::CombinedDelete {
            namespace: id.0.clone(),
            name: id.1.clone(),
            uid: cs.metadata.uid.clone(),
        };
        sh.writer
            .reconcile(
                &sh.stats,
                Target::Combined(id.0, id.1),
                op,
                false,
                origin.clone(),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cs(rows: Value) -> CombinedStatus {
        serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "CombinedStatus",
            "metadata": {"name": "u1.u2", "namespace": "ns", "labels": labels("bp", &ObjKey::new("apps", "deployments", "ns", "d")),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "u1"}]},
            "results": [{"name": "sc", "columnNames": ["w"], "rows": rows}],
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn comparison_ignores_row_order_but_not_labels() {
        let a = cs(
            json!([{"columns": [{"type": "String", "string": "c1"}]}, {"columns": [{"type": "String", "string": "c2"}]}]),
        );
        let b = cs(
            json!([{"columns": [{"type": "String", "string": "c2"}]}, {"columns": [{"type": "String", "string": "c1"}]}]),
        );
        assert!(same(&a, &b));
        let mut c = b.clone();
        c.metadata
            .labels
            .get_or_insert_default()
            .insert("extra".into(), "x".into());
        assert!(!same(&c, &a));
        let d = cs(json!([{"columns": [{"type": "String", "string": "c3"}]}]));
        assert!(!same(&d, &a));
    }

    #[test]
    fn cluster_contexts_carry_labels_annotations_and_properties() {
        let mc: ManagedCluster = serde_json::from_value(json!({
            "apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
            "metadata": {"name": "c1", "labels": {"region": "east"}, "annotations": {"a": "b"}}, "spec": {},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let props = BTreeMap::from([("clusterURL".to_string(), "https://x".to_string())]);
        let c = cluster_context("c1", Some(&mc), Some(&props));
        assert_eq!(c.name, "c1");
        assert_eq!(
            c.labels,
            vec![Pair {
                key: "region".into(),
                value: "east".into()
            }]
        );
        assert_eq!(c.annotations.len(), 1);
        assert_eq!(c.properties[0].value, "https://x");
    }
}
