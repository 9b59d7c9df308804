//! The fast path. Most objects need only the common removals: no CustomTransform queries, no
//! kind-specific rules, no templates. Then only the top level, `metadata` and its
//! `annotations` are decoded, with member names borrowed from the input; every other value is
//! copied through as raw JSON text, which saves building and re-serializing the whole tree.
//! Anything unusual (whitespace, escaped member names, ...) falls back to the full path, whose
//! output this one equals as JSON.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::kinds;
use crate::strip::{LAST_APPLIED, METADATA_FIELDS};
use crate::templates::EXPAND_ANNOTATION;

/// Members of one JSON object: names without escapes (so their text is their value), values
/// undecoded; sorted, as the full path prints them.
type RawMap<'a> = BTreeMap<&'a str, &'a RawValue>;

/// The transformed object, or `None` when the full path must handle it. `expanding` says
/// whether a cluster was given, so that template expansion would be due if requested.
pub fn try_transform(object: &str, expanding: bool) -> Option<String> {
    // Raw values keep their whitespace; the output must be compact.
    let object = object.trim_matches([' ', '\n', '\r', '\t']);
    if !is_compact(object.as_bytes()) {
        return None;
    }
    let mut top: RawMap<'_> = serde_json::from_str(object).ok()?;
    let api_version = top.get("apiVersion").and_then(|r| as_str(r));
    let kind = top.get("kind").and_then(|r| as_str(r));
    if kinds::has_rules(api_version.as_deref(), kind.as_deref()) {
        return None;
    }
    top.remove("status");

    let mut out = String::with_capacity(object.len());
    let Some(raw) = top.remove("metadata") else {
        write_map(&mut out, &top, None);
        return Some(out);
    };
    let mut metadata: RawMap<'_> = serde_json::from_str(raw.get()).ok()?;
    for field in METADATA_FIELDS {
        metadata.remove(field);
    }
    let mut annotations_out = None;
    if let Some(raw) = metadata.get("annotations").copied() {
        let mut annotations: RawMap<'_> = serde_json::from_str(raw.get()).ok()?;
        let expand = annotations.get(EXPAND_ANNOTATION).and_then(|r| as_str(r));
        if expanding && expand.as_deref() == Some("true") {
            return None;
        }
        if annotations.remove(LAST_APPLIED).is_some() {
            let mut text = String::with_capacity(raw.get().len());
            write_map(&mut text, &annotations, None);
            metadata.remove("annotations");
            annotations_out = Some(text);
        }
    }
    let mut metadata_out = String::with_capacity(raw.get().len());
    write_map(
        &mut metadata_out,
        &metadata,
        annotations_out.as_deref().map(|a| ("annotations", a)),
    );
    write_map(&mut out, &top, Some(("metadata", &metadata_out)));
    Some(out)
}

/// Writes `map` as a compact JSON object, plus the member `extra` (name, JSON text) in its
/// sorted place. Names have no escapes, so they are written as they were read.
fn write_map(out: &mut String, map: &RawMap<'_>, extra: Option<(&str, &str)>) {
    let mut first = true;
    let mut member = |out: &mut String, name: &str, value: &str| {
        out.push_str(if first { "{\"" } else { ",\"" });
        first = false;
        out.push_str(name);
        out.push_str("\":");
        out.push_str(value);
    };
    let mut extra = extra;
    for (name, value) in map {
        if let Some((extra_name, extra_value)) = extra
            && extra_name < *name
        {
            member(out, extra_name, extra_value);
            extra = None;
        }
        member(out, name, value.get());
    }
    if let Some((extra_name, extra_value)) = extra {
        member(out, extra_name, extra_value);
    }
    if first {
        out.push('{');
    }
    out.push('}');
}

/// The string a raw value holds, borrowed when it has no escapes.
fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

/// Whether `json` has no whitespace outside strings. Eight bytes at a time: a block without
/// quotes, backslashes (and, outside strings, whitespace) is skipped whole.
fn is_compact(json: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < json.len() {
        if !escaped
            && let Some(block) = json.get(i..i + 8).and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            let block = u64::from_le_bytes(block);
            let mut found = has_byte(block, b'"') | has_byte(block, b'\\');
            if !in_string {
                found |= has_byte(block, b' ')
                    | has_byte(block, b'\n')
                    | has_byte(block, b'\r')
                    | has_byte(block, b'\t');
            }
            if found == 0 {
                i += 8;
                continue;
            }
            // The lowest flag marks the first such byte exactly (higher ones may be false).
            i += (found.trailing_zeros() / 8) as usize;
        }
        let Some(&b) = json.get(i) else {
            break;
        };
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
        i += 1;
    }
    true
}

/// The high bit of each byte of `block` that equals `byte` (exact for the lowest such byte).
fn has_byte(block: u64, byte: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = block ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
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

    /// Byte by byte, as the block-wise version must decide.
    fn is_compact_slowly(json: &[u8]) -> bool {
        let (mut in_string, mut escaped) = (false, false);
        for &b in json {
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

    #[test]
    fn block_wise_compactness_agrees_with_byte_wise() {
        // Every short string over a small alphabet that exercises quotes, escapes and
        // whitespace at every position relative to the 8-byte blocks.
        let alphabet = [b'a', b'"', b'\\', b' ', b'\t', b'{'];
        let mut checked = 0;
        for len in 0..=7u32 {
            for n in 0..alphabet.len().pow(len) {
                let mut text: Vec<u8> = b"xxxxxxx".to_vec();
                let mut k = n;
                for _ in 0..len {
                    text.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                text.extend_from_slice(b"yyyyyyyyy");
                assert_eq!(
                    is_compact(&text),
                    is_compact_slowly(&text),
                    "{}",
                    String::from_utf8_lossy(&text)
                );
                checked += 1;
            }
        }
        assert!(checked > 300_000);
        let reference = include_bytes!("../tests/data/deployment.json");
        assert_eq!(is_compact(reference), is_compact_slowly(reference));
        let compact =
            serde_json::to_vec(&serde_json::from_slice::<Value>(reference).unwrap()).unwrap();
        assert!(is_compact(&compact));
    }

    #[test]
    fn members_keep_their_sorted_places() {
        for object in [
            json!({}),
            json!({"apiVersion": "v1", "kind": "ConfigMap"}),
            json!({"a": 1, "metadata": {"name": "x"}, "z": 2}),
            json!({"zz": 1, "metadata": {"annotations": {LAST_APPLIED: "{}", "b": "c"}, "a": 1, "z": 2}}),
            json!({"metadata": {"annotations": {LAST_APPLIED: "{}"}}}),
            json!({"metadata": {"uid": "u"}, "status": {"a": 1}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": {"k": "dg=="}, "type": "Opaque"}),
        ] {
            assert!(same_as_full(&object, true), "{object}");
            assert!(same_as_full(&object, false), "{object}");
            let text = try_transform(&object.to_string(), true).unwrap();
            let expected =
                crate::full(&object.to_string(), None, &crate::config::Config::default())
                    .unwrap()
                    .object;
            assert_eq!(text, expected, "same text as the full path for {object}");
        }
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
        assert!(is_compact(br#"{"a":"x y\" z","b":[1,2]}"#));
        assert!(!is_compact(b"{\"a\":\"\\\\\" ,\"b\":1}"));
        let escaped_name = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"n\u0061me":"a"}}"#;
        assert!(try_transform(escaped_name, false).is_none());
    }
}
