//! Acceptance checks 32-34: `kubectl wait` on a status condition, finalizers, namespace
//! termination; plus owner-reference garbage collection (background, foreground, orphan).

mod support;

use std::time::{Duration, Instant};

use support::{KUBECTLS, Kubectl, TestSpace, eventually, manifests};

/// Check 32: `kubectl wait --for=condition=Ready` ends when the condition appears.
#[test]
fn check_32_wait_for_condition() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("w{minor}");
        k.ok(&["create", "ns", &ns]);
        k.ok_stdin(&["create", "-f", "-", "-n", &ns], manifests::POD);
        assert_eq!(
            k.ok(&[
                "get",
                "pod",
                "p1",
                "-n",
                &ns,
                "-o",
                "jsonpath={.status.phase}"
            ]),
            "Pending"
        );
        let started = Instant::now();
        let waiter = k.spawn(&[
            "wait",
            "--for=condition=Ready",
            "pod/p1",
            "-n",
            &ns,
            "--timeout=20s",
        ]);
        std::thread::sleep(Duration::from_secs(2));
        k.ok(&[
            "patch",
            "pod",
            "p1",
            "-n",
            &ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        ]);
        let out = waiter.wait_with_output().expect("wait finishes");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), "pod/p1 condition met");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
}

const FIN_CM: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: fin1
  finalizers: ["example.com/hold"]
"#;

/// Check 33: deletion waits for finalizers.
#[test]
fn check_33_finalizers() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("f{minor}");
        k.ok(&["create", "ns", &ns]);
        k.apply(FIN_CM, &["-n", &ns]);
        let deleter = k.spawn(&["delete", "cm", "fin1", "-n", &ns, "--timeout=20s"]);
        let ts = eventually(10, || {
            let ts = k.ok(&[
                "get",
                "cm",
                "fin1",
                "-n",
                &ns,
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ]);
            (!ts.is_empty()).then_some(ts)
        })
        .expect("deletionTimestamp set while the finalizer holds");
        assert!(chrono::DateTime::parse_from_rfc3339(&ts).is_ok(), "{ts}");
        // New finalizers cannot be added once deletion started.
        let err = k.fails(&[
            "patch",
            "cm",
            "fin1",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold","x.io/more"]}}"#,
        ]);
        assert!(
            err.contains("no new finalizers can be added if the object is being deleted"),
            "{err}"
        );
        std::thread::sleep(Duration::from_millis(300));
        k.ok(&[
            "patch",
            "cm",
            "fin1",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ]);
        let out = deleter.wait_with_output().expect("delete finishes");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "configmap \"fin1\" deleted"
        );
        assert!(
            k.fails(&["get", "cm", "fin1", "-n", &ns])
                .contains("NotFound")
        );
    }
}

/// Check 34: deleting a namespace deletes its contents, refuses new content meanwhile, then
/// removes the namespace.
#[test]
fn check_34_namespace_termination() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("x{minor}");
        k.ok(&["create", "ns", &ns]);
        for i in 0..8 {
            k.ok(&["create", "cm", &format!("c{i}"), "-n", &ns]);
        }
        // One object holds the namespace in Terminating long enough to try a create.
        k.apply(FIN_CM, &["-n", &ns]);
        let deleter = k.spawn(&["delete", "ns", &ns]);
        eventually(10, || {
            (k.ok(&["get", "ns", &ns, "-o", "jsonpath={.status.phase}"]) == "Terminating")
                .then_some(())
        })
        .expect("namespace Terminating");
        let err = k.fails(&["create", "cm", "z", "-n", &ns]);
        assert!(
            err.contains("forbidden") && err.contains("because it is being terminated"),
            "{err}"
        );
        eventually(10, || {
            (k.ok(&["get", "cm", "-n", &ns, "-o", "name"]).trim() == "configmap/fin1").then_some(())
        })
        .expect("contents deleted except the finalized object");
        k.ok(&[
            "patch",
            "cm",
            "fin1",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ]);
        let out = deleter.wait_with_output().expect("delete finishes");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("namespace \"{ns}\" deleted")
        );
        let o = k.run(&["get", "cm", "-n", &ns]);
        assert!(o.ok && o.stderr.contains("No resources found"), "{o:?}");
        assert!(k.fails(&["get", "ns", &ns]).contains("NotFound"));
    }
}

fn owned_cm(name: &str, owner_uid: &str, block: bool) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: web
    uid: {owner_uid}
    blockOwnerDeletion: {block}
"#
    )
}

fn setup_owner(k: &Kubectl) -> String {
    k.apply(manifests::DEPLOY, &[]);
    let uid = k.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"]);
    k.apply(&owned_cm("child1", &uid, true), &[]);
    k.apply(&owned_cm("child2", &uid, false), &[]);
    uid
}

fn gone(k: &Kubectl, kind: &str, name: &str) -> bool {
    k.run(&["get", kind, name]).stderr.contains("NotFound")
}

/// Owner-reference garbage collection with each propagation policy.
#[test]
fn garbage_collection_policies() {
    let s = TestSpace::start();
    let k = s.kubectl(33);
    // Background: the owner goes at once, its dependents soon after.
    setup_owner(&k);
    k.ok(&["delete", "deploy", "web", "--cascade=background"]);
    assert!(gone(&k, "deploy", "web"));
    eventually(10, || {
        (gone(&k, "cm", "child1") && gone(&k, "cm", "child2")).then_some(())
    })
    .expect("dependents collected");
    // Foreground: the dependents go first, then the owner.
    setup_owner(&k);
    k.ok(&["delete", "deploy", "web", "--cascade=foreground"]);
    assert!(gone(&k, "cm", "child1") && gone(&k, "cm", "child2") && gone(&k, "deploy", "web"));
    // Orphan: the dependents stay, without the owner reference.
    setup_owner(&k);
    k.ok(&["delete", "deploy", "web", "--cascade=orphan"]);
    eventually(10, || gone(&k, "deploy", "web").then_some(())).expect("owner deleted");
    for c in ["child1", "child2"] {
        assert_eq!(
            k.ok(&["get", "cm", c, "-o", "jsonpath={.metadata.ownerReferences}"]),
            "",
            "{c} orphaned"
        );
    }
}
