//! The host controller of one WDS: wires the binding, transport and status controllers and the
//! WasmPlugin registry to a WDS and an ITS (any Kubernetes API servers, embedded or real).
//!
//! The controllers talk to each other only through the API, as upstream's do: the binding
//! controller writes Bindings, the transport controller reads them and writes ManifestWorks,
//! the status controller reads Bindings, WorkStatuses and ManifestWork statuses and writes
//! object status, CombinedStatus and BindingPolicy conditions. So each is testable alone and
//! any of them can restart at any time.

pub mod fetch;
pub mod wasm_plugins;

use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::labels::REPORT_NS;
use crate::plugins::{PluginRuntime, RuntimeConfig};
pub use wasm_plugins::WasmPluginRegistry;

/// Settings of the controller of one WDS.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// The WDS's name, unique per ITS (label `transport.kubestellar.io/originWdsName`).
    pub wds_name: String,
    /// API groups to watch in the WDS (empty: all), like upstream's `--api-groups`.
    pub api_groups: Vec<String>,
    /// Most objects per ManifestWork (upstream chart default: 1).
    pub max_num_wrapped: usize,
    /// Largest ManifestWork, in bytes of JSON.
    pub max_size_wrapped: usize,
    /// Where compiled plugins are cached.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Reconciles run at once per controller.
    pub concurrency: usize,
}

impl ControllerConfig {
    /// Defaults for a WDS named `wds_name`.
    pub fn new(wds_name: impl Into<String>) -> ControllerConfig {
        ControllerConfig {
            wds_name: wds_name.into(),
            api_groups: Vec::new(),
            max_num_wrapped: 1,
            max_size_wrapped: 512_000,
            plugin_cache_dir: None,
            concurrency: 4,
        }
    }
}

/// Errors starting the controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("installing CRDs: {0}")]
    Crds(#[from] crate::api::crds::CrdError),
    #[error("plugin runtime: {0}")]
    Plugins(#[from] crate::plugins::PluginError),
    #[error("{what}: {source}")]
    Api { what: String, source: kube::Error },
}

/// What the controllers share.
pub struct Ctx {
    pub cfg: ControllerConfig,
    /// The WDS.
    pub wds: kube::Client,
    /// The ITS.
    pub its: kube::Client,
    /// Loads and runs plugins.
    pub runtime: Arc<PluginRuntime>,
    /// WasmPlugin objects of the WDS, loaded.
    pub plugins: WasmPluginRegistry,
}

/// Prepares the spaces (CRDs, the report namespace) and builds the shared context.
pub async fn prepare(
    cfg: ControllerConfig,
    wds: kube::Client,
    its: kube::Client,
) -> Result<Arc<Ctx>, ControllerError> {
    crate::api::crds::install(&wds, crate::api::crds::WDS_CRDS, "kubestellar-controller").await?;
    crate::api::crds::install(&its, crate::api::crds::ITS_CRDS, "kubestellar-controller").await?;
    let ns: Api<Namespace> = Api::all(wds.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": REPORT_NS}});
    ns.patch(
        REPORT_NS,
        &PatchParams::apply("kubestellar-controller").force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|source| ControllerError::Api {
        what: format!("namespace {REPORT_NS}"),
        source,
    })?;
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        cache_dir: cfg.plugin_cache_dir.clone(),
        ..Default::default()
    })?);
    let plugins = WasmPluginRegistry::new(wds.clone(), runtime.clone());
    Ok(Arc::new(Ctx {
        cfg,
        wds,
        its,
        runtime,
        plugins,
    }))
}

/// Runs every controller of one WDS until `shutdown` resolves.
pub async fn run(ctx: Arc<Ctx>, shutdown: impl std::future::Future<Output = ()>) {
    run_observed(ctx, shutdown, Observers::default()).await
}

/// What the running controllers show to health checks and metrics.
#[derive(Clone, Default)]
pub struct Observers {
    /// The binding controller's watched resources.
    pub binding: crate::binding::Observer,
    /// The transport controller's counters.
    pub transport: crate::transport::Observer,
    /// The status controller's counters, once it runs.
    pub status: Arc<std::sync::OnceLock<Arc<crate::status::Stats>>>,
    /// Heartbeat of the loop supervising the controllers' tasks; fails when one of them ends.
    pub supervisor: crate::health::LoopStats,
}

/// [`run`], reporting through `obs`.
pub async fn run_observed(
    ctx: Arc<Ctx>,
    shutdown: impl std::future::Future<Output = ()>,
    obs: Observers,
) {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(ctx.plugins.clone().run());
    tasks.spawn(crate::binding::run_observed(ctx.clone(), obs.binding));
    tasks.spawn(crate::transport::run_observed(ctx.clone(), obs.transport));
    let status = crate::status::StatusController::new(ctx.clone());
    let _ = obs.status.set(status.stats());
    tasks.spawn(status.run());
    tasks.spawn(crate::upsync::run(ctx.clone()));
    tasks.spawn(crate::cluster_health::run(
        ctx.its.clone(),
        "kubestellar-controller".to_owned(),
    ));
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next() => {
                // The controllers run until aborted: one that ends is a bug, and the process
                // must be restarted (`/healthz` fails).
                let why = match done {
                    Err(e) if e.is_panic() => format!("a controller task panicked: {e}"),
                    _ => "a controller task ended".to_string(),
                };
                tracing::error!(wds = %ctx.cfg.wds_name, "{why}");
                obs.supervisor.fail(why);
            }
            _ = tick.tick() => obs.supervisor.beat(0),
        }
    }
    tasks.abort_all();
}
