//! The WIT glue (guest side), compiled only for `wasm32`. Guests reach it through
//! [`crate::export_transformer!`] / [`crate::export_summarizer!`], never directly.

/// Bindings of world `transformer`; the shared `types` and `host` interfaces come from the
/// summarizer bindings crate (see its Cargo.toml for why it is a separate crate).
pub mod transformer {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_transformer_world",
        with: {
            "kubestellar:plugin/types@0.1.0": kubestellar_plugin_sdk_summarizer_world::kubestellar::plugin::types,
            "kubestellar:plugin/host@0.1.0": kubestellar_plugin_sdk_summarizer_world::kubestellar::plugin::host,
        },
    });
}

/// Bindings of world `summarizer`.
pub use kubestellar_plugin_sdk_summarizer_world as summarizer;

use summarizer::kubestellar::plugin::types as wit;

pub use summarizer::exports::kubestellar::plugin::plugin::Guest as SummarizerPluginGuest;
pub use summarizer::exports::kubestellar::plugin::summarize::Guest as SummarizeGuest;
pub use transformer::exports::kubestellar::plugin::plugin::Guest as PluginGuest;
pub use transformer::exports::kubestellar::plugin::transform::Guest as TransformGuest;
pub use wit::{
    ClusterContext as WitClusterContext, ConfigProblem as WitConfigProblem,
    PluginError as WitPluginError, PluginInfo as WitPluginInfo, Report as WitReport,
    Summary as WitSummary, Transformed as WitTransformed,
};

use crate::{
    AggregationError, CellValue, ClusterContext, ConfigProblem, Pair, Plugin, PluginError,
    PluginInfo, PluginKind, Report, Row, RowError, Scope, Summarizer, Summary, Timestamp,
    Transformed, Transformer,
};

/// `describe` for plugin type `T`.
pub fn describe<T: Plugin>() -> WitPluginInfo {
    let PluginInfo {
        name,
        version,
        kind,
        scope,
        config_schema,
    } = T::describe();
    WitPluginInfo {
        name,
        version,
        kind: match kind {
            PluginKind::Transformer => wit::PluginKind::Transformer,
            PluginKind::Summarizer => wit::PluginKind::Summarizer,
        },
        scope: match scope {
            Scope::PerObject => wit::Scope::PerObject,
            Scope::PerCluster => wit::Scope::PerCluster,
        },
        config_schema,
    }
}

/// `validate-config` for plugin type `T`.
pub fn validate_config<T: Plugin>(config: String) -> Vec<WitConfigProblem> {
    T::validate_config(&config)
        .into_iter()
        .map(|ConfigProblem { field, message }| WitConfigProblem { field, message })
        .collect()
}

/// `transform` for plugin type `T`.
pub fn transform<T: Transformer>(
    object: String,
    cluster: Option<WitClusterContext>,
    config: String,
) -> Result<WitTransformed, WitPluginError> {
    let cluster = cluster.map(cluster_from_wit);
    match T::transform(&object, cluster.as_ref(), &config) {
        Ok(Transformed {
            object,
            used_cluster,
        }) => Ok(WitTransformed {
            object,
            used_cluster,
        }),
        Err(PluginError { message }) => Err(WitPluginError { message }),
    }
}

/// `summarize` for plugin type `T`.
pub fn summarize<T: Summarizer>(
    object: String,
    reports: Vec<WitReport>,
    config: String,
) -> Result<WitSummary, WitPluginError> {
    let reports: Vec<Report> = reports
        .into_iter()
        .map(|r| Report {
            cluster: cluster_from_wit(r.cluster),
            status: r.status,
            last_update: r.last_update.map(|t| Timestamp {
                seconds: t.seconds,
                nanoseconds: t.nanoseconds,
            }),
        })
        .collect();
    match T::summarize(&object, &reports, &config) {
        Ok(s) => Ok(summary_to_wit(s)),
        Err(PluginError { message }) => Err(WitPluginError { message }),
    }
}

fn pairs(p: Vec<wit::Pair>) -> Vec<Pair> {
    p.into_iter()
        .map(|wit::Pair { key, value }| Pair { key, value })
        .collect()
}

fn cluster_from_wit(c: WitClusterContext) -> ClusterContext {
    ClusterContext {
        name: c.name,
        labels: pairs(c.labels),
        annotations: pairs(c.annotations),
        properties: pairs(c.properties),
    }
}

fn summary_to_wit(s: Summary) -> WitSummary {
    WitSummary {
        column_names: s.column_names,
        rows: s
            .rows
            .into_iter()
            .map(|Row { columns }| wit::Row {
                columns: columns
                    .into_iter()
                    .map(|c| match c {
                        CellValue::Null => wit::Value::Null,
                        CellValue::String(s) => wit::Value::String(s),
                        CellValue::Number(s) => wit::Value::Number(s),
                        CellValue::Bool(b) => wit::Value::Bool(b),
                        CellValue::Object(s) => wit::Value::Object(s),
                        CellValue::Array(s) => wit::Value::Array(s),
                    })
                    .collect(),
            })
            .collect(),
        row_errors: s
            .row_errors
            .into_iter()
            .map(
                |RowError {
                     cluster,
                     column_name,
                     error,
                 }| wit::RowError {
                    cluster,
                    column_name,
                    error,
                },
            )
            .collect(),
        aggregation_errors: s
            .aggregation_errors
            .into_iter()
            .map(
                |AggregationError { column_name, error }| wit::AggregationError {
                    column_name,
                    error,
                },
            )
            .collect(),
    }
}
