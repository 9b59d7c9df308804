//! Label selectors (`k8s.io/apimachinery/pkg/labels`): the string syntax
//! (`k=v,k!=v,k in (a,b),k notin (a),k,!k,k>1`), `metav1.LabelSelector` objects, matching and
//! the canonical string form.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};

mod parse;

use parse::{Parser, lex};

use super::SelectorError;
use crate::validation::{
    FieldError, aggregate_message, go_quote, index_path, is_qualified_name, is_valid_label_value,
    key_path,
};

/// A requirement's operator (`selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `k=v`
    Equals,
    /// `k==v`
    DoubleEquals,
    /// `k!=v`; also matches objects without the key.
    NotEquals,
    /// `k in (a,b)`
    In,
    /// `k notin (a,b)`; also matches objects without the key.
    NotIn,
    /// `k`
    Exists,
    /// `!k`
    DoesNotExist,
    /// `k>1` (integers)
    GreaterThan,
    /// `k<1` (integers)
    LessThan,
}

/// Something with labels to match against.
pub trait Labels {
    /// The value of label `key`, if present.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Labels for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A JSON `metadata.labels` map; non-string values count as absent.
impl Labels for Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl Labels for [(&str, &str)] {
    fn label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// One requirement of a selector: a key, an operator and values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement (`labels.NewRequirement`); errors are kube's, aggregated.
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let errs = requirement_errors(key, operator, &values);
        if errs.is_empty() {
            Ok(Requirement {
                key: key.to_string(),
                operator,
                values,
            })
        } else {
            Err(SelectorError::Requirement(aggregate_message(&errs)))
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values (empty for Exists/DoesNotExist).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement; `!=` and `notin` match absent keys.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                labels.label(&self.key).is_some_and(has)
            }
            Operator::NotIn | Operator::NotEquals => {
                labels.label(&self.key).is_none_or(|v| !has(v))
            }
            Operator::Exists => labels.label(&self.key).is_some(),
            Operator::DoesNotExist => labels.label(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = labels.label(&self.key).and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

fn requirement_errors(key: &str, operator: Operator, values: &[String]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(e) = key_error(key, "key") {
        errs.push(e);
    }
    let list = || Value::Array(values.iter().map(|v| Value::String(v.clone())).collect());
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => errs.push(
            FieldError::invalid(
                "values",
                list(),
                "for 'in', 'notin' operators, values set can't be empty",
            )
            .typed(),
        ),
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            errs.push(
                FieldError::invalid(
                    "values",
                    list(),
                    "exact-match compatibility requires one single value",
                )
                .typed(),
            )
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(
            FieldError::invalid(
                "values",
                list(),
                "values set must be empty for exists and does not exist",
            )
            .typed(),
        ),
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(
                    FieldError::invalid(
                        "values",
                        list(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    )
                    .typed(),
                );
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(FieldError::invalid(
                        index_path("values", i),
                        v.as_str(),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                key_path(&index_path("values", i), key),
                v.as_str(),
                msgs.join("; "),
            ));
        }
    }
    errs
}

pub(super) fn key_error(key: &str, path: &str) -> Option<FieldError> {
    let msgs = is_qualified_name(key);
    (!msgs.is_empty()).then(|| FieldError::invalid(path, key, msgs.join("; ")))
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut sorted = self.values.clone();
        sorted.sort();
        f.write_str(&sorted.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: the AND of its requirements. The empty selector matches everything; the
/// "nothing" selector (from a null `metav1.LabelSelector`) matches nothing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches everything (`labels.Everything()`).
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// The selector that matches nothing (`labels.Nothing()`).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector from requirements, sorted by key as kube does.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> LabelSelector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector does not restrict anything (matches everything).
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the selector that matches nothing.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches a list of `(key, value)` pairs.
    pub fn matches_pairs<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let labels: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.matches(&labels)
    }

    /// Matches an object's `metadata.labels` (an object without labels has none).
    pub fn matches_object(&self, object: &Value) -> bool {
        let empty = Map::new();
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        self.matches(labels)
    }

    /// The single value the selector requires for `key` (`RequiresExactMatch`), for indexes.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_label_selector(s)
    }
}

/// Parses a label selector string exactly as `labels.Parse` does.
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, SelectorError> {
    let items = lex(s.as_bytes());
    let mut parser = Parser { items, pos: 0 };
    parser
        .parse()
        .map(LabelSelector::from_requirements)
        .map_err(SelectorError::Syntax)
}

/// Builds a selector from a `metav1.LabelSelector` JSON value (`LabelSelectorAsSelector`).
///
/// `null` gives the selector that matches nothing (kube's rule for a nil selector); callers for
/// which an absent selector means "everything" must check for absence themselves. `{}` (no
/// matchLabels, no matchExpressions) matches everything. Invalid keys, values or operators are
/// errors with kube's messages.
pub fn from_label_selector_json(v: &Value) -> Result<LabelSelector, SelectorError> {
    let obj = match v {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(o) => o,
        other => {
            return Err(SelectorError::LabelSelector(format!(
                "a label selector must be an object, not {}",
                json_type(other)
            )));
        }
    };
    let labels = match obj.get("matchLabels") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(SelectorError::LabelSelector(format!(
                "matchLabels must be an object, not {}",
                json_type(other)
            )));
        }
    };
    let exprs = match obj.get("matchExpressions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => {
            return Err(SelectorError::LabelSelector(format!(
                "matchExpressions must be an array, not {}",
                json_type(other)
            )));
        }
    };
    if labels.is_empty() && exprs.is_empty() {
        return Ok(LabelSelector::everything());
    }
    let mut reqs = Vec::with_capacity(labels.len() + exprs.len());
    for (k, v) in &labels {
        let Some(v) = v.as_str() else {
            return Err(SelectorError::LabelSelector(format!(
                "matchLabels[{k}] must be a string"
            )));
        };
        reqs.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
    }
    for e in &exprs {
        let op_name = e.get("operator").and_then(Value::as_str).unwrap_or("");
        let op = match op_name {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(SelectorError::LabelSelector(format!(
                    "{} is not a valid label selector operator",
                    go_quote(other)
                )));
            }
        };
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values = match e.get("values") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    SelectorError::LabelSelector("matchExpressions values must be strings".into())
                })?,
            Some(_) => {
                return Err(SelectorError::LabelSelector(
                    "matchExpressions values must be an array".into(),
                ));
            }
        };
        reqs.push(Requirement::new(key, op, values)?);
    }
    Ok(LabelSelector::from_requirements(reqs))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
