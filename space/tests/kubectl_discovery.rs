//! Acceptance checks 1-4 and 39-41 (spec/space-server.md section (e)): version, discovery,
//! raw reads, explain, and kubectl 1.27 (OpenAPI v2 only).

mod support;

use support::{KUBECTLS, TestSpace, manifests, row};

/// Check 1: `kubectl version`.
#[test]
fn check_01_version() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let out = s.kubectl(minor).ok(&["version"]);
        assert!(
            out.contains("Server Version: v1.33"),
            "kubectl 1.{minor}: {out}"
        );
    }
}

/// Check 2: `kubectl api-resources`, with aggregated discovery on and off.
#[test]
fn check_02_api_resources() {
    for aggregated in [true, false] {
        let s = TestSpace::start_with(|c| c.aggregated_discovery = aggregated);
        for minor in KUBECTLS {
            let out = s.kubectl(minor).ok(&["api-resources"]);
            let ctx = format!("kubectl 1.{minor}, aggregated {aggregated}:\n{out}");
            assert_eq!(
                row(&out, "namespaces").as_deref(),
                Some(&["namespaces", "ns", "v1", "false", "Namespace"].map(String::from)[..]),
                "{ctx}"
            );
            assert_eq!(
                row(&out, "configmaps").as_deref(),
                Some(&["configmaps", "cm", "v1", "true", "ConfigMap"].map(String::from)[..]),
                "{ctx}"
            );
            assert_eq!(
                row(&out, "deployments").as_deref(),
                Some(
                    &["deployments", "deploy", "apps/v1", "true", "Deployment"].map(String::from)[..]
                ),
                "{ctx}"
            );
            assert_eq!(
                row(&out, "customresourcedefinitions").as_deref(),
                Some(
                    &[
                        "customresourcedefinitions",
                        "crd,crds",
                        "apiextensions.k8s.io/v1",
                        "false",
                        "CustomResourceDefinition"
                    ]
                    .map(String::from)[..]
                ),
                "{ctx}"
            );
            // Subresources are not resources of their own.
            assert!(!out.contains("deployments/status"), "{ctx}");
        }
    }
}

/// Check 3: `kubectl api-versions`.
#[test]
fn check_03_api_versions() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let out = s.kubectl(minor).ok(&["api-versions"]);
        let versions: Vec<&str> = out.lines().collect();
        for want in ["v1", "apps/v1", "apiextensions.k8s.io/v1"] {
            assert!(
                versions.contains(&want),
                "kubectl 1.{minor}: {want} missing from {out}"
            );
        }
    }
}

/// Check 4: `kubectl get ns` lists the built-in namespaces.
#[test]
fn check_04_get_namespaces() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let out = s.kubectl(minor).ok(&["get", "ns"]);
        for ns in ["default", "kube-public", "kube-system"] {
            assert_eq!(
                row(&out, ns).map(|r| r[1].clone()).as_deref(),
                Some("Active"),
                "1.{minor}: {out}"
            );
        }
    }
}

/// Check 39: raw reads of an object and of `/readyz`.
#[test]
fn check_39_get_raw() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "--raw", "/api/v1/namespaces/default"]))
                .expect("JSON namespace");
        assert_eq!(ns["kind"], "Namespace");
        assert_eq!(ns["metadata"]["name"], "default");
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(k.ok(&["get", "--raw", "/readyz"]), "ok");
        assert_eq!(k.ok(&["get", "--raw", "/livez"]), "ok");
        assert_eq!(k.ok(&["get", "--raw", "/healthz"]), "ok");
    }
}

/// Check 40: `kubectl explain` reads the embedded OpenAPI v3 schemas.
#[test]
fn check_40_explain() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let out = k.ok(&["explain", "deployment.spec.replicas"]);
        assert!(
            out.contains("FIELD: replicas <integer>")
                || out.contains("FIELD:    replicas <integer>"),
            "1.{minor}: {out}"
        );
        assert!(out.contains("DESCRIPTION:"), "{out}");
        assert!(out.contains("Number of desired pods"), "{out}");
        let out = k.ok(&["explain", "configmap"]);
        assert!(
            out.contains("KIND:")
                && out.contains("ConfigMap")
                && out.contains("data\t<map[string]string>"),
            "{out}"
        );
    }
}

/// Check 41: kubectl 1.27 validates through `/openapi/v2` only and still applies.
#[test]
fn check_41_kubectl_127_apply() {
    let s = TestSpace::start();
    let k = s.kubectl(27);
    assert_eq!(
        k.apply(manifests::DEPLOY, &[]).trim(),
        "deployment.apps/web created"
    );
    assert_eq!(
        k.apply(&manifests::deploy2(), &[]).trim(),
        "deployment.apps/web configured"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    // Strict validation still happens on the server.
    let err = k.fails_stdin(&["apply", "-f", "-"], manifests::BAD_CM);
    assert!(err.contains("unknown field \"dataz\""), "{err}");
    let out = k.ok(&["api-resources"]);
    assert!(row(&out, "deployments").is_some(), "{out}");
}
