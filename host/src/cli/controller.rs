//! `kubestellar controller`: the host controller of one WDS against any API servers.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::leader_elect::LeaderElectArgs;
use crate::controller::{self, ControllerConfig, Observers};
use crate::health::{Health, HealthArgs, Metrics};

/// Namespace of the controller's leader-election Lease in the WDS, by default.
pub const LEASE_NAMESPACE: &str = "kube-system";

/// Runs the binding, transport and status controllers of one WDS: BindingPolicies in the WDS
/// become ManifestWorks in the ITS (transformed per WEC by WASM plugins), and what the WECs
/// report comes back as object status and CombinedStatus.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Kubeconfig of the WDS (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub wds_kubeconfig: Option<PathBuf>,
    /// Context of the WDS in that kubeconfig.
    #[arg(long)]
    pub wds_context: Option<String>,
    /// Kubeconfig of the ITS (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub its_kubeconfig: Option<PathBuf>,
    /// Context of the ITS in that kubeconfig.
    #[arg(long)]
    pub its_context: Option<String>,
    /// The WDS's name; must be unique among the WDSes sharing the ITS.
    #[arg(long)]
    pub wds_name: String,
    /// Comma-separated API groups to watch in the WDS (default: all; `""` is the core group).
    #[arg(long, value_delimiter = ',')]
    pub api_groups: Vec<String>,
    /// Most objects in one ManifestWork.
    #[arg(long, default_value_t = 1)]
    pub max_num_wrapped: usize,
    /// Largest ManifestWork in bytes.
    #[arg(long, default_value_t = 512_000)]
    pub max_size_wrapped: usize,
    /// Directory for compiled plugins (default: none, compile at every start).
    #[arg(long)]
    pub plugin_cache: Option<PathBuf>,
    /// Leader election; the Lease is in the WDS, by default `kubestellar-controller-<wds-name>`
    /// in namespace `kube-system`.
    #[command(flatten)]
    pub leader: LeaderElectArgs,
    /// Probes and metrics (see `crate::health` for what live and ready mean).
    #[command(flatten)]
    pub health: HealthArgs,
}

impl ControllerArgs {
    /// Runs until Ctrl-C / SIGTERM.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async move {
            let health = Health::new("controller", self.leader.leader_elect);
            let obs = Observers::default();
            add_metrics(&health, &obs, &self.wds_name);
            let _endpoints = self
                .health
                .serve(&health)
                .await
                .context("health endpoints")?;
            let wds =
                crate::clients::client(self.wds_kubeconfig.as_deref(), self.wds_context.as_deref())
                    .await
                    .context("WDS client")?;
            let its =
                crate::clients::client(self.its_kubeconfig.as_deref(), self.its_context.as_deref())
                    .await
                    .context("ITS client")?;
            let mut cfg = ControllerConfig::new(&self.wds_name);
            cfg.api_groups = self.api_groups;
            cfg.max_num_wrapped = self.max_num_wrapped.max(1);
            cfg.max_size_wrapped = self.max_size_wrapped;
            cfg.plugin_cache_dir = self.plugin_cache;
            let wds_name = self.wds_name.clone();
            let lease = format!("kubestellar-controller-{wds_name}");
            let Some(le) = self.leader.config(LEASE_NAMESPACE, &lease) else {
                let stop = crate::cli::shutdown_signal();
                return run_controller(cfg, wds, its, stop, health, obs).await;
            };
            // Standing by writes nothing: the spaces are prepared only once leading.
            let client = wds.clone();
            let work = |stop| run_controller(cfg, wds, its, stop, health, obs);
            match crate::leader::run_while_leader(client, le, crate::cli::shutdown_signal(), work)
                .await
                .context("leader election")?
            {
                Some(result) => result,
                None => {
                    tracing::info!(wds = %wds_name, "stopped while standing by");
                    Ok(())
                }
            }
        })
    }
}

/// Prepares the spaces and runs the controllers until `stop` resolves (as the leader, with
/// leader election).
async fn run_controller(
    cfg: ControllerConfig,
    wds: kube::Client,
    its: kube::Client,
    stop: impl std::future::Future<Output = ()>,
    health: Health,
    obs: Observers,
) -> anyhow::Result<()> {
    let _leading = health.leading();
    let wds_name = cfg.wds_name.clone();
    let ctx = controller::prepare(cfg, wds, its)
        .await
        .context("cannot prepare the WDS and ITS")?;
    // Ready once the inputs the controllers start from have been read: every WasmPlugin loaded
    // and the WDS's resources discovered and watched (the other caches list within a moment
    // of these; transport and status wait for theirs before acting).
    let plugins = ctx.plugins.clone();
    health.add_ready_check("wasmplugins-synced", move || {
        if plugins.is_synced() {
            Ok(())
        } else {
            Err("WasmPlugins not loaded yet".into())
        }
    });
    let binding = obs.binding.clone();
    health.add_ready_check("wds-resources-watched", move || {
        if binding.watched().is_empty() {
            Err("WDS resources not discovered yet".into())
        } else {
            Ok(())
        }
    });
    health.watch_heartbeat("controllers", obs.supervisor.clone());
    tracing::info!(wds = %wds_name, "controller running");
    controller::run_observed(ctx, stop, obs).await;
    tracing::info!(wds = %wds_name, "controller stopped");
    Ok(())
}

/// The controllers' counters in `/metrics` (labelled with the WDS's name only).
fn add_metrics(health: &Health, obs: &Observers, wds_name: &str) {
    let obs = obs.clone();
    let wds = wds_name.to_string();
    health.add_metrics(move |m: &mut Metrics| {
        let l = [("wds", wds.as_str())];
        let t = &obs.transport;
        let count = |v: usize| v as u64;
        m.counter(
            "kubestellar_transport_manifestworks_applied",
            "ManifestWorks written to the ITS by the transport controller",
            &l,
            count(t.applied()),
        );
        m.counter(
            "kubestellar_transport_manifestworks_deleted",
            "ManifestWorks deleted from the ITS by the transport controller",
            &l,
            count(t.deleted()),
        );
        m.counter(
            "kubestellar_transport_renders",
            "Transform pipeline runs (objects rendered for a WEC)",
            &l,
            count(t.rendered()),
        );
        m.counter(
            "kubestellar_transport_render_cache_hits",
            "Renders served from the cache",
            &l,
            count(t.cached()),
        );
        m.counter(
            "kubestellar_transport_objects_fetched",
            "Objects read from the WDS by the transport controller",
            &l,
            count(t.fetched()),
        );
        m.gauge(
            "kubestellar_binding_watched_resources",
            "WDS resources the binding controller watches",
            &l,
            i64::try_from(obs.binding.watched().len()).unwrap_or(i64::MAX),
        );
        let s = obs.status.get().map(|s| s.snapshot()).unwrap_or_default();
        for (name, help, v) in [
            (
                "kubestellar_status_reconciles",
                "Work items handled by the status controller",
                s.reconciles,
            ),
            (
                "kubestellar_status_writes",
                "Status writes that succeeded",
                s.writes,
            ),
            (
                "kubestellar_status_write_failures",
                "Status writes that failed (retried)",
                s.write_failures,
            ),
            (
                "kubestellar_status_write_timeouts",
                "Status writes that timed out (retried)",
                s.write_timeouts,
            ),
            (
                "kubestellar_status_writes_coalesced",
                "Queued status writes replaced before they ran",
                s.coalesced,
            ),
            (
                "kubestellar_status_summarize_calls",
                "Summarizer plugin calls",
                s.summarize_calls,
            ),
            (
                "kubestellar_status_summarize_cached",
                "Summaries reused unchanged",
                s.summarize_cached,
            ),
        ] {
            m.counter(name, help, &l, v);
        }
    });
}
