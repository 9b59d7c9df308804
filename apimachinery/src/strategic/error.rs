//! Strategic merge patch errors, with upstream's messages (kubectl prints them after
//! `Error from server:`), and the Go `%v` rendering those messages embed.

use serde_json::Value;

/// Why a strategic merge patch cannot be applied. Messages are those of
/// `k8s.io/apimachinery/pkg/util/mergepatch` and `strategicpatch`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The original or the patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A list whose items are lists.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// A malformed `$deleteFromPrimitiveList/<field>` key.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// A `$retainKeys` that is not a list, or a patch field missing from it.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// A malformed `$setElementOrder/<field>` key or list.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// A list item (or `$setElementOrder` entry) without the list's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// A value of the wrong JSON type where a list or map was required.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType { expected: String, actual: String },
    /// A `$patch` directive with an unknown value (or `merge` in a map).
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    /// `$patch: merge` in a list item.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// Items of different JSON types in one list.
    #[error("list element types are not identical: {0}")]
    MixedListElements(String),
    /// A `$setElementOrder` for a list that is empty in both the object and the patch.
    #[error("no elements in any of the given slices")]
    NoListElements,
    /// A list of maps with merge strategy but no declared merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyDeclared(String),
    /// A merge list item in the object that is not a map.
    #[error("value for key {0} is not a map")]
    NotAMap(usize),
    /// Patch items out of the order (or not part of) their `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    /// A `$`-prefixed key that is not a known directive (upstream would store it as a field and
    /// fail strict decoding; we refuse it outright).
    #[error("unknown strategic merge patch directive {0:?}")]
    UnknownDirective(String),
}

impl PatchError {
    /// The HTTP status kube-apiserver answers with (`interpretStrategicMergePatchError`): 400 for
    /// malformed documents and directives, 422 for lists of lists, 500 for the rest.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadJsonDoc
            | PatchError::BadPatchFormatForPrimitiveList
            | PatchError::BadPatchFormatForRetainKeys
            | PatchError::BadPatchFormatForSetElementOrderList
            | PatchError::UnknownDirective(_) => 400,
            PatchError::NoListOfLists => 422,
            _ => 500,
        }
    }

    pub(crate) fn no_merge_key(map: &Value, key: &str) -> PatchError {
        PatchError::NoMergeKey {
            map: go_v(map),
            key: key.to_string(),
        }
    }

    pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
        PatchError::BadArgType {
            expected: expected.to_string(),
            actual: go_type(actual).to_string(),
        }
    }
}

/// Go's reflect type name of a decoded JSON value.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => SLICE_TYPE,
        Value::Object(_) => MAP_TYPE,
    }
}

/// Go's name for a JSON object type.
pub(crate) const MAP_TYPE: &str = "map[string]interface {}";
/// Go's name for a JSON array type.
pub(crate) const SLICE_TYPE: &str = "[]interface {}";

/// Go's `%v` of a decoded JSON value: `map[k:v]`, `[a b]`, `<nil>`.
pub(crate) fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => go_v_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            format!(
                "map[{}]",
                m.iter()
                    .map(|(k, v)| format!("{k}:{}", go_v(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

/// `%v` of a float64: shortest digits, exponent form for large or tiny magnitudes.
fn go_v_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-4..1e21).contains(&abs) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = e.strip_prefix('-').map(|d| ('-', d)).unwrap_or(('+', e));
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_v_renders_like_fmt() {
        assert_eq!(
            go_v(&json!({"name": "x", "ports": [80, 443], "n": null})),
            "map[n:<nil> name:x ports:[80 443]]"
        );
        assert_eq!(go_v(&json!(1.5)), "1.5");
        assert_eq!(go_v(&json!(1e22)), "1e+22");
    }

    #[test]
    fn messages_and_codes() {
        let e = PatchError::no_merge_key(&json!({"image": "nginx"}), "name");
        assert_eq!(
            e.to_string(),
            "map: map[image:nginx] does not contain declared merge key: name"
        );
        assert_eq!(e.status_code(), 500);
        assert_eq!(
            PatchError::bad_arg_type(SLICE_TYPE, &json!("x")).to_string(),
            "expected a []interface {}, but received a string"
        );
        assert_eq!(PatchError::BadPatchFormatForRetainKeys.status_code(), 400);
        assert_eq!(PatchError::NoListOfLists.status_code(), 422);
    }
}
