//! The watch protocol seen raw (bookmarks, timeouts, watch-list, selector transitions, expired
//! versions as an in-stream ERROR) and consistent paged lists.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::TestSpace;
use support::http::{CMS, Request, cm, snapshot, status};

fn watch(a: &str, query: &str) -> support::http::Stream {
    let w = Request::new(a, "GET", &format!("{CMS}?watch=true&{query}")).stream();
    assert_eq!(w.status, 200);
    w
}

#[test]
fn watch_protocol() {
    let s = TestSpace::start_with(|c| {
        c.watch_history = 3;
        c.bookmark_interval = Duration::from_millis(300);
    });
    let a = s.addr();
    let a = a.as_str();
    for i in 0..3 {
        Request::new(a, "POST", CMS)
            .json(&cm(&format!("c{i}")))
            .send();
    }
    let (rv0, _) = snapshot(a);
    // No resourceVersion: the current state as ADDED, then live events.
    let mut w = watch(a, "timeoutSeconds=5");
    let names: Vec<Value> = (0..3)
        .map(|_| w.next_json().expect("event")["object"]["metadata"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("c0"), json!("c1"), json!("c2")]);
    Request::new(a, "DELETE", &format!("{CMS}/c0")).send();
    let ev = w.next_json().expect("delete event");
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["object"]["metadata"]["name"].as_str()
        ),
        (Some("DELETED"), Some("c0"))
    );
    let del_rv: u64 = ev["object"]["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");
    assert!(del_rv > rv0.parse::<u64>().expect("rv"));
    // timeoutSeconds closes the stream cleanly.
    let started = Instant::now();
    let mut w = watch(a, &format!("resourceVersion={del_rv}&timeoutSeconds=1"));
    assert!(w.next_json().is_none());
    assert!(
        started.elapsed() >= Duration::from_millis(900)
            && started.elapsed() < Duration::from_secs(3)
    );
    // Bookmarks only when allowed, carrying the resourceVersion.
    let mut w = watch(
        a,
        &format!("resourceVersion={del_rv}&allowWatchBookmarks=true&timeoutSeconds=2"),
    );
    let b = w.next_json().expect("bookmark");
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(
        b["object"],
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": del_rv.to_string()}})
    );
    // Label selector transitions: an object that stops matching is DELETED for the watcher.
    let mut w = watch(
        a,
        &format!("resourceVersion={del_rv}&labelSelector=team%3Dx&timeoutSeconds=5"),
    );
    let label = |v: Value| {
        Request::new(a, "PATCH", &format!("{CMS}/c1"))
            .header("Content-Type", "application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"team": v}}}).to_string())
            .send()
    };
    label(json!("x"));
    assert_eq!(w.next_json().expect("added")["type"], "ADDED");
    label(json!("y"));
    assert_eq!(w.next_json().expect("deleted")["type"], "DELETED");
    // Watch-list: initial ADDED events, then the bookmark that ends them.
    let mut w = watch(
        a,
        "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=0&timeoutSeconds=5",
    );
    let mut added = 0;
    let end = loop {
        let ev = w.next_json().expect("event");
        match ev["type"].as_str() {
            Some("ADDED") => added += 1,
            Some("BOOKMARK") => break ev,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(added, 2);
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let m = status(
        &Request::new(
            a,
            "GET",
            &format!("{CMS}?watch=true&sendInitialEvents=true"),
        )
        .send(),
        422,
        "Invalid",
    );
    assert!(m.contains("allowWatchBookmarks"), "{m}");
    // An expired version: HTTP 200, then one ERROR 410 Expired event, then the end.
    for i in 0..5 {
        Request::new(a, "POST", CMS)
            .json(&cm(&format!("more{i}")))
            .send();
    }
    let mut w = watch(a, &format!("resourceVersion={rv0}"));
    let ev = w.next_json().expect("error event");
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(
        (
            ev["object"]["code"].as_i64(),
            ev["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
    assert!(
        ev["object"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("too old resource version")),
        "{ev}"
    );
    assert!(w.next_json().is_none());
}

#[test]
fn open_watches_are_counted_until_they_end() {
    let s = TestSpace::start();
    let a = s.addr();
    let a = a.as_str();
    assert_eq!(s.watches_active(), 0);
    let short = watch(a, "timeoutSeconds=1");
    let long = watch(a, "timeoutSeconds=60");
    assert_eq!(s.watches_active(), 2);
    // One ends at its timeout (its client still there), the other when its client goes away.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.watches_active() != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        s.watches_active(),
        1,
        "the timed-out watch is no longer counted"
    );
    drop(long);
    drop(short);
    while s.watches_active() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        s.watches_active(),
        0,
        "a watch whose client left is no longer counted"
    );
}

#[test]
fn paged_lists_are_consistent_snapshots() {
    let s = TestSpace::start();
    let a = s.addr();
    let a = a.as_str();
    for i in 0..5 {
        Request::new(a, "POST", CMS)
            .json(&cm(&format!("c{i}")))
            .send();
    }
    let p1 = Request::new(a, "GET", &format!("{CMS}?limit=2"))
        .send()
        .json();
    let names = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(&p1), ["c0", "c1"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 3);
    let rv = p1["metadata"]["resourceVersion"].clone();
    // Changes after the first page do not show in the later pages.
    Request::new(a, "DELETE", &format!("{CMS}/c3")).send();
    Request::new(a, "POST", CMS).json(&cm("c2a")).send();
    let token = p1["metadata"]["continue"].as_str().expect("continue");
    let p2 = Request::new(a, "GET", &format!("{CMS}?limit=2&continue={token}"))
        .send()
        .json();
    assert_eq!(names(&p2), ["c2", "c3"]);
    assert_eq!(p2["metadata"]["resourceVersion"], rv);
    let token = p2["metadata"]["continue"].as_str().expect("continue");
    let p3 = Request::new(a, "GET", &format!("{CMS}?limit=2&continue={token}"))
        .send()
        .json();
    assert_eq!(names(&p3), ["c4"]);
    assert!(p3["metadata"].get("continue").is_none());
    // A token whose snapshot is gone: 410 Expired.
    let gone = base64_url(
        &json!({"v": "meta.k8s.io/v1", "rv": 1, "id": 999_999, "offset": 1}).to_string(),
    );
    status(
        &Request::new(a, "GET", &format!("{CMS}?limit=2&continue={gone}")).send(),
        410,
        "Expired",
    );
    // A token of another list is refused.
    let token = p1["metadata"]["continue"].as_str().expect("continue");
    status(
        &Request::new(
            a,
            "GET",
            &format!("/api/v1/namespaces/kube-system/configmaps?continue={token}"),
        )
        .send(),
        400,
        "BadRequest",
    );
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
