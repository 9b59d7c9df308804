//! StatusCollector: how to summarize an object's status across WECs (CEL or a plugin).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::PluginRef;

/// `StatusCollector.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "control.kubestellar.io",
    version = "v1alpha1",
    kind = "StatusCollector",
    plural = "statuscollectors",
    shortname = "sc",
    status = "StatusCollectorStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct StatusCollectorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<NamedExpression>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combined_fields: Vec<NamedAggregator>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<NamedExpression>,
    #[serde(default)]
    pub limit: i64,
    /// A summarizer WasmPlugin (beyond upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginRef>,
}

/// A named CEL expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedExpression {
    pub name: String,
    pub def: String,
}

/// A named aggregation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedAggregator {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// `StatusCollector.status`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCollectorStatus {
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}
