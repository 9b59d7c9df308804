//! Restart: N objects delivered to K WECs and settled; then the controller is killed and
//! started again, twice:
//! 1. time to ready: from the start until a new object, created right after the start, is in
//!    every WEC (so the restarted controller has listed everything and delivers again);
//! 2. writes on restart: with nothing changed, what the restarted controller writes during an
//!    observation window (three times the time to ready, at least four quiet periods): write requests to the
//!    WDS and the ITS (the agents' heartbeats excluded) and changes committed anywhere. The
//!    goal is zero changes.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::env::{Env, ITS, WDS};
use super::workload::{self, Kind};
use super::{BenchConfig, BenchError, Report};

pub(super) async fn run(
    cfg: &BenchConfig,
    dir: &Path,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let k = cfg.k();
    report.param("objects", cfg.objects);
    report.param("WECs", k);
    let mut env = Env::start(super::env_config(cfg, dir, run, k)).await?;
    let result = restart(&mut env, cfg, run, report).await;
    report.usages("", &env.usages(), None);
    env.stop().await;
    result
}

async fn restart(
    env: &mut Env,
    cfg: &BenchConfig,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let group = "restart";
    let k = env.cfg.wecs;
    let (namespaces, objects) = workload::mix(run, group, cfg.objects.max(1));
    workload::create_all(&env.wds, &namespaces).await?;
    workload::create_all(&env.wds, &objects).await?;
    let t0 = Instant::now();
    workload::apply_policy(&env.wds, &workload::policy(run, group, None, false)).await?;
    let expected = (objects.len() + namespaces.len()) * k;
    env.probe
        .wait("the initial delivery", cfg.timeout, |p| {
            (p.delivered().0 >= expected).then_some(())
        })
        .await?;
    env.probe
        .wait("every WorkStatus with status", cfg.timeout, |p| {
            (p.reported() >= expected).then_some(())
        })
        .await?;
    let settled = env.probe.settle(cfg.quiet, cfg.timeout).await?;
    report.add("initial convergence", (settled - t0).as_secs_f64(), "s");

    // 1. Time to ready.
    env.stop_controller().await;
    let start = Instant::now();
    env.start_controller().await?;
    let canary = workload::object(
        run,
        group,
        Kind::ConfigMap,
        &namespaces[0].name,
        "canary",
        0,
    );
    workload::create(&env.wds, &canary).await?;
    let key = canary.key();
    let a = env
        .probe
        .wait("the canary in every WEC", cfg.timeout, |p| {
            p.arrival(&key, 0).filter(|a| a.count >= k)
        })
        .await?;
    let ready = a.last - start;
    report.add(
        "restart: time until a new object is delivered",
        ready.as_secs_f64(),
        "s",
    );
    env.probe.settle(cfg.quiet, cfg.timeout).await?;

    // 2. Writes with nothing changed.
    let window = (ready * 3).clamp(
        (cfg.quiet * 4).max(Duration::from_secs(1)),
        Duration::from_secs(120),
    );
    let wds_before = env.write_requests(WDS);
    let its_before = env.write_requests(ITS);
    let commits_before = env.probe.commits();
    env.stop_controller().await;
    env.start_controller().await?;
    tokio::time::sleep(window).await;
    let commits = env.probe.commits();
    let heartbeats = commits.its_leases - commits_before.its_leases;
    let wds_writes = env.write_requests(WDS) - wds_before;
    let its_writes = (env.write_requests(ITS) - its_before).saturating_sub(heartbeats);
    report.param(
        "observation window",
        format!("{:.1}s", window.as_secs_f64()),
    );
    report.add("restart: write requests to the WDS", wds_writes as f64, "");
    report.add(
        "restart: write requests to the ITS (heartbeats excluded)",
        its_writes as f64,
        "",
    );
    let changed = (commits.wds - commits_before.wds)
        + (commits.its - commits_before.its)
        + (commits.wecs - commits_before.wecs);
    report.exactly(
        "restart: changes committed (all spaces)",
        changed as f64,
        "",
        0.0,
    );
    if wds_writes + its_writes > 0 {
        report.note(
            "write requests that change nothing are the controller's idempotent start-up applies \
             (CRDs, the report namespace): answered without a commit",
        );
    }
    Ok(())
}
