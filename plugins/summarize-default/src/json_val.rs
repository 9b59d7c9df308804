//! JSON text straight into CEL values, in one pass, borrowing strings from the text, and
//! building only the parts the expressions can reach.
//!
//! What an expression can reach of a variable is a [`Need`]: a tree of field names, computed
//! from the selection chains that start at the variable (`returned.status.availableReplicas`
//! needs `status.availableReplicas` and nothing else). Any other use of a value (comparing it,
//! iterating it, indexing it, its size) needs all of it.
//!
//! An object of which only some fields are needed is not parsed but scanned: unneeded values
//! are skipped by bracket matching, and the scan stops as soon as every needed field was seen,
//! so a 1 KB status read for one number usually costs a hundred bytes of scanning. Only the
//! needed values are parsed (and so validated); the input comes from the host, which produced
//! it from a decoded object. Should a key repeat, the scan may keep its first value.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Which parts of a value the expressions can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the value is never read.
    #[default]
    Nothing,
    /// All of it.
    All,
    /// Only these fields, if the value is a map (anything else is needed whole).
    Fields(BTreeMap<String, Need>),
}

impl Need {
    /// Whether any part is needed.
    pub fn any(&self) -> bool {
        *self != Need::Nothing
    }

    /// Adds the subtree at `path` (all of the value for an empty path).
    pub fn add_path(&mut self, path: &[&str]) {
        match (path.split_first(), &mut *self) {
            (_, Need::All) => {}
            (None, _) => *self = Need::All,
            (Some((first, rest)), Need::Fields(fields)) => {
                fields
                    .entry((*first).to_owned())
                    .or_default()
                    .add_path(rest);
            }
            (Some((first, rest)), Need::Nothing) => {
                let mut child = Need::Nothing;
                child.add_path(rest);
                *self = Need::Fields(BTreeMap::from([((*first).to_owned(), child)]));
            }
        }
    }

    /// Adds everything `other` needs.
    pub fn merge(&mut self, other: &Need) {
        match (&mut *self, other) {
            (Need::All, _) | (_, Need::Nothing) => {}
            (_, Need::All) => *self = Need::All,
            (Need::Nothing, Need::Fields(_)) => *self = other.clone(),
            (Need::Fields(mine), Need::Fields(theirs)) => {
                for (key, need) in theirs {
                    mine.entry(key.clone()).or_default().merge(need);
                }
            }
        }
    }

    /// What is needed of field `key` of this value.
    pub fn field(&self, key: &str) -> &Need {
        static NOTHING: Need = Need::Nothing;
        static ALL: Need = Need::All;
        match self {
            Need::Nothing => &NOTHING,
            Need::All => &ALL,
            Need::Fields(fields) => fields.get(key).unwrap_or(&NOTHING),
        }
    }
}

/// Parses JSON text into a CEL value that borrows its strings from `text`, building only
/// what `need` asks for (a `Nothing` need builds all, as there is nothing to prune by).
/// Integers become `int` (or `uint` above `i64::MAX`), like Kubernetes' unstructured
/// decoding that upstream evaluates against; other numbers become `double`.
pub fn parse<'t>(text: &'t str, need: &Need) -> Result<Box<dyn Val + 't>, String> {
    match need {
        Need::Fields(fields) if text.trim_start().starts_with('{') => scan_object(text, fields),
        _ => parse_whole(text),
    }
}

/// Parses all of `text`.
fn parse_whole(text: &str) -> Result<Box<dyn Val + '_>, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Whole
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|e| e.to_string())?;
    Ok(value)
}

/// Builds a map of the needed `fields` of the JSON object `text` (which starts, after
/// whitespace, with `{`), scanning no further than the last needed field.
fn scan_object<'t>(
    text: &'t str,
    fields: &BTreeMap<String, Need>,
) -> Result<Box<dyn Val + 't>, String> {
    let mut entries: HashMap<CelMapKey<'t>, Box<dyn Val + 't>> =
        HashMap::with_capacity(fields.len());
    let mut members = Members::new(text);
    while entries.len() < fields.len() {
        let Some((key, value)) = members.next()? else {
            break;
        };
        if let Some(need) = fields.get(key.as_ref()) {
            let value = parse(value, need)?;
            entries.insert(CelMapKey::String(CelString::from(key)), value);
        }
    }
    Ok(Box::new(CelMap::from(entries)))
}

/// The text of the value at `path` in the JSON `text` (all of it for an empty path), or
/// `None` if a key is missing, a value on the way is not an object, or the text is malformed
/// on the way. Stops scanning each object at the first matching key.
pub fn lookup<'t>(text: &'t str, path: &[String]) -> Option<&'t str> {
    let mut value = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    for key in path {
        if !value.starts_with('{') {
            return None;
        }
        let mut members = Members::new(value);
        value = loop {
            match members.next() {
                Ok(Some((k, v))) if k == key.as_str() => break v,
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return None,
            }
        };
    }
    Some(value)
}

/// The members of a JSON object, as (unescaped key, value text), read lazily.
struct Members<'t> {
    text: &'t str,
    at: usize,
    done: bool,
}

impl<'t> Members<'t> {
    /// Members of the object starting (after whitespace) at the beginning of `text`.
    fn new(text: &'t str) -> Members<'t> {
        let bytes = text.as_bytes();
        let open = skip_whitespace(bytes, 0) + 1;
        let at = skip_whitespace(bytes, open);
        Members {
            text,
            at,
            done: bytes.get(at) == Some(&b'}'),
        }
    }

    fn next(&mut self) -> Result<Option<(Cow<'t, str>, &'t str)>, String> {
        if self.done {
            return Ok(None);
        }
        let bytes = self.text.as_bytes();
        let at = self.at;
        if bytes.get(at) != Some(&b'"') {
            return Err(format!("expected a key at byte {at}"));
        }
        let key_end = skip_string(bytes, at)?;
        let key = key_text(self.text, at, key_end)?;
        let colon = skip_whitespace(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return Err(format!("expected ':' at byte {colon}"));
        }
        let value_start = skip_whitespace(bytes, colon + 1);
        let value_end = skip_value(bytes, value_start)?;
        let after = skip_whitespace(bytes, value_end);
        match bytes.get(after) {
            Some(b',') => self.at = skip_whitespace(bytes, after + 1),
            Some(b'}') => self.done = true,
            _ => return Err(format!("expected ',' or '}}' at byte {after}")),
        }
        Ok(Some((key, &self.text[value_start..value_end])))
    }
}

/// The key between the quotes at `start` and `end - 1`, unescaped if it needs to be.
fn key_text(text: &str, start: usize, end: usize) -> Result<Cow<'_, str>, String> {
    let raw = &text[start + 1..end - 1];
    if raw.contains('\\') {
        serde_json::from_str::<String>(&text[start..end])
            .map(Cow::Owned)
            .map_err(|e| e.to_string())
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The position just past the string whose opening quote is at `at`.
fn skip_string(bytes: &[u8], mut at: usize) -> Result<usize, String> {
    at += 1;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => return Ok(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    Err("unterminated string".to_owned())
}

/// The position just past the value starting at `at`, found by matching brackets; the value
/// itself is checked only if it is parsed.
fn skip_value(bytes: &[u8], at: usize) -> Result<usize, String> {
    match bytes.get(at) {
        None => Err("expected a value at the end of the input".to_owned()),
        Some(b'"') => skip_string(bytes, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'"' => {
                        i = skip_string(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err("unterminated object or array".to_owned())
        }
        Some(_) => {
            let mut i = at;
            while let Some(&b) = bytes.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            if i == at {
                Err(format!("expected a value at byte {at}"))
            } else {
                Ok(i)
            }
        }
    }
}

/// Builds the whole value.
struct Whole;

impl<'de> DeserializeSeed<'de> for Whole {
    type Value = Box<dyn Val + 'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Box<dyn Val + 'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Box::new(CelBool::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Box::new(CelInt::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Box::new(CelInt::from(i)),
            Err(_) => Box::new(CelUInt::from(v)),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Box::new(CelDouble::from(v)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Box::new(CelString::from(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Box::new(CelNull))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Box::new(CelNull))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items: Vec<Box<dyn Val + 'de>> = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Whole)? {
            items.push(item);
        }
        Ok(Box::new(CelList::from(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: HashMap<CelMapKey<'de>, Box<dyn Val + 'de>> =
            HashMap::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(Whole)?;
            entries.insert(CelMapKey::String(CelString::from(key)), value);
        }
        Ok(Box::new(CelMap::from(entries)))
    }
}

/// Reads an object key, borrowing it from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluated::Evaluated;

    fn need(paths: &[&[&str]]) -> Need {
        let mut need = Need::Nothing;
        for path in paths {
            need.add_path(path);
        }
        need
    }

    fn json(value: &dyn Val) -> serde_json::Value {
        match Evaluated::from_val(value) {
            Evaluated::Json(json) => json,
            other => panic!("not a map or list: {other:?}"),
        }
    }

    #[test]
    fn paths_merge_into_a_trie() {
        let mut n = need(&[&["status", "a"], &["status", "b", "c"]]);
        assert_eq!(n.field("status").field("b").field("c"), &Need::All);
        assert_eq!(n.field("spec"), &Need::Nothing);
        n.merge(&need(&[&["status", "b"]]));
        assert_eq!(n.field("status").field("b"), &Need::All);
        n.add_path(&[]);
        assert_eq!(n, Need::All);
        assert_eq!(Need::All.field("anything"), &Need::All);
    }

    /// What `parse` should build: the full parse, with maps pruned to the needed fields.
    fn prune(value: serde_json::Value, need: &Need) -> serde_json::Value {
        match (value, need) {
            (serde_json::Value::Object(map), Need::Fields(fields)) => serde_json::Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| fields.get(&k).map(|n| (k, prune(v, n))))
                    .collect(),
            ),
            (value, _) => value,
        }
    }

    #[test]
    fn scanning_builds_exactly_the_needed_fields() {
        let docs = [
            r#"{"a": {"x": 1, "y": [1, 2]}, "b": {"deep": {"er": true}}, "c": "s\"q", "d": [{"k": 1}]}"#,
            r#" { "b" : "}{][\\\"" , "a":{"x":-1.5e3,"z":null},"c":[ "]", {"}":"{"} ] ,"d":false } "#,
            r#"{"x\u0041": 1, "a\"b": {"x": "\u00e9t\u00e9"}, "a": {"x": "été"}}"#,
            r#"{"c": 12345678901234567890, "a": {}, "b": [], "d": ""}"#,
            "{}",
            r#"[{"a": 1}]"#,
            r#""a string""#,
        ];
        let needs = [
            need(&[&["a", "x"]]),
            need(&[&["a", "x"], &["c"], &["d", "k"]]),
            need(&[&["b"], &["d"]]),
            need(&[&["xA"], &["a\"b", "x"]]),
            need(&[&["missing", "deeper"]]),
            Need::All,
        ];
        for doc in docs {
            let full: serde_json::Value = serde_json::from_str(doc).expect("test JSON");
            for n in &needs {
                let built = parse(doc, n).unwrap_or_else(|e| panic!("{doc} with {n:?}: {e}"));
                let built = match Evaluated::from_val(&*built) {
                    Evaluated::Json(json) => json,
                    Evaluated::String(s) => serde_json::Value::String(s),
                    other => panic!("{other:?}"),
                };
                assert_eq!(built, prune(full.clone(), n), "{doc} with {n:?}");
            }
        }
    }

    #[test]
    fn lookup_finds_value_text_by_path() {
        let doc = r#" {"a": {"b\u0063": [1, {"x": 1}], "d": "}"}, "e": 2.5 } "#;
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(lookup(doc, &path(&["a", "bc"])), Some(r#"[1, {"x": 1}]"#));
        assert_eq!(lookup(doc, &path(&["a", "d"])), Some(r#""}""#));
        assert_eq!(lookup(doc, &path(&["e"])), Some("2.5"));
        assert_eq!(lookup(doc, &path(&[])), Some(doc.trim()));
        assert_eq!(lookup(doc, &path(&["a", "missing"])), None);
        assert_eq!(lookup(doc, &path(&["e", "x"])), None);
        assert_eq!(lookup(doc, &path(&["a", "bc", "x"])), None);
        assert_eq!(lookup(r#"{"a" 1}"#, &path(&["a"])), None);
        assert_eq!(lookup("null", &path(&["a"])), None);
    }

    #[test]
    fn the_scan_stops_after_the_last_needed_field() {
        // Whatever follows is not looked at (the host hands over well-formed JSON).
        let v = parse(r#"{"a": 1, "b": [1,}"#, &need(&[&["a"]])).expect("stops after a");
        assert_eq!(json(&*v), serde_json::json!({"a": 1}));
    }

    #[test]
    fn malformed_input_on_the_scanned_path_is_an_error() {
        let a = need(&[&["a"]]);
        for bad in [
            r#"{"a" 1}"#,
            r#"{"a": }"#,
            r#"{"a": "unterminated}"#,
            r#"{"b": [1, 2, "a": 1}"#,
            r#"{"b": 1 "a": 1}"#,
            r#"{"a": tru}"#,
            r#"{"a": {"x": 1}"#,
            r#"{a: 1}"#,
            "{",
        ] {
            assert!(parse(bad, &a).is_err(), "{bad} should fail");
        }
        let v = parse("18446744073709551615", &Need::All).expect("valid");
        assert_eq!(Evaluated::from_val(&*v), Evaluated::UInt(u64::MAX));
        assert!(parse("{\"a\": ", &Need::All).is_err());
        assert!(parse("{} trailing", &Need::All).is_err());
    }
}
