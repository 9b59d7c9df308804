//! The `--leader-elect` flags shared by `kubestellar controller` and `kubestellar agent`.

use clap::Args;

use crate::leader::LeaderElectionConfig;

/// Leader election: with `--leader-elect`, several replicas may run and only the holder of a
/// `coordination.k8s.io/v1` Lease works (the others stand by and write nothing). Lease
/// duration 15 s, renew deadline 10 s, retry period 2 s (client-go's defaults).
#[derive(Clone, Debug, Args)]
pub struct LeaderElectArgs {
    /// Work only while holding a Lease, so that standby replicas can take over (default off).
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease (default: controller `kubestellar-controller-<wds-name>`, agent
    /// `kubestellar-agent-leader`).
    #[arg(long, requires = "leader_elect")]
    pub leader_elect_lease_name: Option<String>,
    /// Namespace of the Lease (default: controller `kube-system` in the WDS, agent the WEC's
    /// mailbox namespace in the ITS).
    #[arg(long, requires = "leader_elect")]
    pub leader_elect_namespace: Option<String>,
}

impl LeaderElectArgs {
    /// The election settings, or None without `--leader-elect`.
    pub fn config(
        &self,
        default_namespace: &str,
        default_name: &str,
    ) -> Option<LeaderElectionConfig> {
        self.leader_elect.then(|| {
            LeaderElectionConfig::new(
                self.leader_elect_namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
                self.leader_elect_lease_name
                    .clone()
                    .unwrap_or_else(|| default_name.to_string()),
            )
        })
    }
}
