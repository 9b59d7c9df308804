//! Leader election on a `coordination.k8s.io/v1` Lease, against embedded spaces:
//! * electors on one Lease: exactly one leads, races are settled by resourceVersion, a standby
//!   takes over after expiry (leaseTransitions + 1), a leader that loses the Lease stops its work;
//! * two real `kubestellar controller --leader-elect` processes: SIGKILL the leader, the
//!   standby takes over within the lease duration, delivery continues, no ManifestWork is
//!   written twice (neither committed twice nor requested twice over HTTP: one write request
//!   per ManifestWork per change, across both replicas), and while standing by the standby sent
//!   nothing but Lease requests (each process reaches the spaces through its own recording
//!   proxy); their `/readyz` and `kubestellar_leader` follow the leadership.

mod leader_election_support;
mod support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kubestellar::leader::{LeaderElectionConfig, LeaderElector, LeaderError, run_while_leader};
use kubestellar::system::{System, SystemConfig};
use kubestellar_space::kubeconfig::KubeconfigEntry;
use leader_election_support::{Proxy, Replica};
use serde_json::Value;
use support::{Kubectl, Spaces, eventually};

/// Fast timings for the in-process tests (whole seconds for the lease, as the API wants).
fn fast(identity: &str) -> LeaderElectionConfig {
    let mut c = LeaderElectionConfig::new("default", "le-test");
    c.identity = identity.into();
    c.lease_duration = Duration::from_secs(2);
    c.renew_deadline = Duration::from_millis(1500);
    c.retry_period = Duration::from_millis(200);
    c
}

async fn lease(api: &Api<Lease>) -> Lease {
    api.get("le-test").await.expect("the Lease exists")
}

fn holder(l: &Lease) -> String {
    l.spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

fn transitions(l: &Lease) -> i32 {
    l.spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0)
}

/// Marks the Lease as last renewed a minute ago, so any candidate may take it.
async fn expire(api: &Api<Lease>) {
    let mut l = lease(api).await;
    if let Some(s) = l.spec.as_mut() {
        let past = Timestamp::now()
            .checked_sub(SignedDuration::from_secs(60))
            .expect("time");
        s.renew_time = Some(MicroTime(past));
    }
    api.replace("le-test", &PostParams::default(), &l)
        .await
        .expect("expire the Lease");
}

#[test]
fn electors_on_one_lease_exactly_one_leads_and_a_standby_takes_over() {
    let spaces = Spaces::start(&["its1"], &[]);
    let client = spaces.client("its1");
    spaces.rt.block_on(async move {
        let api: Api<Lease> = Api::namespaced(client.clone(), "default");
        let mut a = LeaderElector::new(client.clone(), fast("a")).expect("a");
        let mut b = LeaderElector::new(client.clone(), fast("b")).expect("b");

        // Free Lease: the first candidate creates it; the second sees it held.
        assert!(a.try_acquire_or_renew().await.expect("a tries"));
        assert!(!b.try_acquire_or_renew().await.expect("b tries"));
        assert_eq!(b.observed_holder(), Some("a"));
        for _ in 0..3 {
            assert!(a.try_acquire_or_renew().await.expect("a renews"));
            assert!(!b.try_acquire_or_renew().await.expect("b retries"));
        }
        let l = lease(&api).await;
        assert_eq!(holder(&l), "a");
        assert_eq!(transitions(&l), 0);
        assert_eq!(
            l.spec.as_ref().and_then(|s| s.lease_duration_seconds),
            Some(2)
        );

        // Races for an expired Lease: exactly one candidate wins each, and each takeover adds
        // exactly one transition (two writers would add two, or both would claim it).
        let mut c = LeaderElector::new(client.clone(), fast("c")).expect("c");
        let mut d = LeaderElector::new(client.clone(), fast("d")).expect("d");
        let mut wins = HashMap::new();
        for round in 0..20 {
            expire(&api).await;
            let before = transitions(&lease(&api).await);
            let (rc, rd) = tokio::join!(c.try_acquire_or_renew(), d.try_acquire_or_renew());
            let (rc, rd) = (rc.expect("c races"), rd.expect("d races"));
            assert!(
                rc ^ rd,
                "round {round}: c={rc} d={rd}; exactly one must lead"
            );
            let l = lease(&api).await;
            let winner = if rc { "c" } else { "d" };
            assert_eq!(holder(&l), winner, "round {round}");
            // The first round takes the Lease from "a"; later ones may be a renewal by the
            // previous round's winner (no transition) or a takeover (one).
            let added = transitions(&l) - before;
            assert!(
                (0..=1).contains(&added),
                "round {round}: transitions went {before} -> {}",
                transitions(&l)
            );
            *wins.entry(winner).or_insert(0) += 1;
        }
        // The one who lost the last round does not believe it leads.
        let (leader, standby) = if holder(&lease(&api).await) == "c" {
            (&mut c, &mut d)
        } else {
            (&mut d, &mut c)
        };
        assert!(leader.try_acquire_or_renew().await.expect("renew"));
        assert!(!standby.try_acquire_or_renew().await.expect("standby"));

        // run_while_leader: one runs its work, the other stands by; killing the leader's task
        // (no release, like SIGKILL) hands over after the lease duration.
        drop((a, b, c, d));
        expire(&api).await;
        let started = Arc::new(AtomicUsize::new(0));
        let spawn = |id: &'static str| {
            let client = client.clone();
            let started = started.clone();
            tokio::spawn(async move {
                run_while_leader(
                    client,
                    fast(id),
                    std::future::pending(),
                    |stop| async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        stop.await;
                    },
                )
                .await
            })
        };
        let x = spawn("x");
        let y = spawn("y");
        let first = wait_holder(&api, &["x", "y"], Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "exactly one works");
        let l = lease(&api).await;
        assert_eq!(holder(&l), first, "the leader keeps the Lease by renewing");
        let transitions_before = transitions(&l);
        let (dead, standby) = if first == "x" { (x, "y") } else { (y, "x") };
        dead.abort();
        let killed = Instant::now();
        wait_holder(&api, &[standby], Duration::from_secs(6)).await;
        let took = killed.elapsed();
        assert!(
            took >= Duration::from_millis(1000),
            "the standby must wait for expiry, took over after {took:?}"
        );
        assert!(took <= Duration::from_secs(4), "took over after {took:?}");
        let l = lease(&api).await;
        assert_eq!(transitions(&l), transitions_before + 1);
        eventually_async(Duration::from_secs(2), "the standby's work starts", || {
            started.load(Ordering::SeqCst) == 2
        })
        .await;
    });
}

#[test]
fn a_leader_that_loses_the_lease_stops_its_work_at_once() {
    let spaces = Spaces::start(&["its1"], &[]);
    let client = spaces.client("its1");
    spaces.rt.block_on(async move {
        let api: Api<Lease> = Api::namespaced(client.clone(), "default");
        let working = Arc::new(AtomicBool::new(false));
        let w = working.clone();
        let task = tokio::spawn(run_while_leader(
            client.clone(),
            fast("leader"),
            std::future::pending(),
            |_stop| async move {
                // Work that never stops by itself; it is cancelled when the Lease is lost.
                struct Flag(Arc<AtomicBool>);
                impl Drop for Flag {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::SeqCst);
                    }
                }
                w.store(true, Ordering::SeqCst);
                let _flag = Flag(w);
                std::future::pending::<()>().await
            },
        ));
        wait_holder(&api, &["leader"], Duration::from_secs(5)).await;
        eventually_async(Duration::from_secs(2), "work starts", || {
            working.load(Ordering::SeqCst)
        })
        .await;
        // Someone else takes the Lease (e.g. after a partition the leader did not notice).
        let mut l = lease(&api).await;
        if let Some(s) = l.spec.as_mut() {
            s.holder_identity = Some("intruder".into());
            s.renew_time = Some(MicroTime(Timestamp::now()));
        }
        api.replace("le-test", &PostParams::default(), &l)
            .await
            .expect("take the Lease");
        let r = tokio::time::timeout(Duration::from_secs(3), task)
            .await
            .expect("the leader notices within a retry period or two")
            .expect("task");
        match r {
            Err(LeaderError::Lost { reason, .. }) => {
                assert!(reason.contains("intruder"), "{reason}")
            }
            other => panic!("expected Lost, got {other:?}"),
        }
        assert!(!working.load(Ordering::SeqCst), "the work was dropped");
        assert_eq!(holder(&lease(&api).await), "intruder");

        // A graceful stop releases the Lease, so a successor need not wait for expiry.
        expire(&api).await;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let running = Arc::new(AtomicBool::new(false));
        let r = running.clone();
        let polite = tokio::spawn(run_while_leader(
            client.clone(),
            fast("polite"),
            async {
                let _ = rx.await;
            },
            |stop| async move {
                r.store(true, Ordering::SeqCst);
                stop.await
            },
        ));
        eventually_async(Duration::from_secs(5), "the polite leader works", || {
            running.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(holder(&lease(&api).await), "polite");
        let _ = tx.send(());
        let out = polite.await.expect("task").expect("clean stop");
        assert_eq!(out, Some(()), "the work ran and returned");
        let l = lease(&api).await;
        assert_eq!(holder(&l), "", "released");
        let mut next = LeaderElector::new(client.clone(), fast("next")).expect("next");
        assert!(next.try_acquire_or_renew().await.expect("next tries"));
    });
}

async fn wait_holder(api: &Api<Lease>, any_of: &[&str], timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(Some(l)) = api.get_opt("le-test").await {
            let h = holder(&l);
            if any_of.contains(&h.as_str()) {
                return h;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "no holder among {any_of:?} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn eventually_async(timeout: Duration, what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- end to end: two controller processes ----

const WORKLOAD: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: ha
  labels: {app: ha}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: before
  namespace: ha
  labels: {app: ha}
data: {v: "1"}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: ha
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - objectSelectors:
    - matchLabels: {app: ha}
"#;

const AFTER: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: after
  namespace: ha
  labels: {app: ha}
data: {v: "2"}
"#;

/// What the controller writes in a ManifestWork: everything but status, the resourceVersion
/// and what the agent adds (its finalizer). A commit changing none of it is still a write.
fn controller_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "finalizers",
            "managedFields",
            "generation",
        ] {
            m.remove(k);
        }
    }
    v
}

fn without_rv(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

#[test]
fn standby_controller_takes_over_after_sigkill_without_double_writes() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = SystemConfig::new(dir.path(), 2);
    cfg.controllers = false;
    // The recording proxies read the controllers' requests, so they must be plain HTTP.
    cfg.insecure = true;
    let sys = rt
        .block_on(System::start(cfg, &|_| {}))
        .expect("system starts");

    // Every commit to a ManifestWork in the ITS, in order, from before the controllers run.
    let commits: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    {
        let mut rx = sys.space("its1").expect("its1").space.store.subscribe_all();
        let commits = commits.clone();
        rt.spawn(async move {
            while let Ok(ev) = rx.recv().await {
                let key = &ev.key;
                if key.gr.resource == "manifestworks" {
                    let name = format!("{}/{}", key.namespace, key.name);
                    let v = ev.object.value();
                    commits
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((name, v));
                }
            }
        });
    }

    let wds = Kubectl::new(33, &sys.kubeconfig).context("wds1");
    let wec = |n: &str| Kubectl::new(33, &sys.kubeconfig).context(n);
    // Each controller reaches the WDS and the ITS through its own proxies.
    let mut proxies = Vec::new();
    let mut controllers = Vec::new();
    for i in 0..2 {
        let upstream = |n: &str| sys.space(n).expect("space").addr;
        let wds_proxy = rt.block_on(Proxy::start(upstream("wds1")));
        let its_proxy = rt.block_on(Proxy::start(upstream("its1")));
        let kc = dir.path().join(format!("controller-{i}.kubeconfig"));
        kubestellar_space::kubeconfig::write(
            &kc,
            &[
                KubeconfigEntry {
                    name: "wds1".into(),
                    server: wds_proxy.url(),
                },
                KubeconfigEntry {
                    name: "its1".into(),
                    server: its_proxy.url(),
                },
            ],
        )
        .expect("kubeconfig");
        controllers.push(Replica::controller(&sys, &kc));
        proxies.push((wds_proxy, its_proxy));
    }
    let leases: Api<Lease> = Api::namespaced(
        rt.block_on(sys.client("wds1")).expect("wds client"),
        "kube-system",
    );
    let get_lease = || {
        rt.block_on(leases.get_opt("kubestellar-controller-wds1"))
            .ok()
            .flatten()
    };
    let first = eventually(Duration::from_secs(20), "a controller leads", || {
        get_lease().map(|l| holder(&l)).filter(|h| !h.is_empty())
    });
    let pid_of = |h: &str| h.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
    let leader_pid = pid_of(&first).expect("identity carries the pid");
    let li = controllers
        .iter()
        .position(|c| c.child.id() == leader_pid)
        .expect("the holder is one of the two children");
    let standby_pid = controllers[1 - li].child.id();

    wds.apply(WORKLOAD);
    for w in ["cluster1", "cluster2"] {
        eventually(Duration::from_secs(30), "`before` delivered", || {
            wec(w)
                .jsonpath(&["-n", "ha", "get", "configmap", "before"], "{.data.v}")
                .filter(|v| v == "1")
        });
    }
    // The standby made no request to the ITS, and in the WDS only read and tried its Lease;
    // the leader did the work through its proxies.
    let (standby_wds, standby_its) = &proxies[1 - li];
    let (_, leader_its) = &proxies[li];
    assert_eq!(
        standby_its.bytes(),
        0,
        "the standby talked to the ITS: {:?}",
        standby_its.requests()
    );
    let lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
    let standby_reqs = standby_wds.requests();
    assert!(!standby_reqs.is_empty(), "the standby polls its Lease");
    assert!(
        standby_reqs.iter().all(|r| r
            .split(' ')
            .nth(1)
            .is_some_and(|p| p.starts_with(lease_path))),
        "the standby sent more than Lease requests to the WDS: {standby_reqs:#?}"
    );
    let leader_writes = leader_its
        .requests()
        .into_iter()
        .filter(|r| r.contains("/manifestworks") && !r.starts_with("GET "))
        .count();
    assert!(
        leader_writes >= 4,
        "the leader wrote ManifestWorks through its proxy"
    );
    let standby_log = controllers[1 - li].log();
    assert!(
        standby_log.contains("standing by"),
        "the standby says it waits:\n{standby_log}"
    );
    // Probes and the leader gauge: the leader works and is ready; the standby is live and
    // ready (it can take over), with the gauge at 0. Its /metrics and /readyz are served by
    // the process itself, not through the proxies, so the proxy checks above still hold.
    eventually(Duration::from_secs(20), "the leader is ready", || {
        controllers[li]
            .http_get("/readyz")
            .filter(|(code, _)| *code == 200)
    });
    assert_eq!(controllers[li].leader_gauge(), Some(1.0));
    assert_eq!(controllers[1 - li].leader_gauge(), Some(0.0));
    for path in ["/healthz", "/readyz"] {
        let (code, body) = controllers[1 - li].http_get(path).expect("standby answers");
        assert_eq!(code, 200, "standby {path}: {body}");
    }
    assert!(
        !standby_log.contains("controller running"),
        "the standby must not run controllers:\n{standby_log}"
    );

    // SIGKILL the leader: no release, the standby must wait for expiry.
    controllers[li].child.kill().expect("SIGKILL");
    let _ = controllers[li].child.wait();
    let killed = Instant::now();
    let l = eventually(Duration::from_secs(25), "the standby leads", || {
        get_lease().filter(|l| pid_of(&holder(l)) == Some(standby_pid))
    });
    let took = killed.elapsed();
    eprintln!("standby took over {took:?} after the SIGKILL");
    assert!(
        took <= Duration::from_secs(15) + Duration::from_secs(2),
        "standby took over after {took:?}"
    );
    assert!(
        transitions(&l) >= 1,
        "leaseTransitions counted the takeover"
    );

    eventually(
        Duration::from_secs(20),
        "the new leader works in the ITS",
        || (!standby_its.requests().is_empty()).then_some(()),
    );
    assert_eq!(controllers[1 - li].leader_gauge(), Some(1.0));
    eventually(Duration::from_secs(20), "the new leader is ready", || {
        controllers[1 - li]
            .http_get("/readyz")
            .filter(|(code, _)| *code == 200)
    });

    // Delivery continues through the new leader.
    wds.apply(AFTER);
    for w in ["cluster1", "cluster2"] {
        eventually(Duration::from_secs(30), "`after` delivered", || {
            wec(w)
                .jsonpath(&["-n", "ha", "get", "configmap", "after"], "{.data.v}")
                .filter(|v| v == "2")
        });
    }
    // Let any late writes land, then count: every ManifestWork was written by a controller
    // once (its creation) -- not again by the new leader, nor by the standby before it led.
    std::thread::sleep(Duration::from_secs(3));
    let commits = commits.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut history: HashMap<String, Vec<Value>> = HashMap::new();
    for (name, v) in commits {
        history.entry(name).or_default().push(v);
    }
    for (name, versions) in &history {
        // Writes of what the controller owns: the creation, then any change to it.
        let controller_writes = 1 + versions
            .windows(2)
            .filter(|p| controller_part(&p[0]) != controller_part(&p[1]))
            .count();
        // Commits that changed nothing at all (a repeated write of the same content).
        let idle_writes = versions
            .windows(2)
            .filter(|p| without_rv(&p[0]) == without_rv(&p[1]))
            .count();
        assert!(
            controller_writes == 1 && idle_writes == 0,
            "ManifestWork {name}: {controller_writes} controller writes, {idle_writes} writes \
             that changed nothing:\n{versions:#?}"
        );
    }
    // Namespace, two ConfigMaps, in two WECs (one object per ManifestWork by default).
    assert_eq!(
        history.len(),
        6,
        "ManifestWorks seen: {:?}",
        history.keys().collect::<Vec<_>>()
    );
    // The space drops a write that changes nothing, so count at the HTTP level, in what both
    // replicas sent: the new leader rewrote none of the ManifestWorks it took over, and the
    // change made after the takeover (`after`, one ManifestWork per WEC) cost exactly one
    // write request per ManifestWork.
    let carries = |versions: &[Value], cm: &str| {
        versions.iter().any(|v| {
            v["spec"]["workload"]["manifests"]
                .as_array()
                .is_some_and(|ms| {
                    ms.iter()
                        .any(|m| m["kind"] == "ConfigMap" && m["metadata"]["name"] == cm)
                })
        })
    };
    let writes_to = |proxy: &Proxy, key: &str| {
        let (ns, name) = key.split_once('/').expect("namespace/name");
        let collection = format!("/namespaces/{ns}/manifestworks");
        let object = format!("{collection}/{name}");
        proxy
            .requests()
            .iter()
            .filter(|r| {
                let Some((verb, target)) = r.split_once(' ') else {
                    return false;
                };
                let path = target.split('?').next().unwrap_or(target);
                match verb {
                    "PUT" | "PATCH" => {
                        path.ends_with(&object) || path.ends_with(&format!("{object}/status"))
                    }
                    // The controller applies (PATCH); a create would name the collection.
                    "POST" => path.ends_with(&collection),
                    _ => false,
                }
            })
            .count()
    };
    let after: Vec<&String> = history
        .iter()
        .filter(|(_, v)| carries(v, "after"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(after.len(), 2, "one ManifestWork of `after` per WEC");
    for key in &after {
        let per_replica: Vec<usize> = proxies.iter().map(|(_, its)| writes_to(its, key)).collect();
        assert_eq!(
            per_replica.iter().sum::<usize>(),
            1,
            "ManifestWork {key}: write requests per replica {per_replica:?}"
        );
        assert_eq!(per_replica[1 - li], 1, "the new leader wrote {key}");
    }
    for key in history.keys().filter(|k| !after.contains(k)) {
        assert_eq!(
            writes_to(standby_its, key),
            0,
            "the new leader rewrote {key}, written before the takeover"
        );
        assert_eq!(
            writes_to(leader_its, key),
            1,
            "the first leader wrote {key} once"
        );
    }
    drop(controllers);
    rt.block_on(sys.stop());
}

#[test]
fn agent_replicas_one_applies_and_a_graceful_stop_hands_over_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = SystemConfig::new(dir.path(), 1);
    cfg.agents = false;
    let sys = rt
        .block_on(System::start(cfg, &|_| {}))
        .expect("system starts");
    let its = rt.block_on(sys.client("its1")).expect("its client");
    let leases: Api<Lease> = Api::namespaced(its, "cluster1");
    let get = |name: &str| rt.block_on(leases.get_opt(name)).ok().flatten();
    let mut agents = vec![
        Replica::agent(&sys, "cluster1"),
        Replica::agent(&sys, "cluster1"),
    ];
    let pid_of = |h: &str| h.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
    let first = eventually(Duration::from_secs(20), "an agent leads", || {
        get("kubestellar-agent-leader")
            .map(|l| holder(&l))
            .filter(|h| !h.is_empty())
    });
    let li = agents
        .iter()
        .position(|a| Some(a.child.id()) == pid_of(&first))
        .expect("the holder is one of the two children");
    let standby_pid = agents[1 - li].child.id();

    let wds = Kubectl::new(33, &sys.kubeconfig).context("wds1");
    let wec = Kubectl::new(33, &sys.kubeconfig).context("cluster1");
    wds.apply(WORKLOAD);
    eventually(
        Duration::from_secs(30),
        "`before` applied by the leader",
        || {
            wec.jsonpath(&["-n", "ha", "get", "configmap", "before"], "{.data.v}")
                .filter(|v| v == "1")
        },
    );
    // The heartbeat Lease (read by `kubestellar status`) is a separate Lease, kept by the
    // leader.
    assert!(get(kubestellar::agent::HEARTBEAT_LEASE).is_some());
    let standby_log = agents[1 - li].log();
    assert!(
        standby_log.contains("standing by") && !standby_log.contains("agent starting"),
        "the standby waits and does not run the agent:\n{standby_log}"
    );

    // SIGTERM: the leader stops, releases the Lease, and the standby takes it without
    // waiting for expiry.
    let status = Command::new("kill")
        .args(["-TERM", &agents[li].child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let stopped = Instant::now();
    let exit = agents[li].child.wait().expect("leader exits");
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");
    eventually(Duration::from_secs(5), "the standby leads", || {
        get("kubestellar-agent-leader").filter(|l| pid_of(&holder(l)) == Some(standby_pid))
    });
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(5), "handover took {took:?}");
    assert!(
        agents[li].log().contains("released the Lease"),
        "{}",
        agents[li].log()
    );
    wds.apply(AFTER);
    eventually(
        Duration::from_secs(30),
        "`after` applied by the new leader",
        || {
            wec.jsonpath(&["-n", "ha", "get", "configmap", "after"], "{.data.v}")
                .filter(|v| v == "2")
        },
    );
    agents.clear();
    rt.block_on(sys.stop());
}
