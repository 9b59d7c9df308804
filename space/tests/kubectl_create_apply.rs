//! Acceptance checks 5-12 and 28-31: creating (JSON and protobuf bodies), client-side and
//! server-side apply, strict field validation, create errors, dry runs and diff.

mod support;

use support::{KUBECTLS, Kubectl, TestSpace, manifests};

fn json(k: &Kubectl, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    serde_json::from_str(&k.ok(&a)).expect("kubectl -o json prints JSON")
}

/// The resourceVersion of the whole store, as a list reports it.
fn store_rv(k: &Kubectl) -> u64 {
    let list: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "--raw", "/api/v1/namespaces"])).expect("list");
    list["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("list RV")
}

/// Check 5: `kubectl create ns` (1.33 sends protobuf).
#[test]
fn check_05_create_namespace() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let name = format!("x{minor}");
        assert_eq!(
            k.ok(&["create", "ns", &name]).trim(),
            format!("namespace/{name} created")
        );
        assert_eq!(
            k.ok(&["get", "ns", &name, "-o", "jsonpath={.status.phase}"]),
            "Active"
        );
        let ns = json(&k, &["get", "ns", &name]);
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            name.as_str()
        );
        assert_eq!(ns["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    }
}

/// Check 6: `kubectl create configmap` and `create deployment` (protobuf on 1.33).
#[test]
fn check_06_create_configmap_and_deployment() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        assert_eq!(
            k.ok(&["create", "configmap", "c1", "--from-literal=a=b"])
                .trim(),
            "configmap/c1 created"
        );
        assert_eq!(
            k.ok(&["create", "deployment", "d1", "--image=nginx"])
                .trim(),
            "deployment.apps/d1 created"
        );
        assert_eq!(k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.a}"]), "b");
        let d = json(&k, &["get", "deploy", "d1", "--show-managed-fields"]);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx"
        );
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "d1");
        // Defaults that `kubectl diff` and `describe` rely on.
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert_eq!(
            d["metadata"]["managedFields"][0]["manager"],
            "kubectl-create"
        );
    }
}

/// Every `kubectl create <generator>` of kubectl 1.33 sends a protobuf body; each must decode.
#[test]
fn protobuf_bodies_of_every_generator() {
    let s = TestSpace::start();
    let k = s.kubectl(33);
    let runs: &[&[&str]] = &[
        &["create", "serviceaccount", "sa1"],
        &["create", "secret", "generic", "s1", "--from-literal=k=v"],
        &[
            "create",
            "secret",
            "docker-registry",
            "dr1",
            "--docker-server=r.io",
            "--docker-username=u",
            "--docker-password=p",
        ],
        &["create", "service", "clusterip", "svc1", "--tcp=80:8080"],
        &["create", "service", "nodeport", "svc2", "--tcp=80:8080"],
        &["create", "job", "j1", "--image=busybox"],
        &[
            "create",
            "cronjob",
            "cj1",
            "--image=busybox",
            "--schedule=*/5 * * * *",
        ],
        &["create", "role", "r1", "--verb=get", "--resource=pods"],
        &["create", "rolebinding", "rb1", "--role=r1", "--user=u"],
        &[
            "create",
            "clusterrole",
            "cr1",
            "--verb=get",
            "--resource=pods",
        ],
        &[
            "create",
            "clusterrolebinding",
            "crb1",
            "--clusterrole=cr1",
            "--user=u",
        ],
        &["create", "quota", "q1", "--hard=pods=3"],
        &["create", "priorityclass", "pc1", "--value=100"],
        &[
            "create",
            "poddisruptionbudget",
            "pdb1",
            "--selector=app=x",
            "--min-available=1",
        ],
        &["create", "ingress", "ing1", "--rule=foo.com/bar=svc1:80"],
    ];
    for args in runs {
        let out = k.ok(args);
        assert!(out.contains("created"), "{args:?}: {out}");
    }
    assert_eq!(
        k.ok(&["get", "secret", "s1", "-o", "jsonpath={.data.k}"]),
        "dg=="
    );
    assert_eq!(
        k.ok(&["get", "svc", "svc2", "-o", "jsonpath={.spec.type}"]),
        "NodePort"
    );
    assert!(
        k.ok(&[
            "get",
            "svc",
            "svc2",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}"
        ])
        .parse::<u16>()
        .is_ok()
    );
    assert_eq!(
        k.ok(&["get", "cronjob", "cj1", "-o", "jsonpath={.spec.schedule}"]),
        "*/5 * * * *"
    );
    assert_eq!(
        k.ok(&["get", "quota", "q1", "-o", "jsonpath={.spec.hard.pods}"]),
        "3"
    );
    assert_eq!(
        k.ok(&["get", "pdb", "pdb1", "-o", "jsonpath={.spec.minAvailable}"]),
        "1"
    );
    assert_eq!(
        k.ok(&["get", "priorityclass", "pc1", "-o", "jsonpath={.value}"]),
        "100"
    );
    assert_eq!(k.ok(&["auth", "can-i", "get", "pods"]).trim(), "yes");
}

/// Checks 7-9: client-side apply creates, is idempotent, then configures.
#[test]
fn check_07_to_09_client_side_apply() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        // 7
        assert_eq!(
            k.apply(manifests::DEPLOY, &[]).trim(),
            "deployment.apps/web created"
        );
        let d = json(&k, &["get", "deploy", "web"]);
        let m = &d["metadata"];
        let last = m["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("annotation");
        assert!(
            last.ends_with('\n') && last.contains("\"replicas\":1"),
            "{last}"
        );
        assert_eq!(m["generation"], 1);
        assert!(
            uuid::Uuid::parse_str(m["uid"].as_str().expect("uid")).is_ok(),
            "{m}"
        );
        let created = m["creationTimestamp"].as_str().expect("creationTimestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'),
            "{created}"
        );
        let rv = m["resourceVersion"].clone();
        // 8
        assert_eq!(
            k.apply(manifests::DEPLOY, &[]).trim(),
            "deployment.apps/web unchanged"
        );
        assert_eq!(
            json(&k, &["get", "deploy", "web"])["metadata"]["resourceVersion"],
            rv
        );
        // 9
        assert_eq!(
            k.apply(&manifests::deploy2(), &[]).trim(),
            "deployment.apps/web configured"
        );
        let d = json(&k, &["get", "deploy", "web"]);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.28"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(d["metadata"]["generation"], 2);
    }
}

/// Checks 10-11: server-side apply, managedFields, conflicts and `--force-conflicts`.
#[test]
fn check_10_11_server_side_apply() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        k.apply(manifests::DEPLOY, &[]);
        // 10
        assert_eq!(
            k.apply(manifests::DEPLOY, &["--server-side"]).trim(),
            "deployment.apps/web serverside-applied"
        );
        let d = json(&k, &["get", "deploy", "web", "--show-managed-fields"]);
        let managers: Vec<(String, String)> = d["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .map(|m| {
                (
                    m["manager"].as_str().unwrap_or_default().into(),
                    m["operation"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        assert!(
            managers.contains(&("kubectl".into(), "Apply".into())),
            "{managers:?}"
        );
        // 11: another manager takes spec.replicas
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":2}}"#,
        ]);
        let err = k.fails_stdin(
            &["apply", "--server-side", "-f", "-"],
            &manifests::deploy_conflict(),
        );
        assert!(err.contains("Apply failed with 1 conflict"), "{err}");
        assert!(
            err.contains("conflict with \"kubectl-patch\"") && err.contains(".spec.replicas"),
            "{err}"
        );
        assert_eq!(
            k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
            "2"
        );
        let out = k.apply(
            &manifests::deploy_conflict(),
            &["--server-side", "--force-conflicts"],
        );
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
        assert_eq!(
            k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
            "7"
        );
    }
}

/// Check 12: strict field validation, and `--validate=false`.
#[test]
fn check_12_unknown_field() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        let err = k.fails_stdin(&["apply", "-f", "-"], manifests::BAD_CM);
        assert!(
            err.contains("strict decoding error: unknown field \"dataz\""),
            "{err}"
        );
        assert!(
            k.run(&["get", "cm", "bad"]).stderr.contains("NotFound"),
            "nothing was written"
        );
        assert_eq!(
            k.apply(manifests::BAD_CM, &["--validate=false"]).trim(),
            "configmap/bad created"
        );
        let cm = json(&k, &["get", "cm", "bad"]);
        assert!(
            cm.get("dataz").is_none(),
            "unknown fields are dropped: {cm}"
        );
        // Warn: created with a warning.
        let o = k.run_stdin(
            &["create", "-f", "-", "--validate=warn"],
            &manifests::BAD_CM.replace("name: bad", "name: bad2"),
        );
        assert!(
            o.ok && o.stderr.contains("unknown field \"dataz\""),
            "{o:?}"
        );
    }
}

/// Checks 28-29: create errors.
#[test]
fn check_28_29_create_errors() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        k.ok_stdin(&["create", "-f", "-"], manifests::DEPLOY);
        let err = k.fails_stdin(&["create", "-f", "-"], manifests::DEPLOY);
        assert!(
            err.contains("Error from server (AlreadyExists)")
                && err.contains("deployments.apps \"web\" already exists"),
            "{err}"
        );
        let err = k.fails_stdin(&["create", "-f", "-", "-n", "nosuchns"], manifests::POD);
        assert!(
            err.contains("Error from server (NotFound)")
                && err.contains("namespaces \"nosuchns\" not found"),
            "{err}"
        );
    }
}

/// Check 30: a server-side dry run persists nothing.
#[test]
fn check_30_dry_run() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        k.apply(manifests::DEPLOY, &[]);
        k.ok(&["delete", "deploy", "web"]);
        let before = store_rv(&k);
        assert_eq!(
            k.apply(manifests::DEPLOY, &["--dry-run=server"]).trim(),
            "deployment.apps/web created (server dry run)"
        );
        let err = k.fails(&["get", "deploy", "web"]);
        assert!(err.contains("NotFound"), "{err}");
        assert_eq!(
            store_rv(&k),
            before,
            "a dry run must not bump the resourceVersion"
        );
        // Dry-run patches and deletes, too.
        k.apply(manifests::DEPLOY, &[]);
        let rv = k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ]);
        k.ok(&["scale", "deploy", "web", "--replicas=4", "--dry-run=server"]);
        k.ok(&["delete", "deploy", "web", "--dry-run=server"]);
        assert_eq!(
            k.ok(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.metadata.resourceVersion} {.spec.replicas}"
            ]),
            format!("{rv} 1")
        );
    }
}

/// Check 31: `kubectl diff`.
#[test]
fn check_31_diff() {
    for minor in KUBECTLS {
        let s = TestSpace::start();
        let k = s.kubectl(minor);
        k.apply(manifests::DEPLOY, &[]);
        let o = k.run_stdin(&["diff", "-f", "-"], &manifests::deploy2());
        assert_eq!(o.stderr, "", "diff printed errors");
        assert!(!o.ok, "diff exits 1 when different");
        assert!(
            o.stdout.contains("-  replicas: 1") && o.stdout.contains("+  replicas: 3"),
            "{}",
            o.stdout
        );
        assert!(
            o.stdout.contains("+      - image: nginx:1.28"),
            "{}",
            o.stdout
        );
        k.apply(&manifests::deploy2(), &[]);
        let o = k.run_stdin(&["diff", "-f", "-"], &manifests::deploy2());
        assert!(o.ok && o.stdout.is_empty(), "{o:?}");
    }
}
