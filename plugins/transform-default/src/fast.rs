//! The fast path. Most objects need only the common removals: no CustomTransform queries, no
//! kind-specific rules, no templates. Then one pass of the SDK's raw scanner reads the top
//! level, `metadata` and its `annotations` as member names borrowed from the input and values
//! as raw JSON text, which is copied through; nothing else is decoded, built or re-serialized.
//! Anything unusual (whitespace, escaped or repeated member names, ...) falls back to the full
//! path, whose output this one equals as JSON.

use std::borrow::Cow;
use std::cmp::Ordering;

use kubestellar_plugin_sdk::json::raw::{Key, Scanner};

use crate::kinds;
use crate::strip::{LAST_APPLIED, METADATA_FIELDS};
use crate::templates::EXPAND_ANNOTATION;

/// Members of one JSON object: names without escapes (so their text is their value) and raw
/// values, sorted by name as the full path prints them.
type Members<'a> = Vec<(&'a str, &'a str)>;

/// The transformed object, or `None` when the full path must handle it. `expanding` says
/// whether a cluster was given, so that template expansion would be due if requested.
pub fn try_transform(object: &str, expanding: bool) -> Option<String> {
    // Raw values keep their whitespace; the output must be compact.
    let object = object.trim_matches([' ', '\n', '\r', '\t']);
    let mut s = Scanner::new(object);
    let mut nested = [None, None];
    let mut top = read(&mut s, &["metadata", "annotations"], &mut nested)?;
    s.end()?;
    if !s.compact() {
        return None;
    }
    let [metadata, annotations] = nested;
    let api_version = get(&top, "apiVersion").and_then(as_str);
    let kind = get(&top, "kind").and_then(as_str);
    if kinds::has_rules(api_version.as_deref(), kind.as_deref()) {
        return None;
    }
    remove(&mut top, "status");

    let mut out = String::with_capacity(object.len());
    let (Some(mut metadata), Some(raw)) = (metadata, remove(&mut top, "metadata")) else {
        write_map(&mut out, &top, None);
        return Some(out);
    };
    metadata.retain(|(name, _)| !METADATA_FIELDS.iter().any(|f| same(f, name)));
    let mut annotations_out = None;
    if let Some(mut annotations) = annotations {
        let expand = get(&annotations, EXPAND_ANNOTATION).and_then(as_str);
        if expanding && expand.as_deref() == Some("true") {
            return None;
        }
        if remove(&mut annotations, LAST_APPLIED).is_some() {
            let mut text = String::with_capacity(raw.len());
            write_map(&mut text, &annotations, None);
            remove(&mut metadata, "annotations");
            annotations_out = Some(text);
        }
    }
    let mut metadata_out = String::with_capacity(raw.len());
    write_map(
        &mut metadata_out,
        &metadata,
        annotations_out.as_deref().map(|a| ("annotations", a)),
    );
    write_map(&mut out, &top, Some(("metadata", &metadata_out)));
    Some(out)
}

/// Reads the members of the object that comes next. When `path` is not empty, the member named
/// `path[0]` must be an object too: its members go to `nested[0]`, read the same way with the
/// rest of `path` and `nested`.
fn read<'a>(
    s: &mut Scanner<'a>,
    path: &[&str],
    nested: &mut [Option<Members<'a>>],
) -> Option<Members<'a>> {
    if s.peek()? != b'{' {
        return None;
    }
    let mut members = Vec::with_capacity(16);
    s.object(|s, key| {
        let Key::Plain(name) = key else {
            return None;
        };
        let start = s.position();
        match (path.split_first(), nested.split_first_mut()) {
            (Some((first, path)), Some((slot, nested))) if same(first, name) => {
                *slot = Some(read(s, path, nested)?);
                members.push((name, s.since(start)?));
            }
            _ => members.push((name, s.raw_value()?)),
        }
        Some(())
    })?;
    members.sort_unstable_by(|a, b| by_name(a.0, b.0));
    // A repeated name: the full path keeps the last one; not worth following here.
    if members.windows(2).any(|w| same(w[0].0, w[1].0)) {
        return None;
    }
    Some(members)
}

/// Byte order of names (`str::cmp`) without a `memcmp` call: in a wasm guest that is a call
/// into wasi-libc's byte-at-a-time loop, and names are short. Eight bytes at a time, read as
/// big-endian words (whose order is the bytes' order), then the tail byte by byte.
fn by_name(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len().min(b.len());
    let (mut wa, mut wb) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    for (x, y) in (&mut wa).zip(&mut wb) {
        let (mut x8, mut y8) = ([0; 8], [0; 8]);
        x8.copy_from_slice(x);
        y8.copy_from_slice(y);
        match u64::from_be_bytes(x8).cmp(&u64::from_be_bytes(y8)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    for (x, y) in wa.remainder().iter().zip(wb.remainder()) {
        match x.cmp(y) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    a.len().cmp(&b.len())
}

/// `a == b` for names, as [`by_name`] decides it.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && by_name(a, b) == Ordering::Equal
}

/// The raw value of member `name`.
fn get<'a>(members: &Members<'a>, name: &str) -> Option<&'a str> {
    let i = members.binary_search_by(|m| by_name(m.0, name)).ok()?;
    Some(members[i].1)
}

/// Removes member `name`, returning its raw value.
fn remove<'a>(members: &mut Members<'a>, name: &str) -> Option<&'a str> {
    let i = members.binary_search_by(|m| by_name(m.0, name)).ok()?;
    Some(members.remove(i).1)
}

/// Writes `members` as a compact JSON object, plus the member `extra` (name, JSON text) in its
/// sorted place. Names have no escapes, so they are written as they were read.
fn write_map(out: &mut String, members: &Members<'_>, extra: Option<(&str, &str)>) {
    let mut first = true;
    let mut member = |out: &mut String, name: &str, value: &str| {
        out.push_str(if first { "{\"" } else { ",\"" });
        first = false;
        out.push_str(name);
        out.push_str("\":");
        out.push_str(value);
    };
    let mut extra = extra;
    for (name, value) in members {
        if let Some((extra_name, extra_value)) = extra
            && by_name(extra_name, name) == Ordering::Less
        {
            member(out, extra_name, extra_value);
            extra = None;
        }
        member(out, name, value);
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
fn as_str(raw: &str) -> Option<Cow<'_, str>> {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Some(Cow::Borrowed(inner)),
        _ => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
    }
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
        assert!(is_compact_slowly(fast.as_bytes()), "{fast}");
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
    fn taken_exactly_when_the_text_is_compact() {
        // One whitespace byte inserted at every position of compact objects: where the text is
        // still JSON, the fast path applies exactly when the byte landed inside a string (and
        // then equals the full path); spaces around the root are trimmed.
        let reference: Value =
            serde_json::from_str(include_str!("../tests/data/deployment.json")).unwrap();
        let objects = [
            reference,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a b", "annotations": {LAST_APPLIED: "{\"x\": \"\\\" y\"}", "k": "v"}},
                "data": {"k": "line\nnext \"q\" \\"}, "n": [1, -2.5e3, true, null, {}]}),
        ];
        let mut fast = 0;
        for object in objects {
            let compact = object.to_string();
            for i in 0..=compact.len() {
                for ws in [" ", "\t", "\n"] {
                    let text = format!("{}{ws}{}", &compact[..i], &compact[i..]);
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    let inner = text.trim_matches([' ', '\n', '\r', '\t']);
                    let expected = is_compact_slowly(inner.as_bytes());
                    assert_eq!(try_transform(&text, true).is_some(), expected, "{text}");
                    if expected {
                        fast += 1;
                        assert!(same_as_full(&value, true), "{text}");
                    }
                }
            }
        }
        assert!(fast > 1000, "{fast}");
    }

    /// Byte by byte: no whitespace outside strings.
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
    fn names_order_as_str_does() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefgha",
            "abcdefgh\u{e9}",
            "abcdefghz",
            "metadata",
            "managedFields",
            "namespace",
            "name",
            "kubectl.kubernetes.io/last-applied-configuration",
            "kubectl.kubernetes.io/last-applied-configurations",
            "\u{e9}t\u{e9}",
            "Z",
            "~",
        ];
        for a in names {
            for b in names {
                assert_eq!(by_name(a, b), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(same(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
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
        assert!(try_transform(r#"{"a":"x y\" z","b":[1,2]}"#, false).is_some());
        assert!(try_transform("{\"a\":\"\\\\\" ,\"b\":1}", false).is_none());
        assert!(
            try_transform(r#"{"a":1,"a":2}"#, false).is_none(),
            "repeated"
        );
        assert!(try_transform(r#"{"metadata":{"name":"a"},"metadata":{}}"#, false).is_none());
        assert!(
            try_transform(r#"{"a":1} x"#, false).is_none(),
            "trailing text"
        );
        assert!(try_transform(r#"{"a":tru}"#, false).is_none(), "invalid");
        let escaped_name = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"n\u0061me":"a"}}"#;
        assert!(try_transform(escaped_name, false).is_none());
    }
}
