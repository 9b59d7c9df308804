//! WorkStatus: the full status one delivered object has in a WEC.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// `WorkStatus.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "control.kubestellar.io",
    version = "v1alpha1",
    kind = "WorkStatus",
    plural = "workstatuses",
    shortname = "ws",
    namespaced,
    status = "serde_json::Value",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkStatusSpec {
    pub source_ref: SourceRef,
}

/// Identifies the delivered object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}
