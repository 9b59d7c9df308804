//! Upsync summaries end to end through the embedded system (`System::start`: WDS, ITS,
//! simulated WECs `cluster1` and `cluster2`, every controller): an upsync clause naming
//! StatusCollectors gets one CombinedStatus per (policy, upsynced object) that summarizes the
//! copies from every WEC, follows them as they come and go, and goes with the policy.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kubestellar::api::CombinedStatus;
use kubestellar::system::System;
use serde_json::{Value, json};
use support::{Kubectl, consistently, eventually};

const T: Duration = Duration::from_secs(30);
const SUMMARY: &str = "upsync.kubestellar.io/summary";

const COLLECTORS: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: count}
spec:
  combinedFields:
  - {name: count, type: COUNT}
  limit: 10
---
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: wecs}
spec:
  select:
  - {name: wec, def: inventory.name}
  - {name: object, def: obj.metadata.name}
  limit: 10
---
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: ready}
spec:
  combinedFields:
  - {name: ready, type: SUM, subject: returned.status.readyReplicas}
  limit: 10
"#;

/// The namespace goes down; labelled ConfigMaps (counted and listed) and Deployments (their
/// returned ready replicas summed) come back up.
const POLICY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: gs}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: gsum}
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - apiGroup: ""
    resources: [namespaces]
    objectNames: [gs]
  upsync:
  - apiGroup: ""
    resources: [configmaps]
    namespaces: [gs]
    objectSelectors:
    - matchLabels: {up: "yes"}
    statusCollectors: [wecs, count]
  - apiGroup: apps
    resources: [deployments]
    namespaces: [gs]
    statusCollectors: [ready, absent]
"#;

struct Env {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    system: Option<System>,
    wds: kube::Client,
    wecs: Vec<kube::Client>,
}

impl Env {
    fn new() -> Env {
        let (dir, rt, system) = support::start_system(2, |_| {});
        let client = |n: &str| rt.block_on(system.client(n)).expect("client");
        let wds = client("wds1");
        let wecs = vec![client("cluster1"), client("cluster2")];
        Env {
            _dir: dir,
            rt,
            system: Some(system),
            wds,
            wecs,
        }
    }

    fn kubectl(&self) -> Kubectl {
        let kc = self.system.as_ref().expect("running").kubeconfig.clone();
        Kubectl::new(33, &kc).context("wds1")
    }

    /// Applies an object in WEC `i` (0 = cluster1).
    fn put(&self, i: usize, ar: &kube::core::ApiResource, body: Value) {
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.wecs[i].clone(), "gs", ar);
        let name = body["metadata"]["name"].as_str().unwrap_or_default();
        self.rt
            .block_on(api.patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            ))
            .expect("apply in WEC");
    }

    fn delete(&self, i: usize, ar: &kube::core::ApiResource, name: &str) {
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.wecs[i].clone(), "gs", ar);
        self.rt
            .block_on(api.delete(name, &DeleteParams::default()))
            .expect("delete in WEC");
    }

    /// The upsync summaries in namespace `gs` of the WDS.
    fn summaries(&self) -> Vec<CombinedStatus> {
        let api: Api<CombinedStatus> = Api::namespaced(self.wds.clone(), "gs");
        self.rt
            .block_on(api.list(&ListParams::default().labels(&format!("{SUMMARY}=true"))))
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// The summary of the named source, by its `status.kubestellar.io/name` label.
    fn summary_of(&self, resource: &str, name: &str) -> Option<CombinedStatus> {
        self.summaries().into_iter().find(|cs| {
            let l = cs.metadata.labels.clone().unwrap_or_default();
            l.get("status.kubestellar.io/resource").map(String::as_str) == Some(resource)
                && l.get("status.kubestellar.io/name").map(String::as_str) == Some(name)
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.system.take() {
            self.rt.block_on(s.stop());
        }
    }
}

/// A result's cells as JSON (row order aside: rows sorted by their text).
fn result(cs: &CombinedStatus, name: &str) -> Vec<Value> {
    let mut rows: Vec<Value> = cs
        .results
        .iter()
        .filter(|r| r.name == name)
        .flat_map(|r| &r.rows)
        .map(|row| serde_json::to_value(&row.columns).unwrap_or(Value::Null))
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn configmap(name: &str, up: &str, k: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "gs", "labels": {"up": up}}, "data": {"k": k}})
}

fn deployment(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "gs"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

#[test]
fn upsynced_copies_are_summarized_per_policy_and_object() {
    let env = Env::new();
    let cm = kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    let dep = kube::core::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
    env.kubectl().apply(COLLECTORS);
    env.kubectl().apply(POLICY);
    let policy_uid = eventually(T, "the policy's UID", || {
        env.kubectl()
            .jsonpath(&["get", "bp", "gsum"], "{.metadata.uid}")
            .filter(|u| !u.is_empty())
    });
    // The namespace comes down to both WECs.
    eventually(T, "namespace gs in both WECs", || {
        env.wecs
            .iter()
            .all(|c| {
                let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
                env.rt.block_on(api.get_opt("gs")).ok().flatten().is_some()
            })
            .then_some(())
    });

    env.put(0, &cm, configmap("report", "yes", "one"));
    env.put(1, &cm, configmap("report", "yes", "two"));
    env.put(0, &cm, configmap("other", "no", "x"));
    let cs = eventually(T, "a summary of both copies", || {
        env.summary_of("configmaps", "report")
            .filter(|cs| result(cs, "count") == [json!([{"type": "Number", "float": "2"}])])
    });
    assert_eq!(
        result(&cs, "wecs"),
        [
            json!([{"type": "String", "string": "cluster1"}, {"type": "String", "string": "report"}]),
            json!([{"type": "String", "string": "cluster2"}, {"type": "String", "string": "report"}]),
        ]
    );
    assert_eq!(
        cs.results
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["count", "wecs"],
        "only this clause's collectors, sorted"
    );
    let name = cs.metadata.name.clone().unwrap_or_default();
    assert!(
        name.starts_with(&format!("{policy_uid}.upsync.")),
        "named after the policy: {name}"
    );
    let labels = cs.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["upsync.kubestellar.io/policy"], "gsum");
    assert_eq!(labels["status.kubestellar.io/namespace"], "gs");
    assert_eq!(labels["status.kubestellar.io/api-group"], "");
    assert!(!labels.contains_key("status.kubestellar.io/binding-policy"));

    // Returned state counts: the simulated WECs report the Deployments' ready replicas.
    env.put(0, &dep, deployment(2));
    env.put(1, &dep, deployment(1));
    eventually(T, "ready replicas summed over both WECs", || {
        env.summary_of("deployments", "web")
            .filter(|cs| result(cs, "ready") == [json!([{"type": "Number", "float": "3"}])])
    });
    // A collector that does not exist shows in the policy's condition (and in no result).
    eventually(T, "the missing collector reported", || {
        env.kubectl()
            .jsonpath(
                &["get", "bp", "gsum"],
                "{.status.conditions[?(@.type==\"StatusCollectorsAvailable\")].message}",
            )
            .filter(|m| m == "Missing StatusCollector(s) [absent]")
    });
    // The unlabelled ConfigMap has no summary, and nothing is rewritten while nothing changes.
    let names: BTreeSet<String> = env
        .summaries()
        .iter()
        .filter_map(|cs| {
            cs.metadata
                .labels
                .clone()?
                .get("status.kubestellar.io/name")
                .cloned()
        })
        .collect();
    assert_eq!(names, BTreeSet::from(["report".into(), "web".into()]));
    let rv = |env: &Env| {
        env.summary_of("configmaps", "report")
            .and_then(|cs| cs.metadata.resource_version)
    };
    let before = rv(&env);
    consistently(
        Duration::from_secs(2),
        "the summary is not rewritten",
        || rv(&env) == before,
    );

    // A copy goes: one row left.
    env.delete(1, &cm, "report");
    let cs = eventually(T, "the summary of the remaining copy", || {
        env.summary_of("configmaps", "report")
            .filter(|cs| result(cs, "count") == [json!([{"type": "Number", "float": "1"}])])
    });
    assert_eq!(
        result(&cs, "wecs"),
        [json!([{"type": "String", "string": "cluster1"}, {"type": "String", "string": "report"}])]
    );
    // A deleted summary is re-created.
    let api: Api<CombinedStatus> = Api::namespaced(env.wds.clone(), "gs");
    env.rt
        .block_on(api.delete(&name, &DeleteParams::default()))
        .expect("delete the summary");
    eventually(T, "the summary re-created", || {
        env.summary_of("configmaps", "report")
            .filter(|cs| result(cs, "count") == [json!([{"type": "Number", "float": "1"}])])
    });

    // The last copy goes: so does its summary (the Deployment's stays).
    env.delete(0, &cm, "report");
    eventually(T, "no summary without copies", || {
        env.summary_of("configmaps", "report")
            .is_none()
            .then_some(())
    });
    assert!(env.summary_of("deployments", "web").is_some());

    // The policy goes: every summary goes.
    env.kubectl().ok(&["delete", "bp", "gsum"]);
    eventually(T, "no summaries without the policy", || {
        env.summaries().is_empty().then_some(())
    });
}
