//! BindingPolicy conditions: `Ready` (everything applied everywhere), `Synced` (the transport
//! controller processed the Binding without errors) and `StatusCollectorsAvailable`, on the
//! policy and on its Binding, shown by `kubectl get bindingpolicies`.

mod status_support;
mod support;

use std::time::Duration;

use serde_json::Value;
use status_support::{Env, NGINX, condition, get_json, wait_for};
use support::consistently;

const NGINX_BP: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: nginx}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync: [{objectSelectors: [{matchLabels: {app.kubernetes.io/name: nginx}}]}]
"#;

fn is(obj: &Value, t: &str, status: &str, reason: &str) -> bool {
    condition(obj, t).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

#[test]
fn ready_and_synced_follow_delivery() {
    let mut env = Env::start(2, true);
    env.start_status();
    let wds = env.wds();
    wds.apply(NGINX);
    wds.apply(NGINX_BP);
    let p = wait_for(&wds, &["bindingpolicy", "nginx"], "Ready and Synced", |p| {
        is(p, "Ready", "True", "Available") && is(p, "Synced", "True", "ReconcileSuccess")
    });
    assert_eq!(
        condition(&p, "Ready").map(|c| c["message"].clone()),
        Some("All 2 object(s) are applied in 2 WEC(s)".into())
    );
    assert!(is(
        &p,
        "StatusCollectorsAvailable",
        "True",
        "ReconcileSuccess"
    ));
    // The binding controller's fields are untouched.
    assert_eq!(
        p["status"]["observedGeneration"],
        p["metadata"]["generation"]
    );
    // The Binding carries the same conditions.
    let b = wait_for(
        &wds,
        &["binding", "nginx"],
        "the Binding's conditions",
        |b| is(b, "Ready", "True", "Available"),
    );
    assert!(is(&b, "Synced", "True", "ReconcileSuccess"));
    // The printer columns work.
    let table = wds.ok(&["get", "bindingpolicies"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("nginx"))
        .unwrap_or_default();
    assert_eq!(
        row.split_whitespace().take(3).collect::<Vec<_>>(),
        ["nginx", "True", "True"],
        "{table}"
    );

    // Nothing changes: neither do the conditions (nor their times).
    let before =
        get_json(&wds, &["bindingpolicy", "nginx"]).map(|p| p["status"]["conditions"].clone());
    consistently(Duration::from_secs(2), "conditions stay", || {
        get_json(&wds, &["bindingpolicy", "nginx"]).map(|p| p["status"]["conditions"].clone())
            == before
    });

    // An object that cannot be applied (its namespace is not delivered): not Ready, saying why.
    wds.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: lonely}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: lonely, labels: {app.kubernetes.io/name: nginx}}\ndata: {a: b}\n",
    );
    let p = wait_for(&wds, &["bindingpolicy", "nginx"], "not Ready", |p| {
        is(p, "Ready", "False", "Unavailable")
    });
    let msg = condition(&p, "Ready")
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("cluster1: ") && msg.contains("cluster2: ") && msg.contains("lonely"),
        "{msg}"
    );
    // Delivering the namespace too makes it Ready again (the agent retries a failed apply when
    // its ManifestWork changes, hence the update of the ConfigMap).
    wds.ok(&[
        "label",
        "namespace",
        "lonely",
        "app.kubernetes.io/name=nginx",
    ]);
    wait_for(
        &env.wec("cluster1"),
        &["namespace", "lonely"],
        "the namespace delivered",
        |_| true,
    );
    wait_for(
        &env.wec("cluster2"),
        &["namespace", "lonely"],
        "the namespace delivered",
        |_| true,
    );
    wds.ok(&[
        "patch",
        "configmap",
        "cfg",
        "-n",
        "lonely",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"c"}}"#,
    ]);
    let p = wait_for(&wds, &["bindingpolicy", "nginx"], "Ready again", |p| {
        is(p, "Ready", "True", "Available")
    });
    assert_eq!(
        condition(&p, "Ready").map(|c| c["message"].clone()),
        Some("All 4 object(s) are applied in 2 WEC(s)".into())
    );

    // A template that cannot be expanded: the transport controller reports it, so not Synced.
    wds.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: templated\n  namespace: nginx\n  labels: {app.kubernetes.io/name: nginx}\n  annotations: {control.kubestellar.io/expand-templates: \"true\"}\ndata: {url: \"{{ .noSuchProperty }}\"}\n",
    );
    let p = wait_for(&wds, &["bindingpolicy", "nginx"], "not Synced", |p| {
        is(p, "Synced", "False", "ReconcileError")
    });
    let msg = condition(&p, "Synced")
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("noSuchProperty"), "{msg}");
    wds.ok(&[
        "annotate",
        "configmap",
        "templated",
        "-n",
        "nginx",
        "control.kubestellar.io/expand-templates-",
    ]);
    wait_for(&wds, &["bindingpolicy", "nginx"], "Synced again", |p| {
        is(p, "Synced", "True", "ReconcileSuccess") && is(p, "Ready", "True", "Available")
    });
}
