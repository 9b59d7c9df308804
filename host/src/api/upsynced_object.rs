//! UpsyncedObject: a copy of one WEC object selected by an upsync clause, in the WEC's mailbox
//! namespace of the ITS (written by the agent, read by the upsync controller of the WDS).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::SourceRef;

/// `UpsyncedObject.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "control.kubestellar.io",
    version = "v1alpha1",
    kind = "UpsyncedObject",
    plural = "upsyncedobjects",
    shortname = "uo",
    namespaced,
    status = "UpsyncedObjectStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct UpsyncedObjectSpec {
    /// The object in the WEC.
    pub source_ref: SourceRef,
    /// The WEC it lives in.
    pub cluster: String,
    /// The BindingPolicies (of the WDS named by the `originWdsName` label) selecting it, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The whole object (without managedFields); absent when `status.error` says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
}

/// `UpsyncedObject.status`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsyncedObjectStatus {
    /// Why the object is not carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
