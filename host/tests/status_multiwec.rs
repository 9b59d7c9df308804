//! Multi-WEC aggregated status (`wantMultiWECReportedState`) for Deployments, StatefulSets and
//! Jobs delivered to three WECs, the `kubestellar.io/executing-count` label, and the switch to
//! a singleton copy and to no returned status as the policy's WECs change.

mod status_support;
mod support;

use serde_json::Value;
use status_support::{Env, wait_for};

const MULTI: &str = "managed-by.kubestellar.io/multiwecstatus";
const SINGLE: &str = "managed-by.kubestellar.io/singletonstatus";
const COUNT: &str = "kubestellar.io/executing-count";

const WORKLOADS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {app: shop}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: shop}}
spec:
  replicas: 2
  selector: {matchLabels: {run: web}}
  template:
    metadata: {labels: {run: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop, labels: {app: shop}}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {run: db}}
  template:
    metadata: {labels: {run: db}}
    spec: {containers: [{name: db, image: "postgres:17"}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop, labels: {app: shop}}
spec:
  completions: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "busybox:1.36", command: ["true"]}]
"#;

fn policy(selector: &str) -> String {
    format!(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {{name: shop}}
spec:
  clusterSelectors: [{{matchLabels: {selector}}}]
  downsync:
  - objectSelectors: [{{matchLabels: {{app: shop}}}}]
    wantMultiWECReportedState: true
"#
    )
}

fn label<'a>(obj: &'a Value, k: &str) -> Option<&'a str> {
    obj["metadata"]["labels"][k].as_str()
}

fn has_condition(obj: &Value, t: &str, status: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == status))
}

#[test]
fn aggregated_status_of_deployments_statefulsets_and_jobs() {
    let mut env = Env::start(3, true);
    env.start_status();
    let wds = env.wds();
    wds.apply(WORKLOADS);
    wds.apply(&policy("{location-group: edge}"));

    let d = wait_for(
        &wds,
        &["deployment", "web", "-n", "shop"],
        "aggregated Deployment status",
        |d| d["status"]["availableReplicas"] == 2 && label(d, COUNT) == Some("3"),
    );
    assert_eq!(label(&d, MULTI), Some("true"), "{d}");
    assert!(label(&d, SINGLE).is_none());
    for f in ["replicas", "updatedReplicas", "readyReplicas"] {
        assert_eq!(d["status"][f], 2, "{f} in {d}");
    }
    assert_eq!(d["status"]["unavailableReplicas"], 0);
    assert_eq!(
        d["status"]["conditions"],
        serde_json::json!([]),
        "no WEC exceeded its progress deadline"
    );

    let s = wait_for(
        &wds,
        &["statefulset", "db", "-n", "shop"],
        "aggregated StatefulSet status",
        |s| s["status"]["readyReplicas"] == 2 && label(s, MULTI) == Some("true"),
    );
    assert_eq!(s["status"]["replicas"], 2);
    assert_eq!(s["status"]["availableReplicas"], 2);
    assert!(
        s["status"]["updateRevision"].is_string(),
        "the WECs agree on the revision: {s}"
    );

    let j = wait_for(
        &wds,
        &["job", "migrate", "-n", "shop"],
        "aggregated Job status",
        |j| j["status"]["succeeded"] == 1 && has_condition(j, "Complete", "True"),
    );
    assert_eq!(j["status"]["active"], 0);
    assert_eq!(j["status"]["failed"], 0);
    assert!(
        j["status"]["completionTime"].is_string() && j["status"]["startTime"].is_string(),
        "{j}"
    );
    assert_eq!(label(&j, COUNT), Some("3"));

    // Namespaces never get status back, but do get counted.
    let ns = wait_for(&wds, &["namespace", "shop"], "the Namespace counted", |n| {
        label(n, COUNT) == Some("3")
    });
    assert!(label(&ns, MULTI).is_none(), "{ns}");

    // One WEC left: a plain copy of its status, as singleton.
    wds.apply(&policy("{name: cluster2}"));
    let d = wait_for(
        &wds,
        &["deployment", "web", "-n", "shop"],
        "one WEC left",
        |d| {
            label(d, COUNT) == Some("1")
                && label(d, SINGLE) == Some("true")
                && label(d, MULTI).is_none()
        },
    );
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert!(
        has_condition(&d, "Available", "True"),
        "the WEC's own conditions: {d}"
    );

    // No WEC: nothing returned, nothing counted.
    wds.apply(&policy("{name: nowhere}"));
    let d = wait_for(&wds, &["deployment", "web", "-n", "shop"], "no WEC", |d| {
        label(d, COUNT).is_none() && label(d, SINGLE).is_none() && label(d, MULTI).is_none()
    });
    assert_eq!(d["status"], serde_json::json!({}));
}
