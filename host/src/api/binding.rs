//! Binding: the resolution of one BindingPolicy (same name, owned by it).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Condition, DownsyncModulation};

/// `Binding.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "control.kubestellar.io",
    version = "v1alpha1",
    kind = "Binding",
    plural = "bindings",
    shortname = "bdg",
    status = "BindingStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BindingSpec {
    #[serde(default)]
    pub workload: DownsyncObjectClauses,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
}

/// The selected objects, split by scope, each with its merged modulation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownsyncObjectClauses {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_scope: Vec<ClusterScopeDownsyncClause>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_scope: Vec<NamespaceScopeDownsyncClause>,
}

/// A selected cluster-scoped object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterScopeDownsyncClause {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub name: String,
    pub resource_version: String,
    #[serde(flatten)]
    pub modulation: DownsyncModulation,
}

/// A selected namespaced object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceScopeDownsyncClause {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    #[serde(flatten)]
    pub modulation: DownsyncModulation,
}

/// A destination WEC.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub cluster_id: String,
}

/// `Binding.status`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}
