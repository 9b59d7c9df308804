//! `builtin:transform-default` through the real wasmtime host: the upstream behaviours the
//! plugin's native tests cover, checked on the embedded component as the controllers run it.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

use std::sync::Arc;
use std::time::Instant;

use kubestellar::plugins::{
    ClusterContext, Limits, LoadedPlugin, PluginError, PluginKind, PluginRuntime, RuntimeConfig,
    Scope,
};
use serde_json::{Value, json};

/// The benchmark reference object (a copy of `shared/bench/deployment.json`).
const BENCH_OBJECT: &str =
    include_str!("../../plugins/transform-default/tests/data/deployment.json");

fn plugin() -> Arc<LoadedPlugin> {
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    runtime.builtin("builtin:transform-default").unwrap()
}

fn transform(
    p: &LoadedPlugin,
    object: &Value,
    cluster: Option<&ClusterContext>,
    config: &str,
) -> (Value, bool) {
    let out = p.transform(&object.to_string(), cluster, config).unwrap();
    (serde_json::from_str(&out.object).unwrap(), out.used_cluster)
}

/// The WECs of upstream's bash e2e test.
fn cluster(n: u8) -> ClusterContext {
    let (region, url) = if n == 1 {
        ("east", "https://my.clusters/1001-abcd")
    } else {
        ("west", "https://my.clusters/2002-cdef")
    };
    ClusterContext::named(format!("cluster{n}"))
        .with_label("name", format!("cluster{n}"))
        .with_label("region", region)
        .with_property("clusterURL", url)
}

fn nginx_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "namespace": "nginx", "uid": "u-1", "generation": 2,
            "annotations": {
                "control.kubestellar.io/expand-templates": "true",
                "customization-test": "cluster {{ .clusterName }} URL is {{ .clusterURL }}, region is {{ .region }}"
            }},
        "spec": {"replicas": 1},
        "status": {"replicas": 1}
    })
}

#[test]
fn loads_and_describes_itself() {
    let p = plugin();
    assert_eq!(p.info().name, "transform-default");
    assert_eq!(p.world(), PluginKind::Transformer);
    assert_eq!(p.info().scope, Scope::PerCluster);
    assert!(
        p.info()
            .config_schema
            .as_deref()
            .unwrap()
            .contains("\"remove\"")
    );
}

#[test]
fn reference_deployment_loses_only_wds_state() {
    let p = plugin();
    let out = p.transform(BENCH_OBJECT, Some(&cluster(1)), "{}").unwrap();
    assert!(!out.used_cluster);
    let mut expected: Value = serde_json::from_str(BENCH_OBJECT).unwrap();
    let meta = expected["metadata"].as_object_mut().unwrap();
    for field in ["uid", "resourceVersion", "generation", "managedFields"] {
        meta.remove(field);
    }
    meta["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    expected.as_object_mut().unwrap().remove("status");
    assert_eq!(
        serde_json::from_str::<Value>(&out.object).unwrap(),
        expected
    );
}

#[test]
fn upstream_e2e_customization() {
    let p = plugin();
    for (n, expected) in [
        (
            1,
            "cluster cluster1 URL is https://my.clusters/1001-abcd, region is east",
        ),
        (
            2,
            "cluster cluster2 URL is https://my.clusters/2002-cdef, region is west",
        ),
    ] {
        let (out, used) = transform(&p, &nginx_deployment(), Some(&cluster(n)), "{}");
        assert!(used);
        assert_eq!(
            out["metadata"]["annotations"]["customization-test"],
            expected
        );
        assert!(out.get("status").is_none());
        assert!(out["metadata"].get("generation").is_none());
    }
}

#[test]
fn template_errors_come_back_as_plugin_errors() {
    let p = plugin();
    let stranger = ClusterContext::named("cluster3");
    let err = p
        .transform(&nginx_deployment().to_string(), Some(&stranger), "{}")
        .unwrap_err();
    let PluginError::PluginReported { message, .. } = &err else {
        panic!("expected a plugin-reported error, got {err:?}");
    };
    assert!(
        message.starts_with(
            r#"template: cluster3/Deployment.apps(nginx/nginx-deployment).metadata.annotations["customization-test"]:1:37: executing"#
        ),
        "{message}"
    );
    assert!(
        message.ends_with(r#"map has no entry for key "clusterURL""#),
        "{message}"
    );
}

#[test]
fn custom_transform_removes_and_config_validation() {
    let p = plugin();
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "r", "labels": {"test.kubestellar.io/delete-me": "x", "keep": "y"}},
        "rules": []
    });
    let config = r#"{"remove": ["$.metadata.labels[\"test.kubestellar.io/delete-me\"]", "$[]"]}"#;
    let (out, _) = transform(&p, &role, None, config);
    assert_eq!(out["metadata"]["labels"], json!({"keep": "y"}));

    let (out, _) = transform(&p, &nginx_deployment(), None, r#"{"remove": ["$[*]"]}"#);
    assert_eq!(
        out,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "nginx"}})
    );

    let err = p.validate_config(config).unwrap_err();
    let PluginError::InvalidConfig { problems, .. } = &err else {
        panic!("expected invalid configuration, got {err:?}");
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "spec.remove[1]");
    assert_eq!(
        problems[0].message,
        "Error in spec.remove[1]: syntax error at 2: expected open quote, got ']'"
    );
    assert!(
        p.validate_config(r#"{"remove": ["$.spec.suspend"]}"#)
            .is_ok()
    );
}

#[test]
fn service_rules() {
    let p = plugin();
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "sessionAffinity": "None", "ports": [{"port": 80, "nodePort": 31000}]}
    });
    let (out, _) = transform(&p, &service, Some(&cluster(1)), "{}");
    assert_eq!(
        out["spec"],
        json!({"type": "NodePort", "ports": [{"port": 80}]})
    );
}

#[test]
fn bad_input_is_a_reported_error() {
    let p = plugin();
    let err = p.transform("[1, 2]", None, "{}").unwrap_err();
    assert!(
        matches!(&err, PluginError::PluginReported { message, .. } if message == "object is not a JSON object but an array"),
        "{err:?}"
    );
    // The plugin still works afterwards.
    assert!(p.transform(BENCH_OBJECT, None, "{}").is_ok());
}

/// Rough per-call cost on the reference object, with a fresh instance per call and with a warm
/// one (run with `--nocapture` to see it); the benchmark proper lives with the runtime's benches.
#[test]
fn reference_object_call_cost() {
    for warm_instances in [0, 1] {
        let config = RuntimeConfig {
            builtin_limits: Limits {
                warm_instances,
                ..Limits::default()
            },
            ..RuntimeConfig::default()
        };
        let p = PluginRuntime::new(config)
            .unwrap()
            .builtin("builtin:transform-default")
            .unwrap();
        let mut times: Vec<u128> = (0..50)
            .map(|_| {
                let start = Instant::now();
                p.transform(BENCH_OBJECT, Some(&cluster(1)), "{}").unwrap();
                start.elapsed().as_micros()
            })
            .collect();
        times.sort_unstable();
        println!(
            "transform-default via wasmtime on deployment.json, {warm_instances} warm: p50 {} µs, max {} µs",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
