//! Request attributes for authorization, derived from the method, path and query exactly as
//! kube-apiserver's RequestInfo does (verb, API group, resource/subresource, namespace, name).

use super::authn::UserInfo;
use crate::error::{ApiError, qualified};
use crate::request::{Query, percent_decode};

/// What a request asks to do, and who asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`;
    /// for non-resource requests the lower-case HTTP method.
    pub verb: String,
    /// False for non-resource URLs (discovery, OpenAPI, metrics...).
    pub resource_request: bool,
    /// The URL path.
    pub path: String,
    /// The namespace ("" at cluster scope); for a Namespace object, its own name.
    pub namespace: String,
    /// API group ("" for the core group).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource (`status`, `scale`...).
    pub subresource: String,
    /// Object name ("" for collections unless a `metadata.name` field selector names one).
    pub name: String,
}

/// Subresources of a namespace: `/namespaces/NS/status` addresses the namespace itself.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl Attributes {
    /// The attributes of a request.
    pub fn of_request(user: UserInfo, method: &http::Method, path: &str, query: &Query) -> Self {
        let mut a = Attributes {
            user,
            path: path.to_string(),
            verb: method.as_str().to_ascii_lowercase(),
            ..Default::default()
        };
        let parts: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s).unwrap_or_else(|| s.to_string()))
            .collect();
        let rest = match parts.first().map(String::as_str) {
            Some("api") if parts.len() >= 3 => {
                a.api_version = parts[1].clone();
                &parts[2..]
            }
            Some("apis") if parts.len() >= 4 => {
                a.api_group = parts[1].clone();
                a.api_version = parts[2].clone();
                &parts[3..]
            }
            _ => return a,
        };
        a.resource_request = true;
        a.verb = match *method {
            http::Method::GET | http::Method::HEAD => "get",
            http::Method::POST => "create",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE => "delete",
            _ => "",
        }
        .to_string();
        let mut rest = rest;
        if rest[0] == "namespaces" && rest.len() > 1 {
            a.namespace = rest[1].clone();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2].as_str()) {
                rest = &rest[2..];
            }
        }
        a.resource = rest[0].clone();
        if let Some(n) = rest.get(1) {
            a.name = n.clone();
        }
        if let Some(s) = rest.get(2) {
            a.subresource = s.clone();
        }
        if a.name.is_empty() && a.verb == "get" {
            a.verb = if query.flag("watch") { "watch" } else { "list" }.into();
            if let Some(name) = query
                .get("fieldSelector")
                .and_then(|s| kubestellar_apimachinery::selectors::parse_field_selector(s).ok())
                .and_then(|f| f.requires_exact_match("metadata.name").map(String::from))
            {
                a.name = name;
            }
        }
        if a.name.is_empty() && a.verb == "delete" {
            a.verb = "deletecollection".into();
        }
        a
    }

    /// `deployments/status`, or the resource alone.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// The 403 kube-apiserver answers when this request is denied, e.g. `configmaps is
    /// forbidden: User "bob" cannot list resource "configmaps" in API group "" in the
    /// namespace "ns1"`; `reason` (the authorizer's, may be empty) is appended.
    pub fn forbidden(&self, reason: &str) -> ApiError {
        let user = &self.user.name;
        let mut msg = if !self.resource_request {
            format!("User {user:?} cannot {} path {:?}", self.verb, self.path)
        } else if !self.namespace.is_empty() {
            format!(
                "User {user:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                self.verb,
                self.combined_resource(),
                self.api_group,
                self.namespace
            )
        } else {
            format!(
                "User {user:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                self.verb,
                self.combined_resource(),
                self.api_group
            )
        };
        if !reason.is_empty() {
            msg = format!("{msg}: {reason}");
        }
        if !self.resource_request {
            return ApiError::forbidden(format!("forbidden: {msg}"));
        }
        let gr = qualified(&self.api_group, &self.resource);
        let message = if self.name.is_empty() {
            format!("{gr} is forbidden: {msg}")
        } else {
            format!("{gr} {:?} is forbidden: {msg}", self.name)
        };
        ApiError::forbidden(message).with_details(&self.api_group, &self.resource, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn attrs(m: Method, p: &str, q: &str) -> Attributes {
        Attributes::of_request(
            UserInfo {
                name: "bob".into(),
                ..Default::default()
            },
            &m,
            p,
            &Query::parse(Some(q)),
        )
    }

    #[test]
    fn derives_verbs_like_kube_apiserver() {
        let a = attrs(Method::GET, "/api/v1/namespaces/ns1/configmaps", "");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource.as_str()),
            ("list", "ns1", "configmaps")
        );
        let a = attrs(
            Method::GET,
            "/api/v1/namespaces/ns1/configmaps",
            "watch=true&fieldSelector=metadata.name%3Dc1",
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "c1"));
        let a = attrs(Method::DELETE, "/apis/apps/v1/namespaces/d/deployments", "");
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str()),
            ("deletecollection", "apps")
        );
        let a = attrs(
            Method::PATCH,
            "/apis/apps/v1/namespaces/d/deployments/web/status",
            "",
        );
        assert_eq!(a.combined_resource(), "deployments/status");
        assert_eq!(a.name, "web");
        let a = attrs(Method::GET, "/api/v1/namespaces/foo", "");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.name.as_str()),
            ("get", "foo", "foo")
        );
        let a = attrs(Method::PUT, "/api/v1/namespaces/foo/finalize", "");
        assert_eq!(
            (a.resource.as_str(), a.subresource.as_str()),
            ("namespaces", "finalize")
        );
        let a = attrs(Method::GET, "/apis/apps/v1", "");
        assert!(!a.resource_request);
        assert_eq!(a.verb, "get");
    }

    #[test]
    fn forbidden_messages_match_kube_apiserver() {
        let a = attrs(Method::GET, "/api/v1/namespaces/ns1/configmaps", "");
        assert_eq!(
            a.forbidden("").message,
            r#"configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "ns1""#
        );
        let a = attrs(Method::GET, "/apis/apps/v1/deployments", "");
        assert_eq!(
            a.forbidden("").message,
            r#"deployments.apps is forbidden: User "bob" cannot list resource "deployments" in API group "apps" at the cluster scope"#
        );
        let a = attrs(
            Method::GET,
            "/apis/apps/v1/namespaces/x/deployments/web/scale",
            "",
        );
        assert_eq!(
            a.forbidden("").message,
            r#"deployments.apps "web" is forbidden: User "bob" cannot get resource "deployments/scale" in API group "apps" in the namespace "x""#
        );
        let a = attrs(Method::GET, "/apis", "");
        assert_eq!(
            a.forbidden("").message,
            r#"forbidden: User "bob" cannot get path "/apis""#
        );
    }
}
