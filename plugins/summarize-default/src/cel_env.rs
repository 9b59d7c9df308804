//! The CEL environment of a StatusCollector: compiling and checking expressions, turning JSON
//! into CEL values without an intermediate tree, and turning CEL results back into owned data.
//!
//! Upstream declares four variables, all `map(string, dyn)`-like: `inventory`, `obj`,
//! `returned` and `propagation`. Expressions are parsed and checked for undeclared
//! identifiers once; evaluation borrows every string from the input JSON text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use cel::common::ast::{EntryExpr, Expr};
use cel::common::types::CelDuration;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelOptional,
    CelString, CelTimestamp, CelType, CelUInt,
};
use cel::common::value::Val;
use cel::{Context, Program};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The name of the variable holding `{"name": <WEC name>}`.
pub const INVENTORY: &str = "inventory";
/// The name of the variable holding the workload object.
pub const OBJ: &str = "obj";
/// The name of the variable holding `{"status": <returned status or null>}`.
pub const RETURNED: &str = "returned";
/// The name of the variable holding `{"lastReturnedUpdateTimestamp": <timestamp>}`.
pub const PROPAGATION: &str = "propagation";

/// Identifiers that resolve without a variable: CEL's type names, e.g. in `type(x) == int`.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

/// Which of the four variables an expression (or a set of them) refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vars {
    /// `inventory` is referenced.
    pub inventory: bool,
    /// `obj` is referenced.
    pub obj: bool,
    /// `returned` is referenced.
    pub returned: bool,
    /// `propagation` is referenced.
    pub propagation: bool,
}

impl Vars {
    /// The union of two sets.
    pub fn union(self, other: Vars) -> Vars {
        Vars {
            inventory: self.inventory || other.inventory,
            obj: self.obj || other.obj,
            returned: self.returned || other.returned,
            propagation: self.propagation || other.propagation,
        }
    }
}

/// A parsed and checked expression.
pub struct Expression {
    program: Program,
    vars: Vars,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

impl Expression {
    /// Parses `source` and checks that it names no identifier other than the four variables
    /// (and CEL's type names). The error text follows upstream's `CheckExpression`.
    pub fn compile(source: &str) -> Result<Expression, String> {
        let program = Program::compile(source)
            .map_err(|errors| format!("failed to parse expression: {errors}"))?;
        let mut free = Vec::new();
        collect_free_idents(&program.expression().expr, &mut Vec::new(), &mut free);
        let mut vars = Vars::default();
        for name in free {
            match name {
                INVENTORY => vars.inventory = true,
                OBJ => vars.obj = true,
                RETURNED => vars.returned = true,
                PROPAGATION => vars.propagation = true,
                other if TYPE_NAMES.contains(&other) => {}
                other => {
                    return Err(format!(
                        "failed to check expression: undeclared reference to '{other}'"
                    ));
                }
            }
        }
        Ok(Expression { program, vars })
    }

    /// The variables this expression refers to.
    pub fn vars(&self) -> Vars {
        self.vars
    }

    /// Evaluates the expression in `context` and converts the result to owned data.
    pub fn evaluate(&self, context: &Context<'_, '_>) -> Result<Evaluated, String> {
        let value = cel::Value::resolve_val(self.program.expression(), context)
            .map_err(|e| e.to_string())?;
        Ok(Evaluated::from_val(&*value))
    }
}

/// Collects the identifiers of `expr` not bound by an enclosing comprehension, in order of
/// appearance. Comprehension variables are in scope for the loop condition, step and result
/// only, as in CEL.
fn collect_free_idents<'e>(expr: &'e Expr, bound: &mut Vec<&'e str>, out: &mut Vec<&'e str>) {
    match expr {
        Expr::Unspecified | Expr::Literal(_) => {}
        Expr::Ident(name) => {
            // A leading dot means the root scope: `.obj` is still `obj`.
            let name = name.strip_prefix('.').unwrap_or(name);
            if !bound.contains(&name) && !out.contains(&name) {
                out.push(name);
            }
        }
        Expr::Select(select) => collect_free_idents(&select.operand.expr, bound, out),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                collect_free_idents(&target.expr, bound, out);
            }
            for arg in &call.args {
                collect_free_idents(&arg.expr, bound, out);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                collect_free_idents(&element.expr, bound, out);
            }
        }
        Expr::Map(map) => collect_entries(&map.entries, bound, out),
        Expr::Struct(structure) => collect_entries(&structure.entries, bound, out),
        Expr::Comprehension(comp) => {
            collect_free_idents(&comp.iter_range.expr, bound, out);
            collect_free_idents(&comp.accu_init.expr, bound, out);
            let depth = bound.len();
            bound.push(comp.iter_var.as_str());
            if let Some(second) = &comp.iter_var2 {
                bound.push(second.as_str());
            }
            bound.push(comp.accu_var.as_str());
            collect_free_idents(&comp.loop_cond.expr, bound, out);
            collect_free_idents(&comp.loop_step.expr, bound, out);
            collect_free_idents(&comp.result.expr, bound, out);
            bound.truncate(depth);
        }
    }
}

fn collect_entries<'e>(
    entries: &'e [cel::common::ast::IdedEntryExpr],
    bound: &mut Vec<&'e str>,
    out: &mut Vec<&'e str>,
) {
    for entry in entries {
        match &entry.expr {
            EntryExpr::StructField(field) => collect_free_idents(&field.value.expr, bound, out),
            EntryExpr::MapEntry(map_entry) => {
                collect_free_idents(&map_entry.key.expr, bound, out);
                collect_free_idents(&map_entry.value.expr, bound, out);
            }
        }
    }
}

/// Parses JSON text into a CEL value that borrows its strings from `text`. Integers become
/// `int` (or `uint` above `i64::MAX`), like Kubernetes' unstructured decoding, which upstream
/// evaluates against; other numbers become `double`.
pub fn parse_json(text: &str) -> Result<Box<dyn Val + '_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = ValSeed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct ValSeed;

impl<'de> DeserializeSeed<'de> for ValSeed {
    type Value = Box<dyn Val + 'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Box<dyn Val + 'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Box::new(CelBool::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Box::new(CelInt::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Box::new(CelInt::from(i)),
            Err(_) => Box::new(CelUInt::from(v)),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Box::new(CelDouble::from(v)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Box::new(CelNull))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Box::new(CelNull))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ValVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items: Vec<Box<dyn Val + 'de>> = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(ValSeed)? {
            items.push(item);
        }
        Ok(Box::new(CelList::from(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: HashMap<CelMapKey<'de>, Box<dyn Val + 'de>> =
            HashMap::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(ValSeed)?;
            entries.insert(CelMapKey::String(CelString::from(key)), value);
        }
        Ok(Box::new(CelMap::from(entries)))
    }
}

/// Reads an object key, borrowing it from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A one-entry CEL map `{key: value}`.
pub fn single_entry_map<'v>(key: &'static str, value: Box<dyn Val + 'v>) -> Box<dyn Val + 'v> {
    let mut entries: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = HashMap::with_capacity(1);
    entries.insert(CelMapKey::String(CelString::from(key)), value);
    Box::new(CelMap::from(entries))
}

/// A CEL string borrowing `s`.
pub fn string_val(s: &str) -> Box<dyn Val + '_> {
    Box::new(CelString::from(s))
}

/// The CEL `null` value.
pub fn null_val() -> Box<dyn Val + 'static> {
    Box::new(CelNull)
}

/// A CEL timestamp for `seconds` and `nanoseconds` since the Unix epoch; Go's zero time
/// (0001-01-01T00:00:00Z), as upstream uses when nothing was returned, for `None` or an
/// out-of-range instant.
pub fn timestamp_val(instant: Option<(i64, u32)>) -> Box<dyn Val + 'static> {
    let time = instant
        .and_then(|(seconds, nanos)| chrono::DateTime::from_timestamp(seconds, nanos))
        .unwrap_or_else(go_zero_time)
        .fixed_offset();
    Box::new(CelTimestamp::from(time))
}

fn go_zero_time() -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// An evaluation result as owned data, detached from the CEL context.
#[derive(Clone, Debug, PartialEq)]
pub enum Evaluated {
    /// `null`.
    Null,
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `uint`.
    UInt(u64),
    /// A `double`.
    Double(f64),
    /// A `string`, or a timestamp, duration, bytes or type rendered as text.
    String(String),
    /// A map or a list, as JSON.
    Json(serde_json::Value),
}

impl Evaluated {
    /// Converts a CEL value. Maps and lists become JSON, with timestamps and durations inside
    /// rendered as strings; non-finite doubles inside JSON become `null`.
    pub fn from_val(val: &dyn Val) -> Evaluated {
        if let Some(b) = val.downcast_ref::<CelBool>() {
            Evaluated::Bool(*b.inner())
        } else if let Some(i) = val.downcast_ref::<CelInt>() {
            Evaluated::Int(*i.inner())
        } else if let Some(u) = val.downcast_ref::<CelUInt>() {
            Evaluated::UInt(*u.inner())
        } else if let Some(d) = val.downcast_ref::<CelDouble>() {
            Evaluated::Double(*d.inner())
        } else if let Some(s) = val.downcast_ref::<CelString>() {
            Evaluated::String(s.inner().to_owned())
        } else if val.downcast_ref::<CelNull>().is_some() {
            Evaluated::Null
        } else if val.downcast_ref::<CelList>().is_some() || val.downcast_ref::<CelMap>().is_some()
        {
            Evaluated::Json(to_json(val))
        } else if let Some(optional) = val.downcast_ref::<CelOptional>() {
            optional
                .inner()
                .map_or(Evaluated::Null, Evaluated::from_val)
        } else {
            match scalar_text(val) {
                Some(text) => Evaluated::String(text),
                None => Evaluated::String(format!("{val:?}")),
            }
        }
    }

    /// The CEL type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Evaluated::Null => "null",
            Evaluated::Bool(_) => "bool",
            Evaluated::Int(_) => "int",
            Evaluated::UInt(_) => "uint",
            Evaluated::Double(_) => "double",
            Evaluated::String(_) => "string",
            Evaluated::Json(serde_json::Value::Array(_)) => "list",
            Evaluated::Json(_) => "map",
        }
    }
}

/// Text for timestamps (RFC 3339, as `string(ts)`), durations (`"1.5s"`), bytes (UTF-8,
/// lossily) and type values (their name).
fn scalar_text(val: &dyn Val) -> Option<String> {
    if let Some(ts) = val.downcast_ref::<CelTimestamp>() {
        Some(
            ts.inner()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )
    } else if let Some(d) = val.downcast_ref::<CelDuration>() {
        Some(duration_text(d.inner()))
    } else if let Some(b) = val.downcast_ref::<CelBytes>() {
        Some(String::from_utf8_lossy(b.inner()).into_owned())
    } else {
        val.downcast_ref::<CelType>().map(|t| t.name().to_owned())
    }
}

/// CEL's `string(duration)` form: seconds with the fraction trimmed, e.g. `3600s`, `1.5s`.
fn duration_text(d: &chrono::TimeDelta) -> String {
    let negative = *d < chrono::TimeDelta::zero();
    let abs = d.abs();
    let seconds = abs.num_seconds();
    let nanos = abs.subsec_nanos();
    let sign = if negative { "-" } else { "" };
    if nanos == 0 {
        format!("{sign}{seconds}s")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{sign}{seconds}.{}s", fraction.trim_end_matches('0'))
    }
}

fn to_json(val: &dyn Val) -> serde_json::Value {
    if let Some(list) = val.downcast_ref::<CelList>() {
        serde_json::Value::Array(list.inner().iter().map(|v| to_json(&**v)).collect())
    } else if let Some(map) = val.downcast_ref::<CelMap>() {
        // serde_json's map is ordered by key, so the text is deterministic like Go's.
        let mut object = serde_json::Map::with_capacity(map.inner().len());
        for (key, value) in map.inner() {
            object.insert(key_text(key), to_json(&**value));
        }
        serde_json::Value::Object(object)
    } else {
        match Evaluated::from_val(val) {
            Evaluated::Null => serde_json::Value::Null,
            Evaluated::Bool(b) => serde_json::Value::Bool(b),
            Evaluated::Int(i) => serde_json::Value::from(i),
            Evaluated::UInt(u) => serde_json::Value::from(u),
            Evaluated::Double(d) => serde_json::Number::from_f64(d)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Evaluated::String(s) => serde_json::Value::String(s),
            Evaluated::Json(json) => json,
        }
    }
}

fn key_text(key: &CelMapKey<'_>) -> String {
    match key {
        CelMapKey::String(s) => s.inner().to_owned(),
        CelMapKey::Int(i) => i.inner().to_string(),
        CelMapKey::UInt(u) => u.inner().to_string(),
        CelMapKey::Bool(b) => b.inner().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(source: &str, vars: &[(&str, &str)]) -> Result<Evaluated, String> {
        let expression = Expression::compile(source)?;
        let mut context = Context::default();
        for (name, json) in vars {
            let value = parse_json(json).map_err(|e| e.to_string())?;
            context.add_variable_as_val(*name, value);
        }
        expression.evaluate(&context)
    }

    #[test]
    fn free_variables_are_found_and_bound_ones_ignored() {
        let e = Expression::compile("obj.spec.replicas == returned.status.availableReplicas")
            .expect("compiles");
        assert_eq!(
            e.vars(),
            Vars {
                obj: true,
                returned: true,
                ..Vars::default()
            }
        );
        let e = Expression::compile("returned.status.conditions.exists(c, c.type == 'Ready')")
            .expect("compiles");
        assert_eq!(
            e.vars(),
            Vars {
                returned: true,
                ..Vars::default()
            }
        );
        let e = Expression::compile("type(inventory.name) == string").expect("compiles");
        assert_eq!(
            e.vars(),
            Vars {
                inventory: true,
                ..Vars::default()
            }
        );
        // A comprehension variable named like a variable shadows it.
        let e = Expression::compile("[1, 2].map(obj, obj * 2)").expect("compiles");
        assert_eq!(e.vars(), Vars::default());
    }

    #[test]
    fn undeclared_identifiers_and_syntax_errors_are_rejected() {
        let err = Expression::compile("foo.bar").expect_err("undeclared");
        assert_eq!(
            err,
            "failed to check expression: undeclared reference to 'foo'"
        );
        let err = Expression::compile("c.x > 1 && [1].all(c, c > 0)").expect_err("c is free");
        assert!(err.contains("'c'"), "{err}");
        let err = Expression::compile("obj.spec.(").expect_err("syntax");
        assert!(
            err.starts_with("failed to parse expression: ERROR: <input>:1:"),
            "{err}"
        );
    }

    #[test]
    fn json_numbers_map_like_unstructured_decoding() {
        let status = r#"{"status": {"replicas": 2, "ratio": 0.5, "big": 18446744073709551615}}"#;
        let vars = [("returned", status)];
        assert_eq!(
            eval("returned.status.replicas", &vars),
            Ok(Evaluated::Int(2))
        );
        assert_eq!(
            eval("returned.status.ratio", &vars),
            Ok(Evaluated::Double(0.5))
        );
        assert_eq!(
            eval("returned.status.big", &vars),
            Ok(Evaluated::UInt(u64::MAX))
        );
        assert_eq!(
            eval("returned.status.replicas == 2.0", &vars),
            Ok(Evaluated::Bool(true))
        );
    }

    #[test]
    fn strings_with_escapes_and_nested_values_convert() {
        let obj =
            r#"{"metadata": {"name": "a\"b", "labels": {"x": "y"}}, "list": [1, "two", null]}"#;
        let vars = [("obj", obj)];
        assert_eq!(
            eval("obj.metadata.name", &vars),
            Ok(Evaluated::String("a\"b".into()))
        );
        assert_eq!(
            eval("obj.metadata.labels", &vars),
            Ok(Evaluated::Json(serde_json::json!({"x": "y"})))
        );
        assert_eq!(
            eval("obj.list", &vars),
            Ok(Evaluated::Json(serde_json::json!([1, "two", null])))
        );
        assert_eq!(eval("obj.list[2]", &vars), Ok(Evaluated::Null));
        assert_eq!(eval("has(obj.spec)", &vars), Ok(Evaluated::Bool(false)));
        assert!(eval("obj.spec.replicas", &vars).is_err());
    }

    #[test]
    fn timestamps_and_durations_render_as_text() {
        let mut context = Context::default();
        context.add_variable_as_val(
            PROPAGATION,
            single_entry_map(
                "lastReturnedUpdateTimestamp",
                timestamp_val(Some((1_700_000_000, 500_000_000))),
            ),
        );
        let ts = Expression::compile("propagation.lastReturnedUpdateTimestamp").expect("compiles");
        assert_eq!(
            ts.evaluate(&context),
            Ok(Evaluated::String("2023-11-14T22:13:20.500Z".into()))
        );
        let d = Expression::compile("duration('90m') + duration('1.5s')").expect("compiles");
        assert_eq!(
            d.evaluate(&context),
            Ok(Evaluated::String("5401.5s".into()))
        );

        let mut zero = Context::default();
        zero.add_variable_as_val(
            PROPAGATION,
            single_entry_map("lastReturnedUpdateTimestamp", timestamp_val(None)),
        );
        let year = Expression::compile("propagation.lastReturnedUpdateTimestamp.getFullYear()")
            .expect("compiles");
        assert_eq!(year.evaluate(&zero), Ok(Evaluated::Int(1)));
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(parse_json("{\"a\": ").is_err());
        assert!(parse_json("{} trailing").is_err());
    }
}
