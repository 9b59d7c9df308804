//! WEC-dependent customization (upstream `pkg/customize`): every string leaf of an object that
//! contains `{{` is a Go template, expanded with the destination's properties.

use std::fmt::Write as _;

use kubestellar_plugin_sdk::ClusterContext;
use serde_json::{Map, Value};

use crate::gotmpl::{Data, Template};

/// The annotation that asks for template expansion, and its one enabling value.
pub const EXPAND_ANNOTATION: &str = "control.kubestellar.io/expand-templates";

/// What expansion did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Some string was a template, so the output depends on the cluster.
    pub used_cluster: bool,
    /// One message per failed template, in document order.
    pub errors: Vec<String>,
}

/// The properties of a destination, lowest precedence first: `clusterName`, then the
/// ManagedCluster's labels, its annotations, and its customization properties. Keys that are
/// not Go identifiers cannot be named in a template and are left out.
pub fn properties(cluster: &ClusterContext) -> Data {
    let mut data = Data::new();
    data.insert("clusterName".to_owned(), cluster.name.clone());
    for pair in cluster
        .labels
        .iter()
        .chain(&cluster.annotations)
        .chain(&cluster.properties)
    {
        if is_go_identifier(&pair.key) {
            data.insert(pair.key.clone(), pair.value.clone());
        }
    }
    data
}

/// Go's `token.IsIdentifier`: a letter or `_`, then letters, digits and `_`; not a keyword.
pub fn is_go_identifier(s: &str) -> bool {
    const KEYWORDS: [&str; 25] = [
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    ];
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphabetic() || c.is_numeric())
        && !KEYWORDS.contains(&s)
}

/// Expands every template in `object` for `cluster`. Errors do not stop the walk, so that all
/// of them are reported.
pub fn expand(object: &mut Map<String, Value>, cluster: &ClusterContext) -> Outcome {
    let data = properties(cluster);
    let prefix = format!("{}/{}", cluster.name, object_ref(object));
    let mut walker = Walker {
        data: &data,
        prefix,
        outcome: Outcome::default(),
    };
    let mut path = Vec::new();
    for (key, value) in object.iter_mut() {
        path.push(Step::Key(key));
        walker.walk(value, &mut path);
        path.pop();
    }
    walker.outcome
}

/// Upstream's object reference: `Kind.group(namespace/name)`, `Kind(name)` for the core group.
fn object_ref(object: &Map<String, Value>) -> String {
    fn str_at(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or("")
    }
    let api_version = str_at(object.get("apiVersion"));
    let kind = str_at(object.get("kind"));
    let metadata = object.get("metadata");
    let name = str_at(metadata.and_then(|m| m.get("name")));
    let namespace = str_at(metadata.and_then(|m| m.get("namespace")));
    let mut out = kind.to_owned();
    if let Some((group, _)) = api_version.split_once('/') {
        out.push('.');
        out.push_str(group);
    }
    out.push('(');
    if !namespace.is_empty() {
        out.push_str(namespace);
        out.push('/');
    }
    out.push_str(name);
    out.push(')');
    out
}

enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

struct Walker<'d> {
    data: &'d Data,
    prefix: String,
    outcome: Outcome,
}

impl Walker<'_> {
    fn walk<'v>(&mut self, value: &'v mut Value, path: &mut Vec<Step<'v>>) {
        match value {
            Value::String(s) if s.contains("{{") => {
                self.outcome.used_cluster = true;
                let name = self.template_name(path);
                match Template::parse(&name, s).and_then(|t| t.execute(self.data)) {
                    Ok(expanded) => *s = expanded,
                    Err(e) => self.outcome.errors.push(e.message),
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    path.push(Step::Key(key));
                    self.walk(child, path);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter_mut().enumerate() {
                    path.push(Step::Index(i));
                    self.walk(child, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// `<cluster>/<object ref><path>`, the path in the JSONPath syntax `CustomTransform` accepts.
    fn template_name(&self, path: &[Step<'_>]) -> String {
        let mut name = self.prefix.clone();
        for step in path {
            match step {
                Step::Key(key) if is_member_name(key) => {
                    name.push('.');
                    name.push_str(key);
                }
                Step::Key(key) => {
                    let quoted = serde_json::to_string(key).unwrap_or_default();
                    let _ = write!(name, "[{quoted}]");
                }
                Step::Index(i) => {
                    let _ = write!(name, "[{i}]");
                }
            }
        }
        name
    }
}

/// RFC 9535 member-name-shorthand, as `CustomTransform` paths accept it.
fn is_member_name(key: &str) -> bool {
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii();
    let mut chars = key.chars();
    chars.next().is_some_and(first_ok) && chars.all(|c| first_ok(c) || c.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster1() -> ClusterContext {
        ClusterContext::named("cluster1")
            .with_label("region", "east")
            .with_label("name", "cluster1")
            .with_label("kubernetes.io/arch", "amd64")
            .with_property("clusterURL", "https://my.clusters/1001-abcd")
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn precedence_and_identifier_filter() {
        let c = ClusterContext::named("c1")
            .with_label("clusterName", "from-label")
            .with_label("tier", "label")
            .with_label("a.b/c", "x")
            .with_label("if", "keyword")
            .with_annotation("tier", "annotation")
            .with_annotation("zone", "annotation")
            .with_property("zone", "property")
            .with_property("_p1", "p");
        let data = properties(&c);
        assert_eq!(
            data.get("clusterName").map(String::as_str),
            Some("from-label")
        );
        assert_eq!(data.get("tier").map(String::as_str), Some("annotation"));
        assert_eq!(data.get("zone").map(String::as_str), Some("property"));
        assert_eq!(data.get("_p1").map(String::as_str), Some("p"));
        assert!(!data.contains_key("a.b/c") && !data.contains_key("if"));
        assert_eq!(
            properties(&ClusterContext::named("c2"))
                .get("clusterName")
                .map(String::as_str),
            Some("c2")
        );
    }

    #[test]
    fn upstream_e2e_annotation() {
        let mut o = obj(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "nginx", "annotations": {
                EXPAND_ANNOTATION: "true",
                "customization-test": "cluster {{ .clusterName }} URL is {{ .clusterURL }}, region is {{ .region }}"}},
            "spec": {"replicas": 1}
        }));
        let out = expand(&mut o, &cluster1());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert!(out.used_cluster);
        assert_eq!(
            o["metadata"]["annotations"]["customization-test"],
            "cluster cluster1 URL is https://my.clusters/1001-abcd, region is east"
        );
    }

    #[test]
    fn strings_without_braces_and_keys_are_untouched() {
        let mut o = obj(
            json!({"kind": "ConfigMap", "data": {"{{ .clusterName }}": "plain", "n": 3, "l": ["a", {"b": "c"}]}}),
        );
        let before = o.clone();
        let out = expand(&mut o, &cluster1());
        assert!(!out.used_cluster && out.errors.is_empty());
        assert_eq!(o, before);
    }

    #[test]
    fn errors_name_cluster_object_and_path() {
        let mut o = obj(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"},
            "data": {"a.b": "{{ .nope }}", "ok": "{{ .region }}", "list": ["x", "{{ if }}"]}
        }));
        let out = expand(&mut o, &cluster1());
        assert!(out.used_cluster);
        assert_eq!(
            out.errors,
            vec![
                r#"template: cluster1/ConfigMap(ns/cm).data["a.b"]:1:3: executing "cluster1/ConfigMap(ns/cm).data[\"a.b\"]" at <.nope>: map has no entry for key "nope""#,
                "template: cluster1/ConfigMap(ns/cm).data.list[1]:1: missing value for if",
            ]
        );
        assert_eq!(o["data"]["ok"], "east");
    }

    #[test]
    fn object_refs() {
        assert_eq!(
            object_ref(&obj(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}})
            )),
            "Deployment.apps(n/d)"
        );
        assert_eq!(
            object_ref(&obj(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
            )),
            "Namespace(n)"
        );
    }
}
