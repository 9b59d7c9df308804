//! The conditions OCM's hub keeps on each ManagedCluster (the HUB ACCEPTED, JOINED and
//! AVAILABLE columns of `kubectl get managedclusters`), computed from the heartbeat Lease the
//! WEC's agent renews in its mailbox namespace.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::agent::{HEARTBEAT_LEASE, HEARTBEAT_SECONDS};
use crate::api::ManagedCluster;
use crate::api::conditions::{Condition, set_condition};

/// How often the conditions are recomputed.
const PERIOD: Duration = Duration::from_secs(5);

/// A heartbeat older than this many seconds means the agent is gone (three missed renewals).
pub const STALE_AFTER_SECONDS: i64 = 3 * HEARTBEAT_SECONDS as i64;

/// What the heartbeat says about a WEC's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentHealth {
    /// No heartbeat Lease: the agent never ran.
    NeverSeen,
    /// Renewed this many seconds ago, within [`STALE_AFTER_SECONDS`].
    Healthy(i64),
    /// Last renewed this many seconds ago, longer than [`STALE_AFTER_SECONDS`].
    Stale(i64),
    /// A Lease without a renew time.
    Unknown,
}

impl AgentHealth {
    /// Judges the heartbeat `lease` at `now`.
    pub fn of(lease: Option<&Lease>, now: chrono::DateTime<chrono::Utc>) -> AgentHealth {
        let Some(lease) = lease else {
            return AgentHealth::NeverSeen;
        };
        match lease.spec.as_ref().and_then(|s| s.renew_time.as_ref()) {
            Some(t) => {
                let age = (now.timestamp() - t.0.as_second()).max(0);
                if age <= STALE_AFTER_SECONDS {
                    AgentHealth::Healthy(age)
                } else {
                    AgentHealth::Stale(age)
                }
            }
            None => AgentHealth::Unknown,
        }
    }
}

/// OCM's conditions for a cluster whose hub acceptance is `accepted` and whose agent is in
/// `health`, merged into `current` (an unchanged condition keeps its transition time).
pub fn conditions(current: &[Condition], accepted: bool, health: AgentHealth) -> Vec<Condition> {
    let mut out = current.to_vec();
    if accepted {
        set_condition(
            &mut out,
            Condition::new(
                "HubAcceptedManagedCluster",
                true,
                "HubClusterAdminAccepted",
                "Accepted by hub cluster admin",
            ),
        );
    }
    match health {
        AgentHealth::NeverSeen => {}
        AgentHealth::Healthy(_) => {
            set_condition(&mut out, joined());
            set_condition(
                &mut out,
                Condition::new(
                    "ManagedClusterConditionAvailable",
                    true,
                    "ManagedClusterAvailable",
                    "Managed cluster is available",
                ),
            );
        }
        AgentHealth::Stale(_) | AgentHealth::Unknown => {
            set_condition(&mut out, joined());
            set_condition(
                &mut out,
                Condition {
                    status: "Unknown".into(),
                    ..Condition::new(
                        "ManagedClusterConditionAvailable",
                        false,
                        "ManagedClusterLeaseUpdateStopped",
                        "Registration agent stopped updating its lease.",
                    )
                },
            );
        }
    }
    out
}

fn joined() -> Condition {
    Condition::new(
        "ManagedClusterJoined",
        true,
        "ManagedClusterJoined",
        "Managed cluster joined",
    )
}

/// Keeps the conditions of every ManagedCluster of the ITS current, writing only changes.
/// Several controllers (one per WDS) may run it against one ITS: they compute the same thing.
pub async fn run(its: kube::Client, field_manager: String) {
    let clusters: Api<ManagedCluster> = Api::all(its.clone());
    let leases: Api<Lease> = Api::all(its);
    let heartbeats = ListParams::default().fields(&format!("metadata.name={HEARTBEAT_LEASE}"));
    let params = PatchParams {
        field_manager: Some(field_manager),
        ..Default::default()
    };
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let (list, beats) = match (
            clusters.list(&ListParams::default()).await,
            leases.list(&heartbeats).await,
        ) {
            (Ok(c), Ok(l)) => (c, l),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "cannot read ManagedClusters or heartbeats");
                continue;
            }
        };
        let now = chrono::Utc::now();
        for mc in list {
            let name = mc.name_any();
            let lease = beats
                .items
                .iter()
                .find(|l| l.meta().namespace.as_deref() == Some(name.as_str()));
            let current: Vec<Condition> = mc
                .status
                .as_ref()
                .and_then(|s| serde_json::from_value(s["conditions"].clone()).ok())
                .unwrap_or_default();
            let wanted = conditions(
                &current,
                mc.spec.hub_accepts_client,
                AgentHealth::of(lease, now),
            );
            if wanted == current {
                continue;
            }
            let patch = json!({"status": {"conditions": wanted}});
            if let Err(e) = clusters
                .patch_status(&name, &params, &Patch::Merge(&patch))
                .await
            {
                tracing::debug!(cluster = %name, error = %e, "cannot update ManagedCluster conditions");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease_renewed(ago: i64) -> Lease {
        let ts = k8s_openapi::jiff::Timestamp::now()
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(ago))
            .expect("time");
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(ts)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn status_of<'a>(cs: &'a [Condition], t: &str) -> Option<&'a str> {
        cs.iter().find(|c| c.type_ == t).map(|c| c.status.as_str())
    }

    #[test]
    fn joined_and_available_follow_the_heartbeat() {
        let now = chrono::Utc::now();
        let never = conditions(&[], true, AgentHealth::of(None, now));
        assert_eq!(status_of(&never, "HubAcceptedManagedCluster"), Some("True"));
        assert_eq!(status_of(&never, "ManagedClusterJoined"), None);
        assert_eq!(status_of(&never, "ManagedClusterConditionAvailable"), None);

        let fresh = conditions(&never, true, AgentHealth::of(Some(&lease_renewed(5)), now));
        assert_eq!(status_of(&fresh, "ManagedClusterJoined"), Some("True"));
        assert_eq!(
            status_of(&fresh, "ManagedClusterConditionAvailable"),
            Some("True")
        );
        // Re-judging the same state changes nothing, so nothing is written.
        assert_eq!(conditions(&fresh, true, AgentHealth::Healthy(1)), fresh);

        let stale = lease_renewed(STALE_AFTER_SECONDS + 1);
        let gone = conditions(&fresh, true, AgentHealth::of(Some(&stale), now));
        assert_eq!(status_of(&gone, "ManagedClusterJoined"), Some("True"));
        assert_eq!(
            status_of(&gone, "ManagedClusterConditionAvailable"),
            Some("Unknown")
        );
        let available = gone
            .iter()
            .find(|c| c.type_ == "ManagedClusterConditionAvailable");
        assert_eq!(
            available.map(|c| c.reason.as_str()),
            Some("ManagedClusterLeaseUpdateStopped")
        );
        assert!(
            !conditions(&[], false, AgentHealth::NeverSeen)
                .iter()
                .any(|c| c.type_ == "HubAcceptedManagedCluster")
        );
    }
}
