//! The plugin end to end, natively, through the SDK's harness (which applies the host's output
//! checks): the upstream scenarios it must reproduce.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

use kubestellar_plugin_sdk::testing::{self, CallError};
use kubestellar_plugin_sdk::{ClusterContext, PluginKind, Scope};
use serde_json::{Value, json};
use transform_default::TransformDefault;

/// A copy of the benchmark reference object (`shared/bench/deployment.json`).
const BENCH_OBJECT: &str = include_str!("data/deployment.json");

fn run(object: &Value, cluster: Option<&ClusterContext>, config: &str) -> (Value, bool) {
    let out = testing::transform::<TransformDefault>(&object.to_string(), cluster, config).unwrap();
    (serde_json::from_str(&out.object).unwrap(), out.used_cluster)
}

fn run_err(object: &Value, cluster: Option<&ClusterContext>, config: &str) -> String {
    match testing::transform::<TransformDefault>(&object.to_string(), cluster, config) {
        Err(CallError::Plugin(e)) => e.message,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

/// The WECs of upstream's bash e2e test: properties from the built-in name, the ManagedCluster
/// label `region` and the ConfigMap property `clusterURL`.
fn cluster(n: u8) -> ClusterContext {
    let (region, url) = if n == 1 {
        ("east", "https://my.clusters/1001-abcd")
    } else {
        ("west", "https://my.clusters/2002-cdef")
    };
    ClusterContext::named(format!("cluster{n}"))
        .with_label("name", format!("cluster{n}"))
        .with_label("region", region)
        .with_label("location-group", "edge")
        .with_property("clusterURL", url)
}

fn nginx_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "namespace": "nginx", "uid": "u-1", "resourceVersion": "42",
            "labels": {"app.kubernetes.io/name": "nginx"},
            "annotations": {
                "control.kubestellar.io/expand-templates": "true",
                "customization-test": "cluster {{ .clusterName }} URL is {{ .clusterURL }}, region is {{ .region }}"
            }},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
        "status": {"replicas": 1}
    })
}

#[test]
fn describes_itself() {
    let info = testing::describe::<TransformDefault>();
    assert_eq!(info.name, "transform-default");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.kind, PluginKind::Transformer);
    assert_eq!(info.scope, Scope::PerCluster);
    let schema: Value = serde_json::from_str(info.config_schema.as_deref().unwrap()).unwrap();
    assert_eq!(schema["properties"]["remove"]["items"]["type"], "string");
}

#[test]
fn reference_deployment_is_stripped_of_wds_state_only() {
    let input: Value = serde_json::from_str(BENCH_OBJECT).unwrap();
    let out =
        testing::transform::<TransformDefault>(BENCH_OBJECT, Some(&cluster(1)), "{}").unwrap();
    assert!(!out.used_cluster);
    assert!(
        !out.object.contains('\n') && !out.object.contains(": "),
        "output is compact JSON"
    );
    let mut expected = input.clone();
    let meta = expected["metadata"].as_object_mut().unwrap();
    for field in ["uid", "resourceVersion", "generation", "managedFields"] {
        assert!(
            meta.remove(field).is_some(),
            "the reference object has {field}"
        );
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
fn upstream_e2e_customization_per_cluster() {
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
        let (out, used) = run(&nginx_deployment(), Some(&cluster(n)), "");
        assert!(used);
        assert_eq!(
            out["metadata"]["annotations"]["customization-test"],
            expected
        );
        assert_eq!(
            out["metadata"]["annotations"]["control.kubestellar.io/expand-templates"],
            "true"
        );
        assert!(out.get("status").is_none() && out["metadata"].get("uid").is_none());
    }
}

#[test]
fn templates_need_the_annotation_and_a_cluster() {
    let mut plain = nginx_deployment();
    plain["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("control.kubestellar.io/expand-templates");
    let (out, used) = run(&plain, Some(&cluster(1)), "{}");
    assert!(!used);
    assert_eq!(
        out["metadata"]["annotations"]["customization-test"],
        plain["metadata"]["annotations"]["customization-test"]
    );

    let (out, used) = run(&nginx_deployment(), None, "{}");
    assert!(!used);
    assert!(
        out["metadata"]["annotations"]["customization-test"]
            .as_str()
            .unwrap()
            .contains("{{ .clusterName }}")
    );

    let mut no_braces = nginx_deployment();
    no_braces["metadata"]["annotations"]["customization-test"] = json!("nothing to expand");
    let (_, used) = run(&no_braces, Some(&cluster(1)), "{}");
    assert!(
        !used,
        "without any template the output can be shared by all destinations"
    );
}

#[test]
fn template_errors_are_reported_with_their_location() {
    let unknown = ClusterContext::named("cluster3").with_label("region", "north");
    let message = run_err(&nginx_deployment(), Some(&unknown), "{}");
    let name = r#"cluster3/Deployment.apps(nginx/nginx-deployment).metadata.annotations["customization-test"]"#;
    assert_eq!(
        message,
        format!(
            r#"template: {name}:1:37: executing "{}" at <.clusterURL>: map has no entry for key "clusterURL""#,
            name.replace('"', "\\\"")
        )
    );

    let mut bad = nginx_deployment();
    bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:{{ .tag");
    bad["data"] = json!({"x": "{{ + }}"});
    let message = run_err(&bad, Some(&cluster(1)), "{}");
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines,
        vec![
            r#"template: cluster1/Deployment.apps(nginx/nginx-deployment).data.x:1: illegal number syntax: "+""#,
            "template: cluster1/Deployment.apps(nginx/nginx-deployment).spec.template.spec.containers[0].image:1: unclosed action",
        ]
    );
}

#[test]
fn custom_transform_removes_apply_after_builtin_rules() {
    // Upstream TestGenericController: a CustomTransform on ClusterRoles removing one label.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "r1", "labels": {"test.kubestellar.io/delete-me": "x", "keep": "y"}, "resourceVersion": "7"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    });
    let config = r#"{"remove": ["$.metadata.labels[\"test.kubestellar.io/delete-me\"]"]}"#;
    let (out, used) = run(&role, None, config);
    assert!(!used);
    assert_eq!(
        out,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "r1", "labels": {"keep": "y"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
        })
    );

    // Invalid entries are skipped, valid ones (including our extension) applied.
    let config = r#"{"remove": ["$[]", "$", "$.spec.template.spec.containers[*].resources", "$.spec.replicas"]}"#;
    let (out, _) = run(&nginx_deployment(), None, config);
    assert!(out["spec"].get("replicas").is_none());
    assert!(
        out["spec"]["template"]["spec"]["containers"][0]
            .get("resources")
            .is_none()
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
}

#[test]
fn removes_happen_before_expansion() {
    // Removing the annotation that requests expansion turns expansion off, as upstream.
    let config =
        r#"{"remove": ["$.metadata.annotations[\"control.kubestellar.io/expand-templates\"]"]}"#;
    let (out, used) = run(&nginx_deployment(), Some(&cluster(1)), config);
    assert!(!used);
    assert!(
        out["metadata"]["annotations"]["customization-test"]
            .as_str()
            .unwrap()
            .contains("{{")
    );
}

#[test]
fn identity_survives_any_configuration() {
    let config = r#"{"remove": ["$.metadata", "$.kind", "$.apiVersion"]}"#;
    let (out, _) = run(&nginx_deployment(), None, config);
    assert_eq!(out["apiVersion"], "apps/v1");
    assert_eq!(out["kind"], "Deployment");
    assert_eq!(
        out["metadata"],
        json!({"name": "nginx-deployment", "namespace": "nginx"})
    );
    let (out, _) = run(&nginx_deployment(), None, r#"{"remove": ["$[*]"]}"#);
    assert_eq!(
        out,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx-deployment", "namespace": "nginx"}})
    );
}

#[test]
fn service_and_job_rules_apply_end_to_end() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "namespace": "n", "annotations": {"control.kubestellar.io/preserve": "nodeport"}},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"],
            "ports": [{"port": 80, "nodePort": 31000}]},
        "status": {"loadBalancer": {}}
    });
    let (out, _) = run(&service, Some(&cluster(1)), "{}");
    assert_eq!(
        out["spec"],
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]})
    );
    assert!(out.get("status").is_none());

    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "j", "namespace": "n", "labels": {"batch.kubernetes.io/controller-uid": "u"}},
        "spec": {"suspend": true, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
            "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "u", "app": "a"}}}}
    });
    let (out, _) = run(&job, None, "{}");
    assert_eq!(out["metadata"]["labels"], json!({}));
    assert_eq!(
        out["spec"],
        json!({"template": {"metadata": {"labels": {"app": "a"}}}})
    );
}

#[test]
fn bad_input_and_configuration_are_errors_not_panics() {
    assert_eq!(
        testing::transform::<TransformDefault>("[1]", None, "{}")
            .unwrap_err()
            .plugin_error()
            .unwrap()
            .message,
        "object is not a JSON object but an array"
    );
    assert!(testing::transform::<TransformDefault>("{", None, "{}").is_err());
    let message = run_err(&nginx_deployment(), None, r#"{"remove": "$.a"}"#);
    assert_eq!(
        message,
        "invalid configuration: spec.remove: must be an array of strings"
    );
    let problems = testing::validate_config::<TransformDefault>(r#"{"remove": ["$.ok", "$["]}"#);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "spec.remove[1]");
    assert_eq!(
        problems[0].message,
        r"Error in spec.remove[1]: syntax error at 2: expected open quote, got '\x00'"
    );
}
