//! Evaluation results as owned data, detached from the CEL context that produced them.

use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelOptional, CelString, CelTimestamp, CelType, CelUInt,
};
use cel::common::value::Val;

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
