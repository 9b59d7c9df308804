//! The checks kube runs after schema validation: uniqueness in `x-kubernetes-list-type: set|map`
//! lists (`listtype/validation.go`) and the TypeMeta/ObjectMeta of embedded resources
//! (`objectmeta/validation.go`). Paths are `field.Path`s: map values as `[key]`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::schema::Schema;
use crate::validation::{
    FieldError, NameRule, child_path, index_path, is_dns1035_label, key_path,
    validate_object_meta_at,
};

/// Duplicate entries of set and map lists, anywhere in the object.
pub(super) fn list_set_and_map_errors(x: &Value, s: &Schema) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(map) = x {
        object(&mut errs, "", map, s);
    }
    errs
}

fn object(errs: &mut Vec<FieldError>, path: &str, map: &Map<String, Value>, s: &Schema) {
    if let Some(ap) = s.additional_properties() {
        for (k, v) in map {
            value(errs, &key_path(path, k), v, &ap);
        }
    }
    for (k, v) in map {
        if let Some(p) = s.property(k) {
            value(errs, &child_path(path, k), v, &p);
        }
    }
}

fn value(errs: &mut Vec<FieldError>, path: &str, x: &Value, s: &Schema) {
    match x {
        Value::Array(items) => array(errs, path, items, s),
        Value::Object(map) => object(errs, path, map, s),
        _ => {}
    }
}

fn array(errs: &mut Vec<FieldError>, path: &str, items: &[Value], s: &Schema) {
    match s
        .keyword("x-kubernetes-list-type")
        .as_ref()
        .and_then(Value::as_str)
    {
        Some("set") => {
            for i in non_unique(items.iter().map(identity_of)) {
                errs.push(FieldError::duplicate(index_path(path, i), items[i].clone()));
            }
        }
        Some("map") => list_map(errs, path, items, s),
        _ => {}
    }
    if let Some(item_schema) = s.items() {
        for (i, v) in items.iter().enumerate() {
            value(errs, &index_path(path, i), v, &item_schema);
        }
    }
}

/// A comparable identity: kube compares scalars by Go equality and compounds by their JSON.
fn identity_of(v: &Value) -> String {
    v.to_string()
}

/// Indexes of the second occurrence of each repeated identity.
fn non_unique(ids: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, id) in ids.enumerate() {
        let n = seen.entry(id).or_insert(0);
        *n += 1;
        if *n == 2 {
            out.push(i);
        }
    }
    out
}

const UNSPECIFIED: &str = "\u{0}unspecified";

fn list_map(errs: &mut Vec<FieldError>, path: &str, items: &[Value], s: &Schema) {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            errs.push(FieldError::invalid(
                index_path(path, i),
                x.clone(),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    let keys: Vec<String> = s
        .keyword("x-kubernetes-list-map-keys")
        .and_then(|k| k.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    if let [key] = keys.as_slice() {
        let values: Vec<Option<&Value>> = items.iter().map(|x| x.get(key)).collect();
        let ids = values
            .iter()
            .map(|v| v.map_or_else(|| UNSPECIFIED.to_string(), identity_of));
        for i in non_unique(ids) {
            let mut shown = Map::new();
            if let Some(v) = values[i] {
                shown.insert(key.clone(), v.clone());
            }
            errs.push(FieldError::duplicate(
                index_path(path, i),
                Value::Object(shown),
            ));
        }
        return;
    }
    let key_maps: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut m = Map::new();
            for k in &keys {
                if let Some(v) = x.get(k) {
                    m.insert(k.clone(), v.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    for i in non_unique(key_maps.iter().map(identity_of)) {
        errs.push(FieldError::duplicate(
            index_path(path, i),
            key_maps[i].clone(),
        ));
    }
}

/// TypeMeta and ObjectMeta of embedded resources below the root (the root's own metadata is
/// the server's business).
pub(super) fn embedded_resource_errors(x: &Value, s: &Schema) -> Vec<FieldError> {
    let mut errs = Vec::new();
    embedded(&mut errs, "", x, s, true);
    errs
}

fn embedded(errs: &mut Vec<FieldError>, path: &str, x: &Value, s: &Schema, root: bool) {
    match x {
        Value::Object(map) => {
            if s.is_embedded_resource() && !root {
                embedded_resource(errs, path, map);
            }
            let additional = s.additional_properties();
            for (k, v) in map {
                if let Some(p) = s.property(k) {
                    embedded(errs, &child_path(path, k), v, &p, false);
                } else if let Some(ap) = &additional {
                    embedded(errs, &key_path(path, k), v, ap, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items() {
                for (i, v) in items.iter().enumerate() {
                    embedded(errs, &index_path(path, i), v, &item_schema, false);
                }
            }
        }
        _ => {}
    }
}

fn embedded_resource(errs: &mut Vec<FieldError>, path: &str, map: &Map<String, Value>) {
    let api_version_path = child_path(path, "apiVersion");
    let kind_path = child_path(path, "kind");
    if !map.contains_key("apiVersion") {
        errs.push(FieldError::required(api_version_path.clone(), ""));
    }
    if !map.contains_key("kind") {
        errs.push(FieldError::required(kind_path.clone(), ""));
    }
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    api_version_path.clone(),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::required(api_version_path.clone(), "")),
                Some(av) if av.matches('/').count() > 1 => errs.push(FieldError::invalid(
                    api_version_path.clone(),
                    av,
                    format!("unexpected GroupVersion string: {av}"),
                )),
                Some(_) => {}
            },
            "kind" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    kind_path.clone(),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::required(kind_path.clone(), "")),
                Some(kind) => {
                    let msgs = is_dns1035_label(&kind.to_lowercase());
                    if !msgs.is_empty() {
                        errs.push(FieldError::invalid(
                            kind_path.clone(),
                            kind,
                            format!(
                                "may have mixed case, but should otherwise match: {}",
                                msgs.join(",")
                            ),
                        ));
                    }
                }
            },
            "metadata" => {
                let meta_path = child_path(path, "metadata");
                let Some(meta) = v.as_object() else {
                    errs.push(FieldError::invalid(meta_path, v.clone(), "expected object"));
                    continue;
                };
                let mut meta = meta.clone();
                // kube validates embedded metadata with a stand-in name when none is given.
                if meta
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    meta.insert("name".into(), Value::String("fakename".into()));
                }
                let namespaced = meta
                    .get("namespace")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                errs.extend(validate_object_meta_at(
                    &Value::Object(meta),
                    namespaced,
                    NameRule::PathSegment,
                    &meta_path,
                ));
            }
            _ => {}
        }
    }
}
