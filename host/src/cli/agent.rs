//! `kubestellar agent`: run the pull agent of one WEC.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::agent::{Agent, AgentConfig};

/// Applies the ManifestWorks of one WEC's mailbox namespace to that WEC and reports back.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The WEC's name (its ManagedCluster and mailbox namespace in the ITS).
    #[arg(long)]
    pub cluster: String,
    /// Kubeconfig of the ITS (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub its_kubeconfig: Option<PathBuf>,
    /// Context in the ITS kubeconfig.
    #[arg(long)]
    pub its_context: Option<String>,
    /// Kubeconfig of the WEC (default: $KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long)]
    pub wec_kubeconfig: Option<PathBuf>,
    /// Context in the WEC kubeconfig.
    #[arg(long)]
    pub wec_context: Option<String>,
    /// Field manager used for server-side apply in the WEC.
    #[arg(long, default_value = "kubestellar-agent")]
    pub field_manager: String,
    /// ManifestWorks reconciled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

impl AgentArgs {
    /// Runs the agent until Ctrl-C / SIGTERM.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async move {
            let its =
                crate::clients::client(self.its_kubeconfig.as_deref(), self.its_context.as_deref())
                    .await
                    .context("ITS client")?;
            let wec =
                crate::clients::client(self.wec_kubeconfig.as_deref(), self.wec_context.as_deref())
                    .await
                    .context("WEC client")?;
            let mut cfg = AgentConfig::new(&self.cluster);
            cfg.field_manager = self.field_manager;
            cfg.concurrency = self.concurrency.max(1);
            tracing::info!(cluster = %self.cluster, "agent starting");
            Agent::new(cfg, its, wec)
                .run(crate::cli::shutdown_signal())
                .await;
            tracing::info!(cluster = %self.cluster, "agent stopped");
            Ok(())
        })
    }
}
