//! Checks of a write request before anything is computed: the body fits the URL, unknown
//! fields per `fieldValidation`, a name (or `generateName`), and a namespace that accepts it.

use kubestellar_apimachinery::structural;
use serde_json::{Value, json};

use super::patch::strip_directives;
use super::{FieldValidation, meta_mut};
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceInfo;
use crate::space::Space;
use crate::store::ObjectKey;

impl Space {
    /// The body's apiVersion, kind, name and namespace must fit the URL.
    pub(crate) fn check_identity(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: Option<&str>,
        obj: &mut Value,
    ) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
            && !av.is_empty()
            && av != r.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                r.api_version()
            )));
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && !k.is_empty()
            && k != r.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                r.kind
            )));
        }
        let m = meta_mut(obj);
        if r.namespaced {
            match m.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(namespace));
                }
            }
        } else {
            m.remove("namespace");
        }
        if let Some(name) = name {
            match m.get("name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
                _ => {
                    m.insert("name".into(), json!(name));
                }
            }
        }
        Ok(())
    }

    /// Reports unknown fields as `mode` says; true when the body is known to have none (so
    /// that pruning can be skipped).
    pub(super) fn check_unknown_fields(
        &self,
        r: &ResourceInfo,
        obj: &Value,
        mode: FieldValidation,
        warnings: &mut Vec<String>,
    ) -> ApiResult<bool> {
        if mode == FieldValidation::Ignore {
            return Ok(false);
        }
        let Some(schema) = &r.schema else {
            return Ok(true);
        };
        let unknown = structural::unknown_fields(obj, schema);
        let clean = unknown.is_empty();
        report_unknown(unknown, mode, warnings)?;
        Ok(clean)
    }

    /// Unknown fields in a merge or strategic patch (directives are not fields); true when
    /// there are none.
    pub(super) fn check_unknown_fields_patch(
        &self,
        r: &ResourceInfo,
        patch: &Value,
        mode: FieldValidation,
        warnings: &mut Vec<String>,
    ) -> ApiResult<bool> {
        if mode == FieldValidation::Ignore {
            return Ok(false);
        }
        let Some(schema) = &r.schema else {
            return Ok(true);
        };
        let cleaned = strip_directives(patch);
        let unknown = structural::unknown_fields(&cleaned, schema);
        let clean = unknown.is_empty();
        report_unknown(unknown, mode, warnings)?;
        Ok(clean)
    }

    pub(super) fn assign_name(&self, r: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
        let m = meta_mut(obj);
        let has_name = m
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if has_name {
            return Ok(());
        }
        match m.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", random_suffix());
                m.insert("name".into(), json!(name));
                Ok(())
            }
            _ => Err(ApiError::invalid(
                &r.group,
                &r.resource,
                &r.kind,
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            )),
        }
    }

    /// A namespaced create needs an existing, active namespace.
    pub(crate) fn check_namespace_accepts(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> ApiResult<()> {
        let gr = crate::registry::GroupResource {
            group: String::new(),
            resource: "namespaces".into(),
        };
        match self.store.get(&ObjectKey::new(&gr, "", namespace)) {
            None => Err(ApiError::not_found("", "namespaces", namespace)),
            Some(ns) if ns.meta.deleting => Err(ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                crate::error::qualified(&r.group, &r.resource)
            ))
            .with_details(&r.group, &r.resource, name)),
            Some(_) => Ok(()),
        }
    }
}

fn report_unknown(
    unknown: Vec<String>,
    mode: FieldValidation,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if unknown.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match mode {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            texts.join(", ")
        ))),
        FieldValidation::Warn => {
            warnings.extend(texts);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}

/// Five characters like kube's `generateName` suffixes.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let id = uuid::Uuid::new_v4();
    id.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
