//! Plain Rust mirrors of the WIT types in `wit/plugin.wit` (package `kubestellar:plugin@0.1.0`).
//!
//! They are ordinary structs so that plugin logic can be unit-tested natively and so that the
//! host can use the very same types on its side of the boundary.

use std::fmt;

/// A key/value pair: a label, an annotation or a customization property.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl Pair {
    /// Builds a pair from anything string-like.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Pair {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// What a plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// Exports the `transform` interface (world `transformer`).
    Transformer,
    /// Exports the `summarize` interface (world `summarizer`).
    Summarizer,
}

impl PluginKind {
    /// The WIT world that a plugin of this kind implements.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::Transformer => "transformer",
            PluginKind::Summarizer => "summarizer",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// Whether a transformer's output can depend on the destination cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The output never depends on the cluster; the host passes no cluster context.
    PerObject,
    /// The output may depend on the cluster; the host passes the destination's context.
    PerCluster,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::PerObject => "per-object",
            Scope::PerCluster => "per-cluster",
        })
    }
}

/// What `describe` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Short name, e.g. `transform-default`.
    pub name: String,
    /// The plugin's own version (semver recommended).
    pub version: String,
    /// Transformer or summarizer.
    pub kind: PluginKind,
    /// Only meaningful for transformers; summarizers return `PerObject`.
    pub scope: Scope,
    /// JSON Schema (as JSON text) of the configuration the plugin accepts, if any.
    pub config_schema: Option<String>,
}

/// One problem found in a plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where in the configuration, e.g. `spec.remove[2]`; empty when it concerns the whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigProblem {
    /// Builds a problem from anything string-like.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// An error a plugin reports instead of a result; the host shows `message` to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// One line, written for the user who configured the plugin.
    pub message: String,
}

impl PluginError {
    /// Builds an error from anything string-like.
    pub fn new(message: impl Into<String>) -> Self {
        PluginError {
            message: message.into(),
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        PluginError { message }
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        PluginError {
            message: message.to_owned(),
        }
    }
}

impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        PluginError {
            message: format!("invalid JSON: {e}"),
        }
    }
}

/// The destination Workload Execution Cluster, as the host knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterContext {
    /// The WEC's name (its ManagedCluster's name).
    pub name: String,
    /// The ManagedCluster's labels.
    pub labels: Vec<Pair>,
    /// The ManagedCluster's annotations.
    pub annotations: Vec<Pair>,
    /// The WEC's customization properties.
    pub properties: Vec<Pair>,
}

fn lookup<'a>(pairs: &'a [Pair], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

impl ClusterContext {
    /// A context with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        ClusterContext {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a label (builder style, handy in tests).
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push(Pair::new(key, value));
        self
    }

    /// Adds an annotation (builder style).
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.push(Pair::new(key, value));
        self
    }

    /// Adds a customization property (builder style).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push(Pair::new(key, value));
        self
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        lookup(&self.labels, key)
    }

    /// The value of annotation `key`, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        lookup(&self.annotations, key)
    }

    /// The value of customization property `key`, if set.
    pub fn property(&self, key: &str) -> Option<&str> {
        lookup(&self.properties, key)
    }
}

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: u32,
}

/// What one WEC returned about the object being summarized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The WEC.
    pub cluster: ClusterContext,
    /// The object's `.status` in that WEC, as JSON text; `None` if nothing was returned yet.
    pub status: Option<String>,
    /// When the returned status last changed; `None` if nothing was returned yet.
    pub last_update: Option<Timestamp>,
}

/// One cell of a summary, in KubeStellar's CombinedStatus `Value` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellValue {
    /// JSON null.
    Null,
    /// A string.
    String(String),
    /// A number already formatted for display, e.g. `2`, `0.5`, `-Inf`, `NaN`.
    Number(String),
    /// A boolean.
    Bool(bool),
    /// A JSON object, as JSON text.
    Object(String),
    /// A JSON array, as JSON text.
    Array(String),
}

impl CellValue {
    /// Converts a JSON value into a cell (numbers keep serde_json's rendering).
    pub fn from_json(value: &serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => CellValue::Null,
            Value::Bool(b) => CellValue::Bool(*b),
            Value::Number(n) => CellValue::Number(n.to_string()),
            Value::String(s) => CellValue::String(s.clone()),
            Value::Array(_) => CellValue::Array(value.to_string()),
            Value::Object(_) => CellValue::Object(value.to_string()),
        }
    }

    /// The CombinedStatus `Value.type` name of this cell.
    pub fn type_name(&self) -> &'static str {
        match self {
            CellValue::Null => "Null",
            CellValue::String(_) => "String",
            CellValue::Number(_) => "Number",
            CellValue::Bool(_) => "Bool",
            CellValue::Object(_) => "Object",
            CellValue::Array(_) => "Array",
        }
    }
}

/// One row of a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// One cell per column name, in order.
    pub columns: Vec<CellValue>,
}

/// An evaluation error for one WEC, reported instead of the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The WEC's name.
    pub cluster: String,
    /// The column whose evaluation failed (empty for a filter error).
    pub column_name: String,
    /// What went wrong.
    pub error: String,
}

/// An error while aggregating one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregationError {
    /// The column.
    pub column_name: String,
    /// What went wrong.
    pub error: String,
}

/// The result of summarizing one object: one CombinedStatus `results[]` entry without its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The column names, in order.
    pub column_names: Vec<String>,
    /// The rows; each has exactly `column_names.len()` cells.
    pub rows: Vec<Row>,
    /// Per-WEC evaluation errors.
    pub row_errors: Vec<RowError>,
    /// Per-column aggregation errors.
    pub aggregation_errors: Vec<AggregationError>,
}

/// What a transformer returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed {
    /// The transformed object as JSON text; apiVersion, kind, name and namespace unchanged.
    pub object: String,
    /// False when the output did not depend on the cluster context.
    pub used_cluster: bool,
}

/// Severity of a log line sent to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for plugin authors.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong but the call continues.
    Warn,
    /// Something failed.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}
