//! `kubestellar get-syncing` (the real binary) against the embedded system: objects in transit
//! down (inside ManifestWorks) and up (inside UpsyncedObjects) are listed once as YAML, and
//! `--watch --json` prints one line per add, update and delete as objects move.

mod support;

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Kubectl, eventually, start_system};

const T: Duration = Duration::from_secs(30);

const WORKLOAD: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: gs
  labels: {app: gs}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: gs
  labels: {app: gs}
data: {v: "1"}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: gs
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - objectSelectors:
    - matchLabels: {app: gs}
  upsync:
  - apiGroup: ""
    resources: [configmaps]
    namespaces: [gs]
    objectSelectors:
    - matchLabels: {up: "yes"}
"#;

struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Lines printed but not yet claimed by an expectation: the WECs' changes arrive in any
    /// order, so a line for cluster2 may come while the test waits for cluster1's.
    pending: RefCell<Vec<Value>>,
}

impl Watch {
    /// Waits for a line whose JSON satisfies `f` (printed before or after this call); takes
    /// it and returns it.
    fn expect(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            {
                let mut pending = self.pending.borrow_mut();
                if let Some(i) = pending.iter().position(&f) {
                    return pending.remove(i);
                }
            }
            if start.elapsed() >= T {
                panic!(
                    "no line for {what} within {T:?}; unclaimed lines: {:#?}",
                    self.pending.borrow()
                );
            }
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
                    self.pending.borrow_mut().push(v);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(e) => panic!(
                    "get-syncing exited: {e}; unclaimed lines: {:#?}",
                    self.pending.borrow()
                ),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is(v: &Value, action: &str, name: &str, direction: &str, wec: &str) -> bool {
    let a = &v["metadata"]["annotations"];
    v["Action"] == action
        && v["kind"] == "ConfigMap"
        && v["metadata"]["name"] == name
        && a["kubestellar.io/syncing-direction"] == direction
        && a["kubestellar.io/syncing-wec"] == wec
}

#[test]
fn lists_and_watches_objects_in_transit_both_ways() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (_dir, rt, system) = start_system(2, |_| {});
    let kc = system.kubeconfig.clone();
    let bin = env!("CARGO_BIN_EXE_kubestellar");
    let mut child = Command::new(bin)
        .arg("get-syncing")
        .arg("--its-kubeconfig")
        .arg(&kc)
        .args([
            "--its-context",
            "its1",
            "--api-group",
            "",
            "--api-kind",
            "ConfigMap",
            "--watch",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("get-syncing starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let watch = Watch {
        child,
        lines: rx,
        pending: RefCell::new(Vec::new()),
    };

    let wds = Kubectl::new(33, &kc).context("wds1");
    let c1 = Kubectl::new(33, &kc).context("cluster1");
    wds.apply(WORKLOAD);
    for w in ["cluster1", "cluster2"] {
        let added = watch.expect("downsync add", |v| is(v, "add", "cfg", "downsync", w));
        assert_eq!(added["data"]["v"], "1");
        assert!(
            added["metadata"]["annotations"]["kubestellar.io/syncing-carrier"]
                .as_str()
                .is_some_and(|c| c.starts_with("ManifestWork/")),
            "{added}"
        );
    }
    wds.ok(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "gs",
        "--type=merge",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ]);
    for w in ["cluster1", "cluster2"] {
        let updated = watch.expect("downsync update", |v| {
            is(v, "update", "cfg", "downsync", w) && v["data"]["v"] == "2"
        });
        assert_eq!(updated["Action"], "update");
    }

    // Upsync: a ConfigMap created in cluster1 (the namespace came down with the policy).
    eventually(T, "namespace gs in cluster1", || {
        c1.jsonpath(&["get", "ns", "gs"], "{.metadata.name}")
    });
    c1.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: local
  namespace: gs
  labels: {up: "yes"}
data: {w: "a"}
"#,
    );
    let up = watch.expect("upsync add", |v| {
        is(v, "add", "local", "upsync", "cluster1")
    });
    assert_eq!(up["data"]["w"], "a");

    // A one-shot listing (YAML documents) shows both directions.
    let out = Command::new(bin)
        .arg("get-syncing")
        .arg("--its-kubeconfig")
        .arg(&kc)
        .args([
            "--its-context",
            "its1",
            "--api-group",
            "",
            "--api-kind",
            "ConfigMap",
        ])
        .output()
        .expect("get-syncing runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let docs: Vec<Value> = text
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml_ng::from_str(d).expect("YAML document"))
        .collect();
    let names: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["metadata"]["annotations"]["kubestellar.io/syncing-direction"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let count = |n: &str, d: &str| names.iter().filter(|(a, b)| a == n && b == d).count();
    assert_eq!(count("cfg", "downsync"), 2, "{text}");
    assert_eq!(count("local", "upsync"), 1, "{text}");
    assert!(docs.iter().all(|d| d.get("Action").is_none()));

    // Deletions, both ways.
    c1.ok(&["delete", "cm", "local", "-n", "gs"]);
    watch.expect("upsync delete", |v| {
        is(v, "delete", "local", "upsync", "cluster1")
    });
    wds.ok(&["delete", "cm", "cfg", "-n", "gs"]);
    for w in ["cluster1", "cluster2"] {
        watch.expect("downsync delete", |v| is(v, "delete", "cfg", "downsync", w));
    }
    drop(watch);
    rt.block_on(system.stop());
}
