//! A scale check of the status controller. N
//! Deployments delivered to three WECs with multi-WEC status and a CEL StatusCollector: how
//! long until every object has its aggregated status, executing count and CombinedStatus, and
//! how many writes and summarizer calls that took.
//!
//! `STATUS_SCALE_OBJECTS` sets N (default 30, which keeps the test short; 100 or more for a
//! real scale check: `STATUS_SCALE_OBJECTS=300 cargo test -p kubestellar --test status_scale -- --nocapture`).

mod status_support;
mod support;

use std::time::{Duration, Instant};

use status_support::{Env, get_json};

/// Polls every second (kubectl is costly on a small machine) for up to ten minutes.
fn poll(what: &str, mut f: impl FnMut() -> Option<()>) {
    let start = Instant::now();
    while f().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn many_objects_converge_with_few_writes() {
    let n: usize = std::env::var("STATUS_SCALE_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    // A failed write is logged as a warning with its reason: shown when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kubestellar::status=warn")),
        )
        .with_test_writer()
        .try_init();
    let mut env = Env::start(3, true);
    env.start_status();
    let wds = env.wds();
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: scale, labels: {app: scale}}\n",
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}, namespace: scale, labels: {{app: scale}}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{run: d{i}}}}}\n  template:\n    metadata: {{labels: {{run: d{i}}}}}\n    spec: {{containers: [{{name: c, image: \"nginx:1.27\"}}]}}\n"
        ));
    }
    yaml.push_str(
        r#"---
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: ready}
spec:
  select: [{name: wec, def: inventory.name}, {name: ready, def: returned.status.readyReplicas}]
  limit: 20
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: scale}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync:
  - objectSelectors: [{matchLabels: {app: scale}}]
    wantMultiWECReportedState: true
    statusCollectors: [ready]
"#,
    );
    // Delivery first, with the status controller down; then time the status controller alone
    // (a cold start with everything to do).
    env.stop_status();
    let start = Instant::now();
    wds.apply(&yaml);
    let its = env.its();
    poll("every WEC reported every Deployment ready", || {
        let ws = get_json(&its, &["workstatuses", "-A"])?;
        let ready = ws["items"]
            .as_array()?
            .iter()
            .filter(|w| {
                w["spec"]["sourceRef"]["kind"] == "Deployment" && w["status"]["readyReplicas"] == 1
            })
            .count();
        (ready == 3 * n).then_some(())
    });
    let delivered = start.elapsed();
    let start = Instant::now();
    env.start_status();
    poll("every Deployment aggregated and summarized", || {
        let ds = get_json(&wds, &["deployments", "-n", "scale"])?;
        let done = ds["items"].as_array()?.iter().all(|d| {
            d["status"]["readyReplicas"] == 1
                && d["metadata"]["labels"]["kubestellar.io/executing-count"] == "3"
        });
        let cs = get_json(&wds, &["cs", "-n", "scale"])?;
        let summarized = cs["items"]
            .as_array()?
            .iter()
            .filter(|c| {
                c["results"][0]["rows"]
                    .as_array()
                    .is_some_and(|r| r.len() == 3)
            })
            .count();
        (done && summarized == n).then_some(())
    });
    let took = start.elapsed();
    let s = env.stats();
    println!(
        "{n} Deployments x 3 WECs: delivered and reported in {:.1}s; status controller cold start converged in {:.1}s with {} writes ({:.2} per object), {} reconciles, {} summarizer calls ({} reused)",
        delivered.as_secs_f64(),
        took.as_secs_f64(),
        s.writes,
        s.writes as f64 / n as f64,
        s.reconciles,
        s.summarize_calls,
        s.summarize_cached,
    );
    assert_eq!(s.write_failures, 0, "{s:?}");
}
