//! Agent: N ManifestWorks written straight into one WEC's mailbox namespace in the ITS (no
//! controller; the WDS stays idle), each with one object: ConfigMaps, every tenth a Deployment,
//! in namespaces of [`workload::PER_NAMESPACE`], each namespace in a ManifestWork of its own
//! (as the controller wraps them, one object per ManifestWork).
//! The driver creates them as fast as its client allows ([`WRITERS`] requests in flight); the
//! clock starts at the first write:
//! * written: every ManifestWork created;
//! * delivered: every object (and namespace) in the WEC;
//! * applied: every ManifestWork has condition `Applied=True`;
//! * reported: every object's WorkStatus carries its status;
//! * converged: nothing changes any more (heartbeats aside) for the quiet period.
//!
//! The agent's own memory and CPU time are measured apart only in split mode; in process they
//! are part of the whole process (spaces and driver included).

use std::path::Path;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sha2::Digest;
use tokio::time::Instant;

use super::env::{Env, ITS};
use super::probe::RUN_LABEL;
use super::workload::{self, Kind, Obj};
use super::{BenchConfig, BenchError, Mode, Report};

/// ManifestWork creations the driver keeps in flight.
const WRITERS: usize = 16;
/// Group label value (and name prefix) of the scenario's objects.
const GROUP: &str = "ag";

pub(super) async fn run(
    cfg: &BenchConfig,
    dir: &Path,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    report.param("objects", cfg.objects);
    report.param("WECs", 1);
    report.param("writers in flight", WRITERS);
    let mut ecfg = super::env_config(cfg, dir, run, 1);
    ecfg.controller = false;
    let env = Env::start(ecfg).await?;
    let result = measure(&env, cfg, run, report).await;
    report.usages("", &env.usages(), None);
    if cfg.mode == Mode::InProcess {
        report.note(
            "in-process mode: memory and CPU are the whole process's (spaces, agent and driver); \
             `--mode split` measures the agent's own",
        );
    }
    env.stop().await;
    result
}

/// The objects of the run: namespaces, then `n` objects (a Deployment every tenth, else a
/// ConfigMap).
fn objects(run: &str, n: usize) -> (Vec<Obj>, Vec<Obj>) {
    let namespaces = (0..n.div_ceil(workload::PER_NAMESPACE))
        .map(|s| workload::namespace(run, GROUP, &format!("{GROUP}-{s}")))
        .collect();
    let objects = (0..n)
        .map(|i| {
            let kind = if i % 10 == 0 {
                Kind::Deployment
            } else {
                Kind::ConfigMap
            };
            let ns = format!("{GROUP}-{}", i / workload::PER_NAMESPACE);
            workload::object(run, GROUP, kind, &ns, &format!("o{i}"), 0)
        })
        .collect();
    (namespaces, objects)
}

/// A ManifestWork in `mailbox` carrying `obj` alone, labelled with the run. Named after a
/// hash of the object, as the controller names them after object UIDs: the agent reconciles
/// in name order, so a namespace sorts before or after its objects as it would in production.
fn manifestwork(run: &str, mailbox: &str, obj: &Obj) -> Value {
    let id = format!("{:?}/{}/{}", obj.kind, obj.namespace, obj.name);
    let name = format!(
        "{GROUP}-{}",
        hex::encode(&sha2::Sha256::digest(id.as_bytes())[..8])
    );
    json!({
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "metadata": {"name": name, "namespace": mailbox, "labels": {RUN_LABEL: run}},
        "spec": {"workload": {"manifests": [obj.body]}},
    })
}

/// Creates `mws` (POST), [`WRITERS`] at once.
async fn create_all(api: &Api<DynamicObject>, mws: &[Value]) -> Result<(), BenchError> {
    let pp = PostParams {
        field_manager: Some(workload::MANAGER.into()),
        ..Default::default()
    };
    let results: Vec<Result<(), BenchError>> = futures::stream::iter(mws)
        .map(|mw| {
            let pp = &pp;
            async move {
                let obj: DynamicObject = serde_json::from_value(mw.clone())
                    .map_err(|e| BenchError::Setup(format!("ManifestWork: {e}")))?;
                api.create(pp, &obj).await?;
                Ok(())
            }
        })
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Waits until the agent of `wec` has written its heartbeat Lease.
async fn wait_for_agent(
    env: &Env,
    wec: &str,
    timeout: std::time::Duration,
) -> Result<(), BenchError> {
    let leases: Api<Lease> = Api::namespaced(env.its.clone(), wec);
    let deadline = Instant::now() + timeout;
    while leases
        .get_opt(crate::agent::HEARTBEAT_LEASE)
        .await?
        .is_none()
    {
        if Instant::now() > deadline {
            return Err(BenchError::Setup(format!(
                "the agent of {wec} wrote no heartbeat within {timeout:?}"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn measure(
    env: &Env,
    cfg: &BenchConfig,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let wec = env
        .system
        .as_ref()
        .and_then(|s| s.wecs.first())
        .map(|w| w.name.clone())
        .ok_or_else(|| BenchError::Setup("the system has no WEC".into()))?;
    let (namespaces, objs) = objects(run, cfg.objects);
    let ns_mws: Vec<Value> = namespaces
        .iter()
        .map(|o| manifestwork(run, &wec, o))
        .collect();
    let obj_mws: Vec<Value> = objs.iter().map(|o| manifestwork(run, &wec, o)).collect();
    let mws = ns_mws.len() + obj_mws.len();
    let expected = namespaces.len() + objs.len();
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.its.clone(),
        &wec,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("work.open-cluster-management.io", "v1", "ManifestWork"),
            "manifestworks",
        ),
    );

    // The clock starts once the agent runs (its heartbeat Lease is there) and the spaces are
    // idle (a system without a controller may not have committed anything yet).
    wait_for_agent(env, &wec, cfg.timeout).await?;
    env.probe
        .wait("the spaces to be idle", cfg.timeout, |p| {
            p.last_activity()
                .is_none_or(|t| t.elapsed() >= cfg.quiet)
                .then_some(())
        })
        .await?;
    let idle = env.usages();
    match idle.agents {
        Some(a) => report.add("RSS before the writes, agent", a.rss_mib, "MiB"),
        None => report.add(
            "RSS before the writes, whole system (one process)",
            idle.this.rss_mib,
            "MiB",
        ),
    }
    let writes_before = [env.write_requests(ITS), env.write_requests(&wec)];
    let commits_before = env.probe.commits();

    let t0 = Instant::now();
    // Namespaces first, so that objects rarely wait for theirs.
    create_all(&api, &ns_mws).await?;
    create_all(&api, &obj_mws).await?;
    let written = t0.elapsed().as_secs_f64();
    report.add("ManifestWorks written", mws as f64, "");
    report.add("written (every ManifestWork created)", written, "s");
    report.add(
        "ManifestWorks written per second",
        mws as f64 / written.max(1e-9),
        "/s",
    );

    let delivered = env
        .probe
        .seconds_until_delivered("every object in the WEC", expected, t0, cfg.timeout)
        .await;
    let delivered = match delivered {
        Ok(seconds) => seconds,
        Err((got, e)) => {
            report.add("objects in the WEC at the timeout", got as f64, "");
            report.note(format!("{e}: {got} of {expected} objects"));
            return Ok(());
        }
    };
    report.add(
        "objects in the WEC (namespaces included)",
        env.probe.delivered().0 as f64,
        "",
    );
    report.add("delivered (every object in the WEC)", delivered, "s");
    report.add(
        "objects applied per second",
        expected as f64 / delivered.max(1e-9),
        "/s",
    );

    let applied = env
        .probe
        .wait("every ManifestWork Applied", cfg.timeout, |p| {
            let (n, last) = p.applied();
            (n >= mws).then_some(last)
        })
        .await;
    match applied {
        Ok(last) => {
            let applied = last
                .unwrap_or(t0)
                .saturating_duration_since(t0)
                .as_secs_f64();
            report.add("applied (every ManifestWork Applied=True)", applied, "s");
            report.add(
                "ManifestWorks Applied per second",
                mws as f64 / applied.max(1e-9),
                "/s",
            );
        }
        Err(e) => report.note(format!(
            "{e}: {} of {mws} ManifestWorks",
            env.probe.applied().0
        )),
    }
    super::throughput::add_reported(
        env,
        report,
        "reported (every WorkStatus has status)".to_string(),
        expected,
        t0,
        cfg.timeout,
    )
    .await;
    let settled = env.probe.settle(cfg.quiet, cfg.timeout).await?;
    report.add(
        "converged (all spaces quiet)",
        settled.saturating_duration_since(t0).as_secs_f64(),
        "s",
    );

    let its_writes = env.write_requests(ITS) - writes_before[0];
    let agent_its = its_writes.saturating_sub(mws as u64);
    let wec_writes = env.write_requests(&wec) - writes_before[1];
    report.add(
        "write requests to the ITS by the agent (heartbeats included)",
        agent_its as f64,
        "",
    );
    report.add("write requests to the WEC", wec_writes as f64, "");
    report.add(
        "agent write requests per ManifestWork",
        (agent_its + wec_writes) as f64 / mws.max(1) as f64,
        "",
    );
    let commits = env.probe.commits();
    report.add(
        "changes committed in the ITS",
        (commits.its - commits_before.its) as f64,
        "",
    );
    report.add(
        "changes committed in the WEC",
        (commits.wecs - commits_before.wecs) as f64,
        "",
    );
    if env.probe.lagged() > 0 {
        report.note(format!(
            "the probe fell behind and missed {} events (arrival times of those are late)",
            env.probe.lagged()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_per_manifestwork_namespaces_apart() {
        let (ns, objs) = objects("r1", 250);
        assert_eq!(ns.len(), 3);
        assert_eq!(objs.len(), 250);
        assert_eq!(
            objs.iter().filter(|o| o.kind == Kind::Deployment).count(),
            25
        );
        let mw = manifestwork("r1", "cluster1", &objs[249]);
        assert_eq!(mw["metadata"]["namespace"], "cluster1");
        let name = mw["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(name.starts_with("ag-") && name.len() == 19, "{name}");
        let names: std::collections::HashSet<Value> = ns
            .iter()
            .chain(&objs)
            .map(|o| manifestwork("r1", "cluster1", o)["metadata"]["name"].clone())
            .collect();
        assert_eq!(names.len(), 253);
        assert_eq!(mw["metadata"]["labels"][RUN_LABEL], "r1");
        let manifests = mw["spec"]["workload"]["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0]["metadata"]["namespace"], "ag-2");
    }
}
