//! The WEC-independent removals every workload object gets (upstream `TransformObject`):
//! server-populated metadata, the client-side-apply annotation and the whole `status`.

use serde_json::{Map, Value};

/// `metadata` fields the WDS populates and a WEC must not receive.
pub const METADATA_FIELDS: [&str; 8] = [
    "managedFields",
    "finalizers",
    "generation",
    "ownerReferences",
    "selfLink",
    "resourceVersion",
    "uid",
    "generateName",
];

/// The annotation `kubectl apply` keeps; it describes the WDS copy, not the WEC one.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Removes what no WEC should see. Labels, other annotations and `creationTimestamp` stay.
pub fn strip_common(object: &mut Map<String, Value>) {
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for field in METADATA_FIELDS {
            metadata.remove(field);
        }
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove(LAST_APPLIED);
        }
    }
    object.remove("status");
}

/// The object's `metadata.<field>` map (labels, annotations), if it is one.
pub fn metadata_map<'o>(
    object: &'o mut Map<String, Value>,
    field: &str,
) -> Option<&'o mut Map<String, Value>> {
    match object.get_mut("metadata")?.get_mut(field)? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The value of annotation `key`, if the object has it as a string.
pub fn annotation<'o>(object: &'o Map<String, Value>, key: &str) -> Option<&'o str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_server_fields_annotation_and_status() {
        let Value::Object(mut obj) = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "x", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"a": "b"},
                "annotations": {LAST_APPLIED: "{}", "keep": "me"},
                "managedFields": [{}], "finalizers": ["f"], "generation": 4, "ownerReferences": [{}],
                "selfLink": "/x", "resourceVersion": "9", "uid": "u", "generateName": "x-"
            },
            "data": {"k": "v"},
            "status": {"phase": "ok"}
        }) else {
            unreachable!()
        };
        strip_common(&mut obj);
        assert_eq!(
            Value::Object(obj),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"a": "b"}, "annotations": {"keep": "me"}},
                "data": {"k": "v"}
            })
        );
    }

    #[test]
    fn tolerates_odd_shapes() {
        let Value::Object(mut obj) = json!({"metadata": "weird", "status": 1}) else {
            unreachable!()
        };
        strip_common(&mut obj);
        assert_eq!(Value::Object(obj), json!({"metadata": "weird"}));
        let Value::Object(mut obj) = json!({"metadata": {"annotations": null}}) else {
            unreachable!()
        };
        strip_common(&mut obj);
        assert_eq!(
            Value::Object(obj),
            json!({"metadata": {"annotations": null}})
        );
    }
}
