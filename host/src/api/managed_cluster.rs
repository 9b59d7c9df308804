//! ManagedCluster (OCM): one WEC in the ITS inventory; its labels are the WEC's labels.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// `ManagedCluster.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cluster.open-cluster-management.io",
    version = "v1",
    kind = "ManagedCluster",
    plural = "managedclusters",
    shortname = "mcl",
    status = "serde_json::Value",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterSpec {
    #[serde(default)]
    pub hub_accepts_client: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
}
