//! Does a live object already carry everything a manifest asks for? Used to skip writes that
//! would change nothing (restarts, re-delivery) and to detect drift.

use serde_json::Value;

/// True when every field of `desired` is present in `live` with the same value. Maps may have
/// extra keys in `live` (server defaults, other managers); lists must have the same length and
/// each element must contain the desired one. `metadata` fields the server owns and `status`
/// are ignored.
pub fn contains(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(dv, lv),
            None => dv.is_null() || is_empty_container(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| contains(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn is_empty_container(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

/// The part of a manifest that the agent compares and applies: without `status` and without
/// server-owned metadata.
pub fn applied_part(manifest: &Value) -> Value {
    let mut m = manifest.clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("status");
        if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "managedFields",
                "selfLink",
            ] {
                meta.remove(k);
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_semantics() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"replicas": 2, "strategy": {}, "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always"}]}}}, "status": {}});
        assert!(contains(&desired, &live));
        let drifted = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert!(!contains(&desired, &drifted));
        let missing_label = json!({"metadata": {"name": "a"}, "spec": desired["spec"].clone()});
        assert!(!contains(&desired, &missing_label));
        let extra_container = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d"}]}}}});
        assert!(!contains(&desired, &extra_container));
        assert!(contains(&json!({"a": 1.0}), &json!({"a": 1})));
        assert!(contains(&json!({"a": {}}), &json!({})));
    }

    #[test]
    fn applied_part_drops_server_fields() {
        let m = applied_part(
            &json!({"metadata": {"name": "a", "resourceVersion": "5", "uid": "u"}, "status": {"x": 1}, "spec": {}}),
        );
        assert_eq!(m, json!({"metadata": {"name": "a"}, "spec": {}}));
    }
}
