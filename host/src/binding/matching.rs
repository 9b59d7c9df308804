//! Whether an object matches a downsync clause (upstream `pkg/binding/selectors.go::testObject`)
//! and whether a WEC matches a policy's cluster selectors. Pure: no IO.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as MetaSelector;
use kubestellar_apimachinery::selectors::{LabelSelector, from_label_selector_json};

use crate::api::DownsyncObjectTest;

/// Labels of an object or namespace.
pub type Labels = BTreeMap<String, String>;

/// What a clause looks at in an object.
#[derive(Debug, Clone, Copy)]
pub struct ObjectFacts<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// Lowercase plural resource.
    pub resource: &'a str,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// Labels.
    pub labels: &'a Labels,
}

/// How a clause's `namespaceSelectors` behave.
#[derive(Debug, Clone)]
enum NamespaceTest {
    /// No selectors: any namespace (and cluster-scoped objects).
    Any,
    /// Some selector is `{}`: passes without looking at the namespace.
    Pass,
    /// The object's Namespace must exist and match one of these.
    Match(Vec<LabelSelector>),
}

/// A `DownsyncObjectTest` with its selectors parsed.
#[derive(Debug, Clone)]
pub struct CompiledTest {
    api_group: Option<String>,
    resources: Vec<String>,
    namespaces: Vec<String>,
    namespace_test: NamespaceTest,
    /// `None`: no objectSelectors (any object).
    object_selectors: Option<Vec<LabelSelector>>,
    object_names: Vec<String>,
}

/// Parses a `metav1.LabelSelector`; an invalid one matches nothing and yields kube's message.
pub fn selector(s: &MetaSelector) -> Result<LabelSelector, String> {
    let v = serde_json::to_value(s).map_err(|e| e.to_string())?;
    from_label_selector_json(&v).map_err(|e| e.to_string())
}

fn selectors(list: &[MetaSelector], path: &str, errors: &mut Vec<String>) -> Vec<LabelSelector> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            selector(s).unwrap_or_else(|e| {
                errors.push(format!("{path}[{i}]: {e}"));
                LabelSelector::nothing()
            })
        })
        .collect()
}

impl CompiledTest {
    /// Compiles clause `index` of a policy; invalid selectors match nothing and are reported as
    /// `spec.downsync[<index>].<field>[<j>]: <kube's message>`.
    pub fn compile(
        test: &DownsyncObjectTest,
        index: usize,
        errors: &mut Vec<String>,
    ) -> CompiledTest {
        Self::compile_at(test, &format!("spec.downsync[{index}]"), errors)
    }

    /// Compiles a test whose errors are reported under `path` (e.g. `spec.upsync[0]`).
    pub fn compile_at(
        test: &DownsyncObjectTest,
        path: &str,
        errors: &mut Vec<String>,
    ) -> CompiledTest {
        let namespace_test = if test.namespace_selectors.is_empty() {
            NamespaceTest::Any
        } else {
            let sels = selectors(
                &test.namespace_selectors,
                &format!("{path}.namespaceSelectors"),
                errors,
            );
            if test.namespace_selectors.iter().any(is_empty_selector) {
                NamespaceTest::Pass
            } else {
                NamespaceTest::Match(sels)
            }
        };
        let object_selectors = (!test.object_selectors.is_empty()).then(|| {
            selectors(
                &test.object_selectors,
                &format!("{path}.objectSelectors"),
                errors,
            )
        });
        CompiledTest {
            api_group: test.api_group.clone(),
            resources: test.resources.clone(),
            namespaces: test.namespaces.clone(),
            namespace_test,
            object_selectors,
            object_names: test.object_names.clone(),
        }
    }

    /// Whether objects of this group and resource can match at all (cheap pre-filter).
    pub fn may_match_resource(&self, group: &str, resource: &str) -> bool {
        self.api_group.as_deref().is_none_or(|g| g == group) && listed(&self.resources, resource)
    }

    /// Whether the object matches. `namespace_labels` gives the labels of a Namespace in the
    /// WDS, or `None` if there is no such Namespace.
    pub fn matches<'n>(
        &self,
        o: &ObjectFacts<'_>,
        namespace_labels: &dyn Fn(&str) -> Option<&'n Labels>,
    ) -> bool {
        if !self.may_match_resource(o.group, o.resource) {
            return false;
        }
        if !listed(&self.namespaces, o.namespace) || !listed(&self.object_names, o.name) {
            return false;
        }
        if let Some(sels) = &self.object_selectors
            && !sels.iter().any(|s| s.matches(o.labels))
        {
            return false;
        }
        match &self.namespace_test {
            NamespaceTest::Any | NamespaceTest::Pass => true,
            // Cluster-scoped objects have namespace "", which no Namespace is called.
            NamespaceTest::Match(sels) => match namespace_labels(o.namespace) {
                None => false,
                Some(labels) => sels.iter().any(|s| s.matches(labels)),
            },
        }
    }
}

/// An empty list allows everything; otherwise the value or `"*"` must be listed.
fn listed(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|v| v == "*" || v == value)
}

/// `{}`: neither matchLabels nor matchExpressions.
fn is_empty_selector(s: &MetaSelector) -> bool {
    s.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && s.match_expressions.as_ref().is_none_or(|m| m.is_empty())
}

/// The WECs selected by `clusterSelectors` (OR of the selectors; none selects none; `{}` selects
/// all). Invalid selectors select nothing and are reported as `spec.clusterSelectors[<i>]: ...`.
pub fn select_clusters<'a>(
    cluster_selectors: &[MetaSelector],
    clusters: impl IntoIterator<Item = (&'a str, &'a Labels)>,
    errors: &mut Vec<String>,
) -> Vec<String> {
    let sels = selectors(cluster_selectors, "spec.clusterSelectors", errors);
    let mut out: Vec<String> = clusters
        .into_iter()
        .filter(|(_, labels)| sels.iter().any(|s| s.matches(*labels)))
        .map(|(name, _)| name.to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test_of(v: serde_json::Value) -> DownsyncObjectTest {
        serde_json::from_value(v).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Namespaces of the WDS in these tests.
    fn ns_labels(ns: &str) -> Option<&'static Labels> {
        static PROD: std::sync::OnceLock<Labels> = std::sync::OnceLock::new();
        static DEV: std::sync::OnceLock<Labels> = std::sync::OnceLock::new();
        match ns {
            "prod" => Some(PROD.get_or_init(|| labels(&[("env", "prod")]))),
            "dev" => Some(DEV.get_or_init(|| labels(&[("env", "dev")]))),
            _ => None,
        }
    }

    struct Obj {
        group: &'static str,
        resource: &'static str,
        namespace: &'static str,
        name: &'static str,
        labels: Labels,
    }

    fn deploy(ns: &'static str, name: &'static str, l: &[(&str, &str)]) -> Obj {
        Obj {
            group: "apps",
            resource: "deployments",
            namespace: ns,
            name,
            labels: labels(l),
        }
    }

    fn cm(ns: &'static str, name: &'static str, l: &[(&str, &str)]) -> Obj {
        Obj {
            group: "",
            resource: "configmaps",
            namespace: ns,
            name,
            labels: labels(l),
        }
    }

    fn cluster_role(name: &'static str, l: &[(&str, &str)]) -> Obj {
        Obj {
            group: "rbac.authorization.k8s.io",
            resource: "clusterroles",
            namespace: "",
            name,
            labels: labels(l),
        }
    }

    fn check(clause: serde_json::Value, o: &Obj) -> bool {
        let mut errors = Vec::new();
        let t = CompiledTest::compile(&test_of(clause), 0, &mut errors);
        let facts = ObjectFacts {
            group: o.group,
            resource: o.resource,
            namespace: o.namespace,
            name: o.name,
            labels: &o.labels,
        };
        t.matches(&facts, &ns_labels)
    }

    #[test]
    fn clause_table() {
        let d = deploy("prod", "web", &[("app", "web")]);
        let c = cm("dev", "cfg", &[("app", "web")]);
        let cr = cluster_role("admin", &[("app", "web")]);
        let orphan = deploy("gone", "x", &[("app", "web")]);
        #[rustfmt::skip]
        let cases: Vec<(&str, serde_json::Value, &Obj, bool)> = vec![
            ("apiGroup nil matches any group", json!({"resources": ["*"]}), &c, true),
            ("apiGroup \"\" is core only", json!({"apiGroup": ""}), &c, true),
            ("apiGroup \"\" does not match apps", json!({"apiGroup": ""}), &d, false),
            ("apiGroup apps", json!({"apiGroup": "apps"}), &d, true),
            ("apiGroup apps vs core", json!({"apiGroup": "apps"}), &c, false),
            ("resources listed", json!({"resources": ["deployments", "services"]}), &d, true),
            ("resources not listed", json!({"resources": ["services"]}), &d, false),
            ("resources * ", json!({"resources": ["*"]}), &cr, true),
            ("namespaces listed", json!({"namespaces": ["prod"]}), &d, true),
            ("namespaces not listed", json!({"namespaces": ["dev"]}), &d, false),
            ("namespaces * matches cluster-scoped", json!({"namespaces": ["*"]}), &cr, true),
            ("namespaces list excludes cluster-scoped", json!({"namespaces": ["prod"]}), &cr, false),
            ("objectNames listed", json!({"objectNames": ["web"]}), &d, true),
            ("objectNames not listed", json!({"objectNames": ["api"]}), &d, false),
            ("objectNames *", json!({"objectNames": ["*"]}), &d, true),
            ("objectSelectors match", json!({"objectSelectors": [{"matchLabels": {"app": "web"}}]}), &d, true),
            ("objectSelectors no match", json!({"objectSelectors": [{"matchLabels": {"app": "api"}}]}), &d, false),
            ("objectSelectors OR", json!({"objectSelectors": [{"matchLabels": {"app": "api"}}, {"matchLabels": {"app": "web"}}]}), &d, true),
            ("objectSelectors {} matches all", json!({"objectSelectors": [{}]}), &d, true),
            ("objectSelectors matchExpressions", json!({"objectSelectors": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}]}), &d, true),
            ("objectSelectors NotIn", json!({"objectSelectors": [{"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}]}), &d, false),
            ("objectSelectors invalid matches nothing", json!({"objectSelectors": [{"matchLabels": {"app": "-bad-"}}]}), &d, false),
            ("namespaceSelectors match live labels", json!({"namespaceSelectors": [{"matchLabels": {"env": "prod"}}]}), &d, true),
            ("namespaceSelectors mismatch", json!({"namespaceSelectors": [{"matchLabels": {"env": "prod"}}]}), &c, false),
            ("namespaceSelectors missing namespace", json!({"namespaceSelectors": [{"matchLabels": {"env": "prod"}}]}), &orphan, false),
            ("namespaceSelectors cluster-scoped fails", json!({"namespaceSelectors": [{"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}]}), &cr, false),
            ("namespaceSelectors {} passes cluster-scoped", json!({"namespaceSelectors": [{"matchLabels": {"env": "prod"}}, {}]}), &cr, true),
            ("namespaceSelectors {} passes missing ns", json!({"namespaceSelectors": [{}]}), &orphan, true),
            ("all criteria AND-ed", json!({"apiGroup": "apps", "resources": ["deployments"], "namespaces": ["prod"], "objectNames": ["web"], "objectSelectors": [{"matchLabels": {"app": "web"}}], "namespaceSelectors": [{"matchLabels": {"env": "prod"}}]}), &d, true),
            ("one criterion fails", json!({"apiGroup": "apps", "resources": ["deployments"], "namespaces": ["prod"], "objectNames": ["other"]}), &d, false),
        ];
        for (name, clause, obj, want) in cases {
            assert_eq!(check(clause, obj), want, "{name}");
        }
    }

    #[test]
    fn invalid_selectors_are_reported() {
        let mut errors = Vec::new();
        let t = test_of(
            json!({"objectSelectors": [{}, {"matchExpressions": [{"key": "a", "operator": "OutOf"}]}]}),
        );
        CompiledTest::compile(&t, 2, &mut errors);
        assert_eq!(
            errors,
            vec![
                "spec.downsync[2].objectSelectors[1]: \"OutOf\" is not a valid label selector operator"
            ]
        );
    }

    #[test]
    fn cluster_selection() {
        let c1 = labels(&[("location-group", "edge"), ("name", "cluster1")]);
        let c2 = labels(&[("location-group", "edge"), ("name", "cluster2")]);
        let clusters = [("cluster2", &c2), ("cluster1", &c1)];
        let sel =
            |v: serde_json::Value| -> Vec<MetaSelector> { serde_json::from_value(v).unwrap() };
        let mut errors = Vec::new();
        assert!(
            select_clusters(&[], clusters, &mut errors).is_empty(),
            "no selectors: no clusters"
        );
        assert_eq!(
            select_clusters(&sel(json!([{}])), clusters, &mut errors),
            ["cluster1", "cluster2"]
        );
        assert_eq!(
            select_clusters(
                &sel(json!([{"matchLabels": {"name": "cluster2"}}])),
                clusters,
                &mut errors
            ),
            ["cluster2"]
        );
        let or = sel(
            json!([{"matchLabels": {"name": "cluster1"}}, {"matchExpressions": [{"key": "name", "operator": "In", "values": ["cluster1", "cluster2", "cluster3"]}]}]),
        );
        assert_eq!(
            select_clusters(&or, clusters, &mut errors),
            ["cluster1", "cluster2"]
        );
        assert!(errors.is_empty());
        assert!(
            select_clusters(
                &sel(json!([{"matchLabels": {"name": "a b"}}])),
                clusters,
                &mut errors
            )
            .is_empty()
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("spec.clusterSelectors[0]: "),
            "{errors:?}"
        );
    }
}
