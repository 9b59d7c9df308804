//! Strategic merge patch as kube-apiserver applies it (`strategicpatch.StrategicMergeMapPatch`,
//! i.e. merging parallel lists and ignoring unmatched nulls), guided by a structural [`Schema`]
//! instead of Go struct tags, plus RFC 7386 JSON merge patch.
//!
//! - Maps merge recursively; `null` deletes a key.
//! - Lists whose field has `x-kubernetes-patch-strategy: merge` merge by
//!   `x-kubernetes-patch-merge-key` (lists of maps) or as a union (lists of scalars); other
//!   lists are replaced.
//! - Directives: `$patch: replace|delete` in maps, `$patch: replace|delete` in merge-list items,
//!   `$retainKeys`, `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`.
//! - Fields without a schema behave like JSON merge patch (maps merged, lists replaced).
//!
//! One deliberate difference: values the patch introduces (new keys, new list items, replaced
//! lists) are normalized (nulls dropped, nested directives applied). Upstream stores them raw
//! and relies on decoding into Go structs to drop nulls; we store JSON, so we do it here.

mod error;
mod order;

use serde_json::{Map, Value};

use crate::schema::Schema;
pub use error::PatchError;
use error::{MAP_TYPE, SLICE_TYPE, go_v};
use order::{Kind, partition, slice_element_kind};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge patch to `original` (both JSON objects).
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    schema: &Schema,
) -> Result<Value, PatchError> {
    let (Value::Object(o), Value::Object(p)) = (original, patch) else {
        return Err(PatchError::BadJsonDoc);
    };
    merge_map(o.clone(), p.clone(), schema).map(Value::Object)
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces.
pub fn json_merge_patch(original: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match original {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    for (k, pv) in p {
        if pv.is_null() {
            out.remove(k);
        } else {
            let merged = json_merge_patch(out.get(k).unwrap_or(&Value::Null), pv);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Patch metadata of a field: its schema, whether it merges, and its merge key.
struct FieldMeta {
    schema: Schema,
    merge: bool,
    merge_key: String,
}

fn field_meta(parent: &Schema, key: &str) -> FieldMeta {
    match parent.child(key) {
        Some(schema) => {
            let strategy = schema.patch_strategy();
            let merge_key = schema.patch_merge_key().unwrap_or_default();
            FieldMeta {
                schema,
                merge: strategy.merge,
                merge_key,
            }
        }
        None => FieldMeta {
            schema: Schema::any(),
            merge: false,
            merge_key: String::new(),
        },
    }
}

/// The schema of a list's items (anything when unknown).
fn item_schema(list: &Schema) -> Schema {
    list.items().unwrap_or_else(Schema::any)
}

/// Upstream `mergeMap`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: &Schema,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            // The patch replaces the map; its own content is still a patch to normalize.
            Some("replace") => merge_map(Map::new(), patch, schema),
            Some("delete") => Ok(Map::new()),
            _ => {
                patch.insert(DIRECTIVE.to_string(), directive.clone());
                Err(PatchError::BadPatchType {
                    directive: go_v(&directive),
                    map: go_v(&Value::Object(patch)),
                })
            }
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, schema)?;

    for (key, patch_v) in patch {
        let (key, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(_) => (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?, true),
            None if key.starts_with('$') => return Err(PatchError::UnknownDirective(key)),
            None => (key, false),
        };
        if patch_v.is_null() {
            original.remove(&key);
            continue;
        }
        let meta = field_meta(schema, &key);
        let Some(orig_v) = original.remove(&key) else {
            if !is_delete_list {
                original.insert(key, normalize(patch_v, &meta)?);
            }
            continue;
        };
        let merged = match (orig_v, patch_v) {
            (Value::Object(o), Value::Object(p)) => Value::Object(merge_map(o, p, &meta.schema)?),
            (Value::Array(o), Value::Array(p)) => {
                Value::Array(merge_slice_handler(o, p, &meta, is_delete_list)?)
            }
            (orig_v, patch_v) if is_delete_list && kind_differs(&orig_v, &patch_v) => orig_v,
            (orig_v, patch_v) if kind_differs(&orig_v, &patch_v) => normalize(patch_v, &meta)?,
            (_, patch_v) => patch_v,
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// True when two values have different Go types (map, slice, string, int64, float64, bool).
fn kind_differs(a: &Value, b: &Value) -> bool {
    error::go_type(a) != error::go_type(b)
}

/// A value the patch introduces wholesale, with nulls dropped and directives applied.
fn normalize(v: Value, meta: &FieldMeta) -> Result<Value, PatchError> {
    match v {
        Value::Object(p) => Ok(Value::Object(merge_map(Map::new(), p, &meta.schema)?)),
        Value::Array(p) => Ok(Value::Array(merge_slice_handler(
            Vec::new(),
            p,
            meta,
            false,
        )?)),
        other => Ok(other),
    }
}

/// Drops nulls inside a replaced value (upstream's typed decoding does the same).
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Upstream `applyRetainKeysDirective`: keep only the listed keys of the original.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadPatchFormatForRetainKeys);
    };
    let keep = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep(k) {
            return Err(PatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| keep(k));
    Ok(())
}

/// Upstream `extractKey`: the field name after `<prefix>/`.
fn extract_key(s: &str, prefix: &str) -> Result<String, PatchError> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => {
            Err(PatchError::BadPatchFormatForPrimitiveList)
        }
        _ => Err(PatchError::BadPatchFormatForSetElementOrderList),
    }
}

/// Upstream `mergePatchIntoOriginal`: merges each list that has a `$setElementOrder/<field>`
/// directive and orders it by that directive; removes both from the patch.
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: &Schema,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(PatchError::bad_arg_type(SLICE_TYPE, &order));
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER)?;
        let orig_list = match original.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(PatchError::bad_arg_type(SLICE_TYPE, other)),
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(PatchError::bad_arg_type(SLICE_TYPE, other)),
        };
        let meta = field_meta(schema, &field);
        validate_set_order(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            &meta.merge_key,
        )?;
        let merged = match (&orig_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => merge_slice_handler(Vec::new(), p.clone(), &meta, false)?,
            (Some(o), Some(p)) => merge_slice_handler(o.clone(), p.clone(), &meta, false)?,
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, &order, &meta.merge_key)?;
        let orig_slice = orig_list.as_deref().unwrap_or(&[]);
        let kind = slice_element_kind(&[orig_slice, patch_list.as_deref().unwrap_or(&[])])?;
        let both = order::normalize_element_order(
            in_order,
            server_only,
            &order,
            orig_slice,
            &meta.merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

/// Upstream `validatePatchWithSetOrderList`: the patch's items must appear in the order list,
/// in the same relative order.
fn validate_set_order(patch_list: &[Value], order: &[Value], key: &str) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete = if key.is_empty() {
        patch_list.to_vec()
    } else {
        order::extract_to_delete(patch_list.to_vec())?.0
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if order::has_directive(&non_delete[pi]) {
            pi += 1;
            continue;
        }
        if order::merge_key_value_equal(&non_delete[pi], &order[si], key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: go_v(&Value::Array(patch_list.to_vec())),
            order: go_v(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

/// Upstream `mergeSliceHandler`: merge lists merge, other lists are replaced.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &FieldMeta,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if meta.merge {
        return merge_slice(original, patch, meta, is_delete_list);
    }
    let mut replaced = Value::Array(patch);
    discard_nulls(&mut replaced);
    Ok(match replaced {
        Value::Array(a) => a,
        _ => Vec::new(),
    })
}

/// Upstream `mergeSlice`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &FieldMeta,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    let key = meta.merge_key.as_str();
    let (original, patch, merged) = if kind != Kind::Map {
        if is_delete_list {
            return Ok(order::delete_from_slice(original, &patch));
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, order::deduplicate_scalars(both))
    } else {
        if key.is_empty() {
            let name = meta
                .schema
                .reference()
                .and_then(|r| r.rsplit('.').next())
                .unwrap_or_default()
                .to_string();
            return Err(PatchError::NoMergeKeyDeclared(name));
        }
        let items = item_schema(&meta.schema);
        let (original, patch) = merge_special_elements(original, patch, key, &items)?;
        let merged = merge_without_special_elements(original.clone(), &patch, key, &items)?;
        (original, patch, merged)
    };
    let (in_patch, server_only) = partition(merged, &patch, key)?;
    order::normalize_element_order(in_patch, server_only, &patch, &original, key, kind)
}

/// Upstream `mergeSliceWithSpecialElements`: applies `$patch: delete` items to the original and
/// handles `$patch: replace`; returns the new original and the patch without directive items.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    items: &Schema,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Some(m) = v.as_object() else {
            return Err(PatchError::bad_arg_type(MAP_TYPE, &v));
        };
        match m.get(DIRECTIVE) {
            None => plain.push(v),
            Some(Value::String(d)) if d == "delete" => {
                let Some(kv) = m.get(key) else {
                    return Err(PatchError::no_merge_key(&v, key));
                };
                while let Some(i) = order::find_by_key(&original, key, kv)? {
                    original.remove(i);
                }
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(Value::String(d)) if d == "merge" => return Err(PatchError::MergeDirectiveInList),
            Some(d) => {
                return Err(PatchError::BadPatchType {
                    directive: go_v(d),
                    map: go_v(&v),
                });
            }
        }
    }
    if replace {
        // The patch items become the list: normalize them as new items.
        let items = plain.into_iter().map(|v| match v {
            Value::Object(m) => merge_map(Map::new(), m, items).map(Value::Object),
            other => Ok(other),
        });
        return Ok((items.collect::<Result<_, _>>()?, Vec::new()));
    }
    Ok((original, plain))
}

/// Upstream `mergeSliceWithoutSpecialElements`: merges each patch item into the original item
/// with the same merge key value, appending new ones.
fn merge_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    items: &Schema,
) -> Result<Vec<Value>, PatchError> {
    for v in patch {
        let Some(pm) = v.as_object() else {
            return Err(PatchError::bad_arg_type(MAP_TYPE, v));
        };
        let Some(kv) = pm.get(key) else {
            return Err(PatchError::no_merge_key(v, key));
        };
        match order::find_by_key(&original, key, kv)? {
            Some(i) => {
                let orig = match std::mem::take(&mut original[i]) {
                    Value::Object(o) => o,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(orig, pm.clone(), items)?);
            }
            None => original.push(Value::Object(merge_map(Map::new(), pm.clone(), items)?)),
        }
    }
    Ok(original)
}
