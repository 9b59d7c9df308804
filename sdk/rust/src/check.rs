//! The checks the host applies to a plugin's output, shared so that native tests
//! (`crate::testing`) reject exactly what the host rejects.
//!
//! They run on every plugin call, so they read only what they check: the identity fields of a
//! transformed object and the JSON type of summary cells are taken from a validating pass over
//! the text that skips every other value (`IgnoredAny`) instead of building the whole tree.
//! For transformed objects a byte-level scanner ([`scan`]) goes first; serde_json decides
//! whatever it leaves open.

mod scan;

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::{CellValue, Summary};

/// Checks a transformer's output against its input: the output must be a JSON object with the
/// same `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` (an absent namespace and an
/// empty one are the same). Returns the reason when it is not.
pub fn transformed_object(input: &str, output: &str) -> Result<(), String> {
    keeps_identity(Identity::of_json(input).as_ref(), output)
}

/// [`transformed_object`] for a caller that already knows the input's identity (`None`: the
/// input is not a JSON object, so there is nothing to keep), which spares reading it from the
/// input's text on every call.
pub fn keeps_identity(before: Option<&Identity>, output: &str) -> Result<(), String> {
    // The scanner settles the common case; anything it leaves open (a difference, escapes,
    // non-string fields, invalid text) is decided and worded through serde_json.
    if let Some(after) = scan::scan(output) {
        match before {
            None => return Ok(()),
            Some(before) if before.same_as_raw(&after) => return Ok(()),
            Some(_) => {}
        }
    }
    keeps_identity_by_serde(before, output)
}

/// [`keeps_identity`] without the scanner.
fn keeps_identity_by_serde(before: Option<&Identity>, output: &str) -> Result<(), String> {
    let after = match parse_top(output).map_err(|e| format!("output is not JSON: {e}"))? {
        Top::Object(identity) => identity,
        Top::Other(kind) => return Err(format!("output is a JSON {kind}, not an object")),
    };
    let Some(before) = before else {
        return Ok(());
    };
    let fields = [
        ("apiVersion", &before.api_version, &after.api_version, false),
        ("kind", &before.kind, &after.kind, false),
        ("metadata.name", &before.name, &after.name, false),
        (
            "metadata.namespace",
            &before.namespace,
            &after.namespace,
            true,
        ),
    ];
    for (path, before, after, norm_empty) in fields {
        let (before, after) = (before.as_ref(), after.as_ref());
        let same = if norm_empty {
            empty_as_none(before) == empty_as_none(after)
        } else {
            before == after
        };
        if !same {
            return Err(format!(
                "{path} changed from {} to {}",
                show(before),
                show(after)
            ));
        }
    }
    Ok(())
}

/// The fields that identify a Kubernetes object, which a transformer must keep: `apiVersion`,
/// `kind`, `metadata.name` and `metadata.namespace`, as JSON values (absent: `None`). When a key
/// repeats, the last one counts, as with `serde_json::Value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    api_version: Option<Value>,
    kind: Option<Value>,
    name: Option<Value>,
    namespace: Option<Value>,
}

impl Identity {
    /// An identity made of strings (absent fields: `None`).
    pub fn new(
        api_version: Option<&str>,
        kind: Option<&str>,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Identity {
        let string = |s: Option<&str>| s.map(|s| Value::String(s.to_owned()));
        Identity {
            api_version: string(api_version),
            kind: string(kind),
            name: string(name),
            namespace: string(namespace),
        }
    }

    /// The identity of an object given as JSON text; `None` when the text is not a JSON object.
    pub fn of_json(text: &str) -> Option<Identity> {
        if let Some(raw) = scan::scan(text)
            && let Some(identity) = Identity::of_plain(&raw)
        {
            return Some(identity);
        }
        match parse_top(text) {
            Ok(Top::Object(identity)) => Some(identity),
            _ => None,
        }
    }

    /// The identity of a decoded object; `None` when it is not an object.
    pub fn of_value(object: &Value) -> Option<Identity> {
        let object = object.as_object()?;
        let meta = |field: &str| {
            object
                .get("metadata")
                .and_then(Value::as_object)
                .and_then(|m| m.get(field))
                .cloned()
        };
        Some(Identity {
            api_version: object.get("apiVersion").cloned(),
            kind: object.get("kind").cloned(),
            name: meta("name"),
            namespace: meta("namespace"),
        })
    }

    /// `apiVersion`, when it is a string.
    pub fn api_version(&self) -> Option<&str> {
        self.api_version.as_ref().and_then(Value::as_str)
    }

    /// `kind`, when it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_ref().and_then(Value::as_str)
    }

    /// From the scanner's raw texts when each field is absent or a string without escapes.
    fn of_plain(raw: &scan::RawIdentity<'_>) -> Option<Identity> {
        let value = |r: Option<&str>| plain(r).map(|p| p.map(|s| Value::String(s.to_owned())));
        Some(Identity {
            api_version: value(raw.api_version)?,
            kind: value(raw.kind)?,
            name: value(raw.name)?,
            namespace: value(raw.namespace)?,
        })
    }

    /// True when `raw` (the scanner's reading of an output) certainly has this identity; false
    /// when it differs or it takes decoding to tell.
    fn same_as_raw(&self, raw: &scan::RawIdentity<'_>) -> bool {
        let same = |before: &Option<Value>, raw: Option<&str>| match (before, plain(raw)) {
            (None, Some(None)) => true,
            (Some(Value::String(b)), Some(Some(a))) => b == a,
            _ => false,
        };
        let same_namespace = match (&self.namespace, plain(raw.namespace)) {
            (None, Some(a)) => a.is_none_or(str::is_empty),
            (Some(Value::String(b)), Some(a)) => {
                Some(b.as_str()).filter(|b| !b.is_empty()) == a.filter(|a| !a.is_empty())
            }
            _ => false,
        };
        same(&self.api_version, raw.api_version)
            && same(&self.kind, raw.kind)
            && same(&self.name, raw.name)
            && same_namespace
    }
}

/// The value of a raw identity field when it is absent (`Some(None)`) or a string without
/// escapes, whose text is its value; `None` when it takes decoding.
fn plain(raw: Option<&str>) -> Option<Option<&str>> {
    match raw {
        None => Some(None),
        Some(raw) if raw.len() >= 2 && raw.starts_with('"') && !raw.contains('\\') => {
            raw.get(1..raw.len() - 1).map(Some)
        }
        Some(_) => None,
    }
}

/// Checks that a summary is well formed: unique column names, every row as wide as the column
/// names, `Object`/`Array` cells holding JSON of that type. Returns the reason when it is not.
pub fn summary(summary: &Summary) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for name in &summary.column_names {
        if !seen.insert(name.as_str()) {
            return Err(format!("column name {name:?} appears more than once"));
        }
    }
    let width = summary.column_names.len();
    for (i, row) in summary.rows.iter().enumerate() {
        if row.columns.len() != width {
            return Err(format!(
                "row {i} has {} columns but there are {width} column names",
                row.columns.len()
            ));
        }
        for (j, cell) in row.columns.iter().enumerate() {
            let bad = match cell {
                CellValue::Object(text) => json_type_of(text) != Some("object"),
                CellValue::Array(text) => json_type_of(text) != Some("array"),
                CellValue::Number(text) => text.trim().is_empty(),
                CellValue::Null | CellValue::String(_) | CellValue::Bool(_) => false,
            };
            if bad {
                return Err(format!(
                    "row {i} column {j}: not a valid {} value",
                    cell.type_name()
                ));
            }
        }
    }
    for e in &summary.aggregation_errors {
        if !summary.column_names.contains(&e.column_name) {
            return Err(format!(
                "aggregation error names unknown column {:?}",
                e.column_name
            ));
        }
    }
    Ok(())
}

fn empty_as_none(v: Option<&Value>) -> Option<&Value> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        other => other,
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "<absent>".to_owned(),
        Some(v) => v.to_string(),
    }
}

/// The JSON type of `text` (`"object"`, `"array"`, ...), or `None` when it is not JSON.
fn json_type_of(text: &str) -> Option<&'static str> {
    match parse_top(text).ok()? {
        Top::Object(_) => Some("object"),
        Top::Other(kind) => Some(kind),
    }
}

/// Parses a whole JSON text (like `serde_json::from_str`: trailing characters are an error),
/// keeping only the identity fields of an object.
fn parse_top(text: &str) -> serde_json::Result<Top> {
    let mut de = serde_json::Deserializer::from_str(text);
    let top = Top::deserialize(&mut de)?;
    de.end()?;
    Ok(top)
}

/// A JSON value reduced to what the checks need.
enum Top {
    /// An object, with its identity fields.
    Object(Identity),
    /// Any other value, by type name.
    Other(&'static str),
}

/// `metadata.name` and `metadata.namespace`; empty when `metadata` is not an object.
#[derive(Default)]
struct Meta {
    name: Option<Value>,
    namespace: Option<Value>,
}

/// The top-level members the identity check reads; everything else is skipped.
enum TopKey {
    ApiVersion,
    Kind,
    Metadata,
    Other,
}

/// The `metadata` members the identity check reads.
enum MetaKey {
    Name,
    Namespace,
    Other,
}

/// Implements a key visitor that maps member names to an enum without allocating.
macro_rules! key_visitor {
    ($key:ident, $($name:literal => $variant:ident),+) => {
        impl<'de> Deserialize<'de> for $key {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct KeyVisitor;
                impl Visitor<'_> for KeyVisitor {
                    type Value = $key;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a member name")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$key, E> {
                        Ok(match v {
                            $($name => $key::$variant,)+
                            _ => $key::Other,
                        })
                    }
                }
                d.deserialize_identifier(KeyVisitor)
            }
        }
    };
}

key_visitor!(TopKey, "apiVersion" => ApiVersion, "kind" => Kind, "metadata" => Metadata);
key_visitor!(MetaKey, "name" => Name, "namespace" => Namespace);

/// Visits any JSON value: scalars and arrays are skipped (by type), maps go to `on_map`.
trait ShapeVisitor<'de>: Sized {
    type Out;
    fn on_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error>;
    fn on_other(self, kind: &'static str) -> Self::Out;
}

/// Adapts a [`ShapeVisitor`] to serde's `Visitor`.
struct Shape<V>(V);

impl<'de, V: ShapeVisitor<'de>> Visitor<'de> for Shape<V> {
    type Value = V::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Out, A::Error> {
        self.0.on_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V::Out, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.0.on_other("array"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<V::Out, E> {
        Ok(self.0.on_other("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<V::Out, E> {
        Ok(self.0.on_other("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<V::Out, E> {
        Ok(self.0.on_other("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<V::Out, E> {
        Ok(self.0.on_other("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<V::Out, E> {
        Ok(self.0.on_other("string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Out, E> {
        Ok(self.0.on_other("null"))
    }
}

struct TopShape;

impl<'de> ShapeVisitor<'de> for TopShape {
    type Out = Top;

    fn on_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut id = Identity::default();
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::ApiVersion => id.api_version = Some(map.next_value()?),
                TopKey::Kind => id.kind = Some(map.next_value()?),
                TopKey::Metadata => {
                    let meta: Meta = map.next_value()?;
                    id.name = meta.name;
                    id.namespace = meta.namespace;
                }
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Top::Object(id))
    }

    fn on_other(self, kind: &'static str) -> Top {
        Top::Other(kind)
    }
}

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Shape(TopShape))
    }
}

struct MetaShape;

impl<'de> ShapeVisitor<'de> for MetaShape {
    type Out = Meta;

    fn on_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
        let mut meta = Meta::default();
        while let Some(key) = map.next_key::<MetaKey>()? {
            match key {
                MetaKey::Name => meta.name = Some(map.next_value()?),
                MetaKey::Namespace => meta.namespace = Some(map.next_value()?),
                MetaKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(meta)
    }

    fn on_other(self, _: &'static str) -> Meta {
        Meta::default()
    }
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Shape(MetaShape))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{AggregationError, Row};

    const DEP: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}"#;

    #[test]
    fn identity_preserved_is_accepted() {
        let out = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"a":"b"}}}"#;
        assert_eq!(transformed_object(DEP, out), Ok(()));
    }

    #[test]
    fn renamed_object_is_rejected() {
        let out = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"evil","namespace":"default"}}"#;
        let err = transformed_object(DEP, out).unwrap_err();
        assert_eq!(err, r#"metadata.name changed from "web" to "evil""#);
    }

    #[test]
    fn changed_kind_namespace_and_api_version_are_rejected() {
        for out in [
            r#"{"apiVersion":"apps/v2","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"other"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}"#,
        ] {
            assert!(transformed_object(DEP, out).is_err(), "{out}");
        }
    }

    #[test]
    fn empty_namespace_equals_absent_namespace() {
        let input = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#;
        let out =
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x","namespace":""}}"#;
        assert_eq!(transformed_object(input, out), Ok(()));
    }

    #[test]
    fn non_json_and_non_object_outputs_are_rejected() {
        assert!(
            transformed_object(DEP, "not json")
                .unwrap_err()
                .starts_with("output is not JSON")
        );
        assert_eq!(
            transformed_object(DEP, "[1]").unwrap_err(),
            "output is a JSON array, not an object"
        );
    }

    /// The check as it was before the partial parse: both texts decoded into `Value`s.
    fn reference(input: &str, output: &str) -> Result<(), String> {
        let out: Value =
            serde_json::from_str(output).map_err(|e| format!("output is not JSON: {e}"))?;
        if !out.is_object() {
            return Err("not an object".into());
        }
        let Ok(input) = serde_json::from_str::<Value>(input) else {
            return Ok(());
        };
        for (path, norm) in [
            (&["apiVersion"][..], false),
            (&["kind"][..], false),
            (&["metadata", "name"][..], false),
            (&["metadata", "namespace"][..], true),
        ] {
            let get = |v: &Value| path.iter().try_fold(v, |v, k| v.get(k)).cloned();
            let (b, a) = (get(&input), get(&out));
            let same = if norm {
                empty_as_none(b.as_ref()) == empty_as_none(a.as_ref())
            } else {
                b == a
            };
            if !same {
                return Err(path.join("."));
            }
        }
        Ok(())
    }

    #[test]
    fn agrees_with_a_full_parse() {
        let objects = [
            DEP,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"a":[1,{"b":null}],"c":"x"}}"#,
            r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"namespace":"default","name":"web"}}"#,
            r#"{"apiVersion":"apps/v1","apiVersion":"apps/v2","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":[{"name":"web"}]}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":"web"}"#,
            r#"{"apiVersion":"apps\u002fv1","kind":"Deployment","metadata":{"name":"web","namespace":"default"}}"#,
            r#"{"apiVersion":1,"kind":null,"metadata":{"name":{"a":1},"namespace":""}}"#,
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x","namespace":null}}"#,
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#,
            r#" { "apiVersion" : "v1" , "kind" : "Namespace" , "metadata" : { "name" : "x" } } "#,
            "{}",
        ];
        for input in objects {
            for output in objects {
                let ours = transformed_object(input, output);
                let theirs = reference(input, output);
                assert_eq!(
                    ours.is_ok(),
                    theirs.is_ok(),
                    "{input} -> {output}: {ours:?}"
                );
            }
        }
    }

    /// Texts around the scanner's edge cases: escapes, surrogates, numbers, literals,
    /// whitespace, repeated members, non-object metadata, nesting.
    const EDGES: [&str; 20] = [
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n","labels":{"x":"y"}},"data":{"k":"line\nnext \u00e9 \"q\" \\ \/"}}"#,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a\u0041"}}"#,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"\ud83d\ude00"}}"#,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"\ud83d"}}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"n":[0,-0,1.5,-2e10,3E+2,4e-3,12345678901234567890123,1e999]}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"n":[01]}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"n":[1.]}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"n":[-]}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"b":[true,false,null,{},[]]}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"b":[truex]}"#,
        " \n\t{ \"apiVersion\" : \"v1\" ,\r\"kind\":\"X\", \"metadata\" : { \"name\" : \"a\" } }\n ",
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"metadata":{"name":"b","namespace":""}}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"metadata":1e999}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"metadata":null}"#,
        r#"{"api\u0056ersion":"v2","apiVersion":"v1","kind":"X","metadata":{"name":"a"}}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a","nam\u0065":"b"}}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"deep":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"},"s":"tab	inside"}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a","namespace":null}}"#,
        r#"{"apiVersion":"v1","kind":"X","metadata":{"name":"a"}} {}"#,
    ];

    /// Every text made from `seeds` by replacing, inserting or deleting one byte (from a set of
    /// JSON-significant characters), kept if it is still UTF-8.
    fn mutations(seeds: &[&str]) -> Vec<String> {
        let alphabet = [
            "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "0", "1", "-", ".", "e", "t", "n", "u",
            "a", "\u{1}", "é",
        ];
        let mut out = Vec::new();
        for seed in seeds {
            out.push((*seed).to_owned());
            for i in (0..seed.len()).filter(|&i| seed.is_char_boundary(i)) {
                let next = (i + 1..=seed.len())
                    .find(|&j| seed.is_char_boundary(j))
                    .unwrap();
                out.push(format!("{}{}", &seed[..i], &seed[next..]));
                for a in alphabet {
                    out.push(format!("{}{a}{}", &seed[..i], &seed[i..]));
                    out.push(format!("{}{a}{}", &seed[..i], &seed[next..]));
                }
            }
        }
        out
    }

    #[test]
    fn scanner_accepts_only_what_serde_accepts_and_reads_the_same_identity() {
        let raw = |r: Option<&str>| r.map(|r| serde_json::from_str::<Value>(r).unwrap());
        let mut accepted = 0;
        let texts = mutations(&EDGES);
        for text in &texts {
            let Some(id) = scan::scan(text) else { continue };
            accepted += 1;
            // What the serde pass of the check reads.
            let theirs = match parse_top(text) {
                Ok(Top::Object(id)) => id,
                Ok(Top::Other(kind)) => panic!("scanner accepted a {kind}: {text}"),
                Err(e) => panic!("scanner accepted what serde rejects ({e}): {text}"),
            };
            assert_eq!(raw(id.api_version), theirs.api_version, "{text}");
            assert_eq!(raw(id.kind), theirs.kind, "{text}");
            assert_eq!(raw(id.name), theirs.name, "{text}");
            assert_eq!(raw(id.namespace), theirs.namespace, "{text}");
        }
        // The corpus exercises both outcomes.
        assert!(
            accepted > 1000 && accepted < texts.len() - 1000,
            "{accepted}"
        );
    }

    #[test]
    fn check_with_scanner_decides_as_serde_alone() {
        let texts = mutations(&EDGES[..12]);
        let inputs = [EDGES[0], EDGES[4], EDGES[11], DEP];
        for input in inputs {
            for output in &texts {
                let before = match parse_top(input) {
                    Ok(Top::Object(identity)) => Some(identity),
                    _ => None,
                };
                assert_eq!(
                    transformed_object(input, output),
                    keeps_identity_by_serde(before.as_ref(), output),
                    "{input} -> {output}"
                );
            }
        }
    }

    #[test]
    fn identity_known_to_the_caller_decides_as_the_text() {
        let texts = mutations(&EDGES[..12]);
        for input in [
            EDGES[0], EDGES[1], EDGES[11], EDGES[13], EDGES[14], DEP, "[1]",
        ] {
            let from_text = Identity::of_json(input);
            let value: Value = serde_json::from_str(input).unwrap();
            let from_value = Identity::of_value(&value);
            assert_eq!(from_text, from_value, "{input}");
            for output in &texts {
                assert_eq!(
                    keeps_identity(from_value.as_ref(), output),
                    transformed_object(input, output),
                    "{input} -> {output}"
                );
            }
        }
        let web = Identity::new(
            Some("apps/v1"),
            Some("Deployment"),
            Some("web"),
            Some("default"),
        );
        assert_eq!(Identity::of_json(DEP), Some(web.clone()));
        assert_eq!(web.kind(), Some("Deployment"));
        assert_eq!(web.api_version(), Some("apps/v1"));
        assert_eq!(Identity::of_json("not json"), None);
    }

    #[test]
    fn invalid_or_trailing_text_is_not_json() {
        for out in [
            r#"{"apiVersion":"apps/v1"} x"#,
            r#"{"apiVersion":"apps/v1","spec":{"a":[1,]}}"#,
            r#"{"apiVersion":"apps/v1","spec":{"a":tru}}"#,
            r#"{"apiVersion":"apps/v1""#,
            "",
        ] {
            let err = transformed_object(DEP, out).unwrap_err();
            assert!(err.starts_with("output is not JSON"), "{out}: {err}");
        }
        assert_eq!(
            transformed_object(DEP, r#""text""#).unwrap_err(),
            "output is a JSON string, not an object"
        );
        assert_eq!(
            transformed_object(DEP, "null").unwrap_err(),
            "output is a JSON null, not an object"
        );
        // An input that is not an object has nothing to preserve.
        assert_eq!(transformed_object("[1]", "{}"), Ok(()));
        assert_eq!(transformed_object("not json", "{}"), Ok(()));
    }

    #[test]
    fn summary_shape_is_checked() {
        let mut s = Summary {
            column_names: vec!["a".into(), "b".into()],
            rows: vec![Row {
                columns: vec![CellValue::Null, CellValue::Number("1".into())],
            }],
            ..Default::default()
        };
        assert_eq!(summary(&s), Ok(()));
        s.rows.push(Row {
            columns: vec![CellValue::Null],
        });
        assert_eq!(
            summary(&s).unwrap_err(),
            "row 1 has 1 columns but there are 2 column names"
        );
        s.rows.pop();
        s.rows.push(Row {
            columns: vec![CellValue::Object("[1]".into()), CellValue::Null],
        });
        assert_eq!(
            summary(&s).unwrap_err(),
            "row 1 column 0: not a valid Object value"
        );
        s.rows.pop();
        for (cell, ok) in [
            (CellValue::Object(r#"{"a":[1]}"#.into()), true),
            (CellValue::Object(r#"{"a":1} {}"#.into()), false),
            (CellValue::Array(r#"[{"a":1}]"#.into()), true),
            (CellValue::Array(r#"{"a":1}"#.into()), false),
            (CellValue::Array("[1".into()), false),
        ] {
            s.rows.push(Row {
                columns: vec![cell.clone(), CellValue::Null],
            });
            assert_eq!(summary(&s).is_ok(), ok, "{cell:?}");
            s.rows.pop();
        }
        s.aggregation_errors.push(AggregationError {
            column_name: "zz".into(),
            error: "x".into(),
        });
        assert!(summary(&s).unwrap_err().contains("unknown column"));
        s.aggregation_errors.clear();
        s.column_names.push("a".into());
        assert!(summary(&s).unwrap_err().contains("more than once"));
    }
}
