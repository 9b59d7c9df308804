//! ObjectMeta and LabelSelector validation (`k8s.io/apimachinery/pkg/api/validation` and
//! `.../apis/meta/v1/validation`), on JSON objects.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::names::{NameRule, is_qualified_name, is_valid_label_value};
use super::{FieldError, child_path, go_sharp, index_path};

/// The limit on the summed size of all annotation keys and values (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const FINALIZER_ORPHAN: &str = "orphan";
const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Validates an object's `metadata` on create (`ValidateObjectMeta`), after name generation:
/// `generateName` (leniently, as a prefix), `name`, `namespace` (required for namespaced kinds,
/// forbidden otherwise), `generation`, labels, annotations, owner references and finalizers.
/// `meta` is the metadata object; errors use the path `metadata.<field>`.
pub fn validate_object_meta(meta: &Value, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    validate_object_meta_at(meta, namespaced, rule, "metadata")
}

/// [`validate_object_meta`] for metadata found at `path` (e.g. an embedded resource's
/// `spec.template.metadata`).
pub fn validate_object_meta_at(
    meta: &Value,
    namespaced: bool,
    rule: NameRule,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = str_of(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                child_path(path, "generateName"),
                generate_name,
                msg,
            ));
        }
    }
    let name = str_of(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            child_path(path, "name"),
            "name or generateName is required",
        ));
    } else {
        for msg in rule.check(name, false) {
            errs.push(FieldError::invalid(child_path(path, "name"), name, msg));
        }
    }
    let namespace = str_of(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(child_path(path, "namespace"), ""));
        } else {
            for msg in NameRule::Dns1123Label.check(namespace, false) {
                errs.push(FieldError::invalid(
                    child_path(path, "namespace"),
                    namespace,
                    msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            child_path(path, "namespace"),
            "not allowed on this type",
        ));
    }
    errs.extend(common(meta, path));
    errs
}

/// The checks shared by create and update.
fn common(meta: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(g) = meta.get("generation").and_then(Value::as_i64)
        && g < 0
    {
        errs.push(FieldError::invalid(
            child_path(path, "generation"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    errs.extend(validate_labels(
        meta.get("labels"),
        &child_path(path, "labels"),
    ));
    errs.extend(validate_annotations(
        meta.get("annotations"),
        &child_path(path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        meta.get("ownerReferences"),
        &child_path(path, "ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        meta.get("finalizers"),
        &child_path(path, "finalizers"),
    ));
    errs
}

/// Validates an update of `metadata` (`ValidateObjectMetaUpdate`): no new finalizers while
/// deleting, a resourceVersion present, generation not decremented, identity fields immutable,
/// plus the label, annotation, owner and finalizer rules.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("deletionTimestamp").is_some_and(|d| !d.is_null()) {
        let old_f: BTreeSet<&str> = string_items(old.get("finalizers")).collect();
        let extra: BTreeSet<&str> = string_items(new.get("finalizers"))
            .filter(|f| !old_f.contains(f))
            .collect();
        if !extra.is_empty() {
            let list = Value::Array(extra.iter().map(|s| Value::String(s.to_string())).collect());
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_sharp(&list, true)
                ),
            ));
        }
    }
    if str_of(new, "resourceVersion").is_empty() {
        errs.push(FieldError::invalid(
            "metadata.resourceVersion",
            "",
            "must be specified for an update",
        ));
    }
    let (new_gen, old_gen) = (
        new.get("generation").and_then(Value::as_i64),
        old.get("generation").and_then(Value::as_i64),
    );
    if let (Some(n), Some(o)) = (new_gen, old_gen)
        && n < o
    {
        errs.push(FieldError::invalid(
            "metadata.generation",
            n,
            "must not be decremented",
        ));
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let n = new.get(field).filter(|v| !v.is_null());
        let o = old.get(field).filter(|v| !v.is_null());
        if n != o {
            errs.push(FieldError::invalid(
                format!("metadata.{field}"),
                n.cloned().unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
    }
    errs.extend(common(new, "metadata"));
    errs
}

fn string_items(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

/// `ValidateLabels`: keys are qualified names, values label values; errors carry `path`.
pub fn validate_labels(labels: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in as_map(labels).into_iter().flatten() {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        match v.as_str() {
            Some(v) => {
                for msg in is_valid_label_value(v) {
                    errs.push(FieldError::invalid(path, v, msg));
                }
            }
            None => errs.push(FieldError::invalid(path, v.clone(), "must be a string")),
        }
    }
    errs
}

/// `ValidateAnnotations`: keys are qualified names (case-insensitively), total size <= 256 KiB.
pub fn validate_annotations(annotations: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in as_map(annotations).into_iter().flatten() {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// `ValidateOwnerReferences`: apiVersion with a version, kind, name and uid present, no Event
/// owners, at most one controller.
pub fn validate_owner_references(refs: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    let Some(list) = refs.and_then(Value::as_array) else {
        return errs;
    };
    for r in list {
        let api_version = str_of(r, "apiVersion");
        let kind = str_of(r, "kind");
        let (group, version) = parse_group_version(api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                child_path(path, "apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                child_path(path, "kind"),
                kind,
                "must not be empty",
            ));
        }
        for field in ["name", "uid"] {
            if str_of(r, field).is_empty() {
                errs.push(FieldError::invalid(
                    child_path(path, field),
                    "",
                    "must not be empty",
                ));
            }
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{}", str_of(r, "name"));
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    Value::Array(list.clone()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// `schema.ParseGroupVersion` leniently: `(group, version)`, both empty when malformed.
fn parse_group_version(api_version: &str) -> (&str, &str) {
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [v] => ("", v),
        [g, v] => (g, v),
        _ => ("", ""),
    }
}

/// `ValidateFinalizers`: qualified names, and not both `orphan` and `foregroundDeletion`.
pub fn validate_finalizers(finalizers: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let names: Vec<&str> = string_items(finalizers).collect();
    for f in &names {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, *f, msg));
        }
    }
    if names.contains(&FINALIZER_ORPHAN) && names.contains(&FINALIZER_FOREGROUND) {
        let list = Value::Array(names.iter().map(|s| Value::String(s.to_string())).collect());
        errs.push(
            FieldError::invalid(
                path,
                list,
                format!(
                    "finalizer {FINALIZER_ORPHAN} and {FINALIZER_FOREGROUND} cannot be both set"
                ),
            )
            .typed(),
        );
    }
    errs
}

/// `ValidateLabelSelector` for a `metav1.LabelSelector` JSON value at `path` (e.g.
/// `spec.selector`): matchLabels as labels, and each matchExpression's operator, values and key.
pub fn validate_label_selector(selector: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sel) = selector.filter(|s| !s.is_null()) else {
        return errs;
    };
    errs.extend(validate_labels(
        sel.get("matchLabels"),
        &child_path(path, "matchLabels"),
    ));
    let exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for (i, expr) in exprs.enumerate() {
        let p = index_path(&child_path(path, "matchExpressions"), i);
        let values: Vec<&Value> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let operator = str_of(expr, "operator");
        match operator {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child_path(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child_path(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                child_path(&p, "operator"),
                operator,
                "not a valid selector operator",
            )),
        }
        let key = str_of(expr, "key");
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(child_path(&p, "key"), key, msg));
        }
        for (j, v) in values.iter().enumerate() {
            let vp = index_path(&child_path(&p, "values"), j);
            match v.as_str() {
                Some(s) => {
                    for msg in is_valid_label_value(s) {
                        errs.push(FieldError::invalid(vp.clone(), s, msg));
                    }
                }
                None => errs.push(FieldError::invalid(vp, (*v).clone(), "must be a string")),
            }
        }
    }
    errs
}
