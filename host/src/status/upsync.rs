//! Summaries of upsynced objects: a BindingPolicy `spec.upsync[]` clause may name
//! StatusCollectors, and then, for each object it selects (identified by group, resource,
//! namespace and name in the WECs), one CombinedStatus summarizes the copies every WEC sent
//! back (the `UpsyncedObject`s in the ITS that list the policy), through the same summarizer
//! pipeline as downsync CombinedStatuses ([`super::combined`]).
//!
//! Rows: one report per WEC holding a copy: `inventory.name` = the WEC, `returned.status` = the
//! copy's `.status` (none when it has none or the object was too large to carry),
//! `propagation.lastReturnedUpdateTimestamp` = the latest managedFields time of an entry that
//! wrote the copy's `spec` (else its creationTimestamp). The summarize contract carries one
//! object per summary, so `obj` is the copy from the first WEC by name.
//!
//! The CombinedStatus is named `<policy UID>.upsync.<8 hex of sha256 over
//! group/resource/namespace/name>` (downsync ones are `<object UID>.<policy UID>`, without
//! `.upsync.`, so the two never collide), in the source's namespace (`kubestellar-report` for
//! cluster-scoped sources, as for downsync), owned by the BindingPolicy and labelled
//! `upsync.kubestellar.io/summary=true`, `upsync.kubestellar.io/policy=<policy>` and the four
//! `status.kubestellar.io/{api-group,resource,namespace,name}` labels of the source (not
//! `status.kubestellar.io/binding-policy`, so downsync reconciles never take it for theirs).
//! It goes when the policy, the clause's collectors or every copy goes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::combined::{Needed, cluster_context, delete_others, put, summarize_all};
use super::index::Index;
use super::inputs::{last_write, timestamp};
use super::keys::{ObjKey, Work};
use super::{Shared, lock};
use crate::api::labels::{
    CS_API_GROUP, CS_NAME, CS_NAMESPACE, CS_RESOURCE, REPORT_NS, UPSYNC_POLICY, UPSYNC_SUMMARY,
};
use crate::api::{BindingPolicy, CombinedStatus, UpsyncedObject};
use crate::binding::matching::{Labels, ObjectFacts};
use crate::plugins::{Report, Timestamp};
use crate::upsync::clauses::CompiledClause;

/// (namespace, name) of an UpsyncedObject.
type Id = (String, String);

/// An UpsyncedObject, reduced to what summaries use.
#[derive(Clone, Debug, PartialEq)]
pub struct UpsyncCopy {
    /// The source object in its WEC.
    pub key: ObjKey,
    /// The WEC.
    pub wec: String,
    /// The policies selecting it (as the agent last saw them).
    pub policies: Vec<String>,
    /// The copy; `None` when it was too large to carry.
    pub object: Option<Arc<Value>>,
    /// When the agent last wrote the copy.
    pub last_update: Option<Timestamp>,
}

impl UpsyncCopy {
    /// Reduces an UpsyncedObject.
    pub fn from(w: &UpsyncedObject) -> UpsyncCopy {
        let r = &w.spec.source_ref;
        // As for WorkStatuses: the latest write of the carried content (here `spec`).
        let last_update = last_write(&w.metadata, "f:spec")
            .or_else(|| w.metadata.creation_timestamp.as_ref().map(timestamp));
        UpsyncCopy {
            key: ObjKey::new(&r.group, &r.resource, &r.namespace, &r.name),
            wec: w.spec.cluster.clone(),
            policies: w.spec.policies.clone(),
            object: w.spec.object.clone().map(Arc::new),
            last_update,
        }
    }
}

/// The UpsyncedObjects of this WDS, by id and by source.
#[derive(Default)]
pub struct UpsyncIndex {
    copies: HashMap<Id, UpsyncCopy>,
    by_key: HashMap<ObjKey, BTreeSet<Id>>,
}

/// The name of the summary of `key` for the policy with UID `policy_uid`.
pub fn summary_name(policy_uid: &str, key: &ObjKey) -> String {
    let digest = Sha256::digest(
        format!(
            "{}/{}/{}/{}",
            key.group, key.resource, key.namespace, key.name
        )
        .as_bytes(),
    );
    format!("{policy_uid}.upsync.{}", hex::encode(&digest[..4]))
}

/// The labels of the summary of `key` for `policy`.
pub fn summary_labels(policy: &str, key: &ObjKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (UPSYNC_SUMMARY.to_string(), "true".to_string()),
        (UPSYNC_POLICY.to_string(), policy.to_string()),
        (CS_API_GROUP.to_string(), key.group.clone()),
        (CS_RESOURCE.to_string(), key.resource.clone()),
        (CS_NAMESPACE.to_string(), key.namespace.clone()),
        (CS_NAME.to_string(), key.name.clone()),
    ])
}

/// The (policy, source) an upsync summary's labels name.
pub fn labelled(cs: &CombinedStatus) -> Option<(String, ObjKey)> {
    let l = cs.metadata.labels.as_ref()?;
    if l.get(UPSYNC_SUMMARY).map(String::as_str) != Some("true") {
        return None;
    }
    let get = |k: &str| l.get(k).cloned().unwrap_or_default();
    Some((
        l.get(UPSYNC_POLICY)?.clone(),
        ObjKey::new(
            &get(CS_API_GROUP),
            &get(CS_RESOURCE),
            &get(CS_NAMESPACE),
            &get(CS_NAME),
        ),
    ))
}

/// The collectors `policy`'s upsync clauses apply to the copies (sorted, deduplicated).
fn collectors_for(policy: &BindingPolicy, copies: &[&UpsyncCopy]) -> Vec<String> {
    let name = policy.metadata.name.clone().unwrap_or_default();
    let empty = Labels::new();
    let mut out: BTreeSet<String> = BTreeSet::new();
    for (i, clause) in policy.spec.upsync.iter().enumerate() {
        if clause.status_collectors.is_empty() {
            continue;
        }
        // Bad clauses are reported by the upsync controller; here they just match nothing.
        let compiled = CompiledClause::compile(&name, i, clause, &mut Vec::new());
        let matches = copies.iter().any(|c| {
            let labels: Labels = c
                .object
                .as_ref()
                .and_then(|o| serde_json::from_value(o["metadata"]["labels"].clone()).ok())
                .unwrap_or_default();
            compiled.matches(&ObjectFacts {
                group: &c.key.group,
                resource: &c.key.resource,
                namespace: &c.key.namespace,
                name: &c.key.name,
                labels: if c.object.is_some() { &labels } else { &empty },
            })
        });
        if matches {
            out.extend(clause.status_collectors.iter().cloned());
        }
    }
    out.into_iter().collect()
}

impl Index {
    /// An UpsyncedObject of this WDS was created, changed or deleted.
    pub fn upsynced_changed(&mut self, id: Id, new: Option<UpsyncCopy>) -> Vec<Work> {
        let old = self.upsynced.copies.remove(&id);
        if let Some(o) = &old
            && let Some(ids) = self.upsynced.by_key.get_mut(&o.key)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.upsynced.by_key.remove(&o.key);
            }
        }
        let mut work = Vec::new();
        for c in old.iter().chain(new.as_ref()) {
            work.extend(
                c.policies
                    .iter()
                    .map(|p| Work::Upsync(p.clone(), c.key.clone())),
            );
        }
        if let Some(n) = new {
            self.upsynced
                .by_key
                .entry(n.key.clone())
                .or_default()
                .insert(id.clone());
            self.upsynced.copies.insert(id, n);
        }
        work
    }

    /// The summaries `policy` has or may need (every source a copy lists it for, and every
    /// summary labelled with it).
    pub fn upsync_work_of_policy(&self, policy: &str) -> Vec<Work> {
        let mut keys: BTreeSet<ObjKey> = self
            .upsynced
            .copies
            .values()
            .filter(|c| c.policies.iter().any(|p| p == policy))
            .map(|c| c.key.clone())
            .collect();
        keys.extend(
            self.combined
                .values()
                .filter_map(|cs| labelled(cs))
                .filter(|(p, _)| p == policy)
                .map(|(_, k)| k),
        );
        keys.into_iter()
            .map(|k| Work::Upsync(policy.to_string(), k))
            .collect()
    }

    /// Summaries (and policy conditions) of policies whose upsync clauses name collector `name`.
    pub fn upsync_users_of_collector(&self, name: &str) -> Vec<Work> {
        self.policies
            .iter()
            .filter(|(_, p)| {
                p.spec
                    .upsync
                    .iter()
                    .any(|c| c.status_collectors.iter().any(|s| s == name))
            })
            .flat_map(|(pname, _)| {
                let mut w = self.upsync_work_of_policy(pname);
                w.push(Work::Policy(pname.clone()));
                w
            })
            .collect()
    }

    /// Summaries with a copy from WEC `wec` (whose cluster context changed).
    pub fn upsync_cluster_work(&self, wec: &str) -> Vec<Work> {
        self.upsynced
            .copies
            .values()
            .filter(|c| c.wec == wec)
            .flat_map(|c| {
                c.policies
                    .iter()
                    .map(|p| Work::Upsync(p.clone(), c.key.clone()))
            })
            .collect()
    }

    /// Every summary that may need work (after the first full listing).
    pub fn upsync_everything(&self) -> Vec<Work> {
        let mut work: BTreeSet<Work> = self
            .upsynced
            .copies
            .values()
            .flat_map(|c| {
                c.policies
                    .iter()
                    .map(|p| Work::Upsync(p.clone(), c.key.clone()))
            })
            .collect();
        work.extend(
            self.combined
                .values()
                .filter_map(|cs| labelled(cs))
                .map(|(p, k)| Work::Upsync(p, k)),
        );
        work.into_iter().collect()
    }
}

/// What a reconcile needs, read from the index at once: the desired summary (if any) and the
/// existing CombinedStatuses labelled for (`policy`, `key`) or bearing its name.
fn snapshot(sh: &Shared, policy: &str, key: &ObjKey) -> (Option<Needed>, Vec<Arc<CombinedStatus>>) {
    let ix = lock(&sh.index);
    let p = ix
        .policies
        .get(policy)
        .filter(|p| p.metadata.deletion_timestamp.is_none());
    let mut copies: Vec<&UpsyncCopy> = ix
        .upsynced
        .by_key
        .get(key)
        .into_iter()
        .flatten()
        .filter_map(|id| ix.upsynced.copies.get(id))
        .filter(|c| c.policies.iter().any(|p| p == policy))
        .collect();
    copies.sort_by(|a, b| a.wec.cmp(&b.wec));
    copies.dedup_by(|a, b| a.wec == b.wec);
    let needed = p.and_then(|p| {
        let uid = p.metadata.uid.clone()?;
        let collectors = collectors_for(p, &copies);
        if copies.is_empty() || collectors.is_empty() {
            return None;
        }
        let reports = copies
            .iter()
            .map(|c| Report {
                cluster: cluster_context(
                    &c.wec,
                    ix.clusters.get(&c.wec).map(|m| m.as_ref()),
                    ix.properties.get(&c.wec),
                ),
                status: c
                    .object
                    .as_ref()
                    .and_then(|o| o.get("status"))
                    .filter(|s| !s.is_null())
                    .map(Value::to_string),
                last_update: c.last_update,
            })
            .collect();
        // Every copy may be too large to carry: then `obj` only names the source.
        let object = copies
            .iter()
            .find_map(|c| c.object.as_ref().map(|o| o.to_string()))
            .unwrap_or_else(|| {
                json!({"metadata": {"name": key.name, "namespace": key.namespace}}).to_string()
            });
        Some(Needed {
            namespace: if key.namespace.is_empty() {
                REPORT_NS.to_string()
            } else {
                key.namespace.clone()
            },
            name: summary_name(&uid, key),
            owner: OwnerReference {
                api_version: format!(
                    "{}/{}",
                    crate::api::CONTROL_GROUP,
                    crate::api::CONTROL_VERSION
                ),
                kind: "BindingPolicy".into(),
                name: policy.to_string(),
                uid,
                ..Default::default()
            },
            collectors,
            object: Arc::new(object),
            reports: Arc::new(reports),
        })
    });
    let pair = Some((policy.to_string(), key.clone()));
    let existing = ix
        .combined
        .iter()
        .filter(|(id, cs)| {
            labelled(cs) == pair
                || needed
                    .as_ref()
                    .is_some_and(|n| id.0 == n.namespace && id.1 == n.name)
        })
        .map(|(_, cs)| cs.clone())
        .collect();
    (needed, existing)
}

/// The summarizer cache key of (`policy`, `key`): `/` cannot occur in a Binding name, so
/// these never meet downsync entries.
fn cache_owner(policy: &str) -> String {
    format!("upsync/{policy}")
}

/// Makes the summary of (`policy`, `key`) what it should be.
pub(super) async fn reconcile(sh: &Arc<Shared>, policy: &str, key: &ObjKey) -> Result<(), String> {
    let (needed, existing) = snapshot(sh, policy, key);
    let origin = Work::Upsync(policy.to_string(), key.clone());
    let mut keep: Option<(String, String)> = None;
    let owner = cache_owner(policy);
    if let Some(n) = &needed {
        let results = summarize_all(sh, &owner, key, n).await?;
        put(
            sh,
            n,
            summary_labels(policy, key),
            results,
            &existing,
            &origin,
        )
        .await;
        keep = Some((n.namespace.clone(), n.name.clone()));
    } else {
        lock(&sh.summaries).retain(|k, _| !(k.0 == owner && k.1 == *key));
    }
    delete_others(sh, &existing, |id| Some(id) == keep.as_ref(), &origin).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn copy(wec: &str, labels: Value, policies: &[&str]) -> UpsyncCopy {
        let w: UpsyncedObject = serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "UpsyncedObject",
            "metadata": {"name": "u", "namespace": wec, "creationTimestamp": "2025-01-01T00:00:00Z",
                "managedFields": [
                    {"manager": "agent", "operation": "Apply", "time": "2025-01-02T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}},
                    {"manager": "other", "operation": "Update", "time": "2025-01-03T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]},
            "spec": {
                "sourceRef": {"group": "", "version": "v1", "resource": "configmaps", "kind": "ConfigMap", "namespace": "gs", "name": "r"},
                "cluster": wec, "policies": policies,
                "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r", "namespace": "gs", "labels": labels}},
            },
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        UpsyncCopy::from(&w)
    }

    fn policy(clauses: Value) -> BindingPolicy {
        serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "BindingPolicy",
            "metadata": {"name": "p", "uid": "pu"}, "spec": {"upsync": clauses},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_copy_is_dated_by_its_last_spec_write() {
        let c = copy("c1", json!({}), &["p"]);
        assert_eq!(
            c.last_update,
            Some(Timestamp {
                seconds: 1_735_776_000,
                nanoseconds: 0
            })
        );
        assert_eq!(c.key, ObjKey::new("", "configmaps", "gs", "r"));
    }

    #[test]
    fn names_cannot_meet_downsync_names_and_labels_round_trip() {
        let k = ObjKey::new("", "configmaps", "gs", "r");
        let n = summary_name("pu", &k);
        assert!(n.starts_with("pu.upsync.") && n.len() == "pu.upsync.".len() + 8);
        assert_ne!(
            n,
            summary_name("pu", &ObjKey::new("", "configmaps", "gs", "r2"))
        );
        let cs = CombinedStatus {
            metadata: ObjectMeta {
                labels: Some(summary_labels("p", &k)),
                ..Default::default()
            },
            results: Vec::new(),
        };
        assert_eq!(labelled(&cs), Some(("p".to_string(), k)));
        assert_eq!(super::super::index::cs_labelled_pair(&cs), None);
    }

    #[test]
    fn only_matching_clauses_with_collectors_count() {
        let p = policy(json!([
            {"resources": ["configmaps"], "objectSelectors": [{"matchLabels": {"up": "yes"}}], "statusCollectors": ["b", "a"]},
            {"resources": ["configmaps"], "objectSelectors": [{"matchLabels": {"up": "no"}}], "statusCollectors": ["c"]},
            {"resources": ["configmaps"]},
        ]));
        let yes = copy("c1", json!({"up": "yes"}), &["p"]);
        let other = copy("c2", json!({}), &["p"]);
        assert_eq!(collectors_for(&p, &[&yes, &other]), ["a", "b"]);
        assert!(collectors_for(&p, &[&other]).is_empty());
    }

    #[test]
    fn the_index_names_the_summaries_a_copy_affects() {
        let mut ix = Index::default();
        let c = copy("c1", json!({"up": "yes"}), &["p", "q"]);
        let work = ix.upsynced_changed(("c1".into(), "u".into()), Some(c.clone()));
        assert_eq!(
            work,
            [
                Work::Upsync("p".into(), c.key.clone()),
                Work::Upsync("q".into(), c.key.clone())
            ]
        );
        assert_eq!(
            ix.upsync_work_of_policy("q"),
            [Work::Upsync("q".into(), c.key.clone())]
        );
        assert_eq!(ix.upsync_cluster_work("c2"), []);
        let work = ix.upsynced_changed(("c1".into(), "u".into()), None);
        assert_eq!(work.len(), 2);
        assert!(ix.upsync_everything().is_empty());
    }
}
