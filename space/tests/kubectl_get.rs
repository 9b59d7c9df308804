//! Acceptance checks 13-19: tables, output formats, all-namespace lists, pagination, label and
//! field selectors, watches.

mod support;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use support::{KUBECTLS, Kubectl, TestSpace, lines, manifests, row};

/// Check 13: server-side Table columns for deployments.
#[test]
fn check_13_table() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        k.apply(manifests::DEPLOY, &[]);
        let out = k.ok(&["get", "deploy"]);
        let header: Vec<&str> = out
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "1.{minor}: {out}"
        );
        let web = row(&out, "web").expect("row web");
        assert_eq!(&web[..4], ["web", "0/1", "0", "0"]);
        // Other kinds have their own columns too.
        let out = k.ok(&["get", "ns"]);
        assert!(
            out.starts_with("NAME") && out.lines().next().is_some_and(|h| h.contains("STATUS")),
            "{out}"
        );
        let out = k.ok(&["get", "deploy", "-o", "wide"]);
        assert!(
            out.lines().next().is_some_and(|h| h.contains("NAME")),
            "{out}"
        );
    }
}

/// Check 14: `-o yaml` and jsonpath.
#[test]
fn check_14_output_formats() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        k.apply(manifests::DEPLOY, &[]);
        let y = k.ok(&["get", "deploy", "web", "-o", "yaml"]);
        assert!(
            y.starts_with("apiVersion: apps/v1\nkind: Deployment\n"),
            "{y}"
        );
        assert!(
            y.contains("\nstatus: {}\n") || y.contains("\nstatus:\n"),
            "{y}"
        );
        assert_eq!(
            k.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.name}"]),
            "web"
        );
        assert_eq!(
            k.ok(&["get", "deploy", "web", "-o", "name"]).trim(),
            "deployment.apps/web"
        );
    }
}

/// Check 15: `-A` adds the NAMESPACE column.
#[test]
fn check_15_all_namespaces() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        k.apply(manifests::DEPLOY, &[]);
        k.ok(&["create", "ns", &format!("other{minor}")]);
        k.apply(manifests::DEPLOY, &["-n", &format!("other{minor}")]);
        let out = k.ok(&["get", "deploy", "-A"]);
        assert!(out.starts_with("NAMESPACE"), "{out}");
        let r = row(&out, "default").expect("default row");
        assert_eq!(r[1], "web");
        assert!(row(&out, &format!("other{minor}")).is_some(), "{out}");
    }
}

fn five_labelled_configmaps(k: &Kubectl, ns: &str) {
    k.ok(&["create", "ns", ns]);
    for i in 1..=5 {
        k.ok(&["create", "cm", &format!("cm{i}"), "-n", ns]);
        k.ok(&[
            "label",
            "cm",
            &format!("cm{i}"),
            "-n",
            ns,
            &format!("idx={i}"),
        ]);
    }
    k.ok(&["create", "cm", "plain", "-n", ns]);
}

/// Check 16: `--chunk-size` pages with `continue`.
#[test]
fn check_16_chunked_list() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("x{minor}");
        five_labelled_configmaps(&k, &ns);
        k.ok(&["delete", "cm", "plain", "-n", &ns]);
        let o = k.run(&[
            "get",
            "cm",
            "-n",
            &ns,
            "--chunk-size=2",
            "-o",
            "name",
            "-v=6",
        ]);
        assert!(o.ok, "{o:?}");
        assert_eq!(
            lines(&o.stdout),
            (1..=5)
                .map(|i| format!("configmap/cm{i}"))
                .collect::<Vec<_>>()
        );
        let requests = o
            .stderr
            .lines()
            .filter(|l| l.contains("GET") && l.contains("/configmaps?"))
            .count();
        assert_eq!(requests, 3, "3 pages of 2: {}", o.stderr);
        assert_eq!(o.stderr.matches("continue=").count(), 2, "{}", o.stderr);
    }
}

/// Check 17: every label selector operator.
#[test]
fn check_17_label_selectors() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("x{minor}");
        five_labelled_configmaps(&k, &ns);
        let get = |sel: &str| lines(&k.ok(&["get", "cm", "-n", &ns, "-l", sel, "-o", "name"]));
        let names = |ids: &[&str]| {
            let mut v: Vec<String> = ids.iter().map(|i| format!("configmap/{i}")).collect();
            v.sort();
            v
        };
        assert_eq!(get("idx in (1,2)"), names(&["cm1", "cm2"]));
        assert_eq!(get("idx notin (1,2),idx"), names(&["cm3", "cm4", "cm5"]));
        assert_eq!(get("idx!=3"), names(&["cm1", "cm2", "cm4", "cm5", "plain"]));
        assert_eq!(get("!idx"), names(&["plain"]));
        assert_eq!(get("idx"), names(&["cm1", "cm2", "cm3", "cm4", "cm5"]));
        assert_eq!(get("idx=4"), names(&["cm4"]));
        assert_eq!(get("idx==4"), names(&["cm4"]));
        let err = k.fails(&["get", "cm", "-n", &ns, "-l", "idx in (1"]);
        assert!(
            err.contains("unable to parse requirement") || err.contains("found"),
            "{err}"
        );
    }
}

/// Check 18: field selectors, and an unsupported field.
#[test]
fn check_18_field_selectors() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("x{minor}");
        five_labelled_configmaps(&k, &ns);
        assert_eq!(
            k.ok(&[
                "get",
                "cm",
                "-n",
                &ns,
                "--field-selector",
                "metadata.name=cm1",
                "-o",
                "name"
            ])
            .trim(),
            "configmap/cm1"
        );
        let rest = lines(&k.ok(&[
            "get",
            "cm",
            "-n",
            &ns,
            "--field-selector",
            "metadata.name!=cm1",
            "-o",
            "name",
        ]));
        assert_eq!(rest.len(), 5, "{rest:?}");
        assert!(!rest.contains(&"configmap/cm1".to_string()));
        let all = k.ok(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            &format!("metadata.namespace={ns}"),
            "-o",
            "name",
        ]);
        assert_eq!(lines(&all).len(), 6, "{all}");
        let err = k.fails(&["get", "cm", "-n", &ns, "--field-selector", "spec.foo=bar"]);
        assert!(err.contains("field label not supported"), "{err}");
        // Per-kind extras: events by involvedObject (describe), pods by phase.
        k.ok(&[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector",
            "involvedObject.name=cm1,involvedObject.kind=ConfigMap",
        ]);
        k.ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "status.phase=Running",
        ]);
        let out = k.ok(&["describe", "cm", "cm1", "-n", &ns]);
        assert!(out.contains("Name:") && out.contains("cm1"), "{out}");
    }
}

/// Reads a child's stdout lines on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Check 19: `get -w` sees a label change within a second, as a MODIFIED event.
#[test]
fn check_19_watch() {
    let s = TestSpace::start();
    for minor in KUBECTLS {
        let k = s.kubectl(minor);
        let ns = format!("w{minor}");
        k.ok(&["create", "ns", &ns]);
        k.apply(manifests::DEPLOY, &["-n", &ns]);
        let mut table = k.spawn(&["get", "deploy", "-w", "-n", &ns]);
        let mut events = k.spawn(&[
            "get",
            "deploy",
            "web",
            "-w",
            "-n",
            &ns,
            "-o",
            "json",
            "--output-watch-events",
        ]);
        let table_lines = lines_of(&mut table);
        let event_lines = lines_of(&mut events);
        let header = table_lines
            .recv_timeout(Duration::from_secs(10))
            .expect("header");
        assert!(header.starts_with("NAME"), "{header}");
        let first = table_lines
            .recv_timeout(Duration::from_secs(10))
            .expect("first row");
        assert!(first.starts_with("web"), "{first}");
        // The json watcher prints its initial ADDED event as a multi-line object: wait for it.
        let mut initial = String::new();
        while !initial.contains("\"type\":\"ADDED\"") {
            let l = event_lines
                .recv_timeout(Duration::from_secs(10))
                .expect("initial event");
            initial.push_str(&l.replace(' ', ""));
        }
        std::thread::sleep(Duration::from_millis(300));
        k.ok(&["label", "deploy", "web", "-n", &ns, "tier=fe"]);
        let started = std::time::Instant::now();
        let next = table_lines
            .recv_timeout(Duration::from_secs(1))
            .expect("a new row within 1 s");
        assert!(next.starts_with("web"), "{next}");
        assert!(started.elapsed() < Duration::from_secs(1));
        let mut modified = String::new();
        while !modified.contains("\"type\":\"MODIFIED\"") {
            let l = event_lines
                .recv_timeout(Duration::from_secs(2))
                .expect("MODIFIED event");
            modified.push_str(&l.replace(' ', ""));
        }
        assert!(modified.contains("\"tier\":\"fe\""), "{modified}");
        let _ = table.kill();
        let _ = events.kill();
        let _ = table.wait();
        let _ = events.wait();
    }
}
