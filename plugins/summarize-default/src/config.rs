//! The plugin's configuration: a StatusCollector's `spec`, parsed, validated with upstream's
//! messages, and compiled into CEL programs.

use serde::Deserialize;

use kubestellar_plugin_sdk::ConfigProblem as Problem;

use crate::cel_env::{Expression, Vars};

/// Rows returned when `limit` is absent (the API documentation's default).
pub const DEFAULT_LIMIT: u64 = 20;

/// A StatusCollector `spec` as written by the user. Unknown fields are ignored, so the host
/// may pass the whole spec.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectorSpec {
    /// WHERE: a CEL expression yielding a bool (or null, which excludes the WEC).
    #[serde(default)]
    pub filter: Option<String>,
    /// GROUP BY expressions, output first.
    #[serde(default)]
    pub group_by: Option<Vec<NamedExpression>>,
    /// Aggregates over the (filtered, grouped) WECs.
    #[serde(default)]
    pub combined_fields: Option<Vec<NamedAggregator>>,
    /// Plain projection: one row per WEC.
    #[serde(default)]
    pub select: Option<Vec<NamedExpression>>,
    /// Maximum number of rows returned.
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A named CEL expression (`select[]`, `groupBy[]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct NamedExpression {
    /// The column name.
    #[serde(default)]
    pub name: String,
    /// The CEL source.
    #[serde(default)]
    pub def: String,
}

/// A named aggregate (`combinedFields[]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct NamedAggregator {
    /// The column name.
    #[serde(default)]
    pub name: String,
    /// `COUNT`, `SUM`, `AVG`, `MIN` or `MAX`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The CEL expression aggregated; absent for COUNT.
    #[serde(default)]
    pub subject: Option<String>,
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregator {
    /// Number of WECs in the group.
    Count,
    /// Sum of the subject.
    Sum,
    /// Sum of the subject over the number of WECs in the group.
    Avg,
    /// Smallest subject.
    Min,
    /// Largest subject.
    Max,
    /// A type upstream does not know: its column is `null`, as upstream renders it.
    Unknown,
}

impl Aggregator {
    fn parse(kind: &str) -> Aggregator {
        match kind {
            "COUNT" => Aggregator::Count,
            "SUM" => Aggregator::Sum,
            "AVG" => Aggregator::Avg,
            "MIN" => Aggregator::Min,
            "MAX" => Aggregator::Max,
            _ => Aggregator::Unknown,
        }
    }
}

/// A named, compiled expression.
#[derive(Debug)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// The compiled expression.
    pub expression: Expression,
}

/// A compiled `combinedFields[]` entry.
#[derive(Debug)]
pub struct CombinedField {
    /// The column name.
    pub name: String,
    /// The aggregate function.
    pub aggregator: Aggregator,
    /// The compiled subject; `None` for COUNT (and for unknown types without one).
    pub subject: Option<Expression>,
}

/// A valid StatusCollector spec with every expression compiled once.
#[derive(Debug)]
pub struct Collector {
    /// The compiled filter.
    pub filter: Option<Expression>,
    /// The compiled select columns; non-empty means projection mode.
    pub select: Vec<Column>,
    /// The compiled group-by columns.
    pub group_by: Vec<Column>,
    /// The compiled aggregates.
    pub combined_fields: Vec<CombinedField>,
    /// The row limit.
    pub limit: u64,
}

impl Collector {
    /// Parses, validates and compiles a configuration (JSON text).
    pub fn from_json(config: &str) -> Result<Collector, Vec<Problem>> {
        let spec: CollectorSpec = if config.trim().is_empty() {
            CollectorSpec::default()
        } else {
            serde_json::from_str(config).map_err(|e| {
                vec![Problem::new(
                    "spec",
                    format!("invalid StatusCollector spec: {e}"),
                )]
            })?
        };
        Collector::compile(&spec)
    }

    /// Validates and compiles a spec, reporting every problem found.
    pub fn compile(spec: &CollectorSpec) -> Result<Collector, Vec<Problem>> {
        let mut problems = Vec::new();
        let select = spec.select.as_deref().unwrap_or_default();
        let group_by = spec.group_by.as_deref().unwrap_or_default();
        let combined = spec.combined_fields.as_deref().unwrap_or_default();

        if !select.is_empty() && (!group_by.is_empty() || !combined.is_empty()) {
            problems.push(Problem::new(
                "spec.select",
                "groupBy and combinedFields must be empty if select is not",
            ));
        }
        if combined.is_empty() && !group_by.is_empty() {
            problems.push(Problem::new(
                "spec.groupBy",
                "groupBy must be empty if combinedFields is",
            ));
        }

        check_unique_names(select, group_by, combined, &mut problems);

        let filter = match &spec.filter {
            None => None,
            Some(source) => match Expression::compile(source) {
                Ok(expression) => Some(expression),
                Err(e) => {
                    problems.push(Problem::new(
                        "spec.filter",
                        format!("filter expression invalid: {e}"),
                    ));
                    None
                }
            },
        };
        let select = compile_columns(select, "select", &mut problems);
        let group_by = compile_columns(group_by, "groupBy", &mut problems);
        let combined_fields = compile_combined(combined, &mut problems);

        let limit = match spec.limit {
            None => DEFAULT_LIMIT,
            Some(limit) => u64::try_from(limit).unwrap_or_else(|_| {
                problems.push(Problem::new("spec.limit", "limit must not be negative"));
                0
            }),
        };

        if problems.is_empty() {
            Ok(Collector {
                filter,
                select,
                group_by,
                combined_fields,
                limit,
            })
        } else {
            Err(problems)
        }
    }

    /// What the expressions read of each variable: only that is built for each WEC.
    pub fn vars(&self) -> Vars {
        let mut vars = Vars::default();
        let subjects = self
            .combined_fields
            .iter()
            .filter_map(|f| f.subject.as_ref());
        let columns = self
            .select
            .iter()
            .chain(&self.group_by)
            .map(|c| &c.expression);
        for expression in self.filter.iter().chain(columns).chain(subjects) {
            vars.merge(expression.vars());
        }
        vars
    }

    /// The output column names: select names, or group-by names then aggregate names.
    pub fn column_names(&self) -> Vec<String> {
        if !self.select.is_empty() {
            return self.select.iter().map(|c| c.name.clone()).collect();
        }
        self.group_by
            .iter()
            .map(|c| c.name.clone())
            .chain(self.combined_fields.iter().map(|f| f.name.clone()))
            .collect()
    }
}

/// Output column names must be unique: the host rejects a summary that repeats one (upstream
/// does not check, and silently merges such columns).
fn check_unique_names(
    select: &[NamedExpression],
    group_by: &[NamedExpression],
    combined: &[NamedAggregator],
    problems: &mut Vec<Problem>,
) {
    let names = select
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("spec.select[{i}].name"), &e.name))
        .chain(
            group_by
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("spec.groupBy[{i}].name"), &e.name)),
        )
        .chain(
            combined
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("spec.combinedFields[{i}].name"), &e.name)),
        );
    let mut seen = std::collections::HashSet::new();
    for (field, name) in names {
        if !seen.insert(name.as_str()) {
            problems.push(Problem::new(
                field,
                format!("column name {name:?} appears more than once"),
            ));
        }
    }
}

fn compile_columns(
    entries: &[NamedExpression],
    what: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Column> {
    let mut columns = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match Expression::compile(&entry.def) {
            Ok(expression) => columns.push(Column {
                name: entry.name.clone(),
                expression,
            }),
            Err(e) => problems.push(Problem::new(
                format!("spec.{what}[{i}].def"),
                format!("{what} expression ({}) invalid: {e}", entry.name),
            )),
        }
    }
    columns
}

fn compile_combined(
    entries: &[NamedAggregator],
    problems: &mut Vec<Problem>,
) -> Vec<CombinedField> {
    let mut fields = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let aggregator = Aggregator::parse(&entry.kind);
        let field = format!("spec.combinedFields[{i}].subject");
        let name = &entry.name;
        let subject = match (aggregator, &entry.subject) {
            (Aggregator::Count, Some(_)) => {
                problems.push(Problem::new(
                    field,
                    format!("combinedField expression ({name}) invalid: subject must be nil for COUNT type"),
                ));
                continue;
            }
            (Aggregator::Count, None) => None,
            (_, None) => {
                problems.push(Problem::new(
                    field,
                    format!("combinedField expression ({name}) invalid: subject must be set"),
                ));
                continue;
            }
            (_, Some(source)) => match Expression::compile(source) {
                Ok(expression) => Some(expression),
                Err(e) => {
                    problems.push(Problem::new(
                        field,
                        format!("combinedField expression ({name}) subject invalid: {e}"),
                    ));
                    continue;
                }
            },
        };
        fields.push(CombinedField {
            name: name.clone(),
            aggregator,
            subject,
        });
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_val::Need;

    fn problems(config: &str) -> Vec<Problem> {
        Collector::from_json(config).err().unwrap_or_default()
    }

    fn messages(config: &str) -> Vec<String> {
        problems(config).into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn valid_specs_compile() {
        let c = Collector::from_json(
            r#"{"select":[{"name":"wecName","def":"inventory.name"},{"name":"status","def":"returned.status"}],"limit":20}"#,
        )
        .expect("valid");
        assert_eq!(c.column_names(), ["wecName", "status"]);
        assert_eq!(c.limit, 20);
        let vars = c.vars();
        assert!(vars.inventory.any() && vars.returned.field("status") == &Need::All);
        assert!(!vars.obj.any() && !vars.propagation.any());

        let c = Collector::from_json(
            r#"{"groupBy":[{"name":"ready","def":"returned.status.readyReplicas"}],
                "combinedFields":[{"name":"n","type":"COUNT"},{"name":"s","type":"SUM","subject":"obj.spec.replicas"}]}"#,
        )
        .expect("valid");
        assert_eq!(c.column_names(), ["ready", "n", "s"]);
        assert_eq!(c.limit, DEFAULT_LIMIT);
        assert_eq!(c.combined_fields[0].aggregator, Aggregator::Count);
        assert_eq!(c.combined_fields[1].aggregator, Aggregator::Sum);
    }

    #[test]
    fn structural_errors_use_upstream_messages() {
        assert_eq!(
            messages(
                r#"{"select":[{"name":"a","def":"1"}],"combinedFields":[{"name":"n","type":"COUNT"}],"limit":1}"#
            ),
            ["groupBy and combinedFields must be empty if select is not"]
        );
        assert_eq!(
            messages(r#"{"groupBy":[{"name":"g","def":"1"}],"limit":1}"#),
            ["groupBy must be empty if combinedFields is"]
        );
        let p = problems(
            r#"{"combinedFields":[{"name":"n","type":"COUNT","subject":"1"},{"name":"s","type":"SUM"}],"limit":1}"#,
        );
        assert_eq!(
            p,
            [
                Problem::new(
                    "spec.combinedFields[0].subject",
                    "combinedField expression (n) invalid: subject must be nil for COUNT type"
                ),
                Problem::new(
                    "spec.combinedFields[1].subject",
                    "combinedField expression (s) invalid: subject must be set"
                ),
            ]
        );
        assert_eq!(messages(r#"{"limit":-1}"#), ["limit must not be negative"]);
        assert_eq!(
            problems(
                r#"{"groupBy":[{"name":"a","def":"1"}],"combinedFields":[{"name":"a","type":"COUNT"}]}"#
            ),
            [Problem::new(
                "spec.combinedFields[0].name",
                "column name \"a\" appears more than once"
            )]
        );
        assert_eq!(problems(r#"{"select":"#)[0].field, "spec");
        assert!(messages(r#"{"select":"#)[0].starts_with("invalid StatusCollector spec: "));
    }

    #[test]
    fn expression_errors_name_the_field_and_column() {
        let p = problems(
            r#"{"filter":"obj.(","select":[{"name":"ok","def":"1"},{"name":"bad","def":"nope.x"}],"limit":1}"#,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].field, "spec.filter");
        assert!(
            p[0].message
                .starts_with("filter expression invalid: failed to parse expression: ")
        );
        assert_eq!(p[1].field, "spec.select[1].def");
        assert_eq!(
            p[1].message,
            "select expression (bad) invalid: failed to check expression: undeclared reference to 'nope'"
        );

        let p = problems(
            r#"{"groupBy":[{"name":"g","def":"1 +"}],"combinedFields":[{"name":"m","type":"MAX","subject":"x"}],"limit":1}"#,
        );
        assert_eq!(p[0].field, "spec.groupBy[0].def");
        assert!(
            p[0].message
                .starts_with("groupBy expression (g) invalid: failed to parse expression: ")
        );
        assert_eq!(p[1].field, "spec.combinedFields[0].subject");
        assert_eq!(
            p[1].message,
            "combinedField expression (m) subject invalid: failed to check expression: undeclared reference to 'x'"
        );
    }

    #[test]
    fn nulls_and_empty_config_are_accepted() {
        let c = Collector::from_json(
            r#"{"select":null,"groupBy":null,"combinedFields":null,"filter":null,"limit":5}"#,
        )
        .expect("valid");
        assert!(c.select.is_empty() && c.combined_fields.is_empty() && c.filter.is_none());
        assert!(Collector::from_json("").is_ok());
    }
}
