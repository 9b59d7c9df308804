//! RBAC authorization over the Role, ClusterRole, RoleBinding and ClusterRoleBinding objects
//! stored in the space, evaluated as kube-apiserver's RBAC authorizer does (no aggregation).
//!
//! The objects are compiled into an index kept in memory; each request only checks a cheap
//! fingerprint of the four RBAC tables (object count and highest resourceVersion, which any
//! create, update or delete changes) and rebuilds the index when it moved.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use super::MASTERS_GROUP;
use super::attributes::Attributes;
use super::authn::UserInfo;
use crate::registry::GroupResource;
use crate::store::Store;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RESOURCES: [&str; 4] = [
    "clusterroles",
    "roles",
    "clusterrolebindings",
    "rolebindings",
];

/// An authorization decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Why (`RBAC: allowed by ...`), or errors met while denying (a binding to a missing role).
    pub reason: String,
}

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// `verbs`
    pub verbs: Vec<String>,
    /// `apiGroups`
    pub api_groups: Vec<String>,
    /// `resources`
    pub resources: Vec<String>,
    /// `resourceNames`
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl PolicyRule {
    fn parse(v: &Value) -> PolicyRule {
        PolicyRule {
            verbs: strings(&v["verbs"]),
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            resource_names: strings(&v["resourceNames"]),
            non_resource_urls: strings(&v["nonResourceURLs"]),
        }
    }

    /// kube-apiserver's `RuleAllows`.
    pub fn allows(&self, a: &Attributes) -> bool {
        let verb = self.verbs.iter().any(|v| v == "*" || *v == a.verb);
        if !a.resource_request {
            return verb
                && self.non_resource_urls.iter().any(|u| {
                    u == "*"
                        || *u == a.path
                        || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
                });
        }
        let combined = a.combined_resource();
        verb && self
            .api_groups
            .iter()
            .any(|g| g == "*" || *g == a.api_group)
            && self.resources.iter().any(|r| {
                r == "*"
                    || *r == combined
                    || (!a.subresource.is_empty()
                        && r.len() == a.subresource.len() + 2
                        && r.starts_with("*/")
                        && r.ends_with(&a.subresource))
            })
            && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }

    fn to_json(&self) -> (bool, Value) {
        if !self.non_resource_urls.is_empty() {
            return (
                false,
                json!({"verbs": self.verbs, "nonResourceURLs": self.non_resource_urls}),
            );
        }
        let mut v =
            json!({"verbs": self.verbs, "apiGroups": self.api_groups, "resources": self.resources});
        if !self.resource_names.is_empty() {
            v["resourceNames"] = json!(self.resource_names);
        }
        (true, v)
    }
}

#[derive(Debug)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
}

impl Subject {
    /// kube-apiserver's `appliesToUser`; `namespace` is the binding's ("" for cluster ones).
    fn applies_to(&self, user: &UserInfo, namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    namespace
                } else {
                    &self.namespace
                };
                !ns.is_empty() && user.name == UserInfo::service_account_name(ns, &self.name)
            }
            _ => false,
        }
    }

    /// As kube-apiserver describes a subject in an "allowed by" reason.
    fn describe(&self, binding_namespace: &str) -> String {
        match self.kind.as_str() {
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                format!("ServiceAccount {:?}", format!("{}/{ns}", self.name))
            }
            k => format!("{k} {:?}", self.name),
        }
    }
}

#[derive(Debug)]
struct Binding {
    name: String,
    namespace: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
}

impl Binding {
    fn parse(v: &Value) -> Binding {
        Binding {
            name: v["metadata"]["name"].as_str().unwrap_or_default().into(),
            namespace: v["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .into(),
            role_kind: v["roleRef"]["kind"].as_str().unwrap_or_default().into(),
            role_name: v["roleRef"]["name"].as_str().unwrap_or_default().into(),
            subjects: v["subjects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| Subject {
                            kind: s["kind"].as_str().unwrap_or_default().into(),
                            name: s["name"].as_str().unwrap_or_default().into(),
                            namespace: s["namespace"].as_str().unwrap_or_default().into(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn describe(&self, subject: &Subject) -> String {
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding {:?} of {} {:?} to {}",
                self.name,
                self.role_kind,
                self.role_name,
                subject.describe(&self.namespace)
            )
        } else {
            format!(
                "RoleBinding {:?} of {} {:?} to {}",
                format!("{}/{}", self.name, self.namespace),
                self.role_kind,
                self.role_name,
                subject.describe(&self.namespace)
            )
        }
    }
}

/// The compiled RBAC objects of a space.
#[derive(Default, Debug)]
struct Index {
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_bindings: Vec<Binding>,
    bindings: HashMap<String, Vec<Binding>>,
}

type Fingerprint = [(usize, u64); 4];

fn gr(resource: &str) -> GroupResource {
    GroupResource {
        group: RBAC_GROUP.into(),
        resource: resource.into(),
    }
}

fn fingerprint(store: &Store) -> Fingerprint {
    let mut fp = [(0, 0); 4];
    for (i, r) in RESOURCES.iter().enumerate() {
        let (n, max) = (Cell::new(0usize), Cell::new(0u64));
        store.list(&gr(r), None, None, 0, &|o| {
            n.set(n.get() + 1);
            max.set(max.get().max(o.rv));
            false
        });
        fp[i] = (n.get(), max.get());
    }
    fp
}

impl Index {
    fn build(store: &Store) -> Index {
        let all = |r: &str| -> Vec<Value> {
            store
                .list(&gr(r), None, None, 0, &|_| true)
                .items
                .iter()
                .map(|o| o.value())
                .collect()
        };
        let rules = |v: &Value| -> Vec<PolicyRule> {
            v["rules"]
                .as_array()
                .map(|a| a.iter().map(PolicyRule::parse).collect())
                .unwrap_or_default()
        };
        let mut ix = Index::default();
        for v in all("clusterroles") {
            let name = v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            ix.cluster_roles.insert(name, rules(&v));
        }
        for v in all("roles") {
            let ns = v["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = v["metadata"]["name"].as_str().unwrap_or_default();
            ix.roles.insert((ns.into(), name.into()), rules(&v));
        }
        ix.cluster_bindings = all("clusterrolebindings")
            .iter()
            .map(Binding::parse)
            .collect();
        for v in all("rolebindings") {
            let b = Binding::parse(&v);
            ix.bindings.entry(b.namespace.clone()).or_default().push(b);
        }
        ix
    }

    /// The rules a binding grants, or why they cannot be found.
    fn role_rules(&self, b: &Binding) -> Result<&[PolicyRule], String> {
        let found = match b.role_kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&b.role_name),
            "Role" if !b.namespace.is_empty() => {
                self.roles.get(&(b.namespace.clone(), b.role_name.clone()))
            }
            _ => None,
        };
        found.map(Vec::as_slice).ok_or_else(|| {
            format!(
                "{}.{RBAC_GROUP} {:?} not found",
                b.role_kind.to_lowercase(),
                b.role_name
            )
        })
    }

    /// Visits the rules that apply to `user` in `namespace` (cluster bindings first), with a
    /// description of where each comes from; stops when `f` returns true.
    fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        errors: &mut Vec<String>,
        f: &mut dyn FnMut(&str, &PolicyRule) -> bool,
    ) -> bool {
        let ns_bindings = (!namespace.is_empty())
            .then(|| self.bindings.get(namespace))
            .flatten();
        let all = self
            .cluster_bindings
            .iter()
            .chain(ns_bindings.into_iter().flatten());
        for b in all {
            let Some(subject) = b.subjects.iter().find(|s| s.applies_to(user, &b.namespace)) else {
                continue;
            };
            match self.role_rules(b) {
                Ok(rules) => {
                    for r in rules {
                        if f(&b.describe(subject), r) {
                            return true;
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        false
    }
}

/// The RBAC authorizer of a space.
#[derive(Default)]
pub struct Authorizer {
    cache: RwLock<Option<(Fingerprint, Arc<Index>)>>,
}

impl Authorizer {
    fn index(&self, store: &Store) -> Arc<Index> {
        let fp = fingerprint(store);
        if let Some((f, ix)) = &*self.cache.read().unwrap_or_else(|e| e.into_inner())
            && *f == fp
        {
            return ix.clone();
        }
        let ix = Arc::new(Index::build(store));
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = Some((fp, ix.clone()));
        ix
    }

    /// Decides a request: members of `system:masters` may do everything; anyone else what
    /// a binding grants them.
    pub fn authorize(&self, store: &Store, a: &Attributes) -> Decision {
        if a.user.groups.iter().any(|g| g == MASTERS_GROUP) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let ix = self.index(store);
        let mut errors = Vec::new();
        let mut how = String::new();
        let allowed = ix.visit(&a.user, &a.namespace, &mut errors, &mut |from, rule| {
            if rule.allows(a) {
                how = format!("RBAC: allowed by {from}");
                true
            } else {
                false
            }
        });
        let reason = if allowed {
            how
        } else if errors.is_empty() {
            String::new()
        } else if errors.len() == 1 {
            format!("RBAC: {}", errors[0])
        } else {
            format!("RBAC: [{}]", errors.join(", "))
        };
        Decision { allowed, reason }
    }

    /// What `user` may do in `namespace`: `(resourceRules, nonResourceRules)` in the shape of
    /// a SelfSubjectRulesReview's status.
    pub fn rules_for(
        &self,
        store: &Store,
        user: &UserInfo,
        namespace: &str,
    ) -> (Vec<Value>, Vec<Value>) {
        if user.groups.iter().any(|g| g == MASTERS_GROUP) {
            return (
                vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
                vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
            );
        }
        let ix = self.index(store);
        let (mut res, mut non) = (Vec::new(), Vec::new());
        ix.visit(user, namespace, &mut Vec::new(), &mut |_, rule| {
            let (is_res, v) = rule.to_json();
            if is_res {
                res.push(v)
            } else {
                non.push(v)
            }
            false
        });
        (res, non)
    }
}

/// The RBAC objects every secure space starts with, as kube-apiserver bootstraps them:
/// `cluster-admin` (bound to `system:masters`), `system:discovery` and `system:basic-user`
/// (bound to every authenticated user: discovery, OpenAPI, health, and self reviews).
pub fn bootstrap_objects() -> Vec<(&'static str, Value)> {
    let meta = |name: &str| {
        json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
               "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
    };
    let role = |name: &str, rules: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": meta(name), "rules": rules})
    };
    let binding = |name: &str, group: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": meta(name),
               "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
               "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group}]})
    };
    vec![
        (
            "clusterroles",
            role(
                "cluster-admin",
                json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                       {"verbs": ["*"], "nonResourceURLs": ["*"]}]),
            ),
        ),
        (
            "clusterroles",
            role(
                "system:discovery",
                json!([{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*",
                    "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}]),
            ),
        ),
        (
            "clusterroles",
            role(
                "system:basic-user",
                json!([{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
                       {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
                        "resources": ["selfsubjectreviews"]}]),
            ),
        ),
        (
            "clusterrolebindings",
            binding("cluster-admin", MASTERS_GROUP),
        ),
        (
            "clusterrolebindings",
            binding("system:discovery", super::AUTHENTICATED_GROUP),
        ),
        (
            "clusterrolebindings",
            binding("system:basic-user", super::AUTHENTICATED_GROUP),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> PolicyRule {
        PolicyRule::parse(&v)
    }

    fn req(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: "ns1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_like_upstream() {
        let r =
            rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]}));
        assert!(r.allows(&req("list", "", "configmaps", "", "")));
        assert!(!r.allows(&req("watch", "", "configmaps", "", "")));
        assert!(!r.allows(&req("list", "apps", "configmaps", "", "")));
        assert!(!r.allows(&req("get", "", "configmaps", "status", "c")));
        let r = rule(
            json!({"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments/status"]}),
        );
        assert!(r.allows(&req("patch", "apps", "deployments", "status", "w")));
        assert!(!r.allows(&req("patch", "apps", "deployments", "", "w")));
        let r = rule(json!({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*/scale"]}));
        assert!(r.allows(&req("get", "apps", "deployments", "scale", "w")));
        assert!(!r.allows(&req("get", "apps", "deployments", "status", "w")));
        let r = rule(
            json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s1"]}),
        );
        assert!(r.allows(&req("get", "", "secrets", "", "s1")));
        assert!(!r.allows(&req("get", "", "secrets", "", "s2")));
        assert!(!r.allows(&req("list", "", "secrets", "", "")));
        let r = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*", "/version"]}));
        let nr = |p: &str| Attributes {
            verb: "get".into(),
            path: p.into(),
            ..Default::default()
        };
        assert!(r.allows(&nr("/apis/apps/v1")));
        assert!(r.allows(&nr("/version")));
        assert!(!r.allows(&nr("/api")));
        assert!(!r.allows(&req("get", "", "version", "", "")));
    }

    #[test]
    fn subjects_match_like_upstream() {
        let sa = UserInfo {
            name: "system:serviceaccount:ns1:agent".into(),
            ..Default::default()
        };
        let s = Subject {
            kind: "ServiceAccount".into(),
            name: "agent".into(),
            namespace: String::new(),
        };
        assert!(s.applies_to(&sa, "ns1"));
        assert!(!s.applies_to(&sa, "ns2"));
        assert!(!s.applies_to(&sa, ""));
        let g = Subject {
            kind: "Group".into(),
            name: "system:serviceaccounts:ns1".into(),
            namespace: String::new(),
        };
        assert!(!g.applies_to(&sa, ""));
        let with_groups = UserInfo {
            groups: vec!["system:serviceaccounts:ns1".into()],
            ..sa
        };
        assert!(g.applies_to(&with_groups, ""));
    }
}
