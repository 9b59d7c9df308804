//! `/version` and API discovery, legacy (`/api`, `/apis`, per group-version lists) and
//! aggregated (`apidiscovery.k8s.io` v2 / v2beta1, chosen by the Accept header).

use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::{accept, json_response};
use crate::error::{ApiError, ApiResult};
use crate::registry::{Catalog, ResourceInfo};
use crate::request::Target;
use crate::space::Space;
use axum::response::Response;

/// The `/version` answer.
pub fn version(space: &Space) -> Value {
    let minor = space.config.kube_minor;
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "emulationMajor": "1",
        "emulationMinor": minor.to_string(),
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": (minor - 1).to_string(),
        "gitVersion": format!("v1.{minor}.0"),
        "gitCommit": format!("kubestellar-space-{}", env!("CARGO_PKG_VERSION")),
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// Serves `/api`, `/apis`, `/apis/{g}` and `/api/v1`, `/apis/{g}/{v}`.
pub fn serve(space: &Space, target: &Target, headers: &HeaderMap) -> ApiResult<Response> {
    let cat = space.registry.catalog();
    let aggregated = aggregated_version(headers).filter(|_| space.config.aggregated_discovery);
    match target {
        Target::Api => match aggregated {
            Some(v) => Ok(aggregated_response(v, &aggregated_list(&cat, true, v))),
            None => Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
            )),
        },
        Target::Apis => match aggregated {
            Some(v) => Ok(aggregated_response(v, &aggregated_list(&cat, false, v))),
            None => {
                let groups: Vec<Value> = cat
                    .groups
                    .iter()
                    .filter(|(g, _)| !g.is_empty())
                    .map(|(g, vs)| api_group(g, vs))
                    .collect();
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                ))
            }
        },
        Target::Group(g) => {
            let (_, vs) = cat
                .groups
                .iter()
                .find(|(name, _)| name == g)
                .ok_or_else(ApiError::no_route)?;
            let mut v = api_group(g, vs);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            Ok(json_response(StatusCode::OK, &v))
        }
        Target::GroupVersion { group, version } => {
            let resources = cat.in_group_version(group, version);
            if resources.is_empty() {
                return Err(ApiError::no_route());
            }
            let gv = if group.is_empty() {
                version.clone()
            } else {
                format!("{group}/{version}")
            };
            let list: Vec<Value> = resources.iter().flat_map(|r| legacy_resources(r)).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
            ))
        }
        _ => Err(ApiError::no_route()),
    }
}

fn aggregated_version(h: &HeaderMap) -> Option<&'static str> {
    let a = accept(h);
    if !a.contains("as=APIGroupDiscoveryList") {
        return None;
    }
    // Prefer v2 when offered; kubectl 1.27 only offers v2beta1.
    let offers_v2 = a
        .split(',')
        .filter(|p| p.contains("as=APIGroupDiscoveryList"))
        .any(|p| p.split(';').any(|param| param.trim() == "v=v2"));
    if offers_v2 {
        Some("v2")
    } else {
        Some("v2beta1")
    }
}

fn aggregated_response(version: &'static str, body: &Value) -> Response {
    let mut r = json_response(StatusCode::OK, body);
    let ct = if version == "v2" {
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    } else {
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn api_group(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

fn legacy_resources(r: &ResourceInfo) -> Vec<Value> {
    let mut main = json!({
        "name": r.resource,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    let mut out = vec![main];
    if r.has_status {
        out.push(json!({"name": format!("{}/status", r.resource), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
    }
    if r.scale.is_some() {
        out.push(json!({"name": format!("{}/scale", r.resource), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
    }
    out
}

fn aggregated_list(cat: &Catalog, core: bool, version: &str) -> Value {
    let groups = cat.groups.iter().filter(|(g, _)| g.is_empty() == core);
    let items: Vec<Value> = groups
        .map(|(g, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = cat
                        .in_group_version(g, v)
                        .iter()
                        .map(|r| aggregated_resource(r))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items})
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let mut subs = Vec::new();
    if r.has_status {
        subs.push(json!({"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}));
    }
    if r.scale.is_some() {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
    }
    let mut v = json!({
        "resource": r.resource,
        "responseKind": kind,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !subs.is_empty() {
        v["subresources"] = json!(subs);
    }
    v
}
