//! Singleton reported state: a WDS object's `.status` is the status its one qualified WEC
//! returned (upstream e2e cases 14, 15 and 16, and the same mechanism with a Binding and a
//! ManifestWork written by hand, the status controller running alone).

mod status_support;
mod support;

use std::time::Duration;

use serde_json::Value;
use status_support::{Env, NGINX, T, get_json, wait_for};
use support::{consistently, eventually};

const LABEL: &str = "managed-by.kubestellar.io/singletonstatus";
const COUNT: &str = "kubestellar.io/executing-count";

fn label<'a>(obj: &'a Value, k: &str) -> Option<&'a str> {
    obj["metadata"]["labels"][k].as_str()
}

fn deployments(env: &Env, wec: &str) -> usize {
    get_json(&env.wec(wec), &["deployments", "-n", "nginx"])
        .and_then(|v| v["items"].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn wait_deployments(env: &Env, wanted: &[(&str, usize)]) {
    eventually(T, &format!("deployments per WEC {wanted:?}"), || {
        wanted
            .iter()
            .all(|(w, n)| deployments(env, w) == *n)
            .then_some(())
    });
}

const BINDING: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: Binding
metadata: {name: nginx-singleton}
spec:
  destinations: [{clusterId: DEST}]
  workload:
    namespaceScope:
    - {group: apps, version: v1, resource: deployments, namespace: nginx, name: nginx, resourceVersion: "1", wantSingletonReportedState: true}
"#;

const MANIFESTWORK: &str = r#"
apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: nginx-singleton-wds1
  namespace: cluster1
  labels: {transport.kubestellar.io/originWdsName: wds1, transport.kubestellar.io/originOwnerReferenceBindingKey: nginx-singleton}
spec:
  workload:
    manifests:
    - {apiVersion: v1, kind: Namespace, metadata: {name: nginx}}
    - apiVersion: apps/v1
      kind: Deployment
      metadata: {name: nginx, namespace: nginx, labels: {app.kubernetes.io/name: nginx}}
      spec:
        replicas: 1
        selector: {matchLabels: {app.kubernetes.io/name: nginx}}
        template:
          metadata: {labels: {app.kubernetes.io/name: nginx}}
          spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
"#;

/// The status controller alone: a Binding and a ManifestWork written by hand, the agent
/// delivering and reporting for real.
#[test]
fn singleton_status_follows_the_one_qualified_wec() {
    let mut env = Env::start(2, false);
    env.start_status();
    let wds = env.wds();
    wds.apply(NGINX);
    wds.apply(&BINDING.replace("DEST", "cluster1"));
    env.its().apply(MANIFESTWORK);
    let d = wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "singleton status in the WDS",
        |d| d["status"]["availableReplicas"] == 1 && label(d, LABEL) == Some("true"),
    );
    assert_eq!(label(&d, COUNT), Some("1"), "{d}");
    assert_eq!(d["status"]["readyReplicas"], 1);

    // A user's edit of the returned status is overwritten.
    wds.ok(&[
        "patch",
        "deployment",
        "nginx",
        "-n",
        "nginx",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"availableReplicas":7}}"#,
    ]);
    wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "the returned status restored",
        |d| d["status"]["availableReplicas"] == 1,
    );

    // The qualified WEC becomes cluster2, which has no WorkStatus: status cleared, label gone.
    wds.apply(&BINDING.replace("DEST", "cluster2"));
    let d = wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "status cleared",
        |d| d["status"] == serde_json::json!({}) && label(d, LABEL).is_none(),
    );
    // Still delivered to cluster1 (its ManifestWork is there).
    assert_eq!(label(&d, COUNT), Some("1"), "{d}");
    env.its().ok(&[
        "delete",
        "manifestwork",
        "nginx-singleton-wds1",
        "-n",
        "cluster1",
    ]);
    wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "executing count removed",
        |d| label(d, COUNT).is_none(),
    );
}

const NGINX_BP: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: nginx}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync: [{objectSelectors: [{matchLabels: {app.kubernetes.io/name: nginx}}]}]
"#;

const SINGLETON_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-singleton
  namespace: nginx
  labels: {app.kubernetes.io/name: nginx-singleton}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: nginx-singleton}}
  template:
    metadata: {labels: {app.kubernetes.io/name: nginx-singleton}}
    spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
"#;

fn singleton_bp(select: &str) -> String {
    format!(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {{name: nginx-singleton}}
spec:
  clusterSelectors: [{{matchLabels: {{name: cluster1}}}}]
  downsync:
  - objectSelectors: [{{matchLabels: {{app.kubernetes.io/name: {select}}}}}]
    wantSingletonReportedState: true
"#
    )
}

const CELESTIAL: &str =
    r#"{"spec":{"clusterSelectors":[{"matchLabels":{"name":"CelestialNexus"}}]}}"#;

/// Upstream environment: the nginx Namespace and Deployment delivered to both WECs.
fn upstream_env() -> Env {
    let mut env = Env::start(2, true);
    env.start_status();
    env.wds().apply(NGINX);
    env.wds().apply(NGINX_BP);
    wait_deployments(&env, &[("cluster1", 1), ("cluster2", 1)]);
    env
}

/// Case 14: sets (or deletes) singleton status when a singleton bindingpolicy/deployment is
/// created (or deleted).
#[test]
fn case14_singleton_status_set_and_cleared() {
    let env = upstream_env();
    let wds = env.wds();
    wds.ok(&["delete", "deployment", "nginx", "-n", "nginx"]);
    wait_deployments(&env, &[("cluster1", 0), ("cluster2", 0)]);
    wds.apply(SINGLETON_DEPLOYMENT);
    wds.apply(&singleton_bp("nginx-singleton"));
    wait_deployments(&env, &[("cluster1", 1), ("cluster2", 0)]);
    wait_for(
        &wds,
        &["deployment", "nginx-singleton", "-n", "nginx"],
        "availableReplicas 1",
        |d| d["status"]["availableReplicas"] == 1,
    );

    wds.ok(&[
        "patch",
        "bindingpolicy",
        "nginx-singleton",
        "--type=merge",
        "-p",
        CELESTIAL,
    ]);
    wait_deployments(&env, &[("cluster1", 0), ("cluster2", 0)]);
    let d = wait_for(
        &wds,
        &["deployment", "nginx-singleton", "-n", "nginx"],
        "status.conditions nil",
        |d| d["status"]["conditions"].is_null(),
    );
    assert!(label(&d, LABEL).is_none(), "{d}");
}

/// Case 15: only counts the number of qualified WECs (the policy delivering to both WECs does
/// not ask for singleton status, so only cluster1 qualifies).
#[test]
fn case15_only_qualified_wecs_count() {
    let env = upstream_env();
    let wds = env.wds();
    wds.apply(&singleton_bp("nginx"));
    wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "availableReplicas 1",
        |d| d["status"]["availableReplicas"] == 1,
    );
    assert_eq!(deployments(&env, "cluster1"), 1);
    assert_eq!(deployments(&env, "cluster2"), 1);
    let d = wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "executing in 2",
        |d| label(d, COUNT) == Some("2"),
    );
    assert_eq!(label(&d, LABEL), Some("true"));

    wds.ok(&[
        "patch",
        "bindingpolicy",
        "nginx-singleton",
        "--type=merge",
        "-p",
        CELESTIAL,
    ]);
    wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "status.conditions nil",
        |d| d["status"]["conditions"].is_null(),
    );
    // Still delivered to both by the other policy.
    assert_eq!(deployments(&env, "cluster1"), 1);
    assert_eq!(deployments(&env, "cluster2"), 1);
}

/// Case 16: cleans up previously synced but currently invalid singleton status (the change
/// happens while the status controller is down).
#[test]
fn case16_stale_singleton_status_is_cleaned_after_a_restart() {
    let mut env = upstream_env();
    let wds = env.wds();
    wds.ok(&["delete", "deployment", "nginx", "-n", "nginx"]);
    wds.apply(SINGLETON_DEPLOYMENT);
    wds.apply(&singleton_bp("nginx-singleton"));
    wait_for(
        &wds,
        &["deployment", "nginx-singleton", "-n", "nginx"],
        "singleton status",
        |d| !d["status"]["conditions"].is_null(),
    );

    env.stop_status();
    wds.ok(&[
        "patch",
        "bindingpolicy",
        "nginx-singleton",
        "--type=merge",
        "-p",
        CELESTIAL,
    ]);
    wait_deployments(&env, &[("cluster1", 0), ("cluster2", 0)]);
    consistently(
        Duration::from_secs(3),
        "the stale status stays while the status controller is down",
        || {
            get_json(&wds, &["deployment", "nginx-singleton", "-n", "nginx"])
                .is_some_and(|d| !d["status"]["conditions"].is_null())
        },
    );

    env.start_status();
    let d = wait_for(
        &wds,
        &["deployment", "nginx-singleton", "-n", "nginx"],
        "status.conditions nil",
        |d| d["status"]["conditions"].is_null(),
    );
    assert!(label(&d, LABEL).is_none(), "{d}");
}

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: default}
spec: {size: 3}
"#;

/// Objects of a resource without a status subresource get their status through the main
/// resource (upstream's merge-patch fallback).
#[test]
fn status_of_a_resource_without_status_subresource() {
    let mut env = Env::start(1, false);
    env.start_status();
    let wds = env.wds();
    wds.apply(WIDGET_CRD);
    env.wec("cluster1").apply(WIDGET_CRD);
    eventually(T, "the CRDs served", || {
        (wds.run(&["get", "widgets"], None).0
            && env.wec("cluster1").run(&["get", "widgets"], None).0)
            .then_some(())
    });
    wds.apply(WIDGET);
    wds.apply(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: Binding
metadata: {name: widgets}
spec:
  destinations: [{clusterId: cluster1}]
  workload:
    namespaceScope:
    - {group: example.com, version: v1, resource: widgets, namespace: default, name: w, resourceVersion: "1", wantSingletonReportedState: true}
"#,
    );
    env.its().apply(
        r#"
apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: widgets-wds1
  namespace: cluster1
  labels: {transport.kubestellar.io/originWdsName: wds1, transport.kubestellar.io/originOwnerReferenceBindingKey: widgets}
spec:
  workload:
    manifests:
    - {apiVersion: example.com/v1, kind: Widget, metadata: {name: w, namespace: default}, spec: {size: 3}}
"#,
    );
    let wec = env.wec("cluster1");
    eventually(T, "the Widget delivered", || {
        wec.run(&["get", "widget", "w"], None).0.then_some(())
    });
    wec.ok(&[
        "patch",
        "widget",
        "w",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ]);
    let w = wait_for(&wds, &["widget", "w"], "the status returned", |w| {
        w["status"]["phase"] == "Ready" && label(w, LABEL) == Some("true")
    });
    assert_eq!(w["spec"]["size"], 3);
}
