//! Conversions between the SDK's plain types (the host's public API) and the bindgen types.

use kubestellar_plugin_sdk as sdk;

use super::bindings::types as wit;

fn pairs(p: &[sdk::Pair]) -> Vec<wit::Pair> {
    p.iter()
        .map(|p| wit::Pair {
            key: p.key.clone(),
            value: p.value.clone(),
        })
        .collect()
}

/// SDK cluster context to WIT.
pub fn cluster_to_wit(c: &sdk::ClusterContext) -> wit::ClusterContext {
    wit::ClusterContext {
        name: c.name.clone(),
        labels: pairs(&c.labels),
        annotations: pairs(&c.annotations),
        properties: pairs(&c.properties),
    }
}

/// A cluster context converted once to the form transform calls pass to a plugin. Callers that
/// transform many objects for one destination (the transport) keep one per destination: the
/// conversion copies every label, annotation and property, two allocations each, which costs
/// as much per call as lowering them into the plugin.
#[derive(Debug, Clone)]
pub struct PreparedCluster(pub(super) wit::ClusterContext);

impl PreparedCluster {
    /// Converts `context`.
    pub fn new(context: &sdk::ClusterContext) -> Self {
        PreparedCluster(cluster_to_wit(context))
    }
}

/// SDK report to WIT.
pub fn report_to_wit(r: &sdk::Report) -> wit::Report {
    wit::Report {
        cluster: cluster_to_wit(&r.cluster),
        status: r.status.clone(),
        last_update: r.last_update.map(|t| wit::Timestamp {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        }),
    }
}

/// WIT plugin info to SDK.
pub fn info_from_wit(i: wit::PluginInfo) -> sdk::PluginInfo {
    sdk::PluginInfo {
        name: i.name,
        version: i.version,
        kind: match i.kind {
            wit::PluginKind::Transformer => sdk::PluginKind::Transformer,
            wit::PluginKind::Summarizer => sdk::PluginKind::Summarizer,
        },
        scope: match i.scope {
            wit::Scope::PerObject => sdk::Scope::PerObject,
            wit::Scope::PerCluster => sdk::Scope::PerCluster,
        },
        config_schema: i.config_schema,
    }
}

/// WIT config problem to SDK.
pub fn problem_from_wit(p: wit::ConfigProblem) -> sdk::ConfigProblem {
    sdk::ConfigProblem {
        field: p.field,
        message: p.message,
    }
}

/// WIT summary to SDK.
pub fn summary_from_wit(s: wit::Summary) -> sdk::Summary {
    sdk::Summary {
        column_names: s.column_names,
        rows: s
            .rows
            .into_iter()
            .map(|r| sdk::Row {
                columns: r
                    .columns
                    .into_iter()
                    .map(|v| match v {
                        wit::Value::Null => sdk::CellValue::Null,
                        wit::Value::String(s) => sdk::CellValue::String(s),
                        wit::Value::Number(s) => sdk::CellValue::Number(s),
                        wit::Value::Bool(b) => sdk::CellValue::Bool(b),
                        wit::Value::Object(s) => sdk::CellValue::Object(s),
                        wit::Value::Array(s) => sdk::CellValue::Array(s),
                    })
                    .collect(),
            })
            .collect(),
        row_errors: s
            .row_errors
            .into_iter()
            .map(|e| sdk::RowError {
                cluster: e.cluster,
                column_name: e.column_name,
                error: e.error,
            })
            .collect(),
        aggregation_errors: s
            .aggregation_errors
            .into_iter()
            .map(|e| sdk::AggregationError {
                column_name: e.column_name,
                error: e.error,
            })
            .collect(),
    }
}
