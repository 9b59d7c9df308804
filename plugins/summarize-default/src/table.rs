//! Building the input table (one row per WEC) and evaluating a collector over it.
//!
//! The workload object is parsed once (if read at all) into the root CEL scope; each WEC is
//! evaluated in a [`WecEnv`], which answers plain field chains from the JSON text and builds a
//! child CEL scope only for the rest, so the object is never copied and a report's status is
//! parsed at most once however many expressions read it.

use std::fmt;
use std::sync::Arc;

use cel::Context;

use crate::aggregate::{AggRow, aggregate};
use crate::cel_env::OBJ;
use crate::config::Collector;
use crate::evaluated::Evaluated;
use crate::json_val;
use crate::summary::to_cell;
use crate::wec::{BadStatus, WecEnv};
use kubestellar_plugin_sdk::{CellValue, Row, RowError, Summary};

/// What one WEC reported about the object.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The WEC name.
    pub cluster: &'a str,
    /// The object's `.status` in that WEC, as JSON text; `None` before anything was returned.
    pub status: Option<&'a str>,
    /// When the returned status last changed: seconds and nanoseconds since the Unix epoch.
    pub last_update: Option<(i64, u32)>,
}

/// Why a summary could not be computed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummarizeError {
    /// The workload object is not valid JSON.
    InvalidObject(String),
}

impl fmt::Display for SummarizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SummarizeError::InvalidObject(e) => write!(f, "invalid workload object: {e}"),
        }
    }
}

impl std::error::Error for SummarizeError {}

thread_local! {
    /// The standard CEL environment, built once per instance rather than once per call.
    static ENV: Arc<cel::Env> = Arc::new(cel::Env::stdlib());
}

/// Evaluates `collector` for the workload object (`object`, JSON text) over the WECs'
/// reports. Rows come out ordered by WEC name (upstream leaves them unordered) and cut to
/// the collector's limit.
pub fn summarize(
    collector: &Collector,
    object: &str,
    inputs: &[Input<'_>],
) -> Result<Summary, SummarizeError> {
    let vars = collector.vars();
    let mut root = Context::with_env(ENV.with(Arc::clone));
    if vars.obj.any() {
        let obj = json_val::parse(object, &vars.obj)
            .map_err(|e| SummarizeError::InvalidObject(e.to_string()))?;
        root.add_variable_as_val(OBJ, obj);
    }

    let mut order: Vec<&Input<'_>> = inputs.iter().collect();
    order.sort_by(|a, b| a.cluster.cmp(b.cluster));

    let mut summary = Summary {
        column_names: collector.column_names(),
        ..Summary::default()
    };
    let mut selected: Vec<Row> = Vec::new();
    let mut kept: Vec<AggRow<'_>> = Vec::new();
    for input in order {
        let mut env = WecEnv::new(&root, &vars, object, *input);
        match evaluate_wec(collector, &mut env, input.cluster) {
            Err(BadStatus(e)) => summary.row_errors.push(row_error(input.cluster, "", e)),
            Ok(Outcome::Excluded) => {}
            Ok(Outcome::Failed(errors)) => summary.row_errors.extend(errors),
            Ok(Outcome::Selected(row)) => selected.push(row),
            Ok(Outcome::Kept(row)) => kept.push(row),
        }
    }

    if collector.select.is_empty() {
        let (rows, errors) = aggregate(collector, &kept);
        summary.rows = rows;
        summary.aggregation_errors = errors;
    } else {
        summary.rows = selected;
    }
    // Our decision: `limit` bounds the rows (upstream ignores it).
    let limit = usize::try_from(collector.limit).unwrap_or(usize::MAX);
    summary.rows.truncate(limit);
    Ok(summary)
}

/// What became of one WEC.
enum Outcome<'a> {
    /// The filter left it out.
    Excluded,
    /// Evaluation errors (filter errors in column `""`); the WEC is left out.
    Failed(Vec<RowError>),
    /// Its projection row.
    Selected(Row),
    /// Its values for grouping and aggregating.
    Kept(AggRow<'a>),
}

fn evaluate_wec<'a>(
    collector: &Collector,
    env: &mut WecEnv<'_, '_>,
    cluster: &'a str,
) -> Result<Outcome<'a>, BadStatus> {
    if let Some(filter) = &collector.filter {
        let error = match env.evaluate(filter)? {
            Ok(Evaluated::Bool(true)) => None,
            // Our decision: null counts as false (upstream lets it through).
            Ok(Evaluated::Bool(false) | Evaluated::Null) => return Ok(Outcome::Excluded),
            Ok(_) => Some("filter expression must evaluate to a boolean".to_owned()),
            Err(e) => Some(e),
        };
        if let Some(error) = error {
            return Ok(Outcome::Failed(vec![row_error(cluster, "", error)]));
        }
    }

    if !collector.select.is_empty() {
        // In a projection an evaluation error is shown in its cell.
        let mut columns = Vec::with_capacity(collector.select.len());
        for column in &collector.select {
            let value = env.evaluate(&column.expression)?;
            columns.push(value.map_or_else(CellValue::String, to_cell));
        }
        return Ok(Outcome::Selected(Row { columns }));
    }

    let mut errors = Vec::new();
    let mut group = Vec::with_capacity(collector.group_by.len());
    for column in &collector.group_by {
        match env.evaluate(&column.expression)? {
            Ok(value) => group.push(value),
            Err(e) => errors.push(row_error(cluster, &column.name, e)),
        }
    }
    let mut subjects = Vec::with_capacity(collector.combined_fields.len());
    for field in &collector.combined_fields {
        let Some(subject) = &field.subject else {
            subjects.push(None);
            continue;
        };
        match env.evaluate(subject)? {
            Ok(value) => subjects.push(Some(value)),
            Err(e) => errors.push(row_error(cluster, &field.name, e)),
        }
    }
    // A WEC with any evaluation error is left out of every group.
    if errors.is_empty() {
        Ok(Outcome::Kept(AggRow {
            cluster,
            group,
            subjects,
        }))
    } else {
        Ok(Outcome::Failed(errors))
    }
}

fn row_error(cluster: &str, column: &str, error: String) -> RowError {
    RowError {
        cluster: cluster.to_owned(),
        column_name: column.to_owned(),
        error,
    }
}
