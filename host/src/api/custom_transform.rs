//! CustomTransform: WEC-independent removals for one GroupResource, plus transformer plugins.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// `CustomTransform.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "control.kubestellar.io",
    version = "v1alpha1",
    kind = "CustomTransform",
    plural = "customtransforms",
    shortname = "ct",
    status = "CustomTransformStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct CustomTransformSpec {
    pub api_group: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Transformer WasmPlugins applied in order after `remove`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginRef>,
}

/// A reference to a WasmPlugin with its configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// `CustomTransform.status`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomTransformStatus {
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
