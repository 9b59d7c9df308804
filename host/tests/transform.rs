//! Transformation on the way to the WECs: template expansion (upstream's bash e2e, 4.3), the
//! CustomTransform status (bad paths, several CustomTransforms for one GroupResource), a user
//! transformer plugin that labels objects per WEC, plugin failures (reported, previous delivery
//! kept), and re-rendering when a CustomTransform, a WasmPlugin or a WEC's properties change.

mod delivery_env;
mod plugin_support;
mod support;

use delivery_env::{Env, T};
use serde_json::Value;
use support::{Kubectl, consistently, eventually};

fn templated(annotation: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: nginx
  labels: {{app.kubernetes.io/name: nginx}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  namespace: nginx
  labels: {{app.kubernetes.io/name: nginx}}
  annotations:
    control.kubestellar.io/expand-templates: "true"
    customization-test: "{annotation}"
spec:
  replicas: 1
  selector:
    matchLabels: {{app: nginx}}
  template:
    metadata:
      labels: {{app: nginx}}
    spec:
      containers:
      - name: nginx
        image: public.ecr.aws/nginx/nginx:latest
"#
    )
}

fn annotation(k: &Kubectl) -> Option<String> {
    k.jsonpath(
        &["get", "deploy", "nginx-deployment", "-n", "nginx"],
        "{.metadata.annotations.customization-test}",
    )
}

fn policy_errors(env: &Env, name: &str) -> Vec<String> {
    Env::get(&env.wds(), &["bindingpolicy", name])
        .and_then(|p| serde_json::from_value(p["status"]["errors"].clone()).ok())
        .unwrap_or_default()
}

/// Upstream's scenario 1 with customization: per-WEC values from the WEC's name, its
/// ManagedCluster labels and its customization properties; then a property change re-renders
/// (our decision 4) and a template error keeps what was delivered (our decision 2).
#[test]
fn template_expansion() {
    let env = Env::new(2, |_| {});
    let wds = env.wds();
    env.apply(&templated(
        "cluster {{ .clusterName }} URL is {{ .clusterURL }}, region is {{ .region }}",
    ));
    env.nginx_policy("nginx-bindingpolicy");
    let expected = [
        (
            "cluster1",
            "cluster cluster1 URL is https://my.clusters/1001-abcd, region is east",
        ),
        (
            "cluster2",
            "cluster cluster2 URL is https://my.clusters/2002-cdef, region is west",
        ),
    ];
    for (w, want) in expected {
        eventually(T, &format!("annotation in {w}"), || {
            annotation(&env.wec(w)).filter(|a| a == want)
        });
    }

    // A property change reaches the WEC whose property it is, and only that one.
    let its = env.its();
    its.ok(&[
        "patch",
        "configmap",
        "cluster1",
        "-n",
        "customization-properties",
        "--type=merge",
        "-p",
        r#"{"data":{"clusterURL":"https://my.clusters/9999"}}"#,
    ]);
    eventually(T, "new URL in cluster1", || {
        annotation(&env.wec("cluster1"))
            .filter(|a| a == "cluster cluster1 URL is https://my.clusters/9999, region is east")
    });
    assert_eq!(
        annotation(&env.wec("cluster2")).as_deref(),
        Some(expected[1].1)
    );
    // A ManagedCluster label is a property too.
    its.ok(&[
        "label",
        "managedcluster",
        "cluster2",
        "region=north",
        "--overwrite",
    ]);
    eventually(T, "new region in cluster2", || {
        annotation(&env.wec("cluster2")).filter(|a| {
            a == "cluster cluster2 URL is https://my.clusters/2002-cdef, region is north"
        })
    });

    // A template error: reported on the Binding and the policy, previous delivery kept.
    let before = env.its().ok(&[
        "get",
        "manifestworks",
        "-A",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    env.apply(&templated("cluster {{ .clusterName }} zone {{ .zone }}"));
    let errors = eventually(T, "template error on the policy", || {
        let e = policy_errors(&env, "nginx-bindingpolicy");
        (!e.is_empty()).then_some(e)
    });
    assert!(
        errors.iter().any(|e| e.starts_with("template: cluster1/")
            && e.contains(r#"map has no entry for key "zone""#)),
        "{errors:?}"
    );
    let binding_errors = Env::get(&wds, &["binding", "nginx-bindingpolicy"])
        .map(|b| b["status"]["errors"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(
        serde_json::to_value(&errors).unwrap_or_default(),
        binding_errors,
        "the policy shows the Binding's errors"
    );
    consistently(
        std::time::Duration::from_secs(2),
        "previous delivery kept",
        || {
            annotation(&env.wec("cluster1")).as_deref()
                == Some("cluster cluster1 URL is https://my.clusters/9999, region is east")
                && env.count("cluster2", "deployments", "nginx") == 1
        },
    );
    let after = env.its().ok(&[
        "get",
        "manifestworks",
        "-A",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert_eq!(before, after, "no ManifestWork deleted or added");
    // Fixed: delivered, errors cleared.
    env.apply(&templated("cluster {{ .clusterName }} fixed"));
    eventually(T, "fixed annotation", || {
        annotation(&env.wec("cluster2")).filter(|a| a == "cluster cluster2 fixed")
    });
    eventually(T, "errors cleared", || {
        policy_errors(&env, "nginx-bindingpolicy")
            .is_empty()
            .then_some(())
    });
}

/// CustomTransform status: upstream's messages for bad paths, valid ones still applied, and the
/// warning when several CustomTransforms name one GroupResource.
#[test]
fn custom_transform_status() {
    let env = Env::new(1, |_| {});
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata:
  name: bad-paths
spec:
  apiGroup: apps
  resource: deployments
  remove:
  - $
  - $[
  - $.spec.revisionHistoryLimit
"#,
    );
    let status = eventually(T, "status of bad-paths", || {
        Env::get(&env.wds(), &["customtransform", "bad-paths"])
            .map(|c| c["status"].clone())
            .filter(|s| !s.is_null())
    });
    assert_eq!(status["observedGeneration"], 1);
    let errors: Vec<String> = serde_json::from_value(status["errors"].clone()).unwrap_or_default();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[0],
        "Invalid spec.remove[0]: it identifies the whole object"
    );
    assert!(
        errors[1].starts_with("Error in spec.remove[1]: "),
        "{errors:?}"
    );
    assert!(status.get("warnings").is_none_or(Value::is_null));

    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata:
  name: another
spec:
  apiGroup: apps
  resource: deployments
  remove: ["$.spec.paused"]
"#,
    );
    let warning = "multiple CustomTransform objects specify the same GroupResource; their names are [another bad-paths]";
    for ct in ["another", "bad-paths"] {
        eventually(T, "warning", || {
            let s = Env::get(&env.wds(), &["customtransform", ct])?;
            (s["status"]["warnings"] == serde_json::json!([warning])).then_some(())
        });
    }
    // The valid entries of both still apply.
    env.nginx();
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: nginx
spec:
  clusterSelectors: [{}]
  downsync:
  - objectSelectors:
    - matchLabels: {app.kubernetes.io/name: nginx}
"#,
    );
    env.wds().ok(&[
        "patch",
        "deploy",
        "nginx",
        "-n",
        "nginx",
        "--type=merge",
        "-p",
        r#"{"spec":{"revisionHistoryLimit":3,"paused":false}}"#,
    ]);
    eventually(T, "removals applied in the ManifestWork", || {
        let out = env
            .its()
            .ok(&["get", "manifestworks", "-n", "cluster1", "-o", "json"]);
        let list: Value = serde_json::from_str(&out).ok()?;
        let d = list["items"]
            .as_array()?
            .iter()
            .flat_map(|mw| {
                mw["spec"]["workload"]["manifests"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|m| m["kind"] == "Deployment")?;
        (d["spec"]["replicas"] == 1
            && d["spec"].get("revisionHistoryLimit").is_none()
            && d["spec"].get("paused").is_none())
        .then_some(())
    });
    env.wds().ok(&["delete", "customtransform", "another"]);
    eventually(T, "warning gone", || {
        let s = Env::get(&env.wds(), &["customtransform", "bad-paths"])?;
        s["status"]
            .get("warnings")
            .is_none_or(Value::is_null)
            .then_some(())
    });
}

fn labeler_transform(config: &str) -> String {
    format!(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata:
  name: labels
spec:
  apiGroup: apps
  resource: deployments
  plugins:
  - name: labeler
    config: {config}
"#
    )
}

fn wasm_plugin(name: &str, path: &std::path::Path) -> String {
    format!(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: WasmPlugin
metadata:
  name: {name}
spec:
  source: file://{}
"#,
        path.display()
    )
}

fn wec_label(env: &Env, wec: &str, key: &str) -> Option<String> {
    let escaped = key.replace('.', "\\.");
    env.wec(wec)
        .jsonpath(
            &["get", "deploy", "nginx", "-n", "nginx"],
            &format!("{{.metadata.labels.{escaped}}}"),
        )
        .filter(|v| !v.is_empty())
}

/// The Deployment as the ManifestWorks for `wec` carry it.
fn delivered(env: &Env, wec: &str) -> Option<Value> {
    let out = env
        .its()
        .ok(&["get", "manifestworks", "-n", wec, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).ok()?;
    list["items"]
        .as_array()?
        .iter()
        .flat_map(|mw| {
            mw["spec"]["workload"]["manifests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|m| m["kind"] == "Deployment")
}

/// A user transformer (a tiny Rust guest) labels each object with its WEC's name; its config,
/// failures and a WasmPlugin update all show in the WECs and on the statuses.
#[test]
fn user_plugins() {
    let labeler = plugin_support::fixture_path("cluster_labeler");
    let echo = plugin_support::fixture_path("echo_transformer");
    let env = Env::new(2, |_| {});
    let wds = env.wds();
    env.apply(&wasm_plugin("labeler", &labeler));
    eventually(T, "labeler Ready", || {
        wds.jsonpath(
            &["get", "wasmplugin", "labeler"],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        )
        .filter(|s| s == "True")
    });
    let status = Env::get(&wds, &["wasmplugin", "labeler"])
        .map(|w| w["status"].clone())
        .unwrap_or(Value::Null);
    assert_eq!(status["kind"], "transformer");
    assert_eq!(status["scope"], "per-cluster");
    assert_eq!(status["pluginName"], "cluster-labeler");
    assert!(
        status["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
        "{status}"
    );

    env.apply(&labeler_transform(r#"{"prefix": "wec-"}"#));
    env.nginx();
    env.nginx_policy("nginx");
    for w in ["cluster1", "cluster2"] {
        eventually(T, "per-WEC label", || {
            wec_label(&env, w, "labeler.test/cluster").filter(|v| *v == format!("wec-{w}"))
        });
    }
    eventually(T, "CustomTransform status", || {
        let s = Env::get(&wds, &["customtransform", "labels"])?;
        (s["status"]["observedGeneration"] == 1
            && s["status"].get("errors").is_none_or(Value::is_null))
        .then_some(())
    });

    // Changing the CustomTransform re-renders and re-delivers (our decision 4).
    let rendered = env.transport.rendered();
    env.apply(&labeler_transform(r#"{"prefix": "v2-"}"#));
    for w in ["cluster1", "cluster2"] {
        eventually(T, "re-rendered label", || {
            wec_label(&env, w, "labeler.test/cluster").filter(|v| *v == format!("v2-{w}"))
        });
    }
    // Per-cluster output: rendered once per WEC (the Namespace once for both).
    assert!(
        env.transport.rendered() - rendered <= 4,
        "{} renders",
        env.transport.rendered() - rendered
    );

    // A plugin failure: on the CustomTransform and the policy; the WECs keep what they had.
    let works_before = env.its().ok(&[
        "get",
        "manifestworks",
        "-A",
        "-o",
        "jsonpath={.items[*].metadata.resourceVersion}",
    ]);
    env.apply(&labeler_transform(
        r#"{"prefix": "v3-", "failOn": "nginx"}"#,
    ));
    let ct_errors = eventually(T, "error on the CustomTransform", || {
        let s = Env::get(&wds, &["customtransform", "labels"])?;
        let e: Vec<String> = serde_json::from_value(s["status"]["errors"].clone()).ok()?;
        (!e.is_empty()).then_some(e)
    });
    assert!(
        ct_errors
            .iter()
            .all(|e| e.contains("refusing to label nginx")),
        "{ct_errors:?}"
    );
    assert!(
        ct_errors
            .iter()
            .any(|e| e.starts_with("apps/v1/deployments(nginx/nginx) for WEC cluster1: ")),
        "{ct_errors:?}"
    );
    let errors = eventually(T, "error on the policy", || {
        let e = policy_errors(&env, "nginx");
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(
        errors,
        ["apps/v1/deployments(nginx/nginx) for WEC cluster1: CustomTransform labels: plugin file://".to_string()
            + &labeler.display().to_string()
            + ": refusing to label nginx"]
    );
    consistently(
        std::time::Duration::from_secs(2),
        "previous delivery kept",
        || wec_label(&env, "cluster1", "labeler.test/cluster").as_deref() == Some("v2-cluster1"),
    );
    let works_after = env.its().ok(&[
        "get",
        "manifestworks",
        "-A",
        "-o",
        "jsonpath={.items[*].metadata.resourceVersion}",
    ]);
    assert_eq!(
        works_before.split_whitespace().count(),
        works_after.split_whitespace().count(),
        "no ManifestWork deleted"
    );
    env.apply(&labeler_transform(r#"{"prefix": "v3-"}"#));
    eventually(T, "recovered", || {
        wec_label(&env, "cluster2", "labeler.test/cluster").filter(|v| v == "v3-cluster2")
    });
    eventually(T, "errors cleared", || {
        policy_errors(&env, "nginx").is_empty().then_some(())
    });

    // Updating the WasmPlugin (another module) re-renders the WECs.
    env.apply(&wasm_plugin("labeler", &echo));
    for w in ["cluster1", "cluster2"] {
        eventually(T, "echo's label", || {
            wec_label(&env, w, "echo.test/cluster").filter(|v| v == w)
        });
        let d = delivered(&env, w).unwrap_or(Value::Null);
        assert!(
            d["metadata"]["labels"]
                .get("labeler.test/cluster")
                .is_none(),
            "{d}"
        );
    }
    assert_eq!(
        wds.jsonpath(&["get", "wasmplugin", "labeler"], "{.status.pluginName}")
            .as_deref(),
        Some("echo")
    );

    // A pinned digest is checked.
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(
        std::fs::read(&labeler).expect("fixture"),
    ));
    let pinned =
        |name: &str, sha: &str| format!("{}  sha256: \"{sha}\"\n", wasm_plugin(name, &labeler));
    env.apply(&pinned("pinned", &digest));
    env.apply(&pinned("mispinned", &"a".repeat(64)));
    eventually(T, "pinned Ready", || {
        wds.jsonpath(
            &["get", "wasmplugin", "pinned"],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        )
        .filter(|s| s == "True")
    });
    let reason = eventually(T, "mispinned not Ready", || {
        wds.jsonpath(
            &["get", "wasmplugin", "mispinned"],
            "{.status.conditions[?(@.type==\"Ready\")].reason}",
        )
        .filter(|s| !s.is_empty())
    });
    assert_eq!(reason, "DigestMismatch");
    let message = wds
        .jsonpath(&["get", "wasmplugin", "mispinned"], "{.status.errors[0]}")
        .unwrap_or_default();
    assert!(
        message.contains(&format!(
            "sha256 mismatch: expected {}, got {digest}",
            "a".repeat(64)
        )),
        "{message}"
    );

    // References that cannot work are reported on the CustomTransform.
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: WasmPlugin
metadata:
  name: remote
spec:
  source: https://plugins.example.com/p.wasm
  sha256: "0000000000000000000000000000000000000000000000000000000000000000"
---
apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata:
  name: broken-refs
spec:
  apiGroup: ""
  resource: configmaps
  plugins:
  - name: missing
  - name: remote
  - name: summarize-default
"#,
    );
    eventually(T, "remote not Ready", || {
        wds.jsonpath(
            &["get", "wasmplugin", "remote"],
            "{.status.conditions[?(@.type==\"Ready\")].reason}",
        )
        .filter(|s| s == "FetchFailed")
    });
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: WasmPlugin
metadata:
  name: summarize-default
spec:
  source: builtin:summarize-default
"#,
    );
    let errors = eventually(T, "reference errors", || {
        let s = Env::get(&wds, &["customtransform", "broken-refs"])?;
        let e: Vec<String> = serde_json::from_value(s["status"]["errors"].clone()).ok()?;
        (e.len() == 3 && e[2].contains("summarizer")).then_some(e)
    });
    assert_eq!(errors[0], "spec.plugins[0]: WasmPlugin missing not found");
    assert!(errors[1].starts_with("spec.plugins[1]: WasmPlugin remote is not ready: cannot fetch https://plugins.example.com/p.wasm"), "{errors:?}");
    assert_eq!(
        errors[2],
        "spec.plugins[2]: WasmPlugin summarize-default is a summarizer, not a transformer"
    );
}
