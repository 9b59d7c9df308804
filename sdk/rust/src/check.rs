//! The checks the host applies to a plugin's output, shared so that native tests
//! (`crate::testing`) reject exactly what the host rejects.

use serde_json::Value;

use crate::{CellValue, Summary};

/// Checks a transformer's output against its input: the output must be a JSON object with the
/// same `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` (an absent namespace and an
/// empty one are the same). Returns the reason when it is not.
pub fn transformed_object(input: &str, output: &str) -> Result<(), String> {
    let out: Value =
        serde_json::from_str(output).map_err(|e| format!("output is not JSON: {e}"))?;
    if !out.is_object() {
        return Err(format!(
            "output is a JSON {}, not an object",
            json_type(&out)
        ));
    }
    // An input that is not an object has no identity to preserve; the plugin should have failed.
    let Ok(input) = serde_json::from_str::<Value>(input) else {
        return Ok(());
    };
    for (path, norm_empty) in [
        (&["apiVersion"][..], false),
        (&["kind"][..], false),
        (&["metadata", "name"][..], false),
        (&["metadata", "namespace"][..], true),
    ] {
        let before = pointer(&input, path);
        let after = pointer(&out, path);
        let same = if norm_empty {
            empty_as_none(before) == empty_as_none(after)
        } else {
            before == after
        };
        if !same {
            return Err(format!(
                "{} changed from {} to {}",
                path.join("."),
                show(before),
                show(after)
            ));
        }
    }
    Ok(())
}

/// Checks that a summary is well formed: unique column names, every row as wide as the column
/// names, `Object`/`Array` cells holding JSON of that type. Returns the reason when it is not.
pub fn summary(summary: &Summary) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for name in &summary.column_names {
        if !seen.insert(name.as_str()) {
            return Err(format!("column name {name:?} appears more than once"));
        }
    }
    let width = summary.column_names.len();
    for (i, row) in summary.rows.iter().enumerate() {
        if row.columns.len() != width {
            return Err(format!(
                "row {i} has {} columns but there are {width} column names",
                row.columns.len()
            ));
        }
        for (j, cell) in row.columns.iter().enumerate() {
            let bad = match cell {
                CellValue::Object(text) => {
                    !matches!(serde_json::from_str(text), Ok(Value::Object(_)))
                }
                CellValue::Array(text) => {
                    !matches!(serde_json::from_str(text), Ok(Value::Array(_)))
                }
                CellValue::Number(text) => text.trim().is_empty(),
                CellValue::Null | CellValue::String(_) | CellValue::Bool(_) => false,
            };
            if bad {
                return Err(format!(
                    "row {i} column {j}: not a valid {} value",
                    cell.type_name()
                ));
            }
        }
    }
    for e in &summary.aggregation_errors {
        if !summary.column_names.contains(&e.column_name) {
            return Err(format!(
                "aggregation error names unknown column {:?}",
                e.column_name
            ));
        }
    }
    Ok(())
}

fn pointer<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn empty_as_none(v: Option<&Value>) -> Option<&Value> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        other => other,
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".to_owned(),
        Some(v) => v.to_string(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{AggregationError, Row};

    const DEP: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}"#;

    #[test]
    fn identity_preserved_is_accepted() {
        let out = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"a":"b"}}}"#;
        assert_eq!(transformed_object(DEP, out), Ok(()));
    }

    #[test]
    fn renamed_object_is_rejected() {
        let out = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"evil","namespace":"default"}}"#;
        let err = transformed_object(DEP, out).unwrap_err();
        assert_eq!(err, r#"metadata.name changed from "web" to "evil""#);
    }

    #[test]
    fn changed_kind_namespace_and_api_version_are_rejected() {
        for out in [
            r#"{"apiVersion":"apps/v2","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"other"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}"#,
        ] {
            assert!(transformed_object(DEP, out).is_err(), "{out}");
        }
    }

    #[test]
    fn empty_namespace_equals_absent_namespace() {
        let input = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#;
        let out =
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x","namespace":""}}"#;
        assert_eq!(transformed_object(input, out), Ok(()));
    }

    #[test]
    fn non_json_and_non_object_outputs_are_rejected() {
        assert!(
            transformed_object(DEP, "not json")
                .unwrap_err()
                .starts_with("output is not JSON")
        );
        assert_eq!(
            transformed_object(DEP, "[1]").unwrap_err(),
            "output is a JSON array, not an object"
        );
    }

    #[test]
    fn summary_shape_is_checked() {
        let mut s = Summary {
            column_names: vec!["a".into(), "b".into()],
            rows: vec![Row {
                columns: vec![CellValue::Null, CellValue::Number("1".into())],
            }],
            ..Default::default()
        };
        assert_eq!(summary(&s), Ok(()));
        s.rows.push(Row {
            columns: vec![CellValue::Null],
        });
        assert_eq!(
            summary(&s).unwrap_err(),
            "row 1 has 1 columns but there are 2 column names"
        );
        s.rows.pop();
        s.rows.push(Row {
            columns: vec![CellValue::Object("[1]".into()), CellValue::Null],
        });
        assert_eq!(
            summary(&s).unwrap_err(),
            "row 1 column 0: not a valid Object value"
        );
        s.rows.pop();
        s.aggregation_errors.push(AggregationError {
            column_name: "zz".into(),
            error: "x".into(),
        });
        assert!(summary(&s).unwrap_err().contains("unknown column"));
        s.aggregation_errors.clear();
        s.column_names.push("a".into());
        assert!(summary(&s).unwrap_err().contains("more than once"));
    }
}
