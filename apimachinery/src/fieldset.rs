//! Sets of field paths, as sigs.k8s.io/structured-merge-diff `fieldpath` models them, with the
//! `FieldsV1` encoding that `metadata.managedFields[].fieldsV1` carries (`f:<name>`,
//! `k:<key fields as JSON>`, `v:<value as JSON>`, `i:<index>`, `.` for the node itself).
//!
//! Ordering is upstream's, so iteration (and hence conflict lists) and encoding are
//! deterministic and match kube-apiserver's.

mod gojson;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub(crate) use gojson::{go_json, go_quote};

/// One step of a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of a map or struct (`f:name`).
    Field(String),
    /// An item of a list of type map, identified by its key fields sorted by name (`k:{...}`).
    Key(Vec<(String, Value)>),
    /// An item of a list of type set, identified by its value (`v:...`).
    Value(Value),
    /// An item of an atomic list addressed by position (`i:3`); kube rarely writes these.
    Index(usize),
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

impl PathElement {
    /// The `FieldsV1` key for this element (`f:spec`, `k:{"name":"nginx"}`, `v:"a"`, `i:0`).
    pub fn fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(n) => format!("f:{n}"),
            PathElement::Key(fields) => {
                let body: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{}", go_json(&Value::String(k.clone())), go_json(v)))
                    .collect();
                format!("k:{{{}}}", body.join(","))
            }
            PathElement::Value(v) => format!("v:{}", go_json(v)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key. `Ok(None)` for a prefix this version does not know (upstream
    /// ignores those so that newer servers' data round-trips).
    pub fn parse_fields_v1_key(key: &str) -> Result<Option<PathElement>, FieldSetError> {
        let bad = |why: &str| FieldSetError(format!("parsing key as path element: {why}: {key:?}"));
        let Some((prefix, rest)) = key.split_once(':') else {
            return Ok(None);
        };
        match prefix {
            "f" => Ok(Some(PathElement::Field(rest.to_string()))),
            "k" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?;
                let Value::Object(m) = v else {
                    return Err(bad("key is not a JSON object"));
                };
                if m.is_empty() {
                    return Err(bad("empty key"));
                }
                let mut fields: Vec<(String, Value)> = m.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Some(PathElement::Key(fields)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?;
                Ok(Some(PathElement::Value(v)))
            }
            "i" => rest
                .parse::<usize>()
                .map(|i| Some(PathElement::Index(i)))
                .map_err(|e| bad(&e.to_string())),
            _ => Ok(None),
        }
    }
}

/// Renders like upstream `PathElement.String()`: `.name`, `[name="nginx"]`, `[="a"]`, `[3]`.
impl std::fmt::Display for PathElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Renders a path like upstream `Path.String()`: `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Upstream `value.ToString`: strings quoted, lists bracketed, maps as `k=v` pairs.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n
            .as_f64()
            .filter(|_| n.is_f64())
            .map(gojson::go_float)
            .unwrap_or_else(|| n.to_string()),
        Value::String(s) => go_quote(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(value_to_string).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", value_to_string(v)))
            .collect(),
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Upstream `PathElement.Compare`: fields, then keys, then values, then indexes.
impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(pe: &PathElement) -> u8 {
            match pe {
                PathElement::Field(_) => 0,
                PathElement::Key(_) => 1,
                PathElement::Value(_) => 2,
                PathElement::Index(_) => 3,
            }
        }
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
                    let c = ka.cmp(kb).then_with(|| compare_values(va, vb));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// Upstream `value.Compare`: a total order over JSON values (floats and integers compare
/// numerically; then strings, booleans, lists, maps, null).
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (fx, fy) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                fx.partial_cmp(&fy).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (i, j) in x.iter().zip(y.iter()) {
                let c = compare_values(i, j);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            // Keys are iterated sorted (serde_json maps are ordered by key).
            for ((ka, va), (kb, vb)) in x.iter().zip(y.iter()) {
                let c = ka.cmp(kb).then_with(|| compare_values(va, vb));
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Equality as structured-merge-diff sees it: numbers compare numerically (`1 == 1.0`).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare_values(a, b) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(i, j)| values_equal(i, j))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A malformed `FieldsV1` document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSetError(pub String);

/// A set of field paths. A path is a member when the node of its parent path lists its last
/// element as a member; children hold the members below.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// True when no path is a member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Number of member paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// Adds a path (the empty path is ignored: the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// True when `path` is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// True when `pe` (one level down) is a member.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The members one level down.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The subsets below each element that has members below it.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// The subset below `pe` (paths relative to it), if any.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// Paths in both sets, or in either.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_in_place(other);
        out
    }

    /// Adds all of `other`'s paths.
    pub fn union_in_place(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            self.children
                .entry(pe.clone())
                .or_default()
                .union_in_place(c);
        }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// Paths of `self` that are not members of `other` (member-wise, like upstream
    /// `Difference`: a member of `other` does not remove the paths below it).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// Paths of `self` that are neither members of `other` nor below one of its members.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let d = match other.children.get(pe) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// All member paths in upstream's iteration order: a node's members, then its children.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON object, entries in upstream's order (serde_json re-sorts object keys
    /// by string, which is only a presentation difference).
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            let body = match self.children.get(pe) {
                Some(c) => c.emit(self.members.contains(pe)),
                None => Map::new(),
            };
            out.insert(pe.fields_v1_key(), Value::Object(body));
        }
        out
    }

    /// Parses a `FieldsV1` JSON object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldSetError> {
        let Value::Object(m) = v else {
            return Err(FieldSetError("FieldsV1 is not a JSON object".to_string()));
        };
        let (set, _) = read_v1(m)?;
        Ok(set)
    }
}

/// Reads one node: its children and whether it is itself a member (`.` or no children).
fn read_v1(m: &Map<String, Value>) -> Result<(FieldSet, bool), FieldSetError> {
    let mut set = FieldSet::new();
    let mut is_member = false;
    let mut saw_child = false;
    for (key, v) in m {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::parse_fields_v1_key(key)? else {
            continue;
        };
        let Value::Object(inner) = v else {
            return Err(FieldSetError(format!(
                "FieldsV1 entry {key:?} is not a JSON object"
            )));
        };
        saw_child = true;
        let (grand, child_member) = read_v1(inner)?;
        if child_member {
            set.members.insert(pe.clone());
        }
        if !grand.is_empty() {
            set.children.insert(pe, grand);
        }
    }
    Ok((set, is_member || !saw_child))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(n: &str) -> PathElement {
        PathElement::Field(n.into())
    }

    #[test]
    fn fields_v1_round_trips_with_self_markers() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}
        });
        let s = FieldSet::from_fields_v1(&v).expect("parses");
        assert!(s.has(&[f("metadata"), f("labels")]));
        assert!(s.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!s.has(&[f("metadata")]));
        let key = PathElement::Key(vec![("name".into(), json!("nginx"))]);
        assert!(s.has(&[
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            key.clone()
        ]));
        assert!(s.has(&[
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            key,
            f("image")
        ]));
        assert_eq!(s.len(), 6);
        assert_eq!(s.to_fields_v1(), v);
    }

    #[test]
    fn path_strings_match_upstream() {
        let p = vec![
            f("spec"),
            f("ports"),
            PathElement::Key(vec![
                ("port".into(), json!(80)),
                ("protocol".into(), json!("TCP")),
            ]),
            f("name"),
        ];
        assert_eq!(
            path_string(&p),
            ".spec.ports[port=80,protocol=\"TCP\"].name"
        );
        assert_eq!(
            path_string(&[f("finalizers"), PathElement::Value(json!("a"))]),
            ".finalizers[=\"a\"]"
        );
        assert_eq!(
            PathElement::Key(vec![
                ("containerPort".into(), json!(80)),
                ("protocol".into(), json!("TCP"))
            ])
            .fields_v1_key(),
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"
        );
    }

    #[test]
    fn ordering_is_fields_keys_values_indexes_and_numeric() {
        let k80 = PathElement::Key(vec![("p".into(), json!(80))]);
        let k8080 = PathElement::Key(vec![("p".into(), json!(8080))]);
        assert!(k80 < k8080);
        assert!(f("z") < k80);
        assert!(k80 < PathElement::Value(json!(1)));
        assert!(PathElement::Value(json!("a")) < PathElement::Index(0));
        assert_eq!(PathElement::Value(json!(1)), PathElement::Value(json!(1.0)));
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("a"), f("b")]);
        a.insert(&[f("a")]);
        a.insert(&[f("c")]);
        let mut b = FieldSet::new();
        b.insert(&[f("a")]);
        let d = a.difference(&b);
        assert!(d.has(&[f("a"), f("b")]) && !d.has(&[f("a")]) && d.has(&[f("c")]));
        let r = a.recursive_difference(&b);
        assert!(!r.has(&[f("a"), f("b")]) && r.has(&[f("c")]));
        let i = a.intersection(&b);
        assert_eq!(i.paths(), vec![vec![f("a")]]);
        assert_eq!(
            a.paths(),
            vec![vec![f("a")], vec![f("c")], vec![f("a"), f("b")]]
        );
    }

    #[test]
    fn malformed_fields_v1_is_an_error_and_unknown_prefixes_are_ignored() {
        assert!(FieldSet::from_fields_v1(&json!({"k:notjson": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([1])).is_err());
        let s = FieldSet::from_fields_v1(&json!({"x:future": {}, "f:a": {}})).expect("parses");
        assert_eq!(s.paths(), vec![vec![f("a")]]);
    }
}
