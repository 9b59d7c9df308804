//! The fast path. Most objects need only the common removals: no CustomTransform queries, no
//! kind-specific rules, no templates. Then only the top level, `metadata` and its
//! `annotations` are decoded; every other value is copied through as raw JSON text, which
//! saves building and re-serializing the whole tree. Anything unusual falls back to the full
//! path, whose output this one equals as JSON.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::kinds;
use crate::strip::{LAST_APPLIED, METADATA_FIELDS};
use crate::templates::EXPAND_ANNOTATION;

/// Members of one JSON object, their values undecoded (sorted, as the full path prints them).
type RawMap<'a> = BTreeMap<String, &'a RawValue>;

/// The transformed object, or `None` when the full path must handle it. `expanding` says
/// whether a cluster was given, so that template expansion would be due if requested.
pub fn try_transform(object: &str, expanding: bool) -> Option<String> {
    // Raw values keep their whitespace; the output must be compact.
    let object = object.trim_matches([' ', '\n', '\r', '\t']);
    if !is_compact(object) {
        return None;
    }
    let mut top: RawMap<'_> = serde_json::from_str(object).ok()?;
    let api_version = top.get("apiVersion").and_then(|r| as_string(r));
    let kind = top.get("kind").and_then(|r| as_string(r));
    if kinds::has_rules(api_version.as_deref(), kind.as_deref()) {
        return None;
    }
    top.remove("status");

    let annotations_out: Box<RawValue>;
    let metadata_out: Box<RawValue>;
    if let Some(raw) = top.get("metadata").copied() {
        let mut metadata: RawMap<'_> = serde_json::from_str(raw.get()).ok()?;
        for field in METADATA_FIELDS {
            metadata.remove(field);
        }
        if let Some(raw) = metadata.get("annotations").copied() {
            let mut annotations: RawMap<'_> = serde_json::from_str(raw.get()).ok()?;
            let expand = annotations
                .get(EXPAND_ANNOTATION)
                .and_then(|r| as_string(r));
            if expanding && expand.as_deref() == Some("true") {
                return None;
            }
            if annotations.remove(LAST_APPLIED).is_some() {
                annotations_out = to_raw(&annotations)?;
                metadata.insert("annotations".to_owned(), &annotations_out);
            }
        }
        metadata_out = to_raw(&metadata)?;
        top.insert("metadata".to_owned(), &metadata_out);
    }
    serde_json::to_string(&top).ok()
}

fn as_string(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

fn to_raw(map: &RawMap<'_>) -> Option<Box<RawValue>> {
    RawValue::from_string(serde_json::to_string(map).ok()?).ok()
}

/// Whether `json` has no whitespace outside strings.
fn is_compact(json: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use kubestellar_plugin_sdk::ClusterContext;
    use serde_json::{Value, json};

    /// Both paths, compared as JSON.
    fn same_as_full(object: &Value, with_cluster: bool) -> bool {
        let text = object.to_string();
        let cluster =
            with_cluster.then(|| ClusterContext::named("c1").with_label("region", "east"));
        let full = crate::full(&text, cluster.as_ref(), &crate::config::Config::default()).unwrap();
        let Some(fast) = try_transform(&text, with_cluster) else {
            return false;
        };
        assert!(!fast.contains(": ") && !fast.contains('\n'));
        assert_eq!(
            serde_json::from_str::<Value>(&fast).unwrap(),
            serde_json::from_str::<Value>(&full.object).unwrap()
        );
        true
    }

    #[test]
    fn equals_the_full_path_where_it_applies() {
        let reference: Value =
            serde_json::from_str(include_str!("../tests/data/deployment.json")).unwrap();
        assert!(same_as_full(&reference, true));
        assert!(same_as_full(&reference, false));
        for object in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "annotations": {LAST_APPLIED: "{}"}}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "annotations": {"x": "a b"}}, "data": {"k": "v w"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "uid": "u", "finalizers": ["f"]}, "status": {}}),
            json!({"apiVersion": "v1", "kind": "Thing", "spec": {"z": 1, "a": [1.5, "x", null, {"b": true}]}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d",
                "annotations": {EXPAND_ANNOTATION: "false", "t": "{{ .clusterName }}"}}}),
        ] {
            assert!(same_as_full(&object, true), "{object}");
        }
        // Templates requested but no cluster: nothing to expand, the fast path applies.
        let templated = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {EXPAND_ANNOTATION: "true"}}, "data": {"k": "{{ .clusterName }}"}});
        assert!(same_as_full(&templated, false));
    }

    #[test]
    fn falls_back_when_more_is_needed() {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"clusterIP": "1.2.3.4"}});
        assert!(try_transform(&service.to_string(), false).is_none());
        let templated = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "annotations": {EXPAND_ANNOTATION: "\u{74}rue"}}});
        assert!(try_transform(&templated.to_string(), true).is_none());
        assert!(try_transform("{\"a\": 1}", false).is_none(), "not compact");
        assert!(
            try_transform("\n{\"a\":1}\n", false).is_some(),
            "whitespace around the root is fine"
        );
        assert!(try_transform("[]", false).is_none());
        assert!(try_transform(r#"{"metadata":{"annotations":null}}"#, false).is_none());
        assert!(try_transform(r#"{"metadata":"x"}"#, false).is_none());
        assert!(is_compact(r#"{"a":"x y\" z","b":[1,2]}"#));
        assert!(!is_compact("{\"a\":\"\\\\\" ,\"b\":1}"));
    }
}
