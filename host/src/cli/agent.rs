//! `kubestellar agent`: run the pull agent of one WEC.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::leader_elect::LeaderElectArgs;
use crate::agent::{Agent, AgentConfig};
use crate::health::{Health, HealthArgs};

/// Name of the agent's leader-election Lease in its mailbox namespace, by default (the
/// heartbeat Lease [`crate::agent::HEARTBEAT_LEASE`] is another one).
pub const LEADER_LEASE: &str = "kubestellar-agent-leader";

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
    /// Leader election; the Lease is in the ITS, by default `kubestellar-agent-leader` in the
    /// WEC's mailbox namespace.
    #[command(flatten)]
    pub leader: LeaderElectArgs,
    /// Probes and metrics (see `crate::health` for what live and ready mean).
    #[command(flatten)]
    pub health: HealthArgs,
}

impl AgentArgs {
    /// Runs the agent until Ctrl-C / SIGTERM.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async move {
            let health = Health::new("agent", self.leader.leader_elect);
            let _endpoints = self
                .health
                .serve(&health)
                .await
                .context("health endpoints")?;
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
            let Some(le) = self.leader.config(&self.cluster, LEADER_LEASE) else {
                tracing::info!(cluster = %self.cluster, "agent starting");
                let _leading = health.leading();
                watch_agent(&health, &cfg);
                Agent::new(cfg, its, wec)
                    .run(crate::cli::shutdown_signal())
                    .await;
                tracing::info!(cluster = %self.cluster, "agent stopped");
                return Ok(());
            };
            let cluster = self.cluster.clone();
            let client = its.clone();
            let work = |stop| async move {
                let _leading = health.leading();
                watch_agent(&health, &cfg);
                tracing::info!(cluster = %cluster, "agent starting");
                Agent::new(cfg, its, wec).run(stop).await;
                tracing::info!(cluster = %cluster, "agent stopped");
            };
            let led =
                crate::leader::run_while_leader(client, le, crate::cli::shutdown_signal(), work)
                    .await
                    .context("leader election")?;
            if led.is_none() {
                tracing::info!(cluster = %self.cluster, "stopped while standing by");
            }
            Ok(())
        })
    }
}

/// Once working: live while the agent's loop turns, ready once its ManifestWorks have been
/// listed.
fn watch_agent(health: &Health, cfg: &AgentConfig) {
    let stats = cfg.stats.clone();
    health.add_ready_check("manifestworks-synced", move || {
        if stats.is_synced() {
            Ok(())
        } else {
            Err("ManifestWorks of the mailbox not listed yet".into())
        }
    });
    health.watch_loop("manifestworks", cfg.stats.clone());
}
