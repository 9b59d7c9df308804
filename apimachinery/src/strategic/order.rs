//! List helpers of strategic merge patch: element kinds, deduplication, deletion, and the
//! ordering rules (`$setElementOrder` first, then the patch's order, then the live order).
//! Ported from upstream's `normalizeElementOrder`/`mergeSortedSlice` so results are identical.

use serde_json::Value;

use super::error::{MAP_TYPE, PatchError, go_v};

/// The JSON kind of list elements, as Go's reflect kinds distinguish them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Map,
    List,
    String,
    Int,
    Float,
    Bool,
    Null,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Object(_) => Kind::Map,
        Value::Array(_) => Kind::List,
        Value::String(_) => Kind::String,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::Bool(_) => Kind::Bool,
        Value::Null => Kind::Null,
    }
}

/// Upstream `sliceElementType`: the one element kind of all given lists (a list as first
/// element is "lists of lists"; any other disagreement is reported with all the lists).
pub(crate) fn slice_element_kind(slices: &[&[Value]]) -> Result<Kind, PatchError> {
    let mut prev: Option<Kind> = None;
    for s in slices {
        for v in *s {
            let k = kind_of(v);
            match prev {
                None if k == Kind::List => return Err(PatchError::NoListOfLists),
                None => prev = Some(k),
                Some(p) if p != k => {
                    let all: Vec<String> = slices
                        .iter()
                        .map(|s| format!("[{}]", s.iter().map(go_v).collect::<Vec<_>>().join(" ")))
                        .collect();
                    return Err(PatchError::MixedListElements(format!(
                        "[{}]",
                        all.join(" ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    prev.ok_or(PatchError::NoListElements)
}

/// Upstream `deduplicateScalars`, including the order it leaves (a later duplicate is replaced
/// by the last element).
pub(crate) fn deduplicate_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut length = s.len() as isize - 1;
    let mut i: isize = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i as usize] == s[j as usize] {
                s[j as usize] = s[length as usize].clone();
                s.truncate(length as usize);
                length -= 1;
                j -= 1;
            }
            j += 1;
        }
        i += 1;
    }
    s
}

/// Upstream `deleteFromSlice`: drops every element listed in `to_delete`.
pub(crate) fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.contains(v))
        .collect()
}

/// The merge key's value of a list element (None when absent or not a map, which upstream's
/// `nil` also makes equal to another absent value).
fn merge_value<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.as_object().and_then(|m| m.get(key))
}

/// Upstream `index`: the position of `val` in `list`, by merge key for maps.
fn index(list: &[Value], val: &Value, key: &str, kind: Kind) -> Option<usize> {
    if kind == Kind::Map {
        let want = merge_value(val, key);
        list.iter().position(|v| merge_value(v, key) == want)
    } else {
        list.iter().position(|v| v == val)
    }
}

/// Upstream `findMapInSliceBasedOnKeyValue`: the first map whose merge key equals `value`.
pub(crate) fn find_by_key(
    list: &[Value],
    key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (i, v) in list.iter().enumerate() {
        let m = v.as_object().ok_or(PatchError::NotAMap(i))?;
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits `merged` into the elements present in `by` (by merge key for maps) and the others.
pub(crate) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut in_patch = Vec::new();
    let mut server_only = Vec::new();
    for v in merged {
        let found = if key.is_empty() {
            by.contains(&v)
        } else {
            let m = v
                .as_object()
                .ok_or_else(|| PatchError::bad_arg_type(MAP_TYPE, &v))?;
            let kv = m
                .get(key)
                .ok_or_else(|| PatchError::no_merge_key(&v, key))?;
            find_by_key(by, key, kv)?.is_some()
        };
        if found {
            in_patch.push(v)
        } else {
            server_only.push(v)
        }
    }
    Ok((in_patch, server_only))
}

/// True when `item` is a map carrying `$patch`.
pub(crate) fn has_directive(item: &Value) -> bool {
    item.as_object().is_some_and(|m| m.contains_key("$patch"))
}

/// Upstream `extractToDeleteItems`: splits off the `$patch: delete` elements.
pub(crate) fn extract_to_delete(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for v in list {
        let m = v
            .as_object()
            .ok_or_else(|| PatchError::bad_arg_type(MAP_TYPE, &v))?;
        if m.get("$patch").and_then(Value::as_str) == Some("delete") {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

fn validate_merge_key(key: &str, lists: &[&[Value]]) -> Result<(), PatchError> {
    for list in lists {
        for item in *list {
            let m = item
                .as_object()
                .ok_or_else(|| PatchError::bad_arg_type(MAP_TYPE, item))?;
            if !m.contains_key(key) {
                return Err(PatchError::no_merge_key(item, key));
            }
        }
    }
    Ok(())
}

/// Upstream `normalizeSliceOrder`: sorts `to_sort` by the positions in `order` (elements not
/// found keep their places), with `$patch: delete` elements moved to the end.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let (mut to_sort, to_delete) = if kind == Kind::Map {
        validate_merge_key(key, &[&to_sort, order])?;
        extract_to_delete(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let positions: Vec<(usize, usize)> = to_sort
        .iter()
        .enumerate()
        .filter_map(|(i, v)| index(order, v, key, kind).map(|o| (i, o)))
        .collect();
    let mut found: Vec<(usize, Value)> = positions
        .iter()
        .map(|&(i, o)| (o, to_sort[i].clone()))
        .collect();
    found.sort_by_key(|(o, _)| *o);
    for ((slot, _), (_, v)) in positions.iter().zip(found) {
        to_sort[*slot] = v;
    }
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Upstream `normalizeElementOrder`: sorts the patch elements by `patch_order` and the
/// server-only ones by `server_order`, then interleaves them.
pub(crate) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, key, kind)?;
    Ok(merge_sorted(server_only, patch, server_order, key, kind))
}

/// Upstream `mergeSortedSlice`: inserts `left` (server-only) elements into `right` (patch)
/// where the live order puts them; unknown relative order favours `right`.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key: &str,
    kind: Kind,
) -> Vec<Value> {
    let less = |l: &Value, r: &Value| -> bool {
        match (
            index(server_order, l, key, kind),
            index(server_order, r, key, kind),
        ) {
            (Some(li), Some(ri)) => li < ri,
            _ => false,
        }
    };
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => less(l, r),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Upstream `mergeKeyValueEqual`.
pub(crate) fn merge_key_value_equal(
    left: &Value,
    right: &Value,
    key: &str,
) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let l = left
        .as_object()
        .ok_or_else(|| PatchError::bad_arg_type(MAP_TYPE, left))?;
    let r = right
        .as_object()
        .ok_or_else(|| PatchError::bad_arg_type(MAP_TYPE, right))?;
    let lv = l
        .get(key)
        .ok_or_else(|| PatchError::no_merge_key(left, key))?;
    let rv = r
        .get(key)
        .ok_or_else(|| PatchError::no_merge_key(right, key))?;
    Ok(lv == rv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vals(v: Value) -> Vec<Value> {
        v.as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn dedup_keeps_upstream_order() {
        assert_eq!(
            deduplicate_scalars(vals(json!(["a", "b", "a", "c"]))),
            vals(json!(["a", "b", "c"]))
        );
        assert_eq!(
            deduplicate_scalars(vals(json!(["a", "a", "b", "c"]))),
            vals(json!(["a", "c", "b"]))
        );
        assert_eq!(deduplicate_scalars(vec![]), Vec::<Value>::new());
    }

    #[test]
    fn new_patch_items_go_before_server_only_items() {
        let merged = normalize_element_order(
            vals(json!([{"name": "d"}])),
            vals(json!([{"name": "a"}, {"name": "b"}])),
            &vals(json!([{"name": "d"}])),
            &vals(json!([{"name": "a"}, {"name": "b"}])),
            "name",
            Kind::Map,
        )
        .expect("orders");
        assert_eq!(
            merged,
            vals(json!([{"name": "d"}, {"name": "a"}, {"name": "b"}]))
        );
    }

    #[test]
    fn interleaves_by_live_order() {
        // live: a b c; patch touches c and a (in that order): b precedes c in the live order, so
        // it goes first; the patch's own order wins between c and a.
        let merged = normalize_element_order(
            vals(json!(["c", "a"])),
            vals(json!(["b"])),
            &vals(json!(["c", "a"])),
            &vals(json!(["a", "b", "c"])),
            "",
            Kind::String,
        )
        .expect("orders");
        assert_eq!(merged, vals(json!(["b", "c", "a"])));
    }

    #[test]
    fn element_kinds() {
        assert_eq!(slice_element_kind(&[&vals(json!([1, 2]))]), Ok(Kind::Int));
        assert_eq!(
            slice_element_kind(&[&vals(json!([[1]]))]),
            Err(PatchError::NoListOfLists)
        );
        assert_eq!(
            slice_element_kind(&[&vals(json!(["a"])), &vals(json!([1]))])
                .map_err(|e| e.to_string()),
            Err("list element types are not identical: [[a] [1]]".to_string())
        );
        assert_eq!(
            slice_element_kind(&[&[], &[]]),
            Err(PatchError::NoListElements)
        );
    }
}
