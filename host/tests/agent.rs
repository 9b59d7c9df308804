//! The WEC agent against real spaces: an ITS and two simulated WECs, ManifestWorks written by
//! hand with kubectl, results checked with kubectl and through the spaces' resourceVersions.

mod support;

use std::time::Duration;

use kubestellar::agent::{Agent, AgentConfig};
use kubestellar::inventory::{self, Registration};
use serde_json::{Value, json};
use support::{Spaces, consistently, eventually};
use tokio::sync::oneshot;

const T: Duration = Duration::from_secs(20);

struct Env {
    spaces: Spaces,
    agents: Vec<(String, oneshot::Sender<()>)>,
}

impl Env {
    fn new() -> Env {
        let spaces = Spaces::start(&["its", "cluster1", "cluster2"], &["cluster1", "cluster2"]);
        let its = spaces.client("its");
        for (name, region) in [("cluster1", "east"), ("cluster2", "west")] {
            let reg = Registration {
                name: name.into(),
                labels: [
                    ("location-group".to_string(), "edge".to_string()),
                    ("region".to_string(), region.to_string()),
                ]
                .into(),
                properties: Default::default(),
            };
            spaces
                .rt
                .block_on(inventory::register(&its, &reg))
                .expect("register");
        }
        let mut env = Env {
            spaces,
            agents: Vec::new(),
        };
        env.start_agent("cluster1");
        env.start_agent("cluster2");
        env
    }

    fn start_agent(&mut self, cluster: &str) {
        let its = self.spaces.client("its");
        let wec = self.spaces.client(cluster);
        let (tx, rx) = oneshot::channel::<()>();
        let agent = Agent::new(AgentConfig::new(cluster), its, wec);
        self.spaces.rt.spawn(agent.run(async {
            let _ = rx.await;
        }));
        self.agents.push((cluster.to_string(), tx));
    }

    fn stop_agent(&mut self, cluster: &str) {
        if let Some(i) = self.agents.iter().position(|(c, _)| c == cluster) {
            let (_, tx) = self.agents.remove(i);
            let _ = tx.send(());
        }
        // Let the agent's tasks wind down.
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn manifestwork(name: &str, cluster: &str, manifests: Vec<Value>, configs: Vec<Value>) -> String {
    json!({
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "metadata": {"name": name, "namespace": cluster, "labels": {"transport.kubestellar.io/originWdsName": "wds1"}},
        "spec": {"workload": {"manifests": manifests}, "manifestConfigs": configs},
    })
    .to_string()
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}
    })
}

fn configmap(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"k": "v"}})
}

#[test]
fn delivers_repairs_reports_and_prunes() {
    let env = Env::new();
    let its = env.spaces.kubectl("its");
    let c1 = env.spaces.kubectl("cluster1");
    let c2 = env.spaces.kubectl("cluster2");
    its.apply(&manifestwork(
        "w1",
        "cluster1",
        vec![
            namespace("demo"),
            deployment("demo", "web", 1),
            configmap("demo", "cfg"),
        ],
        vec![],
    ));

    // Objects appear in cluster1 only.
    eventually(T, "deployment in cluster1", || {
        c1.jsonpath(&["get", "deploy", "web", "-n", "demo"], "{.metadata.name}")
    });
    eventually(T, "configmap in cluster1", || {
        c1.jsonpath(&["get", "cm", "cfg", "-n", "demo"], "{.data.k}")
            .filter(|v| v == "v")
    });
    consistently(Duration::from_millis(500), "nothing in cluster2", || {
        c2.jsonpath(&["get", "ns", "demo"], "{.metadata.name}")
            .is_none()
    });

    // The ManifestWork reports Applied, and a WorkStatus carries the simulator's status.
    eventually(T, "Applied condition", || {
        its.jsonpath(
            &["get", "mw", "w1", "-n", "cluster1"],
            "{.status.conditions[?(@.type==\"Applied\")].status}",
        )
        .filter(|s| s == "True")
    });
    eventually(T, "WorkStatus with readyReplicas 1", || {
        its.jsonpath(
            &[
                "get",
                "workstatus",
                "appsv1-deployment-demo-web",
                "-n",
                "cluster1",
            ],
            "{.status.readyReplicas}",
        )
        .filter(|s| s == "1")
    });
    let labels = its.ok(&[
        "get",
        "workstatus",
        "appsv1-deployment-demo-web",
        "-n",
        "cluster1",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(
        labels.contains("wds1"),
        "labels copied from the ManifestWork: {labels}"
    );

    // An edit in the WEC is reverted within 2 s.
    c1.ok(&["scale", "deploy", "web", "-n", "demo", "--replicas=5"]);
    let start = std::time::Instant::now();
    eventually(Duration::from_secs(2), "drift repaired", || {
        c1.jsonpath(&["get", "deploy", "web", "-n", "demo"], "{.spec.replicas}")
            .filter(|r| r == "1")
    });
    assert!(start.elapsed() < Duration::from_secs(2));

    // A change in the ManifestWork flows to the WEC and the WorkStatus follows the new status.
    its.apply(&manifestwork(
        "w1",
        "cluster1",
        vec![
            namespace("demo"),
            deployment("demo", "web", 3),
            configmap("demo", "cfg"),
        ],
        vec![],
    ));
    eventually(T, "WorkStatus with readyReplicas 3", || {
        its.jsonpath(
            &[
                "get",
                "workstatus",
                "appsv1-deployment-demo-web",
                "-n",
                "cluster1",
            ],
            "{.status.readyReplicas}",
        )
        .filter(|s| s == "3")
    });

    // A field dropped from the manifest is dropped in the WEC (server-side apply ownership).
    let mut labelled = deployment("demo", "web", 3);
    labelled["metadata"]["labels"]["extra"] = json!("yes");
    its.apply(&manifestwork(
        "w1",
        "cluster1",
        vec![namespace("demo"), labelled, configmap("demo", "cfg")],
        vec![],
    ));
    eventually(T, "extra label applied", || {
        c1.jsonpath(
            &["get", "deploy", "web", "-n", "demo"],
            "{.metadata.labels.extra}",
        )
        .filter(|v| v == "yes")
    });
    its.apply(&manifestwork(
        "w1",
        "cluster1",
        vec![
            namespace("demo"),
            deployment("demo", "web", 3),
            configmap("demo", "cfg"),
        ],
        vec![],
    ));
    eventually(T, "extra label removed", || {
        c1.jsonpath(
            &["get", "deploy", "web", "-n", "demo"],
            "{.metadata.labels.extra}",
        )
        .filter(|v| v.is_empty())
    });

    // Removing a manifest prunes exactly that object.
    its.apply(&manifestwork(
        "w1",
        "cluster1",
        vec![namespace("demo"), deployment("demo", "web", 3)],
        vec![],
    ));
    eventually(T, "configmap pruned", || {
        c1.jsonpath(&["get", "cm", "cfg", "-n", "demo"], "{.metadata.name}")
            .is_none()
            .then_some(())
    });
    assert!(
        c1.jsonpath(&["get", "deploy", "web", "-n", "demo"], "{.metadata.name}")
            .is_some(),
        "deployment stays"
    );
    eventually(T, "its WorkStatus removed", || {
        its.jsonpath(
            &[
                "get",
                "workstatus",
                "v1-configmap-demo-cfg",
                "-n",
                "cluster1",
            ],
            "{.metadata.name}",
        )
        .is_none()
        .then_some(())
    });

    // Deleting the ManifestWork removes what it applied, then the ManifestWork itself.
    its.ok(&["delete", "mw", "w1", "-n", "cluster1", "--wait=false"]);
    eventually(T, "deployment removed", || {
        c1.jsonpath(&["get", "deploy", "web", "-n", "demo"], "{.metadata.name}")
            .is_none()
            .then_some(())
    });
    eventually(T, "ManifestWork gone", || {
        its.jsonpath(&["get", "mw", "w1", "-n", "cluster1"], "{.metadata.name}")
            .is_none()
            .then_some(())
    });
}

#[test]
fn create_only_and_overlapping_works() {
    let env = Env::new();
    let its = env.spaces.kubectl("its");
    let c1 = env.spaces.kubectl("cluster1");
    let create_only = json!({"resourceIdentifier": {"group": "apps", "resource": "deployments", "namespace": "co", "name": "keep"}, "updateStrategy": {"type": "CreateOnly"}});
    its.apply(&manifestwork(
        "ns",
        "cluster1",
        vec![namespace("co")],
        vec![],
    ));
    its.apply(&manifestwork(
        "w",
        "cluster1",
        vec![deployment("co", "keep", 1)],
        vec![create_only.clone()],
    ));
    let uid = eventually(T, "created", || {
        c1.jsonpath(&["get", "deploy", "keep", "-n", "co"], "{.metadata.uid}")
            .filter(|u| !u.is_empty())
    });
    its.apply(&manifestwork(
        "w",
        "cluster1",
        vec![deployment("co", "keep", 4)],
        vec![create_only],
    ));
    consistently(
        Duration::from_secs(2),
        "create-only object untouched",
        || {
            c1.jsonpath(&["get", "deploy", "keep", "-n", "co"], "{.spec.replicas}")
                .as_deref()
                == Some("1")
        },
    );
    assert_eq!(
        c1.jsonpath(&["get", "deploy", "keep", "-n", "co"], "{.metadata.uid}"),
        Some(uid)
    );

    // Two ManifestWorks deliver the same ConfigMap: deleting one keeps it.
    its.apply(&manifestwork(
        "a",
        "cluster1",
        vec![configmap("co", "shared")],
        vec![],
    ));
    its.apply(&manifestwork(
        "b",
        "cluster1",
        vec![configmap("co", "shared")],
        vec![],
    ));
    eventually(T, "shared configmap", || {
        c1.jsonpath(&["get", "cm", "shared", "-n", "co"], "{.metadata.name}")
    });
    eventually(T, "b applied", || {
        its.jsonpath(
            &["get", "mw", "b", "-n", "cluster1"],
            "{.status.conditions[?(@.type==\"Applied\")].status}",
        )
        .filter(|s| s == "True")
    });
    its.ok(&["delete", "mw", "a", "-n", "cluster1"]);
    consistently(Duration::from_secs(1), "shared configmap stays", || {
        c1.jsonpath(&["get", "cm", "shared", "-n", "co"], "{.metadata.name}")
            .is_some()
    });
    its.ok(&["delete", "mw", "b", "-n", "cluster1"]);
    eventually(T, "shared configmap removed", || {
        c1.jsonpath(&["get", "cm", "shared", "-n", "co"], "{.metadata.name}")
            .is_none()
            .then_some(())
    });
}

#[test]
fn restart_writes_nothing_unchanged() {
    let mut env = Env::new();
    let its = env.spaces.kubectl("its");
    let c1 = env.spaces.kubectl("cluster1");
    let mut manifests = vec![namespace("r")];
    for i in 0..5 {
        manifests.push(configmap("r", &format!("cm{i}")));
    }
    manifests.push(deployment("r", "d", 2));
    its.apply(&manifestwork("w", "cluster1", manifests, vec![]));
    eventually(T, "WorkStatus of the deployment ready", || {
        its.jsonpath(
            &[
                "get",
                "workstatus",
                "appsv1-deployment-r-d",
                "-n",
                "cluster1",
            ],
            "{.status.readyReplicas}",
        )
        .filter(|s| s == "2")
    });
    // Converged: the WEC's resourceVersion stays still.
    let settle = || {
        let mut last = env.spaces.rv("cluster1");
        loop {
            std::thread::sleep(Duration::from_millis(700));
            let now = env.spaces.rv("cluster1");
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settle();
    let versions = |kind: &str| {
        its.ok(&[
            "get",
            kind,
            "-n",
            "cluster1",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
        ])
    };
    let (mw_before, ws_before) = (versions("manifestworks"), versions("workstatuses"));
    assert!(
        env.spaces.watches_active("cluster1") > 0,
        "the agent watches its WEC"
    );
    env.stop_agent("cluster1");
    // A stopped agent leaves nothing behind: no watch of its WEC stays open.
    eventually(T, "no watch left open in cluster1", || {
        (env.spaces.watches_active("cluster1") == 0).then_some(())
    });
    env.start_agent("cluster1");
    // Give the new agent time to list, reconcile everything and report.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        env.spaces.rv("cluster1"),
        before,
        "the restarted agent wrote to the WEC although nothing changed"
    );
    assert_eq!(
        versions("manifestworks"),
        mw_before,
        "the restarted agent rewrote ManifestWorks"
    );
    assert_eq!(
        versions("workstatuses"),
        ws_before,
        "the restarted agent rewrote WorkStatuses"
    );
    assert!(
        c1.jsonpath(&["get", "cm", "cm4", "-n", "r"], "{.metadata.name}")
            .is_some()
    );
}

#[test]
fn apply_failures_are_reported_and_others_keep_working() {
    let env = Env::new();
    let its = env.spaces.kubectl("its");
    let c1 = env.spaces.kubectl("cluster1");
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "default"}});
    its.apply(&manifestwork("bad", "cluster1", vec![widget], vec![]));
    let bad_ns = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid", "namespace": "default"}});
    its.apply(&manifestwork("invalid", "cluster1", vec![bad_ns], vec![]));
    its.apply(&manifestwork(
        "good",
        "cluster1",
        vec![configmap("default", "fine")],
        vec![],
    ));
    eventually(T, "good delivered", || {
        c1.jsonpath(&["get", "cm", "fine"], "{.metadata.name}")
    });
    let msg = eventually(T, "Degraded for missing CRD", || {
        its.jsonpath(
            &["get", "mw", "bad", "-n", "cluster1"],
            "{.status.conditions[?(@.type==\"Degraded\")].message}",
        )
        .filter(|m| !m.is_empty())
    });
    assert!(msg.contains("no matches for kind \"Widget\""), "{msg}");
    let msg = eventually(T, "Degraded for an invalid object", || {
        its.jsonpath(
            &["get", "mw", "invalid", "-n", "cluster1"],
            "{.status.conditions[?(@.type==\"Degraded\")].message}",
        )
        .filter(|m| !m.is_empty())
    });
    assert!(
        msg.contains("Not_Valid") && msg.contains("RFC 1123"),
        "{msg}"
    );
}
