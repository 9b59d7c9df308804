//! Secrets are delivered like any other object but their values never show up where operators
//! look: no log line (captured at TRACE), no `/metrics` of any space, no status, condition or
//! Event, even when a plugin handed the Secret quotes it in its error, its log or its panic,
//! and when a status collector's CEL fails on it.

mod plugin_support;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::{Kubectl, eventually, start_system};

const T: Duration = Duration::from_secs(60);

/// The Secret's values: one in `data` (base64 there), one in `stringData` (plain there).
const DATA_VALUE: &str = "hygiene-Zq8vW3kP-password";
const DATA_B64: &str = "aHlnaWVuZS1acTh2VzNrUC1wYXNzd29yZA==";
const STRING_VALUE: &str = "hygiene-Tk5rN7xJ-stringdata";
const STRING_B64: &str = "aHlnaWVuZS1UazVyTjd4Si1zdHJpbmdkYXRh";
/// Every form a value could leak in (the base64 ones without padding, as a prefix).
const FORMS: [&str; 4] = [
    DATA_VALUE,
    STRING_VALUE,
    "aHlnaWVuZS1acTh2VzNrUC1wYXNzd29yZA",
    "aHlnaWVuZS1UazVyTjd4Si1zdHJpbmdkYXRh",
];

/// Log output of the whole test process.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

fn leaks(what: &str, text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| FORMS.iter().any(|f| l.contains(f)))
        .map(|l| format!("{what}: {}", l.chars().take(600).collect::<String>()))
        .collect()
}

fn workload(hostile: &std::path::Path) -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: hyg, labels: {{app: hyg}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: hyg, labels: {{app: hyg}}}}
type: Opaque
data: {{password: {DATA_B64}}}
stringData: {{token: {STRING_VALUE}}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: WasmPlugin
metadata: {{name: hostile}}
spec: {{source: "file://{}"}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {{name: peek}}
spec:
  select: [{{name: sum, def: "int(obj.data.password) + int(obj.data.token)"}}]
  limit: 5
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {{name: hyg}}
spec:
  clusterSelectors: [{{matchLabels: {{location-group: edge}}}}]
  downsync:
  - objectSelectors: [{{matchLabels: {{app: hyg}}}}]
    statusCollectors: [peek]
"#,
        hostile.display()
    )
}

fn custom_transform(mode: &str) -> String {
    format!(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata: {{name: careless}}
spec:
  apiGroup: ""
  resource: secrets
  plugins: [{{name: hostile, config: {{mode: {mode}}}}}]
"#
    )
}

fn ct_errors(wds: &Kubectl) -> Vec<String> {
    wds.jsonpath(&["get", "customtransform", "careless"], "{.status.errors}")
        .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
        .unwrap_or_default()
}

/// Leaks in the statuses of the WDS's control objects, the ManifestWorks' status and the
/// WorkStatuses (the ManifestWorks' spec carries the Secret: that is delivery).
fn status_leaks(wds: &Kubectl, its: &Kubectl) -> Vec<String> {
    let mut found = Vec::new();
    for kind in [
        "customtransforms",
        "statuscollectors",
        "bindingpolicies",
        "bindings",
        "combinedstatuses",
        "wasmplugins",
    ] {
        found.extend(leaks(
            &format!("wds1 {kind}"),
            &wds.ok(&["get", kind, "-A", "-o", "json"]),
        ));
    }
    found.extend(leaks(
        "its1 manifestwork status",
        &its.ok(&[
            "get",
            "manifestworks",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.status}{\"\\n\"}{end}",
        ]),
    ));
    found.extend(leaks(
        "its1 workstatuses",
        &its.ok(&["get", "workstatuses", "-A", "-o", "json"]),
    ));
    found
}

#[test]
fn secret_values_stay_out_of_logs_metrics_and_statuses() {
    let capture = Capture::default();
    let sink = capture.clone();
    // Everything at TRACE except the compiler's per-function chatter.
    let filter = tracing_subscriber::EnvFilter::new(
        "trace,cranelift_codegen=info,cranelift_frontend=info,regalloc2=info,wasmtime_cranelift=info,wasmtime_environ=info,wasmtime::runtime::vm=info",
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only subscriber of this test binary");

    let hostile = plugin_support::fixture_path("hostile");
    let (_dir, _rt, system) = start_system(2, |_| {});
    let kc = system.kubeconfig.clone();
    let wds = Kubectl::new(33, &kc).context("wds1");
    let its = Kubectl::new(33, &kc).context("its1");
    let c1 = Kubectl::new(33, &kc).context("cluster1");
    wds.apply(&workload(&hostile));

    // Delivered like any object: both values arrive in the WEC.
    eventually(T, "Secret delivered to cluster1", || {
        let d = c1.jsonpath(&["get", "secret", "creds", "-n", "hyg"], "{.data}")?;
        let d: Value = serde_json::from_str(&d).ok()?;
        (d["password"] == DATA_B64 && d["token"] == STRING_B64).then_some(())
    });

    // A plugin that quotes its input: in its error, in a panic (its stderr), in a log line.
    wds.apply(&custom_transform("echo-error"));
    let e = eventually(T, "echo-error on the CustomTransform", || {
        let e = ct_errors(&wds);
        e.iter().any(|m| m.contains("cannot handle")).then_some(e)
    });
    let mut found = status_leaks(&wds, &its);
    // The error still says what went wrong, with the object's non-secret parts.
    assert!(e.iter().any(|m| m.contains("\"name\":\"creds\"")), "{e:?}");
    wds.apply(&custom_transform("echo-panic"));
    eventually(T, "echo-panic on the CustomTransform", || {
        ct_errors(&wds)
            .iter()
            .any(|m| m.contains("trapped") && m.contains("choked on"))
            .then_some(())
    });
    found.extend(status_leaks(&wds, &its));
    wds.apply(&custom_transform("echo-log"));
    eventually(T, "echo-log delivered", || {
        c1.jsonpath(
            &["get", "secret", "creds", "-n", "hyg"],
            "{.metadata.annotations.hostile\\.test/result}",
        )
        .filter(|v| v == "logged")
    });
    eventually(T, "the plugin's log line", || {
        capture
            .text()
            .lines()
            .any(|l| l.contains("plugin") && l.contains("got {"))
            .then_some(())
    });
    // The status collector ran on the Secret (its CEL fails on the values).
    eventually(
        T,
        "the collector's outcome on the policy or a CombinedStatus",
        || {
            let cs = wds.ok(&["get", "combinedstatuses", "-A", "-o", "json"]);
            let policy = wds.ok(&["get", "bindingpolicy", "hyg", "-o", "json"]);
            (cs.contains("peek") || policy.contains("peek")).then_some(())
        },
    );
    // One more round of work so that late logs are in.
    std::thread::sleep(Duration::from_secs(2));

    for ctx in ["wds1", "its1", "cluster1", "cluster2"] {
        let k = Kubectl::new(33, &kc).context(ctx);
        found.extend(leaks(
            &format!("{ctx} /metrics"),
            &k.ok(&["get", "--raw", "/metrics"]),
        ));
        found.extend(leaks(
            &format!("{ctx} events"),
            &k.ok(&["get", "events", "-A", "-o", "json"]),
        ));
    }
    found.extend(status_leaks(&wds, &its));
    let logs = capture.text();
    assert!(
        logs.lines().count() > 1000,
        "the capture works: {} lines",
        logs.lines().count()
    );
    found.extend(leaks("log", &logs));
    assert!(
        found.is_empty(),
        "{} leaks of the Secret's values:\n{}",
        found.len(),
        found.join("\n")
    );
}
