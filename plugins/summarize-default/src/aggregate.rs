//! GROUP BY and the aggregate functions, with upstream's values for empty groups and its
//! handling of non-numeric subjects.

use std::collections::HashMap;

use crate::config::{Aggregator, Collector};
use crate::evaluated::Evaluated;
use crate::format::format_float;
use crate::summary::to_cell;
use kubestellar_plugin_sdk::{AggregationError, CellValue as Cell, Row};

/// One WEC that passed the filter and evaluated without error.
#[derive(Debug)]
pub struct AggRow<'a> {
    /// The WEC name.
    pub cluster: &'a str,
    /// One value per group-by column.
    pub group: Vec<Evaluated>,
    /// One value per combined field; `None` where the field has no subject (COUNT).
    pub subjects: Vec<Option<Evaluated>>,
}

/// A group-by value as a hash key. Values of different CEL types never share a group, as
/// upstream keys scalars by type and value and composites by their JSON.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyPart {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(u64),
    String(String),
    Json(String),
}

impl KeyPart {
    fn of(value: &Evaluated) -> KeyPart {
        match value {
            Evaluated::Null => KeyPart::Null,
            Evaluated::Bool(b) => KeyPart::Bool(*b),
            Evaluated::Int(i) => KeyPart::Int(*i),
            Evaluated::UInt(u) => KeyPart::UInt(*u),
            // `+ 0.0` folds -0 into 0; every NaN gets the same bits.
            Evaluated::Double(d) if d.is_nan() => KeyPart::Double(f64::NAN.to_bits()),
            Evaluated::Double(d) => KeyPart::Double((d + 0.0).to_bits()),
            Evaluated::String(s) => KeyPart::String(s.clone()),
            Evaluated::Json(json) => KeyPart::Json(json.to_string()),
        }
    }
}

/// Groups `rows` (already in output order) and computes one output row per group: the
/// group-by values of the group's first WEC, then the aggregates. Without group-by there is
/// exactly one group, even with no rows.
pub fn aggregate(collector: &Collector, rows: &[AggRow<'_>]) -> (Vec<Row>, Vec<AggregationError>) {
    let mut groups: Vec<Vec<&AggRow<'_>>> = Vec::new();
    if collector.group_by.is_empty() {
        groups.push(rows.iter().collect());
    } else {
        let mut index: HashMap<Vec<KeyPart>, usize> = HashMap::new();
        for row in rows {
            let key: Vec<KeyPart> = row.group.iter().map(KeyPart::of).collect();
            let next = groups.len();
            let at = *index.entry(key).or_insert(next);
            if at == next {
                groups.push(Vec::new());
            }
            groups[at].push(row);
        }
    }

    let mut errors: Vec<AggregationError> = Vec::new();
    let mut output = Vec::with_capacity(groups.len());
    for members in &groups {
        let mut cells =
            Vec::with_capacity(collector.group_by.len() + collector.combined_fields.len());
        if let Some(first) = members.first() {
            cells.extend(first.group.iter().cloned().map(to_cell));
        }
        for (i, field) in collector.combined_fields.iter().enumerate() {
            let mut error = None;
            let cell = combine(field.aggregator, members, i, &mut error);
            if let Some(error) = error {
                // Upstream reports only the first error of a column.
                if !errors.iter().any(|e| e.column_name == field.name) {
                    errors.push(AggregationError {
                        column_name: field.name.clone(),
                        error,
                    });
                }
            }
            cells.push(cell);
        }
        output.push(Row { columns: cells });
    }
    (output, errors)
}

/// Computes one aggregate over a group. Subjects that are not numbers (or numeric strings)
/// are skipped; the first such problem is left in `error`.
fn combine(
    aggregator: Aggregator,
    members: &[&AggRow<'_>],
    field: usize,
    error: &mut Option<String>,
) -> Cell {
    let numbers = members.iter().filter_map(|row| {
        let subject = row.subjects.get(field).and_then(Option::as_ref);
        match subject.map(number) {
            Some(Ok(n)) => Some(n),
            Some(Err(problem)) => {
                if error.is_none() {
                    *error = Some(format!("for WEC {}, {problem}", row.cluster));
                }
                None
            }
            None => None,
        }
    });
    let value = match aggregator {
        Aggregator::Count => return Cell::Number(members.len().to_string()),
        Aggregator::Unknown => return Cell::Null,
        // Not `Iterator::sum`, which starts from -0.0 and would print an empty sum as "-0".
        Aggregator::Sum => numbers.fold(0.0, |sum, n| sum + n),
        Aggregator::Avg => {
            let sum = numbers.fold(0.0, |sum, n| sum + n);
            // The denominator counts every WEC of the group, as upstream does.
            if members.is_empty() {
                error.get_or_insert_with(|| "no values to average".to_owned());
                f64::NAN
            } else {
                sum / members.len() as f64
            }
        }
        Aggregator::Min => numbers.fold(f64::INFINITY, |min, n| if n < min { n } else { min }),
        Aggregator::Max => numbers.fold(f64::NEG_INFINITY, |max, n| if n > max { n } else { max }),
    };
    Cell::Number(format_float(value))
}

/// A subject as a float64: numbers as they are, strings parsed as upstream's
/// `strconv.ParseFloat` does.
fn number(value: &Evaluated) -> Result<f64, String> {
    match value {
        Evaluated::Int(i) => Ok(*i as f64),
        Evaluated::UInt(u) => Ok(*u as f64),
        Evaluated::Double(d) => Ok(*d),
        Evaluated::String(s) => s
            .parse::<f64>()
            .map_err(|_| format!("failed to parse combinedField subject as a float: {s:?}")),
        other => Err(format!(
            "combinedField subject is not a numeric value: got {}",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collector(config: &str) -> Collector {
        Collector::from_json(config).expect("valid config")
    }

    fn row<'a>(
        cluster: &'a str,
        group: Vec<Evaluated>,
        subjects: Vec<Option<Evaluated>>,
    ) -> AggRow<'a> {
        AggRow {
            cluster,
            group,
            subjects,
        }
    }

    fn cells(rows: &[Row]) -> Vec<Vec<Cell>> {
        rows.iter().map(|r| r.columns.clone()).collect()
    }

    fn num(s: &str) -> Cell {
        Cell::Number(s.to_owned())
    }

    #[test]
    fn zero_rows_without_group_by_give_one_row_of_identities() {
        let c = collector(
            r#"{"filter":"false","combinedFields":[{"name":"count","type":"COUNT"},
            {"name":"max","type":"MAX","subject":"2"},{"name":"min","type":"MIN","subject":"2"},
            {"name":"sum","type":"SUM","subject":"2"},{"name":"avg","type":"AVG","subject":"2"}]}"#,
        );
        let (rows, errors) = aggregate(&c, &[]);
        assert_eq!(
            cells(&rows),
            vec![vec![
                num("0"),
                num("-Inf"),
                num("+Inf"),
                num("0"),
                num("NaN")
            ]]
        );
        assert_eq!(
            errors,
            [AggregationError {
                column_name: "avg".into(),
                error: "no values to average".into()
            }]
        );
    }

    #[test]
    fn zero_rows_with_group_by_give_no_rows() {
        let c = collector(
            r#"{"groupBy":[{"name":"g","def":"inventory.name"}],"combinedFields":[{"name":"n","type":"COUNT"}]}"#,
        );
        let (rows, errors) = aggregate(&c, &[]);
        assert!(rows.is_empty() && errors.is_empty());
    }

    #[test]
    fn groups_by_typed_tuples_in_first_appearance_order() {
        let c = collector(
            r#"{"groupBy":[{"name":"region","def":"inventory.name"},{"name":"ready","def":"true"}],
                "combinedFields":[{"name":"n","type":"COUNT"},{"name":"s","type":"SUM","subject":"1"}]}"#,
        );
        let s = |v: &str| Evaluated::String(v.into());
        let rows = [
            row(
                "a",
                vec![s("west"), Evaluated::Bool(true)],
                vec![None, Some(Evaluated::Int(1))],
            ),
            row(
                "b",
                vec![s("east"), Evaluated::Bool(true)],
                vec![None, Some(Evaluated::Double(2.5))],
            ),
            row(
                "c",
                vec![s("west"), Evaluated::Bool(true)],
                vec![None, Some(s("3"))],
            ),
            row(
                "d",
                vec![s("west"), Evaluated::Bool(false)],
                vec![None, Some(Evaluated::Int(4))],
            ),
            // int 1 and double 1.0 are different group values.
            row(
                "e",
                vec![Evaluated::Int(1), Evaluated::Bool(true)],
                vec![None, Some(Evaluated::Int(1))],
            ),
            row(
                "f",
                vec![Evaluated::Double(1.0), Evaluated::Bool(true)],
                vec![None, Some(Evaluated::Int(1))],
            ),
        ];
        let (out, errors) = aggregate(&c, &rows);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            cells(&out),
            vec![
                vec![
                    Cell::String("west".into()),
                    Cell::Bool(true),
                    num("2"),
                    num("4")
                ],
                vec![
                    Cell::String("east".into()),
                    Cell::Bool(true),
                    num("1"),
                    num("2.5")
                ],
                vec![
                    Cell::String("west".into()),
                    Cell::Bool(false),
                    num("1"),
                    num("4")
                ],
                vec![num("1"), Cell::Bool(true), num("1"), num("1")],
                vec![num("1"), Cell::Bool(true), num("1"), num("1")],
            ]
        );
    }

    #[test]
    fn non_numeric_subjects_are_skipped_and_the_first_is_reported() {
        let c = collector(
            r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"x"},{"name":"avg","type":"AVG","subject":"x"},
            {"name":"min","type":"MIN","subject":"x"},{"name":"max","type":"MAX","subject":"x"}]}"#
                .replace("\"x\"", "\"obj.x\"")
                .as_str(),
        );
        let subjects =
            |v: Evaluated| vec![Some(v.clone()), Some(v.clone()), Some(v.clone()), Some(v)];
        let rows = [
            row("c1", vec![], subjects(Evaluated::String("1.5e1".into()))),
            row("c2", vec![], subjects(Evaluated::String("many".into()))),
            row("c3", vec![], subjects(Evaluated::Bool(true))),
            row("c4", vec![], subjects(Evaluated::Int(-3))),
        ];
        let (out, errors) = aggregate(&c, &rows);
        // AVG divides by all four WECs, including the two skipped ones.
        assert_eq!(
            cells(&out),
            vec![vec![num("12"), num("3"), num("-3"), num("15")]]
        );
        assert_eq!(errors.len(), 4);
        for (error, column) in errors.iter().zip(["sum", "avg", "min", "max"]) {
            assert_eq!(error.column_name, column);
            assert_eq!(
                error.error,
                "for WEC c2, failed to parse combinedField subject as a float: \"many\""
            );
        }
    }

    #[test]
    fn unknown_aggregator_types_yield_null() {
        let c = collector(r#"{"combinedFields":[{"name":"p","type":"P99","subject":"1"}]}"#);
        let (out, _) = aggregate(&c, &[row("c1", vec![], vec![Some(Evaluated::Int(1))])]);
        assert_eq!(cells(&out), vec![vec![Cell::Null]]);
    }
}
