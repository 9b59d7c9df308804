//! Upsync end to end through the embedded system (`System::start`: WDS, ITS, simulated WECs
//! `cluster1` and `cluster2` with their agents, every controller): objects created in a WEC that
//! match a BindingPolicy's upsync clause appear as UpsyncedObjects in the WEC's mailbox of the
//! ITS and as read-only mirrors in the WDS, follow their source's updates and deletion, never
//! collide across WECs, never travel back down, and bad input is reported on the policy.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kubestellar::api::UpsyncedObject;
use kubestellar::system::{System, SystemConfig};
use serde_json::{Value, json};
use support::{Kubectl, consistently, eventually};

const T: Duration = Duration::from_secs(30);
const MIRROR: &str = "upsync.kubestellar.io/mirror";

struct Env {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    system: Option<System>,
    wds: kube::Client,
    its: kube::Client,
    wecs: BTreeMap<String, kube::Client>,
}

impl Env {
    fn new() -> Env {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let system = rt
            .block_on(System::start(SystemConfig::new(dir.path(), 2), &|_| {}))
            .expect("system starts");
        let client = |n: &str| rt.block_on(system.client(n)).expect("client");
        let wds = client("wds1");
        let its = client("its1");
        let wecs = ["cluster1", "cluster2"]
            .iter()
            .map(|n| (n.to_string(), client(n)))
            .collect();
        Env {
            _dir: dir,
            rt,
            system: Some(system),
            wds,
            its,
            wecs,
        }
    }

    fn kubectl(&self, ctx: &str) -> Kubectl {
        let kc = self.system.as_ref().expect("running").kubeconfig.clone();
        Kubectl::new(33, &kc).context(ctx)
    }

    fn cms(&self, client: &kube::Client, ns: &str) -> Api<ConfigMap> {
        Api::namespaced(client.clone(), ns)
    }

    fn namespace(&self, client: &kube::Client, ns: &str) {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        self.rt
            .block_on(api.patch(ns, &PatchParams::apply("test"), &Patch::Apply(&body)))
            .expect("namespace");
    }

    /// Creates or updates a ConfigMap in a WEC.
    fn put_cm(&self, wec: &str, ns: &str, name: &str, labels: Value, data: Value) {
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": data,
        });
        self.rt
            .block_on(self.cms(&self.wecs[wec], ns).patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            ))
            .expect("put ConfigMap");
    }

    fn delete_cm(&self, client: &kube::Client, ns: &str, name: &str) {
        let _ = self
            .rt
            .block_on(self.cms(client, ns).delete(name, &DeleteParams::default()));
    }

    /// The WDS mirrors of ConfigMaps in `ns`, by origin WEC label and origin name.
    fn mirrors(&self, ns: &str) -> BTreeMap<(String, String), ConfigMap> {
        let list = self
            .rt
            .block_on(
                self.cms(&self.wds, ns)
                    .list(&ListParams::default().labels(MIRROR)),
            )
            .map(|l| l.items)
            .unwrap_or_default();
        list.into_iter()
            .map(|c| {
                let wec = c
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(MIRROR))
                    .cloned()
                    .unwrap_or_default();
                let origin = c
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("upsync.kubestellar.io/origin-name"))
                    .cloned()
                    .unwrap_or_default();
                ((wec, origin), c)
            })
            .collect()
    }

    /// The UpsyncedObjects in a WEC's mailbox.
    fn wrappers(&self, wec: &str) -> Vec<UpsyncedObject> {
        let api: Api<UpsyncedObject> = Api::namespaced(self.its.clone(), wec);
        self.rt
            .block_on(api.list(&ListParams::default()))
            .map(|l| l.items)
            .unwrap_or_default()
    }

    fn policy_status(&self, name: &str) -> Value {
        let out = self
            .kubectl("wds1")
            .run(&["get", "bp", name, "-o", "json"], None);
        serde_json::from_str::<Value>(&out.1).unwrap_or(Value::Null)["status"].clone()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.system.take() {
            self.rt.block_on(s.stop());
        }
    }
}

fn data(c: &ConfigMap, key: &str) -> Option<String> {
    c.data.as_ref().and_then(|d| d.get(key)).cloned()
}

const POLICY: &str = r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: reports
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  upsync:
  - apiGroup: ""
    resources: [configmaps]
    namespaces: [reports]
    objectSelectors:
    - matchLabels: {upsync: "yes"}
"#;

#[test]
fn objects_come_up_follow_their_source_and_do_not_collide() {
    let env = Env::new();
    env.kubectl("wds1").apply(POLICY);
    for w in ["cluster1", "cluster2"] {
        env.namespace(&env.wecs[w], "reports");
    }
    // The request reaches both mailboxes.
    eventually(T, "upsync requests in both mailboxes", || {
        ["cluster1", "cluster2"]
            .iter()
            .all(|w| {
                env.kubectl("its1")
                    .jsonpath(&["get", "cm", "upsync.wds1", "-n", w], "{.data.clauses}")
                    .is_some_and(|c| c.contains("\"policy\":\"reports\""))
            })
            .then_some(())
    });

    // Created in cluster1: in the ITS and the WDS within 2 s.
    let start = Instant::now();
    env.put_cm(
        "cluster1",
        "reports",
        "report",
        json!({"upsync": "yes"}),
        json!({"v": "1"}),
    );
    eventually(Duration::from_secs(2), "UpsyncedObject in the ITS", || {
        env.wrappers("cluster1")
            .into_iter()
            .find(|u| u.spec.source_ref.name == "report")
    });
    let its_time = start.elapsed();
    let mirror = eventually(Duration::from_secs(2), "mirror in the WDS", || {
        env.mirrors("reports")
            .remove(&("cluster1".to_string(), "report".to_string()))
    });
    let wds_time = start.elapsed();
    eprintln!("upsync latency: ITS {its_time:?}, WDS {wds_time:?}");
    assert_eq!(data(&mirror, "v").as_deref(), Some("1"));
    let name = mirror.metadata.name.clone().unwrap_or_default();
    assert!(name.starts_with("cluster1-report-"), "{name}");
    let labels = mirror.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("upsync.kubestellar.io/policy")
            .map(String::as_str),
        Some("reports")
    );
    assert_eq!(labels.get("upsync").map(String::as_str), Some("yes"));
    let u = env
        .wrappers("cluster1")
        .into_iter()
        .find(|u| u.spec.source_ref.name == "report")
        .expect("wrapper");
    assert_eq!(u.spec.cluster, "cluster1");
    assert_eq!(u.spec.policies, vec!["reports".to_string()]);
    assert_eq!(u.spec.source_ref.resource, "configmaps");
    assert_eq!(
        u.spec.object.as_ref().map(|o| o["data"]["v"].clone()),
        Some(json!("1"))
    );

    // Not matching: never copied.
    env.put_cm(
        "cluster1",
        "reports",
        "private",
        json!({}),
        json!({"v": "x"}),
    );
    // Same name in cluster2: a second mirror, no collision.
    env.put_cm(
        "cluster2",
        "reports",
        "report",
        json!({"upsync": "yes"}),
        json!({"v": "2"}),
    );
    let both = eventually(T, "mirrors from both WECs", || {
        let m = env.mirrors("reports");
        (m.len() == 2).then_some(m)
    });
    let one = &both[&("cluster1".to_string(), "report".to_string())];
    let two = &both[&("cluster2".to_string(), "report".to_string())];
    assert_ne!(one.metadata.name, two.metadata.name);
    assert_eq!(data(one, "v").as_deref(), Some("1"));
    assert_eq!(data(two, "v").as_deref(), Some("2"));
    assert!(
        env.wrappers("cluster1")
            .iter()
            .all(|u| u.spec.source_ref.name != "private")
    );

    // Updated with its source.
    env.put_cm(
        "cluster1",
        "reports",
        "report",
        json!({"upsync": "yes"}),
        json!({"v": "1b"}),
    );
    eventually(T, "mirror updated", || {
        env.mirrors("reports")
            .get(&("cluster1".to_string(), "report".to_string()))
            .and_then(|c| data(c, "v"))
            .filter(|v| v == "1b")
    });

    // Read-only: an edit is reverted, a deletion undone.
    let wds = env.kubectl("wds1");
    let mname = one.metadata.name.clone().unwrap_or_default();
    wds.ok(&[
        "patch",
        "cm",
        &mname,
        "-n",
        "reports",
        "--type=merge",
        "-p",
        r#"{"data":{"v":"edited"}}"#,
    ]);
    eventually(T, "edit reverted", || {
        wds.jsonpath(&["get", "cm", &mname, "-n", "reports"], "{.data.v}")
            .filter(|v| v == "1b")
    });
    wds.ok(&["delete", "cm", &mname, "-n", "reports"]);
    eventually(T, "deleted mirror re-created", || {
        wds.jsonpath(&["get", "cm", &mname, "-n", "reports"], "{.data.v}")
            .filter(|v| v == "1b")
    });

    // Mirrors never travel back down: a downsync policy selecting the same labels does not
    // pick them.
    env.kubectl("wds1").apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: down
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - objectSelectors:
    - matchLabels: {upsync: "yes"}
"#,
    );
    eventually(T, "Binding down written", || {
        wds.jsonpath(&["get", "binding", "down"], "{.metadata.name}")
    });
    consistently(Duration::from_secs(1), "no mirror in Binding down", || {
        wds.jsonpath(&["get", "binding", "down"], "{.spec.workload}")
            .is_some_and(|w| !w.contains("report"))
    });

    // Source removed: its copies go; the other WEC's stay.
    let c1 = env.wecs["cluster1"].clone();
    env.delete_cm(&c1, "reports", "report");
    eventually(T, "cluster1's copies removed", || {
        let m = env.mirrors("reports");
        let w = env.wrappers("cluster1");
        (m.len() == 1
            && m.contains_key(&("cluster2".to_string(), "report".to_string()))
            && w.is_empty())
        .then_some(())
    });

    // The policy stops selecting cluster2: its copies go too.
    env.kubectl("wds1").apply(&POLICY.replace(
        "matchLabels: {location-group: edge}",
        "matchLabels: {name: cluster1}",
    ));
    eventually(T, "cluster2's copies removed", || {
        (env.mirrors("reports").is_empty() && env.wrappers("cluster2").is_empty()).then_some(())
    });
}

#[test]
fn secrets_need_opt_in_and_oversized_objects_are_reported() {
    let env = Env::new();
    for w in ["cluster1", "cluster2"] {
        env.namespace(&env.wecs[w], "big");
    }
    env.kubectl("wds1").apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: everything
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  upsync:
  - resources: ["*"]
    namespaces: [big]
  - resources: [secrets]
    namespaces: [big]
"#,
    );
    eventually(T, "clause error on the policy", || {
        let s = env.policy_status("everything");
        s["upsyncErrors"]
            .as_array()
            .filter(|e| {
                e.iter().any(|e| {
                    e.as_str().is_some_and(|e| {
                        e.starts_with("spec.upsync[1].resources:") && e.contains("allowSecrets")
                    })
                })
            })
            .cloned()
    });
    // A Secret is not copied without the opt-in; a ConfigMap next to it is.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.wecs["cluster1"].clone(), "big");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "token", "namespace": "big"},
        "stringData": {"t": "s3cret"},
    }))
    .expect("secret");
    env.rt
        .block_on(secrets.create(&PostParams::default(), &secret))
        .expect("create secret");
    env.put_cm("cluster1", "big", "small", json!({}), json!({"v": "1"}));
    eventually(T, "the ConfigMap comes up", || {
        env.mirrors("big")
            .contains_key(&("cluster1".to_string(), "small".to_string()))
            .then_some(())
    });
    consistently(Duration::from_secs(1), "the Secret stays down", || {
        env.wrappers("cluster1")
            .iter()
            .all(|u| u.spec.source_ref.kind != "Secret")
    });

    // Too large for the ITS (the agent's copy limit is 1,000,000 bytes) while within the 1 MiB
    // a ConfigMap may hold: reported on the policy, not copied, not silently dropped.
    let huge = "x".repeat(1_040_000);
    env.put_cm("cluster1", "big", "huge", json!({}), json!({"blob": huge}));
    let u = eventually(T, "an UpsyncedObject saying why", || {
        env.wrappers("cluster1")
            .into_iter()
            .find(|u| u.spec.source_ref.name == "huge")
    });
    assert!(u.spec.object.is_none());
    let err = u.status.and_then(|s| s.error).unwrap_or_default();
    assert!(err.contains("too large for the ITS"), "{err}");
    eventually(T, "the size error on the policy", || {
        let s = env.policy_status("everything");
        s["upsyncErrors"]
            .as_array()
            .filter(|e| {
                e.iter().any(|e| {
                    e.as_str().is_some_and(|e| {
                        e.starts_with("ConfigMap big/huge from cluster1:")
                            && e.contains("too large")
                    })
                })
            })
            .cloned()
    });
    assert!(
        !env.mirrors("big")
            .contains_key(&("cluster1".to_string(), "huge".to_string()))
    );

    // With the opt-in, the Secret comes up and the clause error goes.
    env.kubectl("wds1").apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: everything
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  upsync:
  - resources: ["*"]
    namespaces: [big]
  - resources: [secrets]
    namespaces: [big]
    allowSecrets: true
"#,
    );
    eventually(T, "the Secret comes up", || {
        env.wrappers("cluster1")
            .into_iter()
            .find(|u| u.spec.source_ref.kind == "Secret")
    });
    eventually(T, "only the size error remains", || {
        let s = env.policy_status("everything");
        let errors = s["upsyncErrors"].as_array().cloned().unwrap_or_default();
        (errors.len() == 1).then_some(())
    });
    // Shrunk: copied after all, and the error goes.
    env.put_cm(
        "cluster1",
        "big",
        "huge",
        json!({}),
        json!({"blob": "small now"}),
    );
    eventually(T, "shrunk object mirrored and no error", || {
        let s = env.policy_status("everything");
        (s.get("upsyncErrors").is_none()
            && env
                .mirrors("big")
                .contains_key(&("cluster1".to_string(), "huge".to_string())))
        .then_some(())
    });
}
