//! Reporting back to the ITS: one WorkStatus per delivered object (its full `.status`) and the
//! ManifestWork's own status (conditions and what was applied). Writes only differences.

use std::sync::Arc;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::manifests::{BadManifest, Desired, ObjKey};
use super::wec::ApplyFailure;
use super::{AgentError, Shared, lock};
use crate::api::conditions::{Condition, set_condition};
use crate::api::manifest_work::{ManifestCondition, ManifestResourceMeta, ManifestResourceStatus};
use crate::api::{ManifestWork, ManifestWorkStatus, WorkStatus};

/// The WorkStatus name of a delivered object: `<group><version>-<kind>-<namespace>-<name>`,
/// lowercased (one of the forms ocm-status-addon uses), shortened with a hash when too long.
pub fn work_status_name(key: &ObjKey) -> String {
    let gv = format!("{}{}", key.group, key.version);
    let raw = format!("{gv}-{}-{}-{}", key.kind, key.namespace, key.name).to_lowercase();
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 253 {
        return clean;
    }
    use sha2::Digest;
    let h = hex::encode(&sha2::Sha256::digest(clean.as_bytes())[..8]);
    format!("{}-{h}", &clean[..236])
}

fn resource_of(sh: &Shared, key: &ObjKey) -> String {
    lock(&sh.resources)
        .get(&key.gvk())
        .map(|r| r.ar.plural.clone())
        .unwrap_or_default()
}

/// Creates or updates the WorkStatus of one applied object.
pub(super) async fn work_status(
    sh: &Arc<Shared>,
    mw: &ManifestWork,
    key: &ObjKey,
    live: &DynamicObject,
) -> Result<(), AgentError> {
    let name = work_status_name(key);
    let api: Api<WorkStatus> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    let labels = mw.metadata.labels.clone().unwrap_or_default();
    let owner = json!([{
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "name": mw.metadata.name,
        "uid": mw.metadata.uid,
    }]);
    let source_ref = json!({
        "group": key.group, "version": key.version, "resource": resource_of(sh, key),
        "kind": key.kind, "name": key.name, "namespace": key.namespace,
    });
    let status = live
        .data
        .get("status")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let existing = lock(&sh.workstatuses).get(&name).cloned();
    let existing = match existing {
        Some(e) => Some(e),
        None => {
            let body = json!({
                "apiVersion": "control.kubestellar.io/v1alpha1",
                "kind": "WorkStatus",
                "metadata": {"name": name, "namespace": sh.cfg.cluster, "labels": labels, "ownerReferences": owner},
                "spec": {"sourceRef": source_ref},
            });
            let ws: WorkStatus =
                serde_json::from_value(body).map_err(|e| AgentError::Retry(e.to_string()))?;
            match api.create(&PostParams::default(), &ws).await {
                Ok(created) => Some(created),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    api.get_opt(&name).await.map_err(AgentError::Its)?
                }
                Err(e) => return Err(AgentError::Its(e)),
            }
        }
    };
    let Some(existing) = existing else {
        return Ok(());
    };
    let current = serde_json::to_value(&existing).unwrap_or_default();
    let meta_ok = current["metadata"]["labels"] == json!(labels)
        && current["spec"]["sourceRef"] == source_ref
        && current["metadata"]["ownerReferences"][0]["uid"] == owner[0]["uid"];
    if !meta_ok {
        let patch = json!({"metadata": {"labels": labels, "ownerReferences": owner}, "spec": {"sourceRef": source_ref}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(AgentError::Its)?;
    }
    if current.get("status") != Some(&status) {
        // Replace, not merge: fields gone from the object's status must go from the report.
        let ops: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/status", "value": status}]))
                .map_err(|e| AgentError::Retry(e.to_string()))?;
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::<()>::Json(ops))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(AgentError::Its(e)),
        }
        // Another report of this object may have raced this one with a newer status and
        // finished first: if the object moved on meanwhile, report again (level-triggered).
        let now = lock(&sh.live)
            .get(key)
            .map(|l| l.data.get("status").cloned().unwrap_or_else(|| json!({})));
        if now.is_some_and(|n| n != status) {
            let _ = sh.work_tx.send(super::Work::Object(key.clone()));
        }
    }
    Ok(())
}

/// Deletes the WorkStatus of an object no longer delivered.
pub(super) async fn delete_work_status(sh: &Shared, key: &ObjKey) -> Result<(), AgentError> {
    let name = work_status_name(key);
    let api: Api<WorkStatus> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(AgentError::Its(e)),
    }
}

/// Writes the ManifestWork's status from the outcome of applying its manifests; fails (so the
/// work is retried) when a failure is transient.
pub(super) async fn manifestwork_status(
    sh: &Arc<Shared>,
    mw: &ManifestWork,
    outcomes: &[(Desired, Result<DynamicObject, ApplyFailure>)],
    bad: &[BadManifest],
) -> Result<(), AgentError> {
    let old = mw.status.clone().unwrap_or_default();
    let mut manifests: Vec<(usize, ManifestCondition)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut retry = None;
    for (d, r) in outcomes {
        let meta = ManifestResourceMeta {
            ordinal: d.ordinal as i32,
            group: d.key.group.clone(),
            version: d.key.version.clone(),
            kind: d.key.kind.clone(),
            resource: resource_of(sh, &d.key),
            name: d.key.name.clone(),
            namespace: d.key.namespace.clone(),
        };
        let old_conds = old
            .resource_status
            .manifests
            .iter()
            .find(|m| m.resource_meta.ordinal == meta.ordinal && m.resource_meta.name == meta.name)
            .map(|m| m.conditions.clone())
            .unwrap_or_default();
        let mut conds = old_conds;
        match r {
            Ok(_) => {
                set_condition(
                    &mut conds,
                    Condition::new(
                        "Applied",
                        true,
                        "AppliedManifestComplete",
                        "Apply manifest complete",
                    ),
                );
                set_condition(
                    &mut conds,
                    Condition::new(
                        "Available",
                        true,
                        "ResourceAvailable",
                        "Resource is available",
                    ),
                );
            }
            Err(f) => {
                set_condition(
                    &mut conds,
                    Condition::new("Applied", false, "AppliedManifestFailed", f.message.clone()),
                );
                set_condition(
                    &mut conds,
                    Condition::new(
                        "Available",
                        false,
                        "ResourceNotAvailable",
                        "Resource is not available",
                    ),
                );
                failures.push(format!("{}: {}", d.key, f.message));
                if f.retry {
                    retry = Some(f.message.clone());
                }
            }
        }
        manifests.push((
            d.ordinal,
            ManifestCondition {
                resource_meta: meta,
                conditions: conds,
            },
        ));
    }
    for b in bad {
        let mut conds = Vec::new();
        set_condition(
            &mut conds,
            Condition::new("Applied", false, "InvalidManifest", b.reason.clone()),
        );
        failures.push(format!("manifest {}: {}", b.ordinal, b.reason));
        manifests.push((
            b.ordinal,
            ManifestCondition {
                resource_meta: ManifestResourceMeta {
                    ordinal: b.ordinal as i32,
                    ..Default::default()
                },
                conditions: conds,
            },
        ));
    }
    manifests.sort_by_key(|(o, _)| *o);
    let mut conditions = old.conditions.clone();
    let total = outcomes.len() + bad.len();
    if failures.is_empty() {
        set_condition(
            &mut conditions,
            Condition::new(
                "Applied",
                true,
                "AppliedManifestWorkComplete",
                "Apply manifest work complete",
            ),
        );
        set_condition(
            &mut conditions,
            Condition::new(
                "Available",
                true,
                "ResourcesAvailable",
                "All resources are available",
            ),
        );
        set_condition(
            &mut conditions,
            Condition::new("Degraded", false, "AsExpected", "All manifests are applied"),
        );
    } else {
        let msg = format!(
            "{} of {total} manifests failed: {}",
            failures.len(),
            failures.join("; ")
        );
        set_condition(
            &mut conditions,
            Condition::new("Applied", false, "AppliedManifestWorkFailed", msg.clone()),
        );
        set_condition(
            &mut conditions,
            Condition::new(
                "Available",
                false,
                "ResourcesNotAvailable",
                "Some resources are not available",
            ),
        );
        set_condition(
            &mut conditions,
            Condition::new("Degraded", true, "ApplyFailed", msg),
        );
    }
    for c in conditions.iter_mut() {
        c.observed_generation = mw.metadata.generation;
    }
    let new = ManifestWorkStatus {
        conditions,
        resource_status: ManifestResourceStatus {
            manifests: manifests.into_iter().map(|(_, m)| m).collect(),
        },
    };
    if new != old {
        let api: Api<ManifestWork> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
        let patch = json!({"status": serde_json::to_value(&new).unwrap_or(Value::Null)});
        match api
            .patch_status(
                &mw.metadata.name.clone().unwrap_or_default(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(AgentError::Its(e)),
        }
    }
    match retry {
        Some(m) => Err(AgentError::Retry(m)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_status_names_are_valid_and_bounded() {
        let k = ObjKey {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: "nginx".into(),
            name: "web".into(),
        };
        assert_eq!(work_status_name(&k), "appsv1-deployment-nginx-web");
        let long = ObjKey {
            name: "x".repeat(300),
            ..k
        };
        assert_eq!(work_status_name(&long).len(), 253);
    }
}
