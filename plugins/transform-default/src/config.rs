//! The plugin's configuration: `{"remove": ["$.spec.x", …]}`, the concatenated `spec.remove`
//! of the CustomTransforms that apply to the object's GroupResource.

use std::cell::RefCell;
use std::rc::Rc;

use kubestellar_plugin_sdk::{ConfigProblem, PluginError};
use serde_json::Value;

use crate::jsonpath::{self, Segment};

/// JSON Schema of the configuration, for `describe`.
pub const SCHEMA: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,"properties":{"remove":{"type":"array","description":"JSONPath queries ($ then .name, [\"name\"], [N] or [*] segments) of content to remove","items":{"type":"string"}}}}"#;

/// A configuration ready to apply: the valid removal queries, in order.
#[derive(Debug, Default)]
pub struct Config {
    pub removes: Vec<Vec<Segment>>,
}

/// One entry of `remove`, checked as upstream's transport controller checks it.
fn check_entry(index: usize, query: &str) -> Result<Vec<Segment>, String> {
    match jsonpath::parse(query) {
        Err(e) => Err(format!("Error in spec.remove[{index}]: {e}")),
        Ok(q) if q.is_empty() => Err(format!(
            "Invalid spec.remove[{index}]: it identifies the whole object"
        )),
        Ok(q) => Ok(q),
    }
}

/// The `remove` strings, or a problem with the configuration's shape.
fn entries(config: &str) -> Result<Vec<Result<String, usize>>, ConfigProblem> {
    let trimmed = config.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(trimmed)
        .map_err(|e| ConfigProblem::new("", format!("configuration is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ConfigProblem::new(
            "",
            "configuration must be a JSON object",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| *k != "remove") {
        return Err(ConfigProblem::new(
            unknown.as_str(),
            "unknown field; the only field is \"remove\"",
        ));
    }
    match map.get("remove") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| item.as_str().map(str::to_owned).ok_or(i))
            .collect()),
        Some(_) => Err(ConfigProblem::new(
            "spec.remove",
            "must be an array of strings",
        )),
    }
}

/// Every problem with a configuration; each bad query gets upstream's CustomTransform status
/// text, e.g. `Error in spec.remove[0]: syntax error at 2: expected open quote, got ']'`.
pub fn validate(config: &str) -> Vec<ConfigProblem> {
    match entries(config) {
        Err(problem) => vec![problem],
        Ok(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let field = format!("spec.remove[{i}]");
                match item {
                    Err(_) => Some(ConfigProblem::new(
                        field,
                        format!("Error in spec.remove[{i}]: must be a string"),
                    )),
                    Ok(query) => check_entry(i, &query)
                        .err()
                        .map(|message| ConfigProblem::new(field, message)),
                }
            })
            .collect(),
    }
}

/// Compiles a configuration. Invalid queries are skipped (they are reported through
/// `validate-config`), as upstream applies the valid ones; a malformed shape is an error.
pub fn compile(config: &str) -> Result<Config, PluginError> {
    let items =
        entries(config).map_err(|p| PluginError::new(format!("invalid configuration: {p}")))?;
    let removes = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| item.ok().and_then(|q| check_entry(i, &q).ok()))
        .collect();
    Ok(Config { removes })
}

thread_local! {
    /// The last configuration compiled: consecutive calls usually share it.
    static LAST: RefCell<Option<(String, Rc<Config>)>> = const { RefCell::new(None) };
}

/// [`compile`], remembering the last result.
pub fn compiled(config: &str) -> Result<Rc<Config>, PluginError> {
    if let Some(hit) = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(text, _)| text == config)
            .map(|(_, c)| Rc::clone(c))
    }) {
        return Ok(hit);
    }
    let compiled = Rc::new(compile(config)?);
    LAST.with_borrow_mut(|last| *last = Some((config.to_owned(), Rc::clone(&compiled))));
    Ok(compiled)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn problems_carry_upstream_texts() {
        let problems = validate(
            r#"{"remove": ["$.spec.x", "$", "$[]", 3, "$.", "$.metadata.labels[\"a\"]"]}"#,
        );
        let got: Vec<(String, String)> =
            problems.into_iter().map(|p| (p.field, p.message)).collect();
        assert_eq!(
            got,
            vec![
                ("spec.remove[1]".into(), "Invalid spec.remove[1]: it identifies the whole object".into()),
                ("spec.remove[2]".into(), "Error in spec.remove[2]: syntax error at 2: expected open quote, got ']'".into()),
                ("spec.remove[3]".into(), "Error in spec.remove[3]: must be a string".into()),
                ("spec.remove[4]".into(), r"Error in spec.remove[4]: syntax error at 2: expected member-name-shorthand, got '\x00'".into()),
            ]
        );
    }

    #[test]
    fn shapes() {
        assert!(validate("").is_empty());
        assert!(validate("null").is_empty());
        assert!(validate("{}").is_empty());
        assert!(validate(r#"{"remove": null}"#).is_empty());
        assert_eq!(
            validate("[]")[0].message,
            "configuration must be a JSON object"
        );
        assert_eq!(validate(r#"{"remove": "x"}"#)[0].field, "spec.remove");
        assert_eq!(validate(r#"{"remoev": []}"#)[0].field, "remoev");
        assert!(
            validate("{")
                .first()
                .is_some_and(|p| p.message.starts_with("configuration is not valid JSON"))
        );
        assert!(compile("[]").is_err());
    }

    #[test]
    fn compile_keeps_valid_queries_in_order() {
        let c = compile(r#"{"remove": ["$.a", "$", "bad", "$.b[0]"]}"#).unwrap_or_default();
        assert_eq!(
            c.removes,
            vec![
                vec![Segment::Field("a".into())],
                vec![Segment::Field("b".into()), Segment::Index(0)]
            ]
        );
        let first = compiled(r#"{"remove":["$.a"]}"#).unwrap_or_default();
        let second = compiled(r#"{"remove":["$.a"]}"#).unwrap_or_default();
        assert!(Rc::ptr_eq(&first, &second));
    }
}
