//! Acceptance checks 20-27: labels, merge / JSON / strategic patches, `set image`, `rollout
//! restart`, `/scale`, the status subresource split, and optimistic concurrency on replace.

mod support;

use support::{KUBECTLS, Kubectl, TestSpace, manifests};

fn field(k: &Kubectl, path: &str) -> String {
    k.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        &format!("jsonpath={{{path}}}"),
    ])
}

fn rv_gen(k: &Kubectl) -> (u64, u64) {
    let out = field(k, ".metadata.resourceVersion} {.metadata.generation");
    let mut it = out
        .split_whitespace()
        .map(|s| s.parse::<u64>().expect("number"));
    (it.next().expect("rv"), it.next().expect("generation"))
}

fn with_web(minor: u32, f: impl FnOnce(&Kubectl)) {
    let s = TestSpace::start();
    let k = s.kubectl(minor);
    k.apply(manifests::DEPLOY, &[]);
    f(&k);
}

/// Check 20: a label changes the RV but not the generation.
#[test]
fn check_20_label() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            let (rv, generation) = rv_gen(k);
            assert_eq!(
                k.ok(&["label", "deploy", "web", "tier=fe"]).trim(),
                "deployment.apps/web labeled"
            );
            let (rv2, gen2) = rv_gen(k);
            assert!(rv2 > rv, "RV increased");
            assert_eq!(gen2, generation, "labels do not bump the generation");
            assert_eq!(field(k, ".metadata.labels.tier"), "fe");
            k.ok(&["annotate", "deploy", "web", "note=hi"]);
            assert_eq!(rv_gen(k).1, generation);
        });
    }
}

/// Check 21: a merge patch bumps the generation; the same patch again is a no-op.
#[test]
fn check_21_merge_patch_and_no_op() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            let (_, generation) = rv_gen(k);
            let p = r#"{"spec":{"replicas":2}}"#;
            assert_eq!(
                k.ok(&["patch", "deploy", "web", "--type=merge", "-p", p])
                    .trim(),
                "deployment.apps/web patched"
            );
            let (rv, gen2) = rv_gen(k);
            assert_eq!(gen2, generation + 1);
            assert_eq!(
                k.ok(&["patch", "deploy", "web", "--type=merge", "-p", p])
                    .trim(),
                "deployment.apps/web patched (no change)"
            );
            assert_eq!(rv_gen(k), (rv, gen2), "a no-op keeps the resourceVersion");
        });
    }
}

/// Check 22: JSON patch, and a failing `test` operation (422).
#[test]
fn check_22_json_patch() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            k.ok(&[
                "patch",
                "deploy",
                "web",
                "--type=json",
                "-p",
                r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
            ]);
            assert_eq!(field(k, ".spec.replicas"), "4");
            let (rv, _) = rv_gen(k);
            let err = k.fails(&[
                "patch",
                "deploy",
                "web",
                "--type=json",
                "-p",
                r#"[{"op":"test","path":"/spec/replicas","value":99}]"#,
            ]);
            assert!(
                err.contains("The request is invalid") || err.contains("Invalid"),
                "{err}"
            );
            assert_eq!(rv_gen(k).0, rv);
            let err = k.fails(&[
                "patch",
                "deploy",
                "web",
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/spec/nope"}]"#,
            ]);
            assert!(err.contains("invalid") || err.contains("Invalid"), "{err}");
        });
    }
}

/// Check 23: a strategic merge patch merges containers by name.
#[test]
fn check_23_strategic_patch() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            let p = r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}"#;
            assert_eq!(
                k.ok(&["patch", "deploy", "web", "-p", p]).trim(),
                "deployment.apps/web patched"
            );
            assert_eq!(field(k, ".spec.template.spec.containers[*].name"), "nginx");
            assert_eq!(
                field(k, ".spec.template.spec.containers[0].image"),
                "nginx:1.28"
            );
            assert_eq!(
                field(
                    k,
                    ".spec.template.spec.containers[0].ports[0].containerPort"
                ),
                "80"
            );
            // A second container is added by name, the first kept (patch items first, as
            // upstream's normalizeElementOrder puts them).
            let p = r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}"#;
            k.ok(&["patch", "deploy", "web", "-p", p]);
            assert_eq!(
                field(k, ".spec.template.spec.containers[*].name"),
                "side nginx"
            );
        });
    }
}

/// Check 24: `set image` and `rollout restart`.
#[test]
fn check_24_set_image_and_restart() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            assert_eq!(
                k.ok(&["set", "image", "deploy/web", "nginx=nginx:1.29"])
                    .trim(),
                "deployment.apps/web image updated"
            );
            assert_eq!(
                field(k, ".spec.template.spec.containers[0].image"),
                "nginx:1.29"
            );
            assert_eq!(
                k.ok(&["rollout", "restart", "deploy/web"]).trim(),
                "deployment.apps/web restarted"
            );
            let at = field(
                k,
                ".spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt",
            );
            assert!(
                chrono::DateTime::parse_from_rfc3339(&at).is_ok(),
                "restartedAt = {at:?}"
            );
        });
    }
}

/// Check 25: `kubectl scale` goes through `/scale`.
#[test]
fn check_25_scale() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            assert_eq!(
                k.ok(&["scale", "deploy", "web", "--replicas=5"]).trim(),
                "deployment.apps/web scaled"
            );
            assert_eq!(field(k, ".spec.replicas"), "5");
            let scale: serde_json::Value = serde_json::from_str(&k.ok(&[
                "get",
                "--raw",
                "/apis/apps/v1/namespaces/default/deployments/web/scale",
            ]))
            .expect("JSON");
            assert_eq!(scale["kind"], "Scale");
            assert_eq!(scale["apiVersion"], "autoscaling/v1");
            assert_eq!(scale["spec"]["replicas"], 5);
            assert_eq!(scale["status"]["selector"], "app=web");
            let err = k.fails(&["scale", "deploy", "web", "--replicas=-1"]);
            assert!(err.contains("replicas") || err.contains("Invalid"), "{err}");
            // --current-replicas is a precondition.
            let err = k.fails(&[
                "scale",
                "deploy",
                "web",
                "--current-replicas=2",
                "--replicas=3",
            ]);
            assert!(err.contains("Expected replicas to be 2, was 5"), "{err}");
            assert_eq!(field(k, ".spec.replicas"), "5");
        });
    }
}

/// Check 26: writes to `/status` change only status; main-resource writes ignore status.
#[test]
fn check_26_status_subresource() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            let (_, generation) = rv_gen(k);
            k.ok(&[
                "patch",
                "deploy",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"readyReplicas":5}}"#,
            ]);
            assert_eq!(field(k, ".status.readyReplicas"), "5");
            let out = k.ok(&[
                "patch",
                "deploy",
                "web",
                "--type=merge",
                "-p",
                r#"{"status":{"readyReplicas":0}}"#,
            ]);
            assert_eq!(out.trim(), "deployment.apps/web patched (no change)");
            assert_eq!(field(k, ".status.readyReplicas"), "5");
            // A spec change through /status is ignored too.
            k.ok(&[
                "patch",
                "deploy",
                "web",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"spec":{"replicas":9},"status":{"replicas":1}}"#,
            ]);
            assert_eq!(field(k, ".spec.replicas"), "1");
            assert_eq!(field(k, ".status.replicas"), "1");
            assert_eq!(
                rv_gen(k).1,
                generation,
                "status writes never bump the generation"
            );
        });
    }
}

/// Check 27: `replace` with a stale resourceVersion is a Conflict.
#[test]
fn check_27_stale_replace() {
    for minor in KUBECTLS {
        with_web(minor, |k| {
            let dir = tempfile::tempdir().expect("tempdir");
            let snapshot = support::write_file(
                dir.path(),
                "s.json",
                &k.ok(&["get", "deploy", "web", "-o", "json"]),
            );
            k.ok(&["label", "deploy", "web", "x=1"]);
            let err = k.fails(&["replace", "-f", &snapshot]);
            assert!(
                err.contains("Error from server (Conflict)")
                    && err.contains("the object has been modified; please apply your changes to the latest version and try again"),
                "{err}"
            );
            assert_eq!(field(k, ".metadata.labels.x"), "1");
            // A fresh copy replaces fine.
            let fresh = support::write_file(
                dir.path(),
                "f.json",
                &k.ok(&["get", "deploy", "web", "-o", "json"]),
            );
            assert_eq!(
                k.ok(&["replace", "-f", &fresh]).trim(),
                "deployment.apps/web replaced"
            );
        });
    }
}
