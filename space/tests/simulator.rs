//! The workload simulator seen from outside: real kubectl against a simulated space.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use kubestellar_space::objects::WriteOptions;
use kubestellar_space::{RunningSpace, SpaceConfig};
use serde_json::json;
use support::{Kubectl, TestSpace};

const KUBECTL: u32 = 33;

/// Polls `f` until it holds or `timeout` passes; returns whether it held.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn jsonpath(k: &Kubectl, what: &str, path: &str) -> String {
    k.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn simulated() -> TestSpace {
    TestSpace::start_with(|c| c.simulator = true)
}

#[test]
fn deployment_becomes_available_and_follows_spec_changes() {
    let s = simulated();
    let k = s.kubectl(KUBECTL);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "--timeout=20s",
    ]);
    k.ok(&["rollout", "status", "deploy/web", "--timeout=20s"]);
    assert_eq!(jsonpath(&k, "deploy/web", "{.status.readyReplicas}"), "2");
    assert_eq!(
        jsonpath(&k, "deploy/web", "{.status.availableReplicas}"),
        "2"
    );
    assert_eq!(jsonpath(&k, "deploy/web", "{.status.updatedReplicas}"), "2");
    assert_eq!(
        jsonpath(&k, "deploy/web", "{.status.observedGeneration}"),
        "1"
    );
    assert_eq!(
        jsonpath(
            &k,
            "deploy/web",
            "{.status.conditions[?(@.type==\"Progressing\")].reason}"
        ),
        "NewReplicaSetAvailable"
    );

    let converged = |replicas: &str| {
        let g = jsonpath(
            &k,
            "deploy/web",
            "{.metadata.generation}/{.status.observedGeneration}/{.status.availableReplicas}",
        );
        let (gen_, rest) = g.split_once('/').unwrap_or_default();
        rest == format!("{gen_}/{replicas}")
    };
    k.ok(&["scale", "deploy/web", "--replicas=3"]);
    assert!(
        eventually(Duration::from_secs(20), || converged("3")),
        "scaled to 3"
    );
    assert_eq!(jsonpath(&k, "deploy/web", "{.metadata.generation}"), "2");
    assert_eq!(jsonpath(&k, "deploy/web", "{.status.readyReplicas}"), "3");

    k.ok(&["set", "image", "deploy/web", "nginx=nginx:1.27"]);
    k.ok(&["rollout", "status", "deploy/web", "--timeout=20s"]);
    assert!(
        eventually(Duration::from_secs(20), || converged("3")),
        "new image rolled out"
    );

    k.ok(&["scale", "deploy/web", "--replicas=0"]);
    assert!(
        eventually(Duration::from_secs(20), || converged("")),
        "scaled to 0"
    );
    assert_eq!(
        jsonpath(
            &k,
            "deploy/web",
            "{.status.replicas}{.status.readyReplicas}{.status.updatedReplicas}"
        ),
        ""
    );
    assert_eq!(
        jsonpath(
            &k,
            "deploy/web",
            "{.status.conditions[?(@.type==\"Available\")].status}"
        ),
        "True"
    );

    // The simulator owns the status: someone else's write is undone.
    k.ok(&["scale", "deploy/web", "--replicas=2"]);
    assert!(
        eventually(Duration::from_secs(20), || converged("2")),
        "scaled back to 2"
    );
    k.ok(&[
        "patch",
        "deploy/web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"readyReplicas":7}}"#,
    ]);
    assert!(
        eventually(Duration::from_secs(20), || jsonpath(
            &k,
            "deploy/web",
            "{.status.readyReplicas}"
        ) == "2"),
        "status re-asserted"
    );
}

#[test]
fn workloads_progress_over_time() {
    let delay = Duration::from_millis(1500);
    let s = TestSpace::start_with(|c| {
        c.simulator = true;
        c.simulator_config.ready_delay = delay;
    });
    let k = s.kubectl(KUBECTL);
    let mut events = s.running().space.store.subscribe_all();
    let created = Instant::now();
    k.ok(&[
        "create",
        "deployment",
        "slow",
        "--image=nginx",
        "--replicas=2",
    ]);
    k.ok(&["run", "slowpod", "--image=nginx"]);
    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/slow",
        "--timeout=20s",
    ]);
    assert!(
        created.elapsed() >= delay,
        "ready only after the delay ({:?})",
        created.elapsed()
    );
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/slowpod",
        "--timeout=20s",
    ]);
    // A new image rolls out: the new replicas are not ready before the delay either.
    let rollout = Instant::now();
    k.ok(&["set", "image", "deploy/slow", "nginx=nginx:2"]);
    k.ok(&["rollout", "status", "deploy/slow", "--timeout=20s"]);
    assert!(
        rollout.elapsed() >= delay - Duration::from_millis(500),
        "rolled out after {:?}",
        rollout.elapsed()
    );
    // Every status the two objects went through, in order.
    let (mut deploy, mut pod) = (Vec::new(), Vec::new());
    while let Ok(ev) = events.try_recv() {
        let v = ev.object.value();
        let status = v["status"].clone();
        if status.as_object().is_none_or(|o| o.is_empty()) {
            continue;
        }
        match (ev.key.gr.resource.as_str(), ev.key.name.as_str()) {
            ("deployments", "slow") => deploy.push(status),
            ("pods", "slowpod") => pod.push(status),
            _ => {}
        }
    }
    let first = deploy.first().expect("a deployment status");
    assert_eq!(first["observedGeneration"], 1);
    assert_eq!(first["replicas"], 2);
    assert!(first.get("readyReplicas").is_none(), "{first}");
    assert_eq!(first["conditions"][0]["status"], "False", "{first}");
    let rolling = deploy
        .iter()
        .find(|s| s["observedGeneration"] == 2)
        .expect("the rollout is observed");
    assert!(rolling.get("updatedReplicas").is_none(), "{rolling}");
    assert_eq!(
        rolling["availableReplicas"], 2,
        "old pods serve during the rollout"
    );
    let last = deploy.last().expect("a deployment status");
    assert_eq!(last["readyReplicas"], 2);
    assert_eq!(last["conditions"][0]["status"], "True");
    // Created Pending by the server, bound and started (still Pending), then Running.
    let starts: Vec<(&str, bool)> = pod
        .iter()
        .filter_map(|s| Some((s["phase"].as_str()?, s["startTime"].is_string())))
        .collect();
    let mut phases: Vec<&str> = starts.iter().map(|(p, _)| *p).collect();
    phases.dedup();
    assert_eq!(phases, ["Pending", "Running"]);
    assert!(
        starts.contains(&("Pending", true)),
        "the pod is seen starting: {starts:?}"
    );
}

#[test]
fn jobs_complete() {
    let s = simulated();
    let k = s.kubectl(KUBECTL);
    k.ok(&[
        "create",
        "job",
        "pi",
        "--image=perl:5.34",
        "--",
        "perl",
        "-Mbignum=bpi",
        "-wle",
        "print bpi(20)",
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Complete",
        "job/pi",
        "--timeout=20s",
    ]);
    assert_eq!(jsonpath(&k, "job/pi", "{.status.succeeded}"), "1");
    assert!(!jsonpath(&k, "job/pi", "{.status.completionTime}").is_empty());
    assert!(!jsonpath(&k, "job/pi", "{.status.startTime}").is_empty());
    assert_eq!(
        jsonpath(
            &k,
            "job/pi",
            "{.status.conditions[?(@.type==\"SuccessCriteriaMet\")].status}"
        ),
        "True"
    );
    assert_eq!(jsonpath(&k, "job/pi", "{.status.active}"), "");

    let indexed = r#"
apiVersion: batch/v1
kind: Job
metadata:
  generateName: pi-
  labels: {app.kubernetes.io/name: hello-job}
spec:
  completions: 3
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: perl, command: ["perl", "-e", "1"]}]
"#;
    let out = k.ok_stdin(&["create", "-f", "-", "-o", "name"], indexed);
    let name = out.trim().to_string();
    assert!(name.starts_with("job.batch/pi-"), "{name}");
    k.ok(&["wait", "--for=condition=Complete", &name, "--timeout=20s"]);
    assert_eq!(
        jsonpath(&k, &name, "{.status.succeeded}/{.status.completedIndexes}"),
        "3/0-2"
    );
}

#[test]
fn statefulsets_and_daemonsets_get_ready() {
    let s = simulated();
    let k = s.kubectl(KUBECTL);
    let manifests = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: fluentd}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  replicas: 2
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
    spec: {containers: [{name: c, image: nginx}]}
"#;
    k.ok_stdin(&["apply", "-f", "-"], manifests);
    k.ok(&["rollout", "status", "statefulset/db", "--timeout=20s"]);
    k.ok(&["rollout", "status", "daemonset/agent", "--timeout=20s"]);
    assert_eq!(
        jsonpath(
            &k,
            "sts/db",
            "{.status.readyReplicas}/{.status.availableReplicas}/{.status.currentReplicas}"
        ),
        "3/3/3"
    );
    let revs = jsonpath(
        &k,
        "sts/db",
        "{.status.currentRevision} {.status.updateRevision}",
    );
    let (cur, upd) = revs.split_once(' ').unwrap_or_default();
    assert!(cur.starts_with("db-") && cur == upd, "{revs}");
    assert_eq!(
        jsonpath(
            &k,
            "ds/agent",
            "{.status.desiredNumberScheduled}/{.status.numberReady}/{.status.numberAvailable}/{.status.numberMisscheduled}"
        ),
        "1/1/1/0"
    );
    assert!(eventually(Duration::from_secs(20), || jsonpath(
        &k,
        "rs/rs",
        "{.status.availableReplicas}"
    ) == "2"));
    assert_eq!(
        jsonpath(
            &k,
            "rs/rs",
            "{.status.fullyLabeledReplicas}/{.status.observedGeneration}"
        ),
        "2/1"
    );

    // A new template rolls a new revision.
    k.ok(&["set", "image", "sts/db", "db=postgres:17"]);
    k.ok(&["rollout", "status", "statefulset/db", "--timeout=20s"]);
    let after = jsonpath(
        &k,
        "sts/db",
        "{.status.currentRevision} {.status.observedGeneration}",
    );
    assert!(
        after.starts_with("db-") && !after.starts_with(&format!("{cur} ")) && after.ends_with(" 2"),
        "{after}"
    );
}

#[test]
fn pods_run_on_a_simulated_node() {
    let s = simulated();
    let k = s.kubectl(KUBECTL);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "node/kubestellar-sim-node",
        "--timeout=20s",
    ]);
    assert!(k.ok(&["get", "nodes"]).contains("kubestellar-sim-node"));
    k.ok(&["run", "p", "--image=nginx"]);
    k.ok(&["wait", "--for=condition=Ready", "pod/p", "--timeout=20s"]);
    assert_eq!(jsonpath(&k, "pod/p", "{.status.phase}"), "Running");
    assert_eq!(
        jsonpath(&k, "pod/p", "{.spec.nodeName}"),
        "kubestellar-sim-node"
    );
    assert_eq!(
        jsonpath(
            &k,
            "pod/p",
            "{.status.containerStatuses[0].ready}/{.status.containerStatuses[0].restartCount}"
        ),
        "true/0"
    );
    assert!(jsonpath(&k, "pod/p", "{.status.podIP}").starts_with("10.244."));
    // Deleting the node brings it back.
    k.ok(&["delete", "node", "kubestellar-sim-node"]);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "node/kubestellar-sim-node",
        "--timeout=20s",
    ]);
}

/// Applies a little of everything and waits until the simulator is done with it.
fn converge_mix(k: &Kubectl) {
    k.ok(&["create", "deployment", "d", "--image=nginx", "--replicas=2"]);
    k.ok(&["create", "job", "j", "--image=busybox", "--", "true"]);
    k.ok(&["run", "p", "--image=nginx"]);
    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/d",
        "--timeout=20s",
    ]);
    k.ok(&["wait", "--for=condition=Complete", "job/j", "--timeout=20s"]);
    k.ok(&["wait", "--for=condition=Ready", "pod/p", "--timeout=20s"]);
}

/// Waits until the store's resourceVersion stays put for `quiet`; returns it.
fn settled(space: &kubestellar_space::Space, quiet: Duration) -> u64 {
    let mut rv = space.store.current_rv();
    let mut since = Instant::now();
    let end = Instant::now() + Duration::from_secs(20);
    while since.elapsed() < quiet {
        assert!(Instant::now() < end, "the space keeps writing");
        std::thread::sleep(Duration::from_millis(50));
        let now = space.store.current_rv();
        if now != rv {
            rv = now;
            since = Instant::now();
        }
    }
    rv
}

#[test]
fn converged_space_stops_writing() {
    let s = simulated();
    let k = s.kubectl(KUBECTL);
    converge_mix(&k);
    let space = &s.running().space;
    let rv = settled(space, Duration::from_millis(300));
    let deploy_rv = jsonpath(&k, "deploy/d", "{.metadata.resourceVersion}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(space.store.current_rv(), rv, "no writes once converged");
    assert_eq!(
        jsonpath(&k, "deploy/d", "{.metadata.resourceVersion}"),
        deploy_rv
    );
}

/// Every stored object's resourceVersion.
fn object_versions(space: &kubestellar_space::Space) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    space.store.for_each(&mut |k, o| {
        out.insert(
            format!(
                "{}/{}/{}/{}",
                k.gr.group, k.gr.resource, k.namespace, k.name
            ),
            o.rv,
        );
    });
    out
}

/// Starts a simulated space on `dir` in its own runtime.
fn start_on(dir: &Path, ready_delay: Duration) -> (tokio::runtime::Runtime, RunningSpace) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = SpaceConfig::new("restart", dir);
    cfg.simulator = true;
    cfg.simulator_config.ready_delay = ready_delay;
    let running = rt
        .block_on(kubestellar_space::start(
            cfg,
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("space starts");
    (rt, running)
}

fn kubectl_for(running: &RunningSpace) -> Kubectl {
    Kubectl {
        bin: format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{KUBECTL}").into(),
        kubeconfig: running.kubeconfig.clone(),
        cache: tempfile::tempdir().expect("cache dir"),
    }
}

#[test]
fn restart_converges_without_rewriting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = Duration::from_millis(200);
    let before = {
        let (rt, running) = start_on(dir.path(), fast);
        converge_mix(&kubectl_for(&running));
        settled(&running.space, Duration::from_millis(300));
        let versions = object_versions(&running.space);
        rt.block_on(running.stop());
        versions
    };
    assert!(before.len() > 5, "{before:?}");
    let (rt, running) = start_on(dir.path(), fast);
    // A reopened store starts its resourceVersions above anything it may have shown before,
    // so compare what is stored rather than the store's counter.
    let rv = running.space.store.current_rv();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        running.space.store.current_rv(),
        rv,
        "a restart writes nothing"
    );
    assert_eq!(
        object_versions(&running.space),
        before,
        "a restart rewrites nothing that is converged"
    );
    rt.block_on(running.stop());

    // Stopped half-way (replicas not ready yet): the next start finishes the job.
    let slow = Duration::from_secs(3600);
    let (rt, running) = start_on(dir.path(), slow);
    let k = kubectl_for(&running);
    k.ok(&["scale", "deploy/d", "--replicas=4"]);
    assert!(eventually(Duration::from_secs(20), || {
        jsonpath(
            &k,
            "deploy/d",
            "{.status.observedGeneration}/{.status.replicas}/{.status.availableReplicas}",
        ) == "2/4/2"
    }));
    rt.block_on(running.stop());
    let (rt, running) = start_on(dir.path(), slow);
    let k = kubectl_for(&running);
    k.ok(&[
        "wait",
        "--for=jsonpath={.status.availableReplicas}=4",
        "deploy/d",
        "--timeout=20s",
    ]);
    assert_eq!(
        jsonpath(
            &k,
            "deploy/d",
            "{.status.conditions[?(@.type==\"Available\")].status}"
        ),
        "True"
    );
    rt.block_on(running.stop());
}

#[test]
fn a_thousand_deployments_converge() {
    const N: usize = 1000;
    let s = simulated();
    let space = s.running().space.clone();
    let Some(r) = space.registry.catalog().get("apps", "v1", "deployments") else {
        panic!("deployments are served")
    };
    let opts = WriteOptions {
        field_manager: Some("test".into()),
        ..WriteOptions::default()
    };
    let start = Instant::now();
    s.block_on(async {
        let creates = (0..N).map(|i| {
            let body = json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("d{i}"), "labels": {"app": "many"}},
                "spec": {"replicas": 1 + i % 3, "selector": {"matchLabels": {"app": "many"}},
                         "template": {"metadata": {"labels": {"app": "many"}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
            });
            let (space, r, opts) = (space.clone(), r.clone(), opts.clone());
            async move { space.create(&r, "default", body, &opts).await.map(|_| ()) }
        });
        for res in futures::future::join_all(creates).await {
            res.expect("create");
        }
    });
    let created = start.elapsed();
    let all_available = || {
        let list = space
            .list_objects(&r, Some("default"), &Default::default())
            .expect("list");
        list.items.len() == N
            && list.items.iter().all(|o| {
                let v = o.value();
                v["status"]["availableReplicas"] == v["spec"]["replicas"]
                    && v["status"]["observedGeneration"] == 1
            })
    };
    assert!(
        eventually(Duration::from_secs(120), all_available),
        "all {N} deployments converge"
    );
    let total = start.elapsed();
    eprintln!(
        "{N} deployments: created in {created:?}, all available {total:?} after the first create"
    );
    let rv = settled(&space, Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(space.store.current_rv(), rv, "quiet after converging");
}
