//! Space servers sharing one etcd (Debian's `/usr/bin/etcd` on loopback ports): a watch on one
//! replica sees writes made through another; racing updates through two replicas with one
//! resourceVersion let exactly one win; a SIGKILLed replica loses nothing; versions etcd has
//! compacted away give 410 Expired, and a replica whose own watch fell behind a compaction
//! relists and keeps serving. The kubectl checks on etcd are in `etcd_kubectl.rs`.
//!
//! This binary has its own `main` (harness = false) because it also runs as the replica process
//! that the SIGKILL scenario kills: with `SPACE_ETCD_CHILD=STORE_URL PREFIX DIR` it serves a
//! space until killed.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::etcd::Etcd;
use support::http::{CMS, Request, cm};
use support::{TestSpace, eventually};

const CHILD_ENV: &str = "SPACE_ETCD_CHILD";

/// A named scenario.
type Scenario = (&'static str, fn(&Etcd));

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        serve_child(&spec);
        return;
    }
    let etcd = Etcd::start();
    let scenarios: [Scenario; 5] = [
        (
            "a_watch_on_one_replica_sees_writes_through_the_other",
            watch_across_replicas,
        ),
        ("racing_updates_through_two_replicas", update_race),
        ("a_sigkilled_replica_loses_nothing", sigkill),
        ("compacted_versions_are_expired", compacted_versions_expire),
        (
            "a_replica_behind_a_compaction_relists",
            relist_after_compaction,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    for (name, f) in scenarios {
        if !filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        println!("test {name} ...");
        match std::panic::catch_unwind(|| f(&etcd)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        println!("failed: {failed:?}");
        std::process::exit(1);
    }
}

/// A replica on `etcd` under `prefix`.
fn replica(store: kubestellar_space::StoreConfig, history: usize) -> TestSpace {
    TestSpace::start_with(move |c| {
        c.store = store;
        c.watch_history = history;
    })
}

/// The next watch event that is not a BOOKMARK, or `None` when the stream ended.
fn next_event(w: &mut support::http::Stream) -> Option<Value> {
    loop {
        let ev = w.next_json()?;
        if ev["type"] != "BOOKMARK" {
            return Some(ev);
        }
    }
}

fn list_rv(addr: &str) -> String {
    Request::new(addr, "GET", CMS).send().json()["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string()
}

fn watch(addr: &str, rv: &str) -> support::http::Stream {
    let w = Request::new(
        addr,
        "GET",
        &format!("{CMS}?watch=true&resourceVersion={rv}"),
    )
    .stream();
    assert_eq!(w.status, 200);
    w
}

fn names(addr: &str) -> Vec<String> {
    let l = Request::new(addr, "GET", CMS).send().json();
    let mut n: Vec<String> = l["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str().map(String::from))
        .collect();
    n.sort();
    n
}

fn watch_across_replicas(etcd: &Etcd) {
    let a = replica(etcd.store("/watch"), 1000);
    let b = replica(etcd.store("/watch"), 1000);
    // (A data directory that does not exist yet is created: it holds the kubeconfig.)
    let other = TestSpace::start_with(|c| {
        c.store = etcd.store("/another-space");
        c.data_dir = c.data_dir.join("new");
    });
    let (aa, ba) = (a.addr(), b.addr());
    let mut w = watch(&ba, &list_rv(&ba));
    let created = Request::new(&aa, "POST", CMS).json(&cm("x")).send();
    assert_eq!(created.status, 201, "{}", created.text());
    let rv = created.json()["metadata"]["resourceVersion"].clone();
    let ev = next_event(&mut w).expect("ADDED on the other replica");
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("x"))
    );
    // One version everywhere: the etcd revision of the write.
    assert_eq!(ev["object"]["metadata"]["resourceVersion"], rv);
    let patched = Request::new(&aa, "PATCH", &format!("{CMS}/x"))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"metadata":{"labels":{"via":"a"}}}"#)
        .send();
    assert_eq!(patched.status, 200, "{}", patched.text());
    let ev = next_event(&mut w).expect("MODIFIED");
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["metadata"]["labels"]["via"], "a");
    assert_eq!(
        Request::new(&aa, "DELETE", &format!("{CMS}/x"))
            .send()
            .status,
        200
    );
    assert_eq!(next_event(&mut w).expect("DELETED")["type"], "DELETED");
    // Another space on the same etcd sees none of it.
    assert!(names(&other.addr()).is_empty());
}

fn update_race(etcd: &Etcd) {
    let a = replica(etcd.store("/race"), 1000);
    let b = replica(etcd.store("/race"), 1000);
    let (aa, ba) = (a.addr(), b.addr());
    assert_eq!(
        Request::new(&aa, "POST", CMS)
            .json(&cm("race"))
            .send()
            .status,
        201
    );
    for round in 0..5 {
        let round_s = round.to_string();
        let current = Request::new(&aa, "GET", &format!("{CMS}/race"))
            .send()
            .json();
        let put = |addr: String, who: &'static str| {
            let mut body = current.clone();
            body["data"] = json!({"winner": who, "round": round.to_string()});
            std::thread::spawn(move || {
                let r = Request::new(&addr, "PUT", &format!("{CMS}/race"))
                    .json(&body)
                    .send();
                (r.status, who, r.text())
            })
        };
        let (ta, tb) = (put(aa.clone(), "a"), put(ba.clone(), "b"));
        let mut results = vec![ta.join().expect("put a"), tb.join().expect("put b")];
        results.sort();
        assert_eq!(
            (results[0].0, results[1].0),
            (200, 409),
            "round {round}: exactly one update wins: {results:?}"
        );
        assert!(results[1].2.contains("Conflict"), "{}", results[1].2);
        let winner = results[0].1;
        for addr in [&aa, &ba] {
            let seen = eventually(10, || {
                let o = Request::new(addr, "GET", &format!("{CMS}/race"))
                    .send()
                    .json();
                (o["data"]["round"].as_str() == Some(round_s.as_str())).then_some(o)
            })
            .expect("both replicas converge");
            assert_eq!(seen["data"]["winner"], winner);
        }
    }
    // Updates without a resourceVersion through both replicas at once: none is lost.
    let threads: Vec<_> = (0..10)
        .map(|i| {
            let addr = if i % 2 == 0 { aa.clone() } else { ba.clone() };
            std::thread::spawn(move || {
                Request::new(&addr, "PATCH", &format!("{CMS}/race"))
                    .header("content-type", "application/merge-patch+json")
                    .body(format!(r#"{{"metadata":{{"labels":{{"l{i}":"x"}}}}}}"#))
                    .send()
                    .status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("patch"), 200);
    }
    for addr in [&aa, &ba] {
        eventually(10, || {
            let o = Request::new(addr, "GET", &format!("{CMS}/race"))
                .send()
                .json();
            (o["metadata"]["labels"].as_object().map_or(0, |l| l.len()) == 10).then_some(())
        })
        .expect("every label survives on both replicas");
    }
}

/// Serves a space for the SIGKILL scenario until killed.
fn serve_child(spec: &str) {
    let mut parts = spec.split(' ');
    let (Some(url), Some(prefix), Some(dir)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("{CHILD_ENV} must be 'STORE_URL PREFIX DIR', not {spec:?}");
    };
    let mut store = kubestellar_space::StoreConfig::parse(url).expect("store url");
    if let kubestellar_space::StoreConfig::Etcd(e) = &mut store {
        e.prefix = Some(prefix.to_string());
    }
    let mut cfg = kubestellar_space::SpaceConfig::new("child", dir);
    cfg.store = store;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let running = kubestellar_space::start(cfg, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("child space starts");
        println!("READY {}", running.addr);
        std::future::pending::<()>().await;
    });
}

fn sigkill(etcd: &Etcd) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .env(
            CHILD_ENV,
            format!("{} /kill {}", etcd.url(), dir.path().display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child replica starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("child says where it serves");
    let ca = line
        .trim()
        .strip_prefix("READY ")
        .expect("READY line")
        .to_string();
    let b = replica(etcd.store("/kill"), 1000);
    let mut acked = Vec::new();
    for i in 0..20 {
        let r = Request::new(&ca, "POST", CMS)
            .json(&cm(&format!("k{i}")))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
        acked.push((
            format!("k{i}"),
            r.json()["metadata"]["resourceVersion"].clone(),
        ));
    }
    child.kill().expect("SIGKILL the replica");
    let _ = child.wait();
    let check = |addr: &str| {
        for (name, rv) in &acked {
            let o = Request::new(addr, "GET", &format!("{CMS}/{name}")).send();
            assert_eq!(o.status, 200, "{name} survives");
            assert_eq!(&o.json()["metadata"]["resourceVersion"], rv);
        }
    };
    let ba = b.addr();
    eventually(10, || (names(&ba).len() == 20).then_some(())).expect("all 20 on the survivor");
    check(&ba);
    assert_eq!(
        Request::new(&ba, "POST", CMS)
            .json(&cm("after"))
            .send()
            .status,
        201
    );
    // A replica started afterwards has everything too.
    let c = replica(etcd.store("/kill"), 1000);
    check(&c.addr());
    assert_eq!(names(&c.addr()).len(), 21);
}

fn expect_expired(w: &mut support::http::Stream) {
    let ev = next_event(w).expect("an ERROR event");
    assert_eq!(ev["type"], "ERROR", "{ev}");
    assert_eq!(
        (
            ev["object"]["code"].as_u64(),
            ev["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired")),
        "{ev}"
    );
    assert!(next_event(w).is_none(), "the stream ends after the ERROR");
}

fn compacted_versions_expire(etcd: &Etcd) {
    let a = replica(etcd.store("/compact"), 1000);
    let aa = a.addr();
    let r = Request::new(&aa, "POST", CMS).json(&cm("c0")).send();
    let rv0 = r.json()["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    for i in 0..5 {
        let p = Request::new(&aa, "PATCH", &format!("{CMS}/c0"))
            .header("content-type", "application/merge-patch+json")
            .body(format!(r#"{{"data":{{"i":"{i}"}}}}"#))
            .send();
        assert_eq!(p.status, 200);
    }
    etcd.compact(etcd.revision());
    // A replica that starts after the compaction has no history before it.
    let b = replica(etcd.store("/compact"), 1000);
    expect_expired(&mut watch(&b.addr(), &rv0));
    // From its current version it watches normally.
    let mut w = watch(&b.addr(), &list_rv(&b.addr()));
    assert_eq!(
        Request::new(&aa, "DELETE", &format!("{CMS}/c0"))
            .send()
            .status,
        200
    );
    assert_eq!(next_event(&mut w).expect("DELETED")["type"], "DELETED");
}

/// A TCP forwarder that can cut every connection and refuse new ones.
struct Proxy {
    addr: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let addr = listener.local_addr().expect("addr").to_string();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(client) = s else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut all = conns2.lock().expect("conns");
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        all.push(c);
                    }
                }
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(f, t)| Some((f.ok()?, t.ok()?)))
                {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("conns").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn relist_after_compaction(etcd: &Etcd) {
    let proxy = Proxy::start(etcd.addr.clone());
    let mut store =
        kubestellar_space::StoreConfig::parse(&format!("etcd://{}", proxy.addr)).expect("url");
    if let kubestellar_space::StoreConfig::Etcd(e) = &mut store {
        e.prefix = Some("/relist".into());
    }
    let p = replica(store, 1000);
    let pa = p.addr();
    assert_eq!(
        Request::new(&pa, "POST", CMS)
            .json(&cm("before"))
            .send()
            .status,
        201
    );
    let rv = list_rv(&pa);
    let mut w = watch(&pa, &rv);
    proxy.cut();
    // While the replica cannot reach etcd, another writer changes the space and etcd
    // compacts: the replica cannot resume its watch where it stopped.
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "during", "namespace": "default", "uid": "u-during", "creationTimestamp": "2026-01-01T00:00:00Z"}, "data": {"a": "b"}});
    etcd.with_client(async |c| {
        c.put(
            "/relist/registry/core/configmaps/default/during",
            obj.to_string(),
            None,
        )
        .await
        .expect("put");
        c.delete("/relist/registry/core/configmaps/default/before", None)
            .await
            .expect("delete");
    });
    etcd.compact(etcd.revision());
    let ready = |addr: &str| Request::new(addr, "GET", "/readyz").send().status == 200;
    eventually(15, || (!ready(&pa)).then_some(())).expect("not ready while cut off");
    proxy.restore();
    eventually(20, || (names(&pa) == ["during"]).then_some(()))
        .expect("the relist shows the new state");
    eventually(10, || ready(&pa).then_some(())).expect("ready again");
    // Client watches from before the relist end, and resuming them from there is too old.
    assert!(next_event(&mut w).is_none(), "the open watch ended");
    expect_expired(&mut watch(&pa, &rv));
    // The replica keeps following etcd.
    let mut w = watch(&pa, &list_rv(&pa));
    assert_eq!(
        Request::new(&pa, "POST", CMS)
            .json(&cm("after"))
            .send()
            .status,
        201
    );
    assert_eq!(
        next_event(&mut w).expect("ADDED")["object"]["metadata"]["name"],
        "after"
    );
}
