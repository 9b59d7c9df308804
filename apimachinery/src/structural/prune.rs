//! Pruning of unknown fields (`pruning/algorithm.go`), which also finds them for strict field
//! validation.

use serde_json::Value;

use super::{META_FIELDS, declared_metadata, is_opaque, push_key};
use crate::schema::Schema;

/// Paths of the fields `schema` does not declare, formatted as kube reports them
/// (`dataz`, `spec.foo`, `spec.containers[0].imagez`), sorted. The value is not changed.
pub fn unknown_fields(value: &Value, schema: &Schema) -> Vec<String> {
    let mut copy = value.clone();
    prune(&mut copy, schema)
}

/// Removes fields `schema` does not declare (CRD pruning), keeping `apiVersion`, `kind` and
/// `metadata` at the root and in embedded resources, and everything under
/// `x-kubernetes-preserve-unknown-fields` that is not itself declared. Returns the removed
/// paths, sorted, as [`unknown_fields`] reports them.
pub fn prune(value: &mut Value, schema: &Schema) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_node(value, Some(schema), true, "", &mut pruned);
    pruned.sort();
    pruned
}

fn prune_node(x: &mut Value, s: Option<&Schema>, root: bool, path: &str, out: &mut Vec<String>) {
    if let Some(s) = s.filter(|s| s.preserves_unknown_fields()) {
        skip_prune(x, Some(s), root, path, out);
        return;
    }
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                out.extend(map.keys().map(|k| push_key(path, k)));
                map.clear();
                return;
            };
            if is_opaque(s) {
                return;
            }
            let embedded = root || s.is_embedded_resource();
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let child = push_key(path, &k);
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    if let (Some(meta), Some(v)) = (
                        declared_metadata(s).filter(|_| k == "metadata"),
                        map.get_mut(&k),
                    ) {
                        prune_node(v, Some(&meta), false, &child, out);
                    }
                    continue;
                }
                let sub = s.property(&k).or_else(|| s.additional_properties());
                match (sub, map.get_mut(&k)) {
                    (Some(sub), Some(v)) => prune_node(v, Some(&sub), false, &child, out),
                    _ => {
                        map.remove(&k);
                        out.push(child);
                    }
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(Schema::items);
            if s.is_some_and(|s| item_schema.is_none() && s.is_from_definitions()) {
                return;
            }
            for (i, v) in items.iter_mut().enumerate() {
                prune_node(v, item_schema.as_ref(), false, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, declared ones are pruned.
fn skip_prune(x: &mut Value, s: Option<&Schema>, root: bool, path: &str, out: &mut Vec<String>) {
    let Some(s) = s else { return };
    match x {
        Value::Object(map) => {
            let embedded = root || s.is_embedded_resource();
            for (k, v) in map.iter_mut() {
                let child = push_key(path, k);
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    if let Some(meta) = declared_metadata(s).filter(|_| k == "metadata") {
                        prune_node(v, Some(&meta), false, &child, out);
                    }
                    continue;
                }
                if let Some(sub) = s.property(k).or_else(|| s.additional_properties()) {
                    prune_node(v, Some(&sub), false, &child, out);
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.items();
            for (i, v) in items.iter_mut().enumerate() {
                skip_prune(v, item_schema.as_ref(), false, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
