//! Schema validation of custom resources: kube-openapi's `SchemaValidator` as the apiserver
//! runs it, converted to field errors the way `apiextensions-apiserver` does
//! (`kubeOpenAPIResultToFieldErrors`), followed by the embedded-resource and list-type checks.
//!
//! Paths inside messages are kube-openapi's (`spec.items[0].name`, map values as
//! `spec.labels.key`); `x-kubernetes-validations` (CEL) rules are not evaluated.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::{Number, Value};

use super::{formats, listtype};
use crate::schema::{Schema, Type};
use crate::validation::{FieldError, go_float, go_json, go_quote};

/// Validates `value` against `schema` as the apiserver validates a custom resource, returning
/// kube's field errors: type, `enum`, `pattern`, `minimum`/`maximum` (and exclusive forms),
/// `multipleOf`, `minLength`/`maxLength`, `minItems`/`maxItems`/`uniqueItems`,
/// `minProperties`/`maxProperties`, `required`, `additionalProperties: false`, string formats,
/// `allOf`/`anyOf`/`oneOf`/`not`, then embedded resources' TypeMeta/ObjectMeta and duplicate
/// entries of `x-kubernetes-list-type: set|map` lists.
///
/// Beyond kube, integers outside the range of `format: int32` (or `int64`) are reported, as a
/// typed built-in decoder would refuse them.
pub fn validate(value: &Value, schema: &Schema) -> Vec<FieldError> {
    let mut v = Validator::default();
    v.node("", value, schema);
    let mut errs = v.errors;
    errs.extend(listtype::embedded_resource_errors(value, schema));
    errs.extend(listtype::list_set_and_map_errors(value, schema));
    errs
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
    /// How much validation succeeded in getting into, to pick the closest `anyOf`/`oneOf`
    /// alternative's errors (kube-openapi's `MatchCount`).
    count: u64,
}

/// The field path kube reports for an openapi error name.
fn field_of(name: &str) -> String {
    if name.is_empty() || name == "." {
        "<nil>".to_string()
    } else {
        name.strip_prefix('.').unwrap_or(name).to_string()
    }
}

fn property_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The JSON type and Go format of a decoded value, as kube-openapi infers them.
fn data_type(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.as_i64().is_some() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

fn schema_types(s: &Schema) -> Vec<&'static str> {
    if s.is_int_or_string() || s.format().as_deref() == Some("int-or-string") {
        return vec!["integer", "string"];
    }
    match s.ty() {
        Type::Object => vec!["object"],
        Type::Array => vec!["array"],
        Type::String => vec!["string"],
        Type::Integer => vec!["integer"],
        Type::Number => vec!["number"],
        Type::Boolean => vec!["boolean"],
        Type::Unspecified => vec![],
    }
}

fn schema_format(s: &Schema) -> String {
    match s.format() {
        Some(f) if f != "int-or-string" => f,
        _ => String::new(),
    }
}

fn is_json_integer(f: f64) -> bool {
    f.is_finite() && (f.fract() == 0.0 || (f - f.round()).abs() < 1e-9 * f.abs().max(1.0))
}

fn keyword_f64(s: &Schema, key: &str) -> Option<f64> {
    s.keyword(key).and_then(|v| v.as_f64())
}

fn keyword_i64(s: &Schema, key: &str) -> Option<i64> {
    s.keyword(key)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

fn keyword_bool(s: &Schema, key: &str) -> bool {
    s.keyword(key).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// JSON equality with numbers compared as float64, as kube compares enum members.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

static PATTERNS: LazyLock<Mutex<HashMap<String, Result<Regex, String>>>> =
    LazyLock::new(Default::default);

/// A compiled `pattern`, cached (schemas are validated against many objects).
fn pattern(p: &str) -> Result<Regex, String> {
    let mut cache = PATTERNS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = cache.get(p) {
        return r.clone();
    }
    if cache.len() >= 4096 {
        cache.clear();
    }
    let compiled = Regex::new(p).map_err(|e| e.to_string());
    cache.insert(p.to_string(), compiled.clone());
    compiled
}

impl Validator {
    fn sub(&self, path: &str, data: &Value, s: &Schema) -> Validator {
        let mut v = Validator::default();
        v.node(path, data, s);
        v
    }

    fn merge(&mut self, other: Validator) {
        self.errors.extend(other.errors);
        self.count += other.count;
    }

    fn composite(&mut self, msg: String) {
        self.errors.push(FieldError::invalid("<nil>", "", msg));
    }

    fn node(&mut self, path: &str, data: &Value, s: &Schema) {
        let types = schema_types(s);
        let format = schema_format(s);
        if data.is_null() {
            if !types.is_empty() && !s.is_nullable() {
                self.errors.push(FieldError::type_invalid(
                    field_of(path),
                    "null",
                    format!(
                        "{path} in body must be of type {}: \"null\"",
                        types.join(",")
                    ),
                ));
            }
            self.enumeration(path, data, s);
            return;
        }
        if !types.is_empty() || !format.is_empty() {
            self.type_check(path, data, &types, &format);
            self.count += 1;
        }
        self.schema_props(path, data, s);
        if let Value::String(text) = data {
            self.string(path, text, s);
            if let Some(false) = formats::check(&format, text) {
                self.errors.push(FieldError::type_invalid(
                    field_of(path),
                    text.as_str(),
                    format!(
                        "{path} in body must be of type {format}: {}",
                        go_quote(text)
                    ),
                ));
            }
            self.count += 1;
        }
        if let Value::Number(n) = data {
            self.number(path, n, s, &format);
        }
        if let Value::Array(items) = data {
            self.slice(path, items, s);
        }
        self.enumeration(path, data, s);
        if let Value::Object(map) = data {
            self.object(path, map, s);
        }
        self.count += 1;
    }

    fn type_check(&mut self, path: &str, data: &Value, types: &[&str], format: &str) {
        let (sch_type, data_format) = data_type(data);
        let float_int = sch_type == "number"
            && data.as_f64().is_some_and(is_json_integer)
            && types.contains(&"integer");
        let int_float = sch_type == "integer" && types.contains(&"number");
        let stringish = data.is_string() || data.is_array();
        let matches = types.contains(&sch_type) || float_int || int_float;
        if !(stringish || format.is_empty() || matches || data_format == format) {
            self.errors.push(FieldError::type_invalid(
                field_of(path),
                data_format,
                format!(
                    "{path} in body must be of type {format}: {}",
                    go_quote(data_format)
                ),
            ));
            return;
        }
        let numeric = types.contains(&"number") || types.contains(&"integer");
        if !numeric && !format.is_empty() && stringish {
            return;
        }
        if !matches {
            self.errors.push(FieldError::type_invalid(
                field_of(path),
                sch_type,
                format!(
                    "{path} in body must be of type {}: {}",
                    types.join(","),
                    go_quote(sch_type)
                ),
            ));
        }
    }

    fn schema_props(&mut self, path: &str, data: &Value, s: &Schema) {
        let any_of = s.any_of();
        if !any_of.is_empty() {
            let mut best: Option<Validator> = None;
            let mut success: Option<Validator> = None;
            for alt in &any_of {
                let r = self.sub(path, data, alt);
                if r.errors.is_empty() {
                    success = Some(r);
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| r.count > b.count) {
                    best = Some(r);
                }
            }
            if success.is_none() {
                self.composite(format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(path)
                ));
            }
            if let Some(b) = best.or(success) {
                self.merge(b);
            }
        }
        let one_of = s.one_of();
        if !one_of.is_empty() {
            let mut best: Option<Validator> = None;
            let mut first_success: Option<Validator> = None;
            let mut validated = 0;
            for alt in &one_of {
                let r = self.sub(path, data, alt);
                if r.errors.is_empty() {
                    validated += 1;
                    best = None;
                    if first_success.is_none() {
                        first_success = Some(r);
                    }
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| r.count > b.count) {
                    best = Some(r);
                }
            }
            if validated != 1 {
                let extra = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                self.composite(format!(
                    "{} must validate one and only one schema (oneOf). {extra}",
                    go_quote(path)
                ));
                if let Some(b) = best {
                    self.merge(b);
                }
            } else if let Some(ok) = first_success {
                self.merge(ok);
            }
        }
        let all_of = s.all_of();
        if !all_of.is_empty() {
            let mut validated = 0;
            for alt in &all_of {
                let r = self.sub(path, data, alt);
                if r.errors.is_empty() {
                    validated += 1;
                }
                self.merge(r);
            }
            if validated != all_of.len() {
                let extra = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                self.composite(format!(
                    "{} must validate all the schemas (allOf){extra}",
                    go_quote(path)
                ));
            }
        }
        if let Some(not) = s.not()
            && self.sub(path, data, &not).errors.is_empty()
        {
            self.composite(format!(
                "{} must not validate the schema (not)",
                go_quote(path)
            ));
        }
    }

    fn string(&mut self, path: &str, text: &str, s: &Schema) {
        let len = text.chars().count() as i64;
        if let Some(max) = keyword_i64(s, "maxLength")
            && len > max
        {
            self.errors
                .push(FieldError::too_long_max_length(field_of(path), text, max));
            return;
        }
        if let Some(min) = keyword_i64(s, "minLength")
            && len < min
        {
            self.errors.push(FieldError::invalid(
                field_of(path),
                text,
                format!("{path} in body should be at least {min} chars long"),
            ));
            return;
        }
        if let Some(p) = s.keyword("pattern").as_ref().and_then(Value::as_str) {
            let failed = match pattern(p) {
                Ok(re) if re.is_match(text) => None,
                Ok(_) => Some(p.to_string()),
                Err(e) => Some(format!("{p}, but pattern is invalid: {e}")),
            };
            if let Some(shown) = failed {
                self.errors.push(FieldError::invalid(
                    field_of(path),
                    text,
                    format!("{path} in body should match '{shown}'"),
                ));
            }
        }
    }

    fn number(&mut self, path: &str, n: &Number, s: &Schema, format: &str) {
        let field = field_of(path);
        let as_int = n.as_i64();
        let as_float = n.as_f64().unwrap_or(0.0);
        let bad: Value = Value::Number(n.clone());
        // Beyond kube: typed decoders refuse integers that do not fit the declared format.
        let out_of_range = match format {
            "int32" => {
                as_int.is_none_or(|i| i32::try_from(i).is_err()) && is_json_integer(as_float)
            }
            "int64" => as_int.is_none() && is_json_integer(as_float),
            _ => false,
        };
        if out_of_range {
            self.errors.push(FieldError::invalid(
                field.clone(),
                bad.clone(),
                format!("Checked value must be of type integer with format {format} in {path}"),
            ));
        }
        if let Some(factor) = keyword_f64(s, "multipleOf") {
            if factor < 0.0 {
                self.errors.push(FieldError::invalid(
                    field.clone(),
                    bad.clone(),
                    format!(
                        "factor MultipleOf declared for {path} must be positive: {}",
                        go_float(factor)
                    ),
                ));
            } else if let Some(i) = as_int {
                let f = factor as i64;
                if f != 0 && i % f != 0 {
                    self.errors.push(FieldError::invalid(
                        field.clone(),
                        bad.clone(),
                        format!("{path} in body should be a multiple of {f}"),
                    ));
                }
            } else if factor > 0.0 {
                let mult = if factor < 1.0 {
                    1.0 / factor * as_float
                } else {
                    as_float / factor
                };
                if !is_json_integer(mult) {
                    self.errors.push(FieldError::invalid(
                        field.clone(),
                        bad.clone(),
                        format!(
                            "{path} in body should be a multiple of {}",
                            go_float(factor)
                        ),
                    ));
                }
            }
        }
        for (key, exclusive_key, lower) in [
            ("minimum", "exclusiveMinimum", true),
            ("maximum", "exclusiveMaximum", false),
        ] {
            let Some(limit) = keyword_f64(s, key) else {
                continue;
            };
            let exclusive = keyword_bool(s, exclusive_key);
            // kube compares integers with the limit truncated to an integer.
            let (violated, shown) = match as_int {
                Some(i) => {
                    let l = limit as i64;
                    let v = if lower {
                        i < l || (exclusive && i == l)
                    } else {
                        i > l || (exclusive && i == l)
                    };
                    (v, l.to_string())
                }
                None => {
                    let v = if lower {
                        as_float < limit || (exclusive && as_float == limit)
                    } else {
                        as_float > limit || (exclusive && as_float == limit)
                    };
                    (v, go_float(limit))
                }
            };
            if violated {
                let relation = match (lower, exclusive) {
                    (true, false) => "greater than or equal to",
                    (true, true) => "greater than",
                    (false, false) => "less than or equal to",
                    (false, true) => "less than",
                };
                self.errors.push(FieldError::invalid(
                    field.clone(),
                    bad.clone(),
                    format!("{path} in body should be {relation} {shown}"),
                ));
            }
        }
        self.count += 1;
    }

    fn slice(&mut self, path: &str, items: &[Value], s: &Schema) {
        if let Some(item_schema) = s.items() {
            for (i, item) in items.iter().enumerate() {
                self.node(&format!("{path}[{i}]"), item, &item_schema);
            }
        }
        let size = items.len() as i64;
        if let Some(min) = keyword_i64(s, "minItems")
            && size < min
        {
            self.errors.push(FieldError::invalid(
                field_of(path),
                size,
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = keyword_i64(s, "maxItems")
            && size > max
        {
            self.errors
                .push(FieldError::too_many(field_of(path), size, max));
        }
        if keyword_bool(s, "uniqueItems") {
            let duplicated = items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].iter().any(|b| b == a));
            if duplicated {
                self.errors.push(FieldError::invalid(
                    field_of(path),
                    "",
                    format!("{path} in body shouldn't contain duplicates"),
                ));
            }
        }
        self.count += 1;
    }

    fn enumeration(&mut self, path: &str, data: &Value, s: &Schema) {
        let Some(Value::Array(members)) = s.keyword("enum") else {
            return;
        };
        if members.is_empty() || members.iter().any(|m| json_equal(m, data)) {
            return;
        }
        let shown: Vec<String> = members
            .iter()
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => go_json(other),
            })
            .collect();
        self.errors.push(FieldError::not_supported(
            field_of(path),
            data.clone(),
            &shown,
        ));
    }

    fn object(&mut self, path: &str, map: &serde_json::Map<String, Value>, s: &Schema) {
        let field = field_of(path);
        let size = map.len() as i64;
        if let Some(min) = keyword_i64(s, "minProperties")
            && size < min
        {
            self.errors.push(FieldError::invalid(
                field,
                size,
                format!("{path} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = keyword_i64(s, "maxProperties")
            && size > max
        {
            self.errors.push(FieldError::too_many(field, size, max));
            return;
        }
        let properties = s.properties();
        let declared = |k: &str| properties.iter().any(|(name, _)| name == k);
        if s.forbids_additional_properties() {
            for k in map.keys().filter(|k| !declared(k)) {
                self.errors.push(FieldError::invalid(
                    field.clone(),
                    k.as_str(),
                    format!("{path}.{k} in body is a forbidden property"),
                ));
            }
        } else if let Some(ap) = s.additional_properties() {
            for (k, v) in map.iter().filter(|(k, _)| !declared(k)) {
                self.node(&format!("{path}.{k}"), v, &ap);
            }
        }
        for (name, prop) in &properties {
            if let Some(v) = map.get(name) {
                self.node(&property_path(path, name), v, prop);
            }
        }
        for k in s.required() {
            if !map.contains_key(&k) {
                self.errors
                    .push(FieldError::required(field_of(&format!("{path}.{k}")), ""));
            }
        }
    }
}
