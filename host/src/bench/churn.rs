//! Churn: N objects delivered to K WECs, then updates at a fixed rate (round robin over the
//! objects, each a new version of content and label) for a while. Reported: the latency of each
//! update (until every WEC holds that version or a later one), the rate achieved, the backlog
//! (updates sent but not yet everywhere) sampled every second, and the time to drain it.

use std::path::Path;
use std::time::Duration;

use kubestellar_space::store::ObjectKey;
use tokio::time::{Instant, MissedTickBehavior};

use super::env::Env;
use super::stats::Distribution;
use super::workload;
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
    report.param("rate", format!("{}/s", cfg.rate));
    report.param("duration", format!("{}s", cfg.duration.as_secs_f64()));
    let env = Env::start(super::env_config(cfg, dir, run, k)).await?;
    let result = churn(&env, cfg, run, report).await;
    report.usages("", &env.usages(), None);
    env.stop().await;
    result
}

async fn churn(
    env: &Env,
    cfg: &BenchConfig,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let group = "churn";
    let k = env.cfg.wecs;
    let (namespaces, objects) = workload::mix(run, group, cfg.objects.max(1));
    workload::create_all(&env.wds, &namespaces).await?;
    workload::create_all(&env.wds, &objects).await?;
    workload::apply_policy(&env.wds, &workload::policy(run, group, None, false)).await?;
    let expected = (objects.len() + namespaces.len()) * k;
    env.probe
        .wait("the initial delivery", cfg.timeout, |p| {
            (p.delivered().0 >= expected).then_some(())
        })
        .await?;
    env.probe.settle(cfg.quiet, cfg.timeout).await?;

    let period = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    let total = ((cfg.rate * cfg.duration.as_secs_f64()).round() as usize).max(1);
    let mut seqs = vec![0u32; objects.len()];
    let mut sent: Vec<(ObjectKey, u32, Instant)> = Vec::with_capacity(total);
    let mut done = vec![false; total];
    let mut backlog_max = 0usize;
    let outstanding = |sent: &[(ObjectKey, u32, Instant)], done: &mut [bool]| {
        let mut n = 0;
        for (i, (key, seq, _)) in sent.iter().enumerate() {
            if !done[i] {
                if env.probe.arrival(key, *seq).is_some_and(|a| a.count >= k) {
                    done[i] = true;
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut next_sample = started + Duration::from_secs(1);
    for u in 0..total {
        tick.tick().await;
        let i = u % objects.len();
        seqs[i] += 1;
        let o = &objects[i];
        let obj = workload::object(run, group, o.kind, &o.namespace, &o.name, seqs[i]);
        let at = Instant::now();
        workload::apply(&env.wds, &obj).await?;
        sent.push((obj.key(), seqs[i], at));
        if Instant::now() >= next_sample {
            backlog_max = backlog_max.max(outstanding(&sent, &mut done));
            next_sample += Duration::from_secs(1);
        }
    }
    let sending = started.elapsed().as_secs_f64();
    let at_end = outstanding(&sent, &mut done);
    backlog_max = backlog_max.max(at_end);
    let end = Instant::now();
    env.probe
        .wait("every update everywhere", cfg.timeout, |p| {
            sent.iter()
                .all(|(key, seq, _)| p.arrival(key, *seq).is_some_and(|a| a.count >= k))
                .then_some(())
        })
        .await?;
    let drained = end.elapsed().as_secs_f64();
    let latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(key, seq, at)| {
            Some(
                env.probe
                    .arrival(key, *seq)?
                    .last
                    .saturating_duration_since(*at),
            )
        })
        .collect();
    let d = Distribution::of(&latencies);
    report.add("updates sent", sent.len() as f64, "");
    report.add(
        "update rate achieved",
        sent.len() as f64 / sending.max(1e-9),
        "/s",
    );
    report.add("update latency p50", d.p50, "ms");
    report.add("update latency p90", d.p90, "ms");
    report.add("update latency p99", d.p99, "ms");
    report.add("update latency max", d.max, "ms");
    report.add(
        "backlog max (sampled every second)",
        backlog_max as f64,
        "updates",
    );
    report.add("backlog when updates stopped", at_end as f64, "updates");
    report.add("drained after updates stopped", drained, "s");
    Ok(())
}
