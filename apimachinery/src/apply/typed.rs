//! Walks of an object together with its schema, as structured-merge-diff's `typed` package does
//! them: the field set of a value, the comparison of two values, the merge of an applied
//! configuration into a live object, and the removal of a set of fields.
//!
//! Node kinds follow kube-openapi's schema conversion: objects are granular maps unless
//! `x-kubernetes-map-type: atomic`; lists are atomic unless `x-kubernetes-list-type` says set or
//! map (a strategic merge key implies a map, see [`Schema::list_type`]); int-or-string and
//! scalars are leaves; schemaless values are "deduced" (maps granular, lists atomic).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::fieldset::{FieldSet, Path, PathElement, path_string, values_equal};
use crate::schema::{ListType, MapType, Schema, Type, compile_openapi_v3};

/// How a node merges.
#[derive(Clone)]
pub(crate) enum Shape {
    /// Scalars, atomic lists and atomic maps: owned and replaced as a whole.
    Leaf,
    /// A granular map; children are looked up in this schema.
    Map(Schema),
    /// A list of scalars merged as a set.
    Set(Schema),
    /// A list of maps merged by these key fields.
    Keyed(Vec<String>, Schema),
}

/// The shape of a node from its schema; `value` only decides for schemaless nodes.
pub(crate) fn shape(schema: &Schema, value: Option<&Value>) -> Shape {
    if schema.is_int_or_string() {
        return Shape::Leaf;
    }
    let object = |s: &Schema| match s.map_type() {
        MapType::Atomic => Shape::Leaf,
        MapType::Granular => Shape::Map(s.clone()),
    };
    match schema.ty() {
        Type::Object => object(schema),
        Type::Array => {
            let items = schema.items().unwrap_or_else(Schema::any);
            match schema.list_type() {
                ListType::Atomic => Shape::Leaf,
                ListType::Set => Shape::Set(items),
                ListType::Map(keys) if keys.is_empty() => Shape::Leaf,
                ListType::Map(keys) => Shape::Keyed(keys, items),
            }
        }
        Type::Unspecified
            if !schema.properties().is_empty() || schema.additional_properties().is_some() =>
        {
            object(schema)
        }
        Type::Unspecified => match value {
            Some(Value::Object(_)) => Shape::Map(Schema::any()),
            _ => Shape::Leaf,
        },
        _ => Shape::Leaf,
    }
}

/// kube's ObjectMeta, used for `metadata` when the object's schema does not describe it (CRD
/// schemas usually say only `type: object`; the apiserver substitutes the real one).
static OBJECT_META: LazyLock<Option<Schema>> = LazyLock::new(|| {
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    compile_openapi_v3(&json!({"type": "object", "properties": {
        "annotations": string_map,
        "creationTimestamp": {"type": "string"},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "deletionTimestamp": {"type": "string"},
        "finalizers": {"type": "array", "items": {"type": "string"},
            "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
        "generateName": {"type": "string"},
        "generation": {"type": "integer"},
        "labels": string_map,
        "managedFields": {"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "atomic"},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "ownerReferences": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"],
            "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "uid",
            "items": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
                "apiVersion": {"type": "string"}, "blockOwnerDeletion": {"type": "boolean"},
                "controller": {"type": "boolean"}, "kind": {"type": "string"},
                "name": {"type": "string"}, "uid": {"type": "string"}}}},
        "resourceVersion": {"type": "string"},
        "selfLink": {"type": "string"},
        "uid": {"type": "string"}
    }}))
    .ok()
});

/// The schema of child `key` of a map node, and whether it is a declared ("named") field.
pub(crate) fn child(parent: &Schema, key: &str, root: bool) -> (Schema, bool) {
    let declared = parent.property(key);
    if root
        && key == "metadata"
        && declared.as_ref().is_none_or(|m| m.properties().is_empty())
        && let Some(meta) = OBJECT_META.as_ref()
    {
        return (meta.clone(), true);
    }
    if let Some(p) = declared {
        return (p, true);
    }
    match parent.additional_properties() {
        Some(a) => (a, false),
        None => (Schema::any(), false),
    }
}

/// The path element of a list item, or why it has none (upstream's messages).
fn item_pe(shape: &Shape, item: &Value) -> Result<PathElement, String> {
    match shape {
        Shape::Keyed(keys, items) => {
            let m = match item {
                Value::Object(m) => m,
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let mut fields = Vec::with_capacity(keys.len());
            for k in keys {
                let v = match m.get(k) {
                    Some(v) => v.clone(),
                    None => match items
                        .property(k)
                        .and_then(|p| p.default_value())
                        .or_else(|| implied_key_default(k))
                    {
                        Some(d) => d,
                        None => {
                            return Err(format!(
                                "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            ));
                        }
                    },
                };
                fields.push((k.clone(), v));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        _ => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            v => Ok(PathElement::Value(v.clone())),
        },
    }
}

/// kube's OpenAPI declares `default: "TCP"` for the `protocol` key of container and service
/// ports; schemas generated without defaults still key ports the same way. (CRDs cannot omit
/// a default for a non-required list-map key, so this never applies to them.)
fn implied_key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

/// The path elements of a list's items, or an error naming the first bad item or duplicate.
fn list_pes(
    shape: &Shape,
    items: &[Value],
    allow_duplicates: bool,
) -> Result<Vec<PathElement>, String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pe = item_pe(shape, item).map_err(|e| format!("element {i}: {e}"))?;
        if !seen.insert(pe.clone()) && !allow_duplicates {
            return Err(format!("duplicate entries for key {pe}"));
        }
        out.push(pe);
    }
    Ok(out)
}

fn item_schema(shape: &Shape) -> Schema {
    match shape {
        Shape::Set(s) | Shape::Keyed(_, s) => s.clone(),
        _ => Schema::any(),
    }
}

/// The field set of a value: its leaves, list items, and map entries that are not declared
/// fields (upstream `ToFieldSet`). In strict mode malformed lists are errors (an applied
/// configuration); otherwise they count as one leaf (a stored object).
pub(crate) fn field_set(value: &Value, schema: &Schema, strict: bool) -> Result<FieldSet, String> {
    let mut out = FieldSet::new();
    set_walk(value, schema, true, &mut Vec::new(), &mut out, strict)?;
    Ok(out)
}

fn set_walk(
    v: &Value,
    schema: &Schema,
    root: bool,
    path: &mut Path,
    out: &mut FieldSet,
    strict: bool,
) -> Result<(), String> {
    match (shape(schema, Some(v)), v) {
        (Shape::Map(s), Value::Object(m)) => {
            for (k, cv) in m {
                let (cs, named) = child(&s, k, root);
                path.push(PathElement::Field(k.clone()));
                set_walk(cv, &cs, false, path, out, strict)?;
                if cv.is_null() || cv.as_object().is_some_and(Map::is_empty) || !named {
                    out.insert(path);
                }
                path.pop();
            }
        }
        (sh @ (Shape::Set(_) | Shape::Keyed(..)), Value::Array(items)) => {
            match list_pes(&sh, items, false) {
                Ok(pes) => {
                    let is = item_schema(&sh);
                    for (item, pe) in items.iter().zip(pes) {
                        path.push(pe);
                        set_walk(item, &is, false, path, out, strict)?;
                        out.insert(path);
                        path.pop();
                    }
                }
                Err(e) if strict => return Err(format!("{}: {e}", path_string(path))),
                Err(_) => out.insert(path),
            }
        }
        (Shape::Map(_) | Shape::Set(_) | Shape::Keyed(..), Value::Null) => {}
        _ => out.insert(path),
    }
    Ok(())
}

/// Paths added, modified and removed between two versions of an object.
#[derive(Default, Debug)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Upstream `Compare`: leaves that changed, and map or list nodes that appeared or vanished.
pub(crate) fn compare(old: &Value, new: &Value, schema: &Schema) -> Comparison {
    let mut c = Comparison::default();
    cmp_walk(Some(old), Some(new), schema, true, &mut Vec::new(), &mut c);
    c
}

/// A present JSON object (or `None` for missing and null), or `Err` for another type.
fn as_map(v: Option<&Value>) -> Result<Option<&Map<String, Value>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(()),
    }
}

/// A present JSON array (or `None` for missing and null), or `Err` for another type.
fn as_list(v: Option<&Value>) -> Result<Option<&Vec<Value>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(()),
    }
}

fn cmp_walk(
    l: Option<&Value>,
    r: Option<&Value>,
    schema: &Schema,
    root: bool,
    path: &mut Path,
    c: &mut Comparison,
) {
    if let (Some(a), Some(b)) = (l, r)
        && a == b
    {
        return;
    }
    let is_leaf = match shape(schema, r.or(l)) {
        Shape::Leaf => true,
        Shape::Map(s) => match (as_map(l), as_map(r)) {
            (Ok(lm), Ok(rm))
                if lm.is_some_and(|m| !m.is_empty()) || rm.is_some_and(|m| !m.is_empty()) =>
            {
                let empty = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty), rm.unwrap_or(&empty));
                for k in lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k))) {
                    let (cs, _) = child(&s, k, root);
                    path.push(PathElement::Field(k.clone()));
                    cmp_walk(lm.get(k), rm.get(k), &cs, false, path, c);
                    path.pop();
                }
                false
            }
            _ => true,
        },
        sh @ (Shape::Set(_) | Shape::Keyed(..)) => match (as_list(l), as_list(r)) {
            (Ok(la), Ok(ra))
                if la.is_some_and(|a| !a.is_empty()) || ra.is_some_and(|a| !a.is_empty()) =>
            {
                let (la, ra) = (
                    la.map(Vec::as_slice).unwrap_or(&[]),
                    ra.map(Vec::as_slice).unwrap_or(&[]),
                );
                match (list_pes(&sh, la, false), list_pes(&sh, ra, false)) {
                    (Ok(lp), Ok(rp)) => {
                        let lmap: BTreeMap<&PathElement, &Value> = lp.iter().zip(la).collect();
                        let rmap: BTreeMap<&PathElement, &Value> = rp.iter().zip(ra).collect();
                        let is = item_schema(&sh);
                        for pe in lp.iter().chain(rp.iter().filter(|p| !lmap.contains_key(p))) {
                            path.push(pe.clone());
                            cmp_walk(
                                lmap.get(pe).copied(),
                                rmap.get(pe).copied(),
                                &is,
                                false,
                                path,
                                c,
                            );
                            path.pop();
                        }
                        false
                    }
                    // Duplicates or items without keys in a stored object: compare as a whole.
                    _ => true,
                }
            }
            _ => true,
        },
    };
    match (is_leaf, l, r) {
        (true, None, Some(_)) | (false, None, _) => c.added.insert(path),
        (true, Some(_), None) | (false, Some(_), None) => c.removed.insert(path),
        (true, Some(a), Some(b)) if !values_equal(a, b) => c.modified.insert(path),
        _ => {}
    }
}

/// Upstream `Merge`: the applied configuration `config` merged into `live`.
pub(crate) fn merge(live: &Value, config: &Value, schema: &Schema) -> Value {
    merge_walk(Some(live), Some(config), schema, true).unwrap_or_else(|| Value::Object(Map::new()))
}

fn merge_walk(l: Option<&Value>, r: Option<&Value>, schema: &Schema, root: bool) -> Option<Value> {
    let leaf = || r.or(l).cloned();
    match shape(schema, r.or(l)) {
        Shape::Leaf => leaf(),
        Shape::Map(s) => match (as_map(l), as_map(r)) {
            (Ok(lm), Ok(rm))
                if lm.is_some_and(|m| !m.is_empty()) || rm.is_some_and(|m| !m.is_empty()) =>
            {
                let empty = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty), rm.unwrap_or(&empty));
                let mut out = Map::new();
                for k in lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k))) {
                    let (cs, _) = child(&s, k, root);
                    if let Some(v) = merge_walk(lm.get(k), rm.get(k), &cs, false) {
                        out.insert(k.clone(), v);
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            _ => leaf(),
        },
        sh @ (Shape::Set(_) | Shape::Keyed(..)) => match (as_list(l), as_list(r)) {
            (Ok(la), Ok(ra))
                if la.is_some_and(|a| !a.is_empty()) || ra.is_some_and(|a| !a.is_empty()) =>
            {
                let (la, ra) = (
                    la.map(Vec::as_slice).unwrap_or(&[]),
                    ra.map(Vec::as_slice).unwrap_or(&[]),
                );
                match (list_pes(&sh, la, true), list_pes(&sh, ra, false)) {
                    (Ok(lp), Ok(rp)) => {
                        let out = merge_items(la, &lp, ra, &rp, &item_schema(&sh));
                        (!out.is_empty()).then_some(Value::Array(out))
                    }
                    _ => leaf(),
                }
            }
            _ => leaf(),
        },
    }
}

/// Upstream `visitListItems` of the merging walker: live items keep their places, the
/// configuration's items keep their relative order, shared items merge.
fn merge_items(
    la: &[Value],
    lp: &[PathElement],
    ra: &[Value],
    rp: &[PathElement],
    items: &Schema,
) -> Vec<Value> {
    let mut observed_l: BTreeMap<&PathElement, Option<&Value>> = BTreeMap::new();
    for (pe, v) in lp.iter().zip(la) {
        // A duplicated live item is not merged with the configuration (upstream: nil).
        observed_l
            .entry(pe)
            .and_modify(|e| *e = None)
            .or_insert(Some(v));
    }
    let observed_r: BTreeMap<&PathElement, &Value> = rp.iter().zip(ra).collect();
    let mut shared = rp.iter().filter(|pe| observed_l.contains_key(pe));
    let mut next_shared = shared.next();
    let mut merged_r = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(la.len().max(ra.len()));
    let (mut li, mut ri) = (0, 0);
    let live_of = |pe: &PathElement| observed_l.get(pe).copied().flatten();
    while li < lp.len() || ri < rp.len() {
        if li < lp.len() && ri < rp.len() {
            let pe = &lp[li];
            if *pe == rp[ri] {
                merged_r.insert(pe);
                out.extend(merge_walk(
                    live_of(pe),
                    observed_r.get(pe).copied(),
                    items,
                    false,
                ));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_r.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lp.len() {
            let pe = &lp[li];
            if !observed_r.contains_key(pe) {
                out.extend(merge_walk(Some(&la[li]), None, items, false));
                li += 1;
                continue;
            } else if merged_r.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rp.len() {
            let pe = &rp[ri];
            merged_r.insert(pe);
            out.extend(merge_walk(live_of(pe), Some(&ra[ri]), items, false));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        }
    }
    out
}

/// Removes the members of `set` from `value` (with everything below them). A map or list
/// emptied by the removal is removed too (upstream leaves `null`, which decoding drops).
pub(crate) fn remove(value: &mut Value, set: &FieldSet, schema: &Schema) {
    remove_walk(value, set, schema, true);
}

fn remove_walk(v: &mut Value, set: &FieldSet, schema: &Schema, root: bool) {
    match (shape(schema, Some(v)), v) {
        (Shape::Map(s), Value::Object(m)) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let pe = PathElement::Field(k.clone());
                let (cs, _) = child(&s, &k, root);
                if set.has_member(&pe) {
                    // An empty list is not a node of the object's field set: nothing to remove.
                    let empty_list = m
                        .get(&k)
                        .is_some_and(|c| c.as_array().is_some_and(Vec::is_empty))
                        && matches!(shape(&cs, m.get(&k)), Shape::Set(_) | Shape::Keyed(..));
                    if !empty_list {
                        m.remove(&k);
                    }
                } else if let (Some(sub), Some(cv)) = (set.child(&pe), m.get_mut(&k)) {
                    let before = is_empty_container(cv);
                    remove_walk(cv, sub, &cs, false);
                    if !before && is_empty_container(cv) {
                        m.remove(&k);
                    }
                }
            }
        }
        (sh @ (Shape::Set(_) | Shape::Keyed(..)), Value::Array(items)) => {
            let Ok(pes) = list_pes(&sh, items, true) else {
                return;
            };
            let is = item_schema(&sh);
            let mut kept = Vec::with_capacity(items.len());
            for (mut item, pe) in std::mem::take(items).into_iter().zip(pes) {
                if set.has_member(&pe) {
                    continue;
                }
                if let Some(sub) = set.child(&pe) {
                    remove_walk(&mut item, sub, &is, false);
                }
                kept.push(item);
            }
            *items = kept;
        }
        _ => {}
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Upstream `EnsureNamedFieldsAreMembers`: adds every declared field that has members below it.
pub(crate) fn ensure_named(set: &FieldSet, schema: &Schema) -> FieldSet {
    let mut out = FieldSet::new();
    ensure_walk(set, schema, true, &mut Vec::new(), &mut out);
    out
}

fn ensure_walk(set: &FieldSet, schema: &Schema, root: bool, path: &mut Path, out: &mut FieldSet) {
    for m in set.members() {
        path.push(m.clone());
        out.insert(path);
        path.pop();
    }
    // Without a value, a schemaless node with field children can only be a map.
    let sh = match shape(schema, None) {
        Shape::Leaf
            if set
                .children()
                .any(|(pe, _)| matches!(pe, PathElement::Field(_))) =>
        {
            Shape::Map(schema.clone())
        }
        sh => sh,
    };
    for (pe, sub) in set.children() {
        let cs = match (&sh, pe) {
            (Shape::Map(s), PathElement::Field(k)) => {
                let (cs, named) = child(s, k, root);
                if named {
                    path.push(pe.clone());
                    out.insert(path);
                    path.pop();
                }
                cs
            }
            (Shape::Set(is) | Shape::Keyed(_, is), _) => is.clone(),
            _ => Schema::any(),
        };
        path.push(pe.clone());
        ensure_walk(sub, &cs, false, path, out);
        path.pop();
    }
}

/// The zero value of a Go API type as its JSON shows it: the struct fields that are not
/// pointers, which kube's OpenAPI marks with `default: {}`, and `null` for the other fields
/// without `omitempty` (those kube lists as required). Comparing a created object with it
/// (rather than with `{}`) gives the managedFields kube gives: no `.` on `spec`, `template`...
pub(crate) fn zero_object(schema: &Schema) -> Value {
    zero_walk(schema, 0).unwrap_or_else(|| Value::Object(Map::new()))
}

fn zero_walk(schema: &Schema, depth: usize) -> Option<Value> {
    // Recursive types (JSONSchemaProps) stop here; real zero objects are shallow.
    if depth > 12 {
        return None;
    }
    let Shape::Map(s) = shape(schema, None) else {
        return None;
    };
    let mut out = Map::new();
    let required = s.required();
    for (name, prop) in s.properties() {
        let is_struct = prop
            .default_value()
            .is_some_and(|d| d.as_object().is_some_and(Map::is_empty));
        if is_struct && matches!(shape(&prop, None), Shape::Map(_)) {
            out.insert(
                name,
                zero_walk(&prop, depth + 1).unwrap_or_else(|| Value::Object(Map::new())),
            );
        } else if required.contains(&name) {
            // Required means "no omitempty" in kube's generated OpenAPI: Go writes `null`.
            out.insert(name, Value::Null);
        }
    }
    Some(Value::Object(out))
}
