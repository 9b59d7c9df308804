//! Many simulated spaces in one process, as `kubestellar up --wecs 100` runs them.

use std::time::{Duration, Instant};

use kubestellar_space::objects::WriteOptions;
use kubestellar_space::{RunningSpace, SpaceConfig};
use serde_json::json;

const SPACES: usize = 100;

/// Resident memory of this process in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_hundred_simulated_spaces_start_and_converge() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dirs: Vec<tempfile::TempDir> = (0..SPACES)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let start = Instant::now();
    let spaces: Vec<RunningSpace> = rt.block_on(async {
        let starts = dirs.iter().enumerate().map(|(i, d)| {
            let mut cfg = SpaceConfig::new(format!("wec{i}"), d.path());
            cfg.simulator = true;
            kubestellar_space::start(cfg, "127.0.0.1:0".parse().expect("addr"))
        });
        futures::future::join_all(starts)
            .await
            .into_iter()
            .map(|r| r.expect("space starts"))
            .collect()
    });
    let started = start.elapsed();
    rt.block_on(async {
        let creates = spaces.iter().map(|s| async move {
            let Some(r) = s.space.registry.catalog().get("apps", "v1", "deployments") else {
                panic!("deployments are served")
            };
            let body = json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "nginx", "labels": {"app.kubernetes.io/name": "nginx"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
                         "template": {"metadata": {"labels": {"app": "nginx"}},
                                      "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
            });
            let opts = WriteOptions { field_manager: Some("test".into()), ..WriteOptions::default() };
            s.space.create(&r, "default", body, &opts).await.expect("create");
        });
        futures::future::join_all(creates).await;
    });
    let converged = |s: &RunningSpace| {
        let Some(r) = s.space.registry.catalog().get("apps", "v1", "deployments") else {
            return false;
        };
        let nodes = s.space.registry.catalog().get("", "v1", "nodes");
        let node_ready = nodes
            .and_then(|n| s.space.get_object(&n, "", "kubestellar-sim-node").ok())
            .is_some_and(|n| {
                n.value()["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready"))
            });
        node_ready
            && s.space
                .get_object(&r, "default", "nginx")
                .is_ok_and(|o| o.value()["status"]["availableReplicas"] == 1)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !spaces.iter().all(converged) {
        assert!(Instant::now() < deadline, "all spaces converge");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = start.elapsed();
    // Idle: nothing is written once everything converged.
    let rvs: Vec<u64> = spaces.iter().map(|s| s.space.store.current_rv()).collect();
    std::thread::sleep(Duration::from_secs(1));
    let after: Vec<u64> = spaces.iter().map(|s| s.space.store.current_rv()).collect();
    assert_eq!(rvs, after, "idle spaces write nothing");
    let rss = rss_kib().unwrap_or(0);
    eprintln!(
        "{SPACES} simulated spaces: serving after {started:?}, every deployment available after {ready:?}, RSS {} MiB",
        rss / 1024
    );
    assert!(ready < Duration::from_secs(30), "ready in {ready:?}");
    assert!(rss < 1024 * 1024, "RSS {rss} KiB");
    rt.block_on(async {
        for s in spaces {
            s.stop().await;
        }
    });
}
