//! Acceptance checks 35-38: CRDs served at once, printer columns, strategic merge refused for
//! custom resources, cascading CRD deletion, and the CRD-then-CR upstream behaviour; plus
//! structural schemas (defaulting, pruning, validation) and the CR status/scale subresources.

mod support;

use support::{KUBECTLS, TestSpace, manifests, row};

/// Checks 35-37 with each kubectl.
#[test]
fn check_35_to_37_crd_lifecycle() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        // 35
        assert_eq!(
            k.apply(manifests::CRD, &[]).trim(),
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
        );
        let conditions = k.ok(&[
            "get",
            "crd",
            "widgets.example.com",
            "-o",
            "jsonpath={range .status.conditions[*]}{.type}={.status} {end}",
        ]);
        assert!(
            conditions.contains("Established=True") && conditions.contains("NamesAccepted=True"),
            "{conditions}"
        );
        assert_eq!(
            k.apply(manifests::CR, &[]).trim(),
            "widget.example.com/w1 created"
        );
        let out = k.ok(&["get", "wd"]);
        let header: Vec<&str> = out
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(header, ["NAME", "SIZE"], "{out}");
        assert_eq!(row(&out, "w1").expect("w1"), ["w1", "3"]);
        // 36
        let err = k.fails(&["patch", "widget", "w1", "-p", r#"{"spec":{"size":4}}"#]);
        assert!(err.contains("application/strategic-merge-patch+json is not supported by example.com/v1, Kind=Widget"), "{err}");
        assert_eq!(
            k.ok(&[
                "patch",
                "widget",
                "w1",
                "--type=merge",
                "-p",
                r#"{"spec":{"size":4}}"#
            ])
            .trim(),
            "widget.example.com/w1 patched"
        );
        assert_eq!(
            k.ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.size}"]),
            "4"
        );
        // 37
        assert_eq!(
            k.ok(&["delete", "crd", "widgets.example.com"]).trim(),
            "customresourcedefinition.apiextensions.k8s.io \"widgets.example.com\" deleted"
        );
        let err = k.fails(&["get", "widgets"]);
        assert!(
            err.contains("the server doesn't have a resource type \"widgets\"")
                || err.contains("NotFound"),
            "{err}"
        );
        // The CRs are gone with it: a new CRD of the same name starts empty.
        k.apply(manifests::CRD, &[]);
        let o = k.run(&["get", "widgets"]);
        assert!(o.ok && o.stderr.contains("No resources found"), "{o:?}");
    }
}

/// Check 38: CRD and CR in one apply on a fresh server fail like upstream; a rerun works.
#[test]
fn check_38_crd_and_cr_together() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        let both = format!("{}---\n{}", manifests::CRD, manifests::CR);
        let o = k.run_stdin(&["apply", "-f", "-"], &both);
        assert!(!o.ok);
        assert!(
            o.stdout.contains(
                "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
            ),
            "{o:?}"
        );
        assert!(
            o.stderr.contains("no matches for kind \"Widget\"")
                && o.stderr.contains("ensure CRDs are installed first"),
            "{o:?}"
        );
        let out = k.ok_stdin(&["apply", "-f", "-"], &both);
        assert!(out.contains("widget.example.com/w1 created"), "{out}");
    }
}

/// Structural schema: defaults, pruning, validation, and the status and scale subresources of
/// a custom resource.
#[test]
fn custom_resource_schema_and_subresources() {
    let s = TestSpace::start();
    let k = s.kubectl(33);
    k.apply(manifests::CRD, &[]);
    k.apply(manifests::CR, &[]);
    assert_eq!(
        k.ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.color}"]),
        "blue",
        "defaulted"
    );
    // Unknown fields: rejected under Strict, pruned under Ignore.
    let junk = manifests::CR
        .replace("name: w1", "name: w2")
        .replace("size: 3", "size: 3\n  junk: 1");
    let err = k.fails_stdin(&["apply", "-f", "-"], &junk);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.junk\""),
        "{err}"
    );
    k.apply(&junk, &["--validate=false"]);
    assert_eq!(
        k.ok(&["get", "wd", "w2", "-o", "jsonpath={.spec}"]),
        r#"{"color":"blue","size":3}"#
    );
    // Validation: minimum 0.
    let err = k.fails(&[
        "patch",
        "wd",
        "w1",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":-1}}"#,
    ]);
    assert!(
        err.contains("Invalid")
            && err.contains("spec.size")
            && err.contains("greater than or equal to 0"),
        "{err}"
    );
    // Status subresource: main writes ignore status, status writes ignore spec.
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--type=merge",
        "-p",
        r#"{"status":{"size":9}}"#,
    ]);
    assert_eq!(k.ok(&["get", "wd", "w1", "-o", "jsonpath={.status}"]), "");
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"size":2},"spec":{"size":7}}"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.status.size} {.spec.size} {.metadata.generation}"
        ]),
        "2 3 1"
    );
    // Scale subresource through specReplicasPath / statusReplicasPath.
    assert_eq!(
        k.ok(&["scale", "wd", "w1", "--replicas=6"]).trim(),
        "widget.example.com/w1 scaled"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.spec.size} {.metadata.generation}"
        ]),
        "6 2"
    );
    let scale: serde_json::Value = serde_json::from_str(&k.ok(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
    ]))
    .expect("JSON");
    assert_eq!(
        (
            scale["kind"].as_str(),
            scale["spec"]["replicas"].as_i64(),
            scale["status"]["replicas"].as_i64()
        ),
        (Some("Scale"), Some(6), Some(2))
    );
    // Discovery lists the subresources.
    let out = k.ok(&["get", "--raw", "/apis/example.com/v1"]);
    assert!(
        out.contains("\"widgets/status\"") && out.contains("\"widgets/scale\""),
        "{out}"
    );
    // `kubectl explain` sees the CRD's schema.
    let out = k.ok(&["explain", "widget.spec"]);
    assert!(out.contains("color") && out.contains("size"), "{out}");
}
