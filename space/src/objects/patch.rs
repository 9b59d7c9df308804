//! The patch formats of PATCH requests (other than server-side apply): JSON merge patch
//! (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

use kubestellar_apimachinery::{schema::Schema, strategic};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The `Content-Type` of a PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    /// From a `Content-Type` header.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to `old`.
pub(super) fn apply_patch(
    kind: PatchType,
    old: &Value,
    patch: &Value,
    schema: &Schema,
) -> ApiResult<Value> {
    let invalid = |msg: String| ApiError::new(422, "Invalid", msg);
    match kind {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            let mut doc = old.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let mut doc = old.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                invalid(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            Ok(doc)
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            strategic::strategic_merge_patch(old, patch, schema).map_err(|e| invalid(e.to_string()))
        }
        PatchType::Apply => Err(ApiError::internal(
            "apply patches are handled by server_side_apply",
        )),
    }
}

/// Removes strategic-merge directives (`$patch`, `$setElementOrder/...`) so that only fields remain.
pub(super) fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}
