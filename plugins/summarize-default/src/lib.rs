//! summarize-default: KubeStellar's StatusCollector semantics (CEL `filter`, `select`,
//! `groupBy`, `combinedFields`, `limit`) as a summarizer plugin.
//!
//! The logic lives in plain modules tested natively; this file is the thin export glue.
//! Differences from upstream, all deliberate: `limit` bounds the rows, a `null` filter result
//! excludes the WEC, rows are ordered by WEC name, and repeated column names are rejected.

pub mod aggregate;
pub mod cel_env;
pub mod config;
pub mod evaluated;
pub mod format;
pub mod json_val;
pub mod summary;
pub mod table;
pub mod wec;

use kubestellar_plugin_sdk::{
    ConfigProblem, Plugin, PluginError, PluginInfo, PluginKind, Report, Scope, Summarizer, Summary,
    export_summarizer,
};

pub use config::Collector;
pub use table::{Input, SummarizeError, summarize};

/// The plugin's name, as `describe()` reports it.
pub const NAME: &str = "summarize-default";

/// JSON Schema of the configuration: a StatusCollector `spec`.
pub const CONFIG_SCHEMA: &str = include_str!("config.schema.json");

/// The built-in summarizer: evaluates a StatusCollector spec (its `config`) for one object.
pub struct SummarizeDefault;

impl Plugin for SummarizeDefault {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: PluginKind::Summarizer,
            scope: Scope::PerObject,
            config_schema: Some(CONFIG_SCHEMA.to_owned()),
        }
    }

    fn validate_config(config: &str) -> Vec<ConfigProblem> {
        Collector::from_json(config).err().unwrap_or_default()
    }
}

impl Summarizer for SummarizeDefault {
    fn summarize(object: &str, reports: &[Report], config: &str) -> Result<Summary, PluginError> {
        let collector = Collector::from_json(config).map_err(|problems| {
            let text: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect();
            PluginError::new(format!("invalid StatusCollector: {}", text.join("; ")))
        })?;
        let inputs: Vec<Input<'_>> = reports
            .iter()
            .map(|r| Input {
                cluster: &r.cluster.name,
                status: r.status.as_deref(),
                last_update: r.last_update.map(|t| (t.seconds, t.nanoseconds)),
            })
            .collect();
        summarize(&collector, object, &inputs).map_err(|e| PluginError::new(e.to_string()))
    }
}

export_summarizer!(SummarizeDefault);
