//! `kubestellar controller`: the host controller of one WDS against any API servers.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::leader_elect::LeaderElectArgs;
use crate::controller::{self, ControllerConfig};

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
}

impl ControllerArgs {
    /// Runs until Ctrl-C / SIGTERM.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async move {
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
                return run_controller(cfg, wds, its, crate::cli::shutdown_signal()).await;
            };
            // Standing by writes nothing: the spaces are prepared only once leading.
            let client = wds.clone();
            let work = |stop| run_controller(cfg, wds, its, stop);
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

/// Prepares the spaces and runs the controllers until `stop` resolves.
async fn run_controller(
    cfg: ControllerConfig,
    wds: kube::Client,
    its: kube::Client,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let wds_name = cfg.wds_name.clone();
    let ctx = controller::prepare(cfg, wds, its)
        .await
        .context("cannot prepare the WDS and ITS")?;
    tracing::info!(wds = %wds_name, "controller running");
    controller::run(ctx, stop).await;
    tracing::info!(wds = %wds_name, "controller stopped");
    Ok(())
}
