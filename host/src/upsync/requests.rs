//! The upsync requests: for each WEC, the upsync clauses of every BindingPolicy whose cluster
//! selectors select it, as one ConfigMap `upsync.<wds>` in the WEC's mailbox namespace
//! (format in [`crate::api::upsync_request`]). Written only when its content changes; deleted
//! when no policy asks anything of the WEC.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::{FIELD_MANAGER, Shared, UpsyncError, Work, api_err};
use crate::api::labels::ORIGIN_WDS;
use crate::api::upsync_request::{CLAUSES_KEY, REQUEST_LABEL, RequestedClause, request_name};
use crate::api::{BindingPolicy, UpsyncPolicyClause};
use crate::binding::matching::{Labels, select_clusters};
use crate::binding::queue::Next;

/// The clauses each WEC is asked for: WEC name -> requested clauses (policies in name order,
/// clauses in spec order). WECs asked nothing are absent.
pub fn desired<'a>(
    policies: impl IntoIterator<Item = &'a BindingPolicy>,
    clusters: &[(String, Labels)],
) -> BTreeMap<String, Vec<RequestedClause>> {
    let mut policies: Vec<&BindingPolicy> = policies
        .into_iter()
        .filter(|p| !p.spec.upsync.is_empty() && p.metadata.deletion_timestamp.is_none())
        .collect();
    policies.sort_by_key(|p| p.name_any());
    let mut out: BTreeMap<String, Vec<RequestedClause>> = BTreeMap::new();
    for p in policies {
        let mut errors = Vec::new();
        let selected = select_clusters(
            &p.spec.cluster_selectors,
            clusters.iter().map(|(n, l)| (n.as_str(), l)),
            &mut errors,
        );
        for wec in selected {
            out.entry(wec)
                .or_default()
                .extend(p.spec.upsync.iter().enumerate().map(
                    |(index, c): (usize, &UpsyncPolicyClause)| RequestedClause {
                        policy: p.name_any(),
                        index,
                        // The agent has no use for the collectors (the status controller
                        // summarizes), so changing them does not rewrite requests.
                        clause: UpsyncPolicyClause {
                            status_collectors: Vec::new(),
                            ..c.clone()
                        },
                    },
                ));
        }
    }
    out
}

/// Recomputes and writes every WEC's request.
pub(super) async fn reconcile(sh: &Arc<Shared>) -> Result<Next, UpsyncError> {
    if !sh.policies.is_synced() || !sh.clusters.is_synced() || !sh.requests.is_synced() {
        return Ok(Next::After(std::time::Duration::from_millis(20)));
    }
    let wds = sh.ctx.cfg.wds_name.clone();
    let clusters: Vec<(String, Labels)> = sh
        .clusters
        .list()
        .iter()
        .map(|c| (c.name_any(), c.labels().clone()))
        .collect();
    let policies = sh.policies.list();
    let wanted = desired(policies.iter().map(|p| &**p), &clusters);

    // Which policies select which WEC: mirrors of deselected pairs go even if an agent is
    // down and cannot remove its UpsyncedObjects.
    let selected: BTreeMap<String, BTreeSet<String>> = wanted
        .iter()
        .map(|(wec, cs)| (wec.clone(), cs.iter().map(|c| c.policy.clone()).collect()))
        .collect();
    let changed = *super::read(&sh.selected) != selected;
    *sh.selected.write().unwrap_or_else(|e| e.into_inner()) = selected;
    sh.selected_ready.store(true, Ordering::SeqCst);
    if changed {
        for m in super::lock(&sh.by_mirror).keys() {
            sh.queue.add(Work::Mirror(m.clone()));
        }
    }

    let name = request_name(&wds);
    for (wec, clauses) in &wanted {
        let text = serde_json::to_string(clauses).unwrap_or_else(|_| "[]".into());
        let current = sh.requests.get(wec, &name);
        let same = current
            .as_ref()
            .is_some_and(|c| c.data.as_ref().and_then(|d| d.get(CLAUSES_KEY)) == Some(&text));
        if same {
            continue;
        }
        let body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": wec,
                "labels": {REQUEST_LABEL: "true", ORIGIN_WDS: wds},
            },
            "data": {CLAUSES_KEY: text},
        });
        let api: Api<ConfigMap> = Api::namespaced(sh.ctx.its.clone(), wec);
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(api_err(format!("upsync request in {wec}")))?;
    }
    for cm in sh.requests.list() {
        let wec = cm.namespace().unwrap_or_default();
        if wanted.contains_key(&wec) || cm.name_any() != name {
            continue;
        }
        let api: Api<ConfigMap> = Api::namespaced(sh.ctx.its.clone(), &wec);
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(api_err(format!("upsync request in {wec}"))(e)),
        }
    }
    Ok(Next::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(name: &str, spec: serde_json::Value) -> BindingPolicy {
        serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1",
            "kind": "BindingPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap()
    }

    fn clusters() -> Vec<(String, Labels)> {
        ["cluster1", "cluster2"]
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    Labels::from([("name".to_string(), n.to_string())]),
                )
            })
            .collect()
    }

    #[test]
    fn each_wec_gets_the_clauses_of_the_policies_selecting_it() {
        let a = policy(
            "a",
            json!({"clusterSelectors": [{"matchLabels": {"name": "cluster1"}}],
                "upsync": [{"resources": ["configmaps"]}, {"apiGroup": "apps", "statusCollectors": ["s"]}]}),
        );
        let b = policy(
            "b",
            json!({"clusterSelectors": [{}], "upsync": [{"objectNames": ["x"]}]}),
        );
        let downsync_only = policy(
            "c",
            json!({"clusterSelectors": [{}], "downsync": [{"resources": ["*"]}]}),
        );
        let out = desired([&b, &a, &downsync_only], &clusters());
        let summary: Vec<(String, Vec<(String, usize)>)> = out
            .iter()
            .map(|(w, cs)| {
                (
                    w.clone(),
                    cs.iter().map(|c| (c.policy.clone(), c.index)).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "cluster1".to_string(),
                    vec![("a".into(), 0), ("a".into(), 1), ("b".into(), 0)]
                ),
                ("cluster2".to_string(), vec![("b".into(), 0)]),
            ]
        );
        assert_eq!(out["cluster1"][1].clause.api_group.as_deref(), Some("apps"));
        // Collectors are the status controller's business, not the agent's.
        assert!(out["cluster1"][1].clause.status_collectors.is_empty());
    }

    #[test]
    fn deleting_policies_and_no_selectors_ask_nothing() {
        let gone: BindingPolicy = serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1",
            "kind": "BindingPolicy",
            "metadata": {"name": "gone", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"clusterSelectors": [{}], "upsync": [{"resources": ["configmaps"]}]},
        }))
        .unwrap();
        let nowhere = policy(
            "nowhere",
            json!({"upsync": [{"resources": ["configmaps"]}]}),
        );
        assert!(desired([&gone, &nowhere], &clusters()).is_empty());
    }
}
