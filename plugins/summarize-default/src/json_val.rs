//! JSON text straight into CEL values, in one pass, borrowing strings from the text, and
//! building only the parts the expressions can reach.
//!
//! What an expression can reach of a variable is a [`Need`]: a tree of field names, computed
//! from the selection chains that start at the variable (`returned.status.availableReplicas`
//! needs `status.availableReplicas` and nothing else). Any other use of a value (comparing it,
//! iterating it, indexing it, its size) needs all of it. Maps off every needed path are
//! skipped by the parser without being built, so a 1 KB status read for one number costs a
//! scan, not a tree.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
pub fn parse<'t>(text: &'t str, need: &Need) -> Result<Box<dyn Val + 't>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = match need {
        Need::Fields(fields) => Pruned(fields).deserialize(&mut deserializer)?,
        Need::Nothing | Need::All => Whole.deserialize(&mut deserializer)?,
    };
    deserializer.end()?;
    Ok(value)
}

/// Builds the whole value.
struct Whole;

impl<'de> DeserializeSeed<'de> for Whole {
    type Value = Box<dyn Val + 'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ValVisitor { fields: None })
    }
}

/// Builds only the given fields of a map (anything else whole).
struct Pruned<'n>(&'n BTreeMap<String, Need>);

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Box<dyn Val + 'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ValVisitor {
            fields: Some(self.0),
        })
    }
}

struct ValVisitor<'n> {
    /// `Some` to keep only these fields of a map.
    fields: Option<&'n BTreeMap<String, Need>>,
}

impl<'de> Visitor<'de> for ValVisitor<'_> {
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
        // Elements can only be reached by indexing or iterating, which need them whole.
        let mut items: Vec<Box<dyn Val + 'de>> = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Whole)? {
            items.push(item);
        }
        Ok(Box::new(CelList::from(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let capacity = match self.fields {
            Some(fields) => fields.len(),
            None => map.size_hint().unwrap_or(0),
        };
        let mut entries: HashMap<CelMapKey<'de>, Box<dyn Val + 'de>> =
            HashMap::with_capacity(capacity);
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = match self.fields.map(|fields| fields.get(key.as_ref())) {
                None => map.next_value_seed(Whole)?,
                Some(None | Some(Need::Nothing)) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Some(Some(Need::All)) => map.next_value_seed(Whole)?,
                Some(Some(Need::Fields(inner))) => map.next_value_seed(Pruned(inner))?,
            };
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

    #[test]
    fn only_needed_fields_are_built() {
        let text = r#"{"a": {"x": 1, "y": [1, 2]}, "b": {"deep": {"er": true}}, "c": "s\"q", "d": [{"k": 1}]}"#;
        let full = parse(text, &Need::All).expect("valid");
        assert_eq!(
            json(&*full),
            serde_json::from_str::<serde_json::Value>(text).expect("json")
        );

        let pruned = parse(text, &need(&[&["a", "x"], &["c"], &["d", "k"]])).expect("valid");
        // A list is built whole, whatever the path below it says.
        assert_eq!(
            json(&*pruned),
            serde_json::json!({"a": {"x": 1}, "c": "s\"q", "d": [{"k": 1}]})
        );
    }

    #[test]
    fn non_maps_on_a_path_are_built_whole_and_bad_json_is_an_error() {
        let v = parse("[1, {\"a\": 2}]", &need(&[&["a"]])).expect("valid");
        assert_eq!(json(&*v), serde_json::json!([1, {"a": 2}]));
        let v = parse("18446744073709551615", &Need::All).expect("valid");
        assert_eq!(Evaluated::from_val(&*v), Evaluated::UInt(u64::MAX));
        assert!(parse("{\"a\": ", &Need::All).is_err());
        assert!(parse("{} trailing", &Need::All).is_err());
        // Skipped parts are still checked.
        assert!(parse(r#"{"a": 1, "b": [1,}"#, &need(&[&["a"]])).is_err());
    }
}
