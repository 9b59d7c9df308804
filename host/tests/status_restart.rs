//! Restart idempotence: once everything the status controller maintains is in place, a new
//! status controller (as after a crash or an upgrade) recomputes all of it and writes nothing,
//! and a running one stops writing when nothing changes.

mod plugin_support;
mod status_support;
mod support;

use std::time::Duration;

use status_support::{Env, NGINX, T, condition, get_json, wait_for};
use support::{consistently, eventually};

const SETUP: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: full-status}
spec:
  select:
  - {name: wecName, def: inventory.name}
  - {name: status, def: returned.status}
  limit: 20
---
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: by-region}
spec:
  plugin: {name: region-summary}
  limit: 20
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: nginx}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync:
  - objectSelectors: [{matchLabels: {app.kubernetes.io/name: nginx}}]
    statusCollectors: [full-status, by-region, not-there]
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: nginx-single}
spec:
  clusterSelectors: [{matchLabels: {name: cluster1}}]
  downsync:
  - objectSelectors: [{matchLabels: {app.kubernetes.io/name: nginx}}]
    wantSingletonReportedState: true
"#;

/// Waits until the WDS sees no write for `quiet`.
fn settle(env: &Env, quiet: Duration) {
    eventually(T, "the WDS to settle", || {
        let rv = env.wds_rv();
        std::thread::sleep(quiet);
        (env.wds_rv() == rv).then_some(())
    });
}

#[test]
fn a_restarted_status_controller_writes_nothing_when_nothing_changed() {
    let wasm = plugin_support::fixture_path("region_summarizer");
    let mut env = Env::start(2, true);
    env.start_status();
    let wds = env.wds();
    wds.apply(NGINX);
    wds.apply(&format!(
        "apiVersion: control.kubestellar.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: region-summary}}\nspec: {{source: \"file://{}\"}}\n",
        wasm.display()
    ));
    wds.apply(SETUP);

    // Everything in place: returned status, labels, CombinedStatus, conditions.
    let d = wait_for(
        &wds,
        &["deployment", "nginx", "-n", "nginx"],
        "singleton status and count",
        |d| {
            d["status"]["availableReplicas"] == 1
                && d["metadata"]["labels"]["kubestellar.io/executing-count"] == "2"
        },
    );
    let cs_name = format!(
        "{}.{}",
        d["metadata"]["uid"].as_str().unwrap_or_default(),
        get_json(&wds, &["bindingpolicy", "nginx"])
            .map(|p| p["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string())
            .unwrap_or_default()
    );
    wait_for(
        &wds,
        &["cs", &cs_name, "-n", "nginx"],
        "both results",
        |cs| cs["results"].as_array().is_some_and(|r| r.len() == 2),
    );
    wait_for(&wds, &["bindingpolicy", "nginx"], "conditions", |p| {
        condition(p, "Ready").is_some_and(|c| c["status"] == "True")
            && condition(p, "StatusCollectorsAvailable")
                .is_some_and(|c| c["message"] == "Missing StatusCollector(s) [not-there]")
    });
    wait_for(
        &wds,
        &["bindingpolicy", "nginx-single"],
        "conditions",
        |p| condition(p, "Ready").is_some_and(|c| c["status"] == "True"),
    );
    settle(&env, Duration::from_secs(2));
    let first = env.stats();
    assert!(first.writes > 0, "{first:?}");
    // A running controller does not write again while nothing changes.
    consistently(Duration::from_secs(2), "no further writes", || {
        env.stats().writes == first.writes
    });

    // Restart: everything is recomputed (summarizers called again), nothing is written.
    let rv = env.wds_rv();
    let d = get_json(&wds, &["deployment", "nginx", "-n", "nginx"]).unwrap_or_default();
    env.stop_status();
    env.start_status();
    eventually(T, "the new controller to go through its work", || {
        let s = env.stats();
        (s.reconciles >= first.reconciles.min(10) && s.summarize_calls >= 4).then_some(())
    });
    consistently(Duration::from_secs(3), "the WDS unchanged", || {
        env.wds_rv() == rv
    });
    let second = env.stats();
    assert_eq!(second.writes, 0, "{second:?}");
    assert_eq!(second.write_failures, 0, "{second:?}");
    let d2 = get_json(&wds, &["deployment", "nginx", "-n", "nginx"]).unwrap_or_default();
    assert_eq!(
        d2["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
}

/// Labels the controller maintains, left on objects whose Bindings went while it was down, are
/// removed when it starts, even when no Binding names their resource any more.
#[test]
fn stale_labels_of_unbound_resources_are_removed_at_start() {
    let mut env = Env::start(1, false);
    let wds = env.wds();
    wds.apply(
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: leftover
  namespace: default
  labels: {kubestellar.io/executing-count: "2", managed-by.kubestellar.io/singletonstatus: "true", keep: "me"}
data: {a: b}
"#,
    );
    env.start_status();
    let cm = wait_for(
        &wds,
        &["configmap", "leftover"],
        "stale labels removed",
        |cm| {
            cm["metadata"]["labels"]["kubestellar.io/executing-count"].is_null()
                && cm["metadata"]["labels"]["managed-by.kubestellar.io/singletonstatus"].is_null()
        },
    );
    assert_eq!(cm["metadata"]["labels"]["keep"], "me");
    assert_eq!(cm["data"]["a"], "b");
}
