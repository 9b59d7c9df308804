//! What kube-apiserver does to an object with a structural schema: report unknown fields (for
//! `fieldValidation=Strict|Warn`), prune them, fill in defaults, and validate values
//! (`k8s.io/apiextensions-apiserver/pkg/apiserver/schema/{pruning,defaulting,listtype,objectmeta}`
//! and `k8s.io/kube-openapi/pkg/validation/validate`), with kube's paths and messages.
//!
//! All functions take the object's root and its schema. At the root and in
//! `x-kubernetes-embedded-resource` nodes, `apiVersion`, `kind` and `metadata` are always
//! allowed; `metadata` is only looked into when the schema declares its properties (built-in
//! schemas do, through `ObjectMeta`; CRD schemas usually say just `type: object`, and the
//! server validates ObjectMeta itself with [`crate::validation::validate_object_meta`]).

mod defaults;
mod formats;
mod listtype;
mod prune;
mod validate;

pub use defaults::apply_defaults;
pub use prune::{prune, unknown_fields};
pub use validate::validate;

use crate::schema::{Schema, Type};

/// Fields that the root and embedded resources always allow.
const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The message a server returns for unknown fields under `fieldValidation=Strict`:
/// `strict decoding error: unknown field "a", unknown field "b.c"`.
pub fn strict_decoding_message(unknown: &[String]) -> String {
    let parts: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field {}", crate::validation::go_quote(p)))
        .collect();
    format!("strict decoding error: {}", parts.join(", "))
}

/// A built-in node that kube's typed decoder treats as opaque JSON: an object (or untyped node)
/// declaring neither properties nor additionalProperties.
fn is_opaque(s: &Schema) -> bool {
    s.is_from_definitions()
        && matches!(s.ty(), Type::Object | Type::Unspecified)
        && s.properties().is_empty()
        && s.additional_properties().is_none()
        && !s.forbids_additional_properties()
}

/// The schema of `metadata` to descend into at a resource root, if it declares properties.
fn declared_metadata(s: &Schema) -> Option<Schema> {
    s.property("metadata")
        .filter(|m| !m.properties().is_empty())
}

/// Appends `.key` (or `key` at the root) to a path, as kube's pruning reports paths.
fn push_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
