//! Propagation latency: one Deployment bound to K WECs, repeated. Per repetition, each step
//! waits for the previous one to finish everywhere:
//! 1. create it in the WDS: time until every WEC holds it;
//! 2. update it (new pod template): time until every WEC holds the new version;
//! 3. scale it 1 -> 2: time until the WDS object's returned status says 2 available (the full
//!    round trip, including the simulator's ready delay), and the status-return part alone:
//!    from the last WEC reporting 2 available to the WDS showing it;
//! 4. delete it: time until it is gone from every WEC.
//!
//! The first repetition of each K warms up (plugins compiled, connections open) and is not
//! counted.

use std::path::Path;
use std::time::Duration;

use kube::api::DeleteParams;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::env::Env;
use super::probe::Space;
use super::stats::Distribution;
use super::workload::{self, Kind};
use super::{BenchConfig, BenchError, Report};

/// The target p99 of create and update latency at 100 WECs, in ms.
const TARGET_P99_MS: f64 = 250.0;

pub(super) async fn run(
    cfg: &BenchConfig,
    dir: &Path,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let mut ks: Vec<usize> = cfg.wecs.iter().copied().filter(|k| *k > 0).collect();
    ks.sort_unstable();
    ks.dedup();
    let max = ks.last().copied().unwrap_or(2);
    report.param(
        "K",
        ks.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    report.param("repetitions", cfg.reps);
    report.param("WECs running", max);
    let env = Env::start(super::env_config(cfg, dir, run, max)).await?;
    let mut result = Ok(());
    for k in ks {
        result = measure(&env, cfg, run, k, report).await;
        if result.is_err() {
            break;
        }
    }
    report.usages("", &env.usages(), None);
    env.stop().await;
    result
}

fn available(n: i64) -> impl Fn(&Value) -> bool {
    move |v| v["status"]["availableReplicas"] == json!(n)
}

async fn measure(
    env: &Env,
    cfg: &BenchConfig,
    run: &str,
    k: usize,
    report: &mut Report,
) -> Result<(), BenchError> {
    let group = format!("prop-k{k}");
    let probe = &env.probe;
    let t = cfg.timeout;
    let ns = workload::namespace(run, &group, &group);
    workload::apply(&env.wds, &ns).await?;
    workload::apply_policy(&env.wds, &workload::policy(run, &group, Some(k), true)).await?;
    let ns_key = ns.key();
    probe
        .wait(&format!("namespace {group} in {k} WECs"), t, |p| {
            p.arrival(&ns_key, 0).filter(|a| a.count >= k)
        })
        .await?;

    let (mut create, mut update, mut round_trip, mut status_return, mut delete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..=cfg.reps {
        let name = format!("d{rep}");
        let v0 = workload::object(run, &group, Kind::Deployment, &group, &name, 0);
        let key = v0.key();
        probe.watch(Space::Wds, key.clone());
        for w in 0..k {
            probe.watch(Space::Wec(w), key.clone());
        }
        let everywhere = |seq: u32| {
            let key = key.clone();
            move |p: &super::probe::Probe| p.arrival(&key, seq).filter(|a| a.count >= k)
        };

        let t0 = Instant::now();
        workload::create(&env.wds, &v0).await?;
        let a = probe
            .wait(&format!("{name} created in {k} WECs"), t, everywhere(0))
            .await?;
        let created = a.last - t0;

        let v1 = workload::object(run, &group, Kind::Deployment, &group, &name, 1);
        let t1 = Instant::now();
        workload::apply(&env.wds, &v1).await?;
        let a = probe
            .wait(&format!("{name} updated in {k} WECs"), t, everywhere(1))
            .await?;
        let updated = a.last - t1;

        let mut v2 = workload::object(run, &group, Kind::Deployment, &group, &name, 2);
        v2.body["spec"]["replicas"] = json!(2);
        let t2 = Instant::now();
        workload::apply(&env.wds, &v2).await?;
        let back = probe
            .wait_json(Space::Wds, &key, t2, t, available(2))
            .await?;
        let mut reported = t2;
        for w in 0..k {
            let at = probe
                .wait_json(
                    Space::Wec(w),
                    &key,
                    t2,
                    Duration::from_secs(5),
                    available(2),
                )
                .await?;
            reported = reported.max(at);
        }

        let t3 = Instant::now();
        v2.api(&env.wds)
            .delete(&name, &DeleteParams::default())
            .await?;
        let (_, gone_at) = probe
            .wait(&format!("{name} deleted from {k} WECs"), t, |p| {
                p.gone(&key).filter(|(n, _)| *n >= k)
            })
            .await?;
        probe.forget(&key);
        if rep == 0 {
            continue;
        }
        create.push(created);
        update.push(updated);
        round_trip.push(back - t2);
        status_return.push(back.saturating_duration_since(reported));
        delete.push(gone_at - t3);
    }
    let target = (k >= 100).then_some(TARGET_P99_MS);
    report.latency(
        &format!("create, K={k}"),
        &Distribution::of(&create),
        target,
    );
    report.latency(
        &format!("update, K={k}"),
        &Distribution::of(&update),
        target,
    );
    report.latency(
        &format!("status round trip, K={k}"),
        &Distribution::of(&round_trip),
        None,
    );
    report.latency(
        &format!("status return (WEC -> WDS), K={k}"),
        &Distribution::of(&status_return),
        None,
    );
    report.latency(&format!("delete, K={k}"), &Distribution::of(&delete), None);
    Ok(())
}
