//! CombinedStatus computed with StatusCollectors (upstream e2e cases 23 to 27), and the
//! controller's ownership of CombinedStatus objects: recreated when deleted, rewritten when
//! edited, deleted when no longer needed, `kubestellar-report` for cluster-scoped objects.

mod status_support;
mod support;

use serde_json::{Value, json};
use status_support::{Env, NGINX, T, condition, get_json, uid, wait_for, wait_gone};
use support::eventually;

fn policy(name: &str, collectors: &[&str]) -> String {
    format!(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {{name: {name}}}
spec:
  clusterSelectors: [{{matchLabels: {{location-group: edge}}}}]
  downsync:
  - objectSelectors: [{{matchLabels: {{app.kubernetes.io/name: nginx}}}}]
    statusCollectors: {collectors:?}
"#
    )
}

fn start() -> Env {
    let mut env = Env::start(2, true);
    env.start_status();
    env.wds().apply(NGINX);
    env
}

/// The CombinedStatus of the nginx Deployment and BindingPolicy `bp`, once it satisfies `pred`.
fn combined(env: &Env, bp: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let wds = env.wds();
    let name = eventually(T, "the Deployment and the BindingPolicy exist", || {
        let d = get_json(&wds, &["deployment", "nginx", "-n", "nginx"])?;
        let p = get_json(&wds, &["bindingpolicy", bp])?;
        Some(format!(
            "{}.{}",
            d["metadata"]["uid"].as_str()?,
            p["metadata"]["uid"].as_str()?
        ))
    });
    wait_for(&wds, &["combinedstatus", &name, "-n", "nginx"], what, pred)
}

fn results(cs: &Value) -> &Vec<Value> {
    static EMPTY: Vec<Value> = Vec::new();
    cs["results"].as_array().unwrap_or(&EMPTY)
}

fn rows(result: &Value) -> Vec<Vec<Value>> {
    result["rows"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| r["columns"].as_array().cloned().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

fn string_cells(result: &Value, col: usize) -> Vec<String> {
    let mut v: Vec<String> = rows(result)
        .iter()
        .filter_map(|r| r.get(col)?["string"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

const FULL_STATUS: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: full-status}
spec:
  select:
  - {name: wecName, def: inventory.name}
  - {name: status, def: returned.status}
  limit: 20
"#;

const SUM: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: sum-available-replicas}
spec:
  combinedFields:
  - {name: sum, type: SUM, subject: returned.status.availableReplicas}
  limit: 10
"#;

const NGINX_WECS: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: nginx-wecs}
spec:
  filter: obj.spec.replicas == returned.status.availableReplicas
  select:
  - {name: wecName, def: inventory.name}
  limit: 10
"#;

/// Cases 23, 24 and 25, one after the other in one environment as upstream runs them.
#[test]
fn cases_23_24_25_full_status_sum_and_filter() {
    let env = start();
    let wds = env.wds();

    // 23: can list the full status from each WEC.
    wds.apply(FULL_STATUS);
    wds.apply(&policy("nginx-combinedstatus", &["full-status"]));
    let cs = combined(
        &env,
        "nginx-combinedstatus",
        "full status from both WECs",
        |cs| {
            results(cs).len() == 1
                && rows(&results(cs)[0]).len() == 2
                && rows(&results(cs)[0])
                    .iter()
                    .all(|r| r[1]["object"]["availableReplicas"] == 1)
        },
    );
    let r = &results(&cs)[0];
    assert_eq!(r["name"], "full-status");
    assert_eq!(r["columnNames"], json!(["wecName", "status"]));
    assert!(rows(r).iter().all(|row| row[0]["type"] == "String"
        && row[1]["type"] == "Object"
        && !row[1]["object"].is_null()));
    assert_eq!(string_cells(r, 0), ["cluster1", "cluster2"]);
    // The five labels, exactly, and the owner.
    assert_eq!(
        cs["metadata"]["labels"],
        json!({"status.kubestellar.io/api-group": "apps", "status.kubestellar.io/resource": "deployments",
            "status.kubestellar.io/namespace": "nginx", "status.kubestellar.io/name": "nginx",
            "status.kubestellar.io/binding-policy": "nginx-combinedstatus"})
    );
    assert_eq!(cs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(
        cs["metadata"]["ownerReferences"][0]["uid"].as_str(),
        Some(uid(&wds, &["deployment", "nginx", "-n", "nginx"]).as_str())
    );
    // kubectl lists it with the CRD's printer columns.
    let table = wds.ok(&["get", "cs", "-n", "nginx"]);
    assert!(
        table.contains("SUBJECT_GROUP")
            && table.contains(cs["metadata"]["name"].as_str().unwrap_or("?")),
        "{table}"
    );
    wds.ok(&["delete", "bindingpolicy", "nginx-combinedstatus"]);
    // The policy's CombinedStatus goes with it.
    let gone = cs["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    wait_gone(
        &wds,
        &["cs", &gone, "-n", "nginx"],
        "the deleted policy's CombinedStatus removed",
    );

    // 24: can sum status.availableReplicas across WECs (the collector arrives after the policy).
    wds.apply(&policy("nginx-sum", &["sum-available-replicas"]));
    wait_for(
        &wds,
        &["bindingpolicy", "nginx-sum"],
        "the missing collector reported",
        |p| {
            condition(p, "StatusCollectorsAvailable").is_some_and(|c| {
                c["status"] == "False"
                    && c["message"] == "Missing StatusCollector(s) [sum-available-replicas]"
            })
        },
    );
    wds.apply(SUM);
    let cs = combined(&env, "nginx-sum", "the sum", |cs| {
        results(cs).len() == 1
            && rows(&results(cs)[0]) == vec![vec![json!({"type": "Number", "float": "2"})]]
    });
    assert_eq!(results(&cs)[0]["columnNames"], json!(["sum"]));
    wait_for(
        &wds,
        &["bindingpolicy", "nginx-sum"],
        "the collector available",
        |p| {
            condition(p, "StatusCollectorsAvailable").is_some_and(|c| {
                c["status"] == "True"
                    && c["reason"] == "ReconcileSuccess"
                    && c["message"] == "All StatusCollector(s) are available"
            })
        },
    );
    wds.ok(&["delete", "bindingpolicy", "nginx-sum"]);

    // 25: can list all the WECs where availableReplicas equals desired replicas.
    wds.apply(NGINX_WECS);
    wds.apply(&policy("nginx-wecs", &["nginx-wecs"]));
    let cs = combined(&env, "nginx-wecs", "both WECs listed", |cs| {
        results(cs).len() == 1 && rows(&results(cs)[0]).len() == 2
    });
    let r = &results(&cs)[0];
    assert_eq!(r["columnNames"], json!(["wecName"]));
    assert_eq!(string_cells(r, 0), ["cluster1", "cluster2"]);
}

const SELECT_AVAILABLE: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: select-available-replicas}
spec:
  select:
  - {name: wecName, def: inventory.name}
  - {name: availableReplicas, def: returned.status.availableReplicas}
  limit: 10
"#;

const REPLICAS: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: replicas}
spec:
  select:
  - {name: wecName, def: inventory.name}
  - {name: replicas, def: returned.status.replicas}
  limit: 10
"#;

const EMPTY_GROUP: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: test-empty-group}
spec:
  filter: "false"
  combinedFields:
  - {name: count, type: COUNT}
  - {name: max, type: MAX, subject: "2"}
  - {name: min, type: MIN, subject: "2"}
  - {name: sum, type: SUM, subject: "2"}
  - {name: avg, type: AVG, subject: "2"}
  limit: 10
"#;

/// Cases 26 and 27.
#[test]
fn cases_26_27_multiple_collectors_and_zero_wecs() {
    let env = start();
    let wds = env.wds();

    // 26: can support multiple StatusCollectors (one of them created later).
    wds.apply(SELECT_AVAILABLE);
    wds.apply(&policy(
        "nginx-multi",
        &["select-available-replicas", "replicas"],
    ));
    let cs = combined(&env, "nginx-multi", "the first result", |cs| {
        results(cs).len() == 1
    });
    assert_eq!(results(&cs)[0]["name"], "select-available-replicas");
    wds.apply(REPLICAS);
    let cs = combined(&env, "nginx-multi", "both results", |cs| {
        results(cs).len() == 2
            && results(cs)
                .iter()
                .all(|r| rows(r).len() == 2 && rows(r).iter().all(|row| row[1]["float"] == "1"))
    });
    let names: Vec<&str> = results(&cs)
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["replicas", "select-available-replicas"],
        "sorted by collector name"
    );
    for r in results(&cs) {
        assert_eq!(r["columnNames"].as_array().map(Vec::len), Some(2));
    }
    wds.ok(&["delete", "bindingpolicy", "nginx-multi"]);

    // 27: can aggregate over zero WECs.
    wds.apply(EMPTY_GROUP);
    wds.apply(&policy("nginx-empty", &["test-empty-group"]));
    let cs = combined(&env, "nginx-empty", "the empty aggregation", |cs| {
        results(cs).len() == 1
    });
    let r = &results(&cs)[0];
    assert_eq!(
        r["columnNames"],
        json!(["count", "max", "min", "sum", "avg"])
    );
    let n = |s: &str| json!({"type": "Number", "float": s});
    assert_eq!(
        rows(r),
        vec![vec![n("0"), n("-Inf"), n("+Inf"), n("0"), n("NaN")]]
    );
    assert_eq!(
        r["aggregationErrors"][0]["error"], "no values to average",
        "{r}"
    );
}

/// The controller owns CombinedStatus objects.
#[test]
fn combined_status_is_recreated_rewritten_and_deleted() {
    let env = start();
    let wds = env.wds();
    wds.apply(NGINX_WECS);
    wds.apply(&policy("owned", &["nginx-wecs"]));
    let cs = combined(&env, "owned", "the CombinedStatus", |cs| {
        rows(&results(cs)[0]).len() == 2
    });
    let name = cs["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let first_uid = cs["metadata"]["uid"].clone();

    // Deleted: recreated.
    wds.ok(&["delete", "cs", &name, "-n", "nginx"]);
    wait_for(&wds, &["cs", &name, "-n", "nginx"], "recreated", |cs| {
        cs["metadata"]["uid"] != first_uid && rows(&results(cs)[0]).len() == 2
    });
    // Edited: rewritten (an extra label and emptied results).
    wds.ok(&["label", "cs", &name, "-n", "nginx", "extra=yes"]);
    wait_for(
        &wds,
        &["cs", &name, "-n", "nginx"],
        "label drift undone",
        |cs| cs["metadata"]["labels"]["extra"].is_null(),
    );
    wds.ok(&[
        "patch",
        "cs",
        &name,
        "-n",
        "nginx",
        "--type=merge",
        "-p",
        r#"{"results":[]}"#,
    ]);
    wait_for(
        &wds,
        &["cs", &name, "-n", "nginx"],
        "results restored",
        |cs| results(cs).len() == 1 && rows(&results(cs)[0]).len() == 2,
    );

    // The cluster-scoped Namespace gets its CombinedStatus in kubestellar-report.
    let ns_cs = format!(
        "{}.{}",
        uid(&wds, &["namespace", "nginx"]),
        uid(&wds, &["bindingpolicy", "owned"])
    );
    let r = wait_for(
        &wds,
        &["cs", &ns_cs, "-n", "kubestellar-report"],
        "the Namespace's CombinedStatus",
        |cs| results(cs).len() == 1,
    );
    assert_eq!(
        r["metadata"]["labels"]["status.kubestellar.io/namespace"],
        ""
    );
    assert_eq!(
        r["metadata"]["labels"]["status.kubestellar.io/resource"],
        "namespaces"
    );

    // No collector any more: both go.
    wds.apply(&policy("owned", &[]));
    wait_gone(
        &wds,
        &["cs", &name, "-n", "nginx"],
        "the Deployment's CombinedStatus deleted",
    );
    wait_gone(
        &wds,
        &["cs", &ns_cs, "-n", "kubestellar-report"],
        "the Namespace's CombinedStatus deleted",
    );
}
