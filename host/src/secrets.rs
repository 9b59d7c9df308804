//! Keeping the values of Secrets out of messages. A Secret is delivered like any other object,
//! so plugins are handed it whole; whatever text comes back from such a call (an error, a
//! panic's stderr, a log line) is redacted before it reaches a log or a status, by value: every
//! `data` value (base64, and decoded when it is text) and every `stringData` value.
//!
//! This catches quoting, not deliberate encoding: a plugin that reverses or re-encodes a value
//! gets it out. Values shorter than [`MIN_LEN`] bytes are not redacted (they would blank out
//! ordinary words of every message).

use std::borrow::Cow;

use base64::Engine;
use serde_json::Value;

use crate::plugins::Identity;

/// Whether `apiVersion` and `kind` are those of a core/v1 Secret.
fn is_secret(api_version: Option<&str>, kind: Option<&str>) -> bool {
    api_version == Some("v1") && kind == Some("Secret")
}

/// What replaces a Secret value.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are left alone.
pub const MIN_LEN: usize = 4;

/// The values of one Secret, longest first (so that a value containing another goes whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretValues(Vec<String>);

impl SecretValues {
    /// The values of `object` (JSON text) when it is a core/v1 Secret; none otherwise. Cheap
    /// for anything else: the text is only parsed when it mentions `Secret`.
    pub fn of_json(object: &str) -> SecretValues {
        if !object.contains("Secret") {
            return SecretValues::default();
        }
        serde_json::from_str::<Value>(object)
            .map(|v| SecretValues::of(&v))
            .unwrap_or_default()
    }

    /// [`Self::of_json`] for an object whose identity is known: only a Secret's text is read.
    pub fn of_identified(object: &str, identity: Option<&Identity>) -> SecretValues {
        match identity {
            Some(id) if is_secret(id.api_version(), id.kind()) => SecretValues::of_json(object),
            _ => SecretValues::default(),
        }
    }

    /// The values of `object` when it is a core/v1 Secret; none otherwise.
    pub fn of(object: &Value) -> SecretValues {
        if !is_secret(object["apiVersion"].as_str(), object["kind"].as_str()) {
            return SecretValues::default();
        }
        let mut out = Vec::new();
        let strings = |field: &str| -> Vec<String> {
            object[field]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        for encoded in strings("data") {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
                && let Ok(text) = String::from_utf8(bytes)
            {
                add_text(&mut out, text);
            }
            // Also without padding: a message may cut at the `=`.
            add(&mut out, encoded.trim_end_matches('=').to_string());
            add(&mut out, encoded);
        }
        for plain in strings("stringData") {
            add_text(&mut out, plain);
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.len()));
        out.dedup();
        SecretValues(out)
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every value replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.0 {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), REDACTED));
            }
        }
        out
    }
}

/// A decoded or plain value: itself, as JSON would escape it, and each of its lines (messages
/// are made one line, so a multi-line value shows up in pieces).
fn add_text(out: &mut Vec<String>, text: String) {
    if let Ok(escaped) = serde_json::to_string(&text) {
        let inner = &escaped[1..escaped.len() - 1];
        if inner != text {
            add(out, inner.to_string());
        }
    }
    if text.contains('\n') {
        for line in text.lines() {
            add(out, line.trim().to_string());
        }
    }
    add(out, text);
}

fn add(out: &mut Vec<String>, v: String) {
    if v.len() >= MIN_LEN {
        out.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_data_in_both_forms_and_string_data() {
        let s = json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "c2VjcmV0LXZhbHVl", "multi": "bGluZS1vbmUKbGluZS10d28=", "short": "YWI="},
            "stringData": {"b": "plain \"quoted\""},
        });
        let v = SecretValues::of_json(&s.to_string());
        let msg = format!(
            "got {s} and secret-value and line-one / line-two and bGluZS1vbmUKbGluZS10d28 and ab"
        );
        let r = v.redact(&msg);
        for leaked in [
            "secret-value",
            "c2VjcmV0",
            "plain \\\"quoted\\\"",
            "line-one",
            "line-two",
            "bGluZS1vbmUK",
        ] {
            assert!(!r.contains(leaked), "{leaked} in {r}");
        }
        assert!(r.contains("\"name\":\"s\""), "{r}");
        // Two-byte values are kept: they would blank out ordinary text.
        assert!(r.ends_with(" and ab"), "{r}");
    }

    #[test]
    fn other_objects_have_no_values() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "Secret-ish"}});
        assert!(SecretValues::of_json(&cm.to_string()).is_empty());
        assert!(SecretValues::of_json("not json, about a Secret").is_empty());
        let other =
            json!({"apiVersion": "example.com/v1", "kind": "Secret", "data": {"a": "dmFsdWU="}});
        assert!(SecretValues::of(&other).is_empty());
    }

    #[test]
    fn a_known_identity_decides_whether_the_text_is_read() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "c2VjcmV0LXZhbHVl"}});
        let text = secret.to_string();
        let identity = Identity::of_value(&secret);
        assert_eq!(
            SecretValues::of_identified(&text, identity.as_ref()),
            SecretValues::of_json(&text)
        );
        assert!(!SecretValues::of_identified(&text, identity.as_ref()).is_empty());
        let config_map = Identity::new(Some("v1"), Some("ConfigMap"), Some("s"), None);
        assert!(SecretValues::of_identified(&text, Some(&config_map)).is_empty());
        assert!(SecretValues::of_identified(&text, None).is_empty());
    }
}
