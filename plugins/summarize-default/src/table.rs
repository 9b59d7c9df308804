//! Building the input table (one row per WEC) and evaluating a collector over it.
//!
//! The workload object is parsed once into the root CEL scope; each WEC gets a child scope
//! with only the variables the collector's expressions name, so the object is never copied
//! and a report's status is parsed once however many expressions read it.

use std::fmt;
use std::sync::Arc;

use cel::Context;
use cel::common::value::Val;

use crate::aggregate::{AggRow, aggregate};
use crate::cel_env::{
    INVENTORY, OBJ, PROPAGATION, RETURNED, null_val, single_entry_map, string_val, timestamp_val,
};
use crate::config::Collector;
use crate::evaluated::Evaluated;
use crate::json_val;
use crate::summary::to_cell;
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
        let mut scope = root.new_inner_scope();
        if vars.inventory.any() {
            scope.add_variable_as_val(
                INVENTORY,
                single_entry_map("name", string_val(input.cluster)),
            );
        }
        if vars.returned.any() {
            let need = vars.returned.field("status");
            let status: Box<dyn Val + '_> = match input.status {
                Some(text) if need.any() => match json_val::parse(text, need) {
                    Ok(status) => status,
                    Err(e) => {
                        summary.row_errors.push(row_error(
                            input.cluster,
                            "",
                            format!("invalid returned status: {e}"),
                        ));
                        continue;
                    }
                },
                // Nothing returned yet, or nothing of it read.
                _ => null_val(),
            };
            scope.add_variable_as_val(RETURNED, single_entry_map("status", status));
        }
        if vars.propagation.any() {
            scope.add_variable_as_val(
                PROPAGATION,
                single_entry_map(
                    "lastReturnedUpdateTimestamp",
                    timestamp_val(input.last_update),
                ),
            );
        }

        if let Some(filter) = &collector.filter {
            match filter.evaluate(&scope) {
                Ok(Evaluated::Bool(true)) => {}
                // Our decision: null counts as false (upstream lets it through).
                Ok(Evaluated::Bool(false) | Evaluated::Null) => continue,
                Ok(_) => {
                    summary.row_errors.push(row_error(
                        input.cluster,
                        "",
                        "filter expression must evaluate to a boolean".to_owned(),
                    ));
                    continue;
                }
                Err(e) => {
                    summary.row_errors.push(row_error(input.cluster, "", e));
                    continue;
                }
            }
        }

        if !collector.select.is_empty() {
            // In a projection an evaluation error is shown in its cell.
            let cells = collector
                .select
                .iter()
                .map(|column| {
                    column
                        .expression
                        .evaluate(&scope)
                        .map_or_else(CellValue::String, to_cell)
                })
                .collect();
            selected.push(Row { columns: cells });
            continue;
        }

        let mut failed = false;
        let mut group = Vec::with_capacity(collector.group_by.len());
        for column in &collector.group_by {
            match column.expression.evaluate(&scope) {
                Ok(value) => group.push(value),
                Err(e) => {
                    failed = true;
                    summary
                        .row_errors
                        .push(row_error(input.cluster, &column.name, e));
                }
            }
        }
        let mut subjects = Vec::with_capacity(collector.combined_fields.len());
        for field in &collector.combined_fields {
            match field.subject.as_ref().map(|s| s.evaluate(&scope)) {
                None => subjects.push(None),
                Some(Ok(value)) => subjects.push(Some(value)),
                Some(Err(e)) => {
                    failed = true;
                    summary
                        .row_errors
                        .push(row_error(input.cluster, &field.name, e));
                }
            }
        }
        // A WEC with any evaluation error is left out of every group.
        if !failed {
            kept.push(AggRow {
                cluster: input.cluster,
                group,
                subjects,
            });
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

fn row_error(cluster: &str, column: &str, error: String) -> RowError {
    RowError {
        cluster: cluster.to_owned(),
        column_name: column.to_owned(),
        error,
    }
}
