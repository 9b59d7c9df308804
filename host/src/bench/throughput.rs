//! Throughput: N objects (a third each of Deployments, ConfigMaps and Services, in namespaces
//! of 100) delivered to K WECs. The objects are created first; the clock starts when the
//! BindingPolicy selecting them is created, so the figures are the system's alone:
//! * delivered: every object (and namespace) in every WEC;
//! * reported: every delivered object's WorkStatus carries its status;
//! * converged: nothing changes any more in any space (agent heartbeats aside) for the quiet
//!   period; the time is that of the last change.
//!
//! The plugins scenario runs this twice in fresh systems: with transform-default only, then
//! with a user plugin (a per-cluster transformer, so one call per object and WEC) configured
//! for every kind of the mix through CustomTransforms.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use sha2::Digest;
use tokio::time::Instant;

use super::env::{Env, ITS, WDS};
use super::workload;
use super::{BenchConfig, BenchError, Report};

/// Targets: (objects, WECs) -> seconds to convergence.
const TARGETS: [((usize, usize), f64); 2] = [((1000, 100), 30.0), ((10_000, 100), 120.0)];
/// Controller memory target at 10,000 x 100, MiB.
const CONTROLLER_MIB: f64 = 500.0;

pub(super) async fn run(
    cfg: &BenchConfig,
    dir: &Path,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let k = cfg.k();
    report.param("objects", cfg.objects);
    report.param("WECs", k);
    let env = Env::start(super::env_config(cfg, dir, run, k)).await?;
    let result = deliver(&env, cfg, run, "tp", report, "").await;
    let limit = (cfg.objects >= 10_000).then_some(CONTROLLER_MIB);
    report.usages("", &env.usages(), limit);
    env.stop().await;
    result.map(|_| ())
}

/// What one delivery run measured.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Outcome {
    /// Seconds until every object was in every WEC.
    pub delivered: f64,
    /// Seconds until nothing changed any more.
    pub converged: f64,
    pub complete: bool,
}

/// Creates the mix of `group`, then a policy delivering it to every WEC; measures until
/// convergence. Figures are named with `prefix`.
pub(super) async fn deliver(
    env: &Env,
    cfg: &BenchConfig,
    run: &str,
    group: &str,
    report: &mut Report,
    prefix: &str,
) -> Result<Outcome, BenchError> {
    let name = |s: &str| {
        if prefix.is_empty() {
            s.to_string()
        } else {
            format!("{prefix}: {s}")
        }
    };
    let k = env.cfg.wecs;
    let n = cfg.objects;
    let (namespaces, objects) = workload::mix(run, group, n);
    let created = Instant::now();
    workload::create_all(&env.wds, &namespaces).await?;
    workload::create_all(&env.wds, &objects).await?;
    let created = created.elapsed().as_secs_f64();
    report.add(
        name("objects created in the WDS"),
        (n + namespaces.len()) as f64 / created.max(1e-9),
        "/s",
    );
    env.probe.settle(cfg.quiet, cfg.timeout).await?;

    let expected = (n + namespaces.len()) * k;
    let writes_before = [env.write_requests(WDS), env.write_requests(ITS)];
    let commits_before = env.probe.commits();
    let by_resource_before: std::collections::HashMap<_, _> =
        env.probe.commits_by_resource().into_iter().collect();
    let t0 = Instant::now();
    workload::apply_policy(&env.wds, &workload::policy(run, group, None, false)).await?;
    let mut outcome = Outcome::default();
    let delivered = env
        .probe
        .seconds_until_delivered("every object in every WEC", expected, t0, cfg.timeout)
        .await;
    let delivered = match delivered {
        Ok(seconds) => seconds,
        Err((got, e)) => {
            report.add(name("deliveries done at the timeout"), got as f64, "");
            report.note(format!(
                "{}{e}: {got} of {expected} deliveries",
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}: ")
                }
            ));
            return Ok(outcome);
        }
    };
    outcome.delivered = delivered;
    report.add(
        name("delivered (every object in every WEC)"),
        delivered,
        "s",
    );
    report.add(
        name("deliveries"),
        expected as f64 / delivered.max(1e-9),
        "/s",
    );
    add_reported(
        env,
        report,
        name("reported (every WorkStatus has status)"),
        expected,
        t0,
        cfg.timeout,
    )
    .await;
    let settled = env.probe.settle(cfg.quiet, cfg.timeout).await?;
    let converged = settled.saturating_duration_since(t0).as_secs_f64();
    outcome.converged = converged;
    outcome.complete = true;
    match TARGETS.iter().find(|(nk, _)| *nk == (n, k)) {
        Some((_, limit)) => {
            report.below(name("converged (all spaces quiet)"), converged, "s", *limit)
        }
        None => report.add(name("converged (all spaces quiet)"), converged, "s"),
    }
    let commits = env.probe.commits();
    report.add(
        name("write requests to the WDS"),
        (env.write_requests(WDS) - writes_before[0]) as f64,
        "",
    );
    report.add(
        name("write requests to the ITS (heartbeats included)"),
        (env.write_requests(ITS) - writes_before[1]) as f64,
        "",
    );
    report.add(
        name("changes committed in the WDS"),
        (commits.wds - commits_before.wds) as f64,
        "",
    );
    report.add(
        name("changes committed in the ITS"),
        (commits.its - commits_before.its) as f64,
        "",
    );
    report.add(
        name("changes committed in the WECs"),
        (commits.wecs - commits_before.wecs) as f64,
        "",
    );
    report.add(name("objects in the ITS"), env.objects(ITS) as f64, "");
    // Where the writes went: the biggest contributors, for finding what to cut.
    let mut by_resource: Vec<_> = env
        .probe
        .commits_by_resource()
        .into_iter()
        .map(|(k, n)| {
            let before = by_resource_before.get(&k).copied().unwrap_or(0);
            (k, n - before)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    by_resource.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for ((space, resource, kind), n) in by_resource.into_iter().take(8) {
        report.add(
            name(&format!("changes: {space} {resource} {kind}")),
            n as f64,
            "",
        );
    }
    if env.probe.lagged() > 0 {
        report.note(format!(
            "the probe fell behind and missed {} events (arrival times of those are late)",
            env.probe.lagged()
        ));
    }
    Ok(outcome)
}

pub(super) async fn run_plugins(
    cfg: &BenchConfig,
    dir: &Path,
    run: &str,
    report: &mut Report,
) -> Result<(), BenchError> {
    let k = cfg.k();
    report.param("objects", cfg.objects);
    report.param("WECs", k);
    report.param("plugin", cfg.plugin.display());
    let module = std::fs::read(&cfg.plugin)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", cfg.plugin.display())))?;

    let plain = Env::start(super::env_config(cfg, &dir.join("plain"), run, k)).await?;
    let base = deliver(&plain, cfg, run, "tp", report, "transform-default only").await;
    let first = plain.usages();
    report.usages("transform-default only:", &first, None);
    plain.stop().await;
    let base = base?;

    let env = Env::start(super::env_config(cfg, &dir.join("plugin"), run, k)).await?;
    let result = async {
        install_plugin(&env.wds, &module, cfg.timeout).await?;
        deliver(&env, cfg, run, "tp", report, "with a user plugin").await
    }
    .await;
    // Both runs share this process: count only the second run's CPU here.
    let mut second = env.usages();
    second.this.cpu_seconds = (second.this.cpu_seconds - first.this.cpu_seconds).max(0.0);
    report.usages("with a user plugin:", &second, None);
    report.note(
        "this process's CPU is counted per run; its peak RSS is the process's over both runs",
    );
    env.stop().await;
    let with = result?;
    if base.complete && with.complete {
        report.add(
            "converged, with plugin / without",
            with.converged / base.converged.max(1e-9),
            "x",
        );
        report.add(
            "delivered, with plugin / without",
            with.delivered / base.delivered.max(1e-9),
            "x",
        );
    }
    Ok(())
}

/// Name of the user plugin in the plugins scenario.
const PLUGIN: &str = "bench-plugin";

/// Installs `module` as WasmPlugin [`PLUGIN`] (module in a ConfigMap, pinned by sha256),
/// configures it for every kind of the mix, and waits until it is Ready.
async fn install_plugin(
    wds: &kube::Client,
    module: &[u8],
    timeout: Duration,
) -> Result<(), BenchError> {
    let params = PatchParams::apply(workload::MANAGER).force();
    let ns = "kubestellar-plugins";
    let namespaces: Api<DynamicObject> =
        Api::all_with(wds.clone(), &workload::Kind::Namespace.api_resource());
    namespaces
        .patch(
            ns,
            &params,
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ),
        )
        .await?;
    let cms: Api<DynamicObject> =
        Api::namespaced_with(wds.clone(), ns, &workload::Kind::ConfigMap.api_resource());
    cms.patch(
        PLUGIN,
        &params,
        &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": PLUGIN, "namespace": ns},
            "binaryData": {"plugin.wasm": base64::engine::general_purpose::STANDARD.encode(module)},
        })),
    )
    .await?;
    let control = |kind: &str, plural: &str| {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(crate::api::CONTROL_GROUP, crate::api::CONTROL_VERSION, kind),
            plural,
        )
    };
    let plugins: Api<DynamicObject> =
        Api::all_with(wds.clone(), &control("WasmPlugin", "wasmplugins"));
    plugins
        .patch(
            PLUGIN,
            &params,
            &Patch::Apply(json!({
                "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "WasmPlugin",
                "metadata": {"name": PLUGIN},
                "spec": {
                    "configMapRef": {"kind": "ConfigMap", "namespace": ns, "name": PLUGIN, "key": "plugin.wasm"},
                    "sha256": hex::encode(sha2::Sha256::digest(module)),
                },
            })),
        )
        .await?;
    let transforms: Api<DynamicObject> =
        Api::all_with(wds.clone(), &control("CustomTransform", "customtransforms"));
    for (group, resource) in [
        ("apps", "deployments"),
        ("", "configmaps"),
        ("", "services"),
    ] {
        let name = format!("bench-{resource}");
        transforms
            .patch(
                &name,
                &params,
                &Patch::Apply(json!({
                    "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "CustomTransform",
                    "metadata": {"name": name},
                    "spec": {"apiGroup": group, "resource": resource, "plugins": [{"name": PLUGIN}]},
                })),
            )
            .await?;
    }
    let typed: Api<crate::api::WasmPlugin> = Api::all(wds.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let wp = typed.get(PLUGIN).await?;
        let conditions = wp.status.map(|s| s.conditions).unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Setup(format!(
                "WasmPlugin {PLUGIN} is not Ready: {conditions:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reports when every one of `expected` WorkStatuses carried status (seconds since `t0`), or,
/// at the timeout, how many did.
pub(super) async fn add_reported(
    env: &Env,
    report: &mut Report,
    figure: String,
    expected: usize,
    t0: Instant,
    timeout: Duration,
) {
    let reported = env
        .probe
        .wait("every WorkStatus with status", timeout, |p| {
            (p.reported() >= expected).then(Instant::now)
        })
        .await;
    match reported {
        Ok(at) => report.add(figure, (at - t0).as_secs_f64(), "s"),
        Err(e) => report.note(format!(
            "{e}: {} of {expected} WorkStatuses",
            env.probe.reported()
        )),
    }
}
