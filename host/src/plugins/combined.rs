//! A [`Summary`] in KubeStellar's CombinedStatus `results[]` entry shape.

use serde_json::{Map, Value, json};

use super::{CellValue, Summary};

/// The `results[]` entry `name` (the StatusCollector's name) for `summary`. Empty lists other
/// than `columnNames` are omitted, as KubeStellar does.
pub fn named_result(name: &str, summary: &Summary) -> Value {
    let mut entry = Map::new();
    entry.insert("name".into(), json!(name));
    entry.insert("columnNames".into(), json!(summary.column_names));
    if !summary.rows.is_empty() {
        let rows: Vec<Value> = summary
            .rows
            .iter()
            .map(|r| json!({ "columns": r.columns.iter().map(cell).collect::<Vec<_>>() }))
            .collect();
        entry.insert("rows".into(), Value::Array(rows));
    }
    if !summary.row_errors.is_empty() {
        let errors: Vec<Value> = summary
            .row_errors
            .iter()
            .map(|e| json!({ "wec": { "clusterId": e.cluster }, "columnName": e.column_name, "error": e.error }))
            .collect();
        entry.insert("rowErrors".into(), Value::Array(errors));
    }
    if !summary.aggregation_errors.is_empty() {
        let errors: Vec<Value> = summary
            .aggregation_errors
            .iter()
            .map(|e| json!({ "columnName": e.column_name, "error": e.error }))
            .collect();
        entry.insert("aggregationErrors".into(), Value::Array(errors));
    }
    Value::Object(entry)
}

/// One CombinedStatus `Value`.
pub fn cell(c: &CellValue) -> Value {
    let raw = |text: &str| {
        serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    };
    match c {
        CellValue::Null => json!({ "type": "Null" }),
        CellValue::String(s) => json!({ "type": "String", "string": s }),
        CellValue::Number(n) => json!({ "type": "Number", "float": n }),
        CellValue::Bool(b) => json!({ "type": "Bool", "bool": b }),
        CellValue::Object(o) => json!({ "type": "Object", "object": raw(o) }),
        CellValue::Array(a) => json!({ "type": "Array", "array": raw(a) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::{AggregationError, Row, RowError};

    #[test]
    fn summary_renders_in_combined_status_shape() {
        let s = Summary {
            column_names: vec!["a".into(), "b".into()],
            rows: vec![Row {
                columns: vec![
                    CellValue::Number("2".into()),
                    CellValue::Object(r#"{"x":1}"#.into()),
                ],
            }],
            row_errors: vec![RowError {
                cluster: "c1".into(),
                column_name: "a".into(),
                error: "boom".into(),
            }],
            aggregation_errors: vec![AggregationError {
                column_name: "b".into(),
                error: "bad".into(),
            }],
        };
        assert_eq!(
            named_result("sc", &s),
            json!({
                "name": "sc",
                "columnNames": ["a", "b"],
                "rows": [{"columns": [{"type": "Number", "float": "2"}, {"type": "Object", "object": {"x": 1}}]}],
                "rowErrors": [{"wec": {"clusterId": "c1"}, "columnName": "a", "error": "boom"}],
                "aggregationErrors": [{"columnName": "b", "error": "bad"}],
            })
        );
        let empty = Summary {
            column_names: vec!["n".into()],
            ..Default::default()
        };
        assert_eq!(
            named_result("x", &empty),
            json!({"name": "x", "columnNames": ["n"]})
        );
        assert_eq!(cell(&CellValue::Null), json!({"type": "Null"}));
        assert_eq!(
            cell(&CellValue::Bool(true)),
            json!({"type": "Bool", "bool": true})
        );
        assert_eq!(
            cell(&CellValue::Array("[1]".into())),
            json!({"type": "Array", "array": [1]})
        );
        assert_eq!(
            cell(&CellValue::String("s".into())),
            json!({"type": "String", "string": "s"})
        );
    }
}
