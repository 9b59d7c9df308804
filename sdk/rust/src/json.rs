//! JSON helpers that turn parse failures into [`PluginError`]s with a useful message, and a
//! scanner that reads raw JSON without decoding it ([`raw`]).

pub mod raw;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::PluginError;

/// Parses `text` as a JSON object (a Kubernetes object, a status); `what` names it in errors,
/// e.g. `"object"` gives `object is not valid JSON: ...`.
pub fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>, PluginError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(PluginError::new(format!(
            "{what} is not a JSON object but {}",
            kind(&other)
        ))),
        Err(e) => Err(PluginError::new(format!("{what} is not valid JSON: {e}"))),
    }
}

/// Parses `text` as any JSON value; `what` names it in errors.
pub fn parse_value(text: &str, what: &str) -> Result<Value, PluginError> {
    serde_json::from_str(text)
        .map_err(|e| PluginError::new(format!("{what} is not valid JSON: {e}")))
}

/// Parses a plugin configuration into `T`. Empty text and `null` mean "no configuration" and
/// are read as `{}`, so a `#[serde(default)]` struct gets its defaults.
pub fn parse_config<T: DeserializeOwned>(config: &str) -> Result<T, PluginError> {
    let trimmed = config.trim();
    let text = if trimmed.is_empty() || trimmed == "null" {
        "{}"
    } else {
        trimmed
    };
    serde_json::from_str(text).map_err(|e| PluginError::new(format!("invalid configuration: {e}")))
}

/// Serializes a value to compact JSON text; failures (non-string map keys) become errors.
pub fn to_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, PluginError> {
    serde_json::to_string(value)
        .map_err(|e| PluginError::new(format!("cannot serialize output: {e}")))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Cfg {
        remove: Vec<String>,
    }

    #[test]
    fn object_errors_name_the_input() {
        assert_eq!(
            parse_object("[]", "object").unwrap_err().message,
            "object is not a JSON object but an array"
        );
        assert!(
            parse_object("{", "status")
                .unwrap_err()
                .message
                .starts_with("status is not valid JSON: ")
        );
        assert_eq!(parse_object(r#"{"a":1}"#, "x").unwrap().len(), 1);
    }

    #[test]
    fn empty_config_reads_as_defaults() {
        assert_eq!(parse_config::<Cfg>("").unwrap(), Cfg::default());
        assert_eq!(parse_config::<Cfg>(" null ").unwrap(), Cfg::default());
        assert_eq!(
            parse_config::<Cfg>(r#"{"remove":["$.a"]}"#).unwrap().remove,
            vec!["$.a".to_owned()]
        );
        assert!(
            parse_config::<Cfg>(r#"{"remove":3}"#)
                .unwrap_err()
                .message
                .starts_with("invalid configuration: ")
        );
    }
}
