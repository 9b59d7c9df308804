//! HTTP entry point: one handler parses the path, decodes the body and dispatches to discovery,
//! OpenAPI or the object operations.

mod discovery;
mod openapi;
mod resource;
mod token;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::{Target, parse_path};
use crate::security::Attributes;
use crate::security::authn::{self, PeerIdentity};
use crate::space::Space;

/// Builds the router of a space: every path goes through [`dispatch`].
pub fn router(space: Arc<Space>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(space)
}

async fn dispatch(State(space): State<Arc<Space>>, mut req: Request) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let verb = kube_verb(&req);
    let resp = match guard(&space, &mut req) {
        Err(e) => e.into_response(),
        Ok(()) => match route(&space, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    };
    let code = resp.status().as_u16();
    space.metrics.observe(verb, code, start.elapsed());
    tracing::debug!(space = %space.config.name, %method, %path, code, elapsed_us = start.elapsed().as_micros() as u64, "request");
    resp
}

/// Authenticates and authorizes a request to a secure space (health and version stay open, as
/// kube-apiserver's `system:public-info-viewer` leaves them); the caller's identity goes into
/// the request's extensions for access reviews.
fn guard(space: &Space, req: &mut Request) -> ApiResult<()> {
    let Some(auth) = &space.auth else {
        return Ok(());
    };
    let path = req.uri().path().trim_end_matches('/');
    let public = ["/healthz", "/readyz", "/livez", "/version"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')));
    if public {
        return Ok(());
    }
    let sa_uid = |namespace: &str, name: &str| {
        let gr = crate::registry::GroupResource {
            group: String::new(),
            resource: "serviceaccounts".into(),
        };
        let sa = space
            .store
            .get(&crate::store::ObjectKey::new(&gr, namespace, name))?;
        sa.value()["metadata"]["uid"].as_str().map(str::to_string)
    };
    let user = authn::authenticate(
        auth,
        req.headers(),
        req.extensions().get::<PeerIdentity>(),
        &sa_uid,
    )?;
    let user = impersonate(space, auth, user, req.headers())?;
    let query = crate::request::Query::parse(req.uri().query());
    let attrs = Attributes::of_request(user, req.method(), req.uri().path(), &query);
    let decision = auth.rbac.authorize(&space.store, &attrs);
    if !decision.allowed {
        tracing::debug!(space = %space.config.name, user = %attrs.user.name, verb = %attrs.verb, resource = %attrs.combined_resource(), namespace = %attrs.namespace, "forbidden");
        return Err(attrs.forbidden(&decision.reason));
    }
    req.extensions_mut().insert(attrs.user);
    Ok(())
}

/// Applies `Impersonate-User` / `Impersonate-Group` (what `kubectl --as/--as-group` sends) as
/// kube-apiserver does: the caller needs the `impersonate` verb on each `users` and `groups`
/// named; the request then runs as that identity. Ignoring the headers would answer for the
/// caller instead, so a refused impersonation is a 403, never a silent fallback.
fn impersonate(
    space: &Space,
    auth: &crate::security::Auth,
    caller: crate::security::authn::UserInfo,
    headers: &http::HeaderMap,
) -> ApiResult<crate::security::authn::UserInfo> {
    let as_user = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok());
    let as_groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let Some(as_user) = as_user else {
        if as_groups.is_empty() {
            return Ok(caller);
        }
        return Err(crate::error::ApiError::bad_request(
            "requested impersonation of groups without impersonating a user",
        ));
    };
    let wanted = std::iter::once(("users", as_user.to_string()))
        .chain(as_groups.iter().map(|g| ("groups", g.clone())));
    for (resource, name) in wanted {
        let attrs = Attributes {
            user: caller.clone(),
            verb: "impersonate".into(),
            resource_request: true,
            path: String::new(),
            namespace: String::new(),
            api_group: String::new(),
            api_version: "v1".into(),
            resource: resource.into(),
            subresource: String::new(),
            name: name.clone(),
        };
        let decision = auth.rbac.authorize(&space.store, &attrs);
        if !decision.allowed {
            let mut e = attrs.forbidden(&decision.reason);
            e.message = format!(
                "{resource} {name:?} is forbidden: User {:?} cannot impersonate resource {resource:?} in API group \"\" at the cluster scope",
                caller.name
            );
            return Err(e);
        }
    }
    let mut groups = as_groups;
    if !groups
        .iter()
        .any(|g| g == crate::security::AUTHENTICATED_GROUP)
    {
        groups.push(crate::security::AUTHENTICATED_GROUP.to_string());
    }
    Ok(crate::security::authn::UserInfo {
        name: as_user.to_string(),
        uid: String::new(),
        groups,
    })
}

/// The verb as kube-apiserver's `apiserver_request_total` names it: GET/LIST/WATCH for reads of
/// an item / a collection / a watch, APPLY for server-side apply, else the HTTP method.
fn kube_verb(req: &Request) -> &'static str {
    let collection = matches!(
        parse_path(req.uri().path()),
        Ok(Target::Resource(crate::request::ResourcePath {
            name: None,
            ..
        }))
    );
    let query = crate::request::Query::parse(req.uri().query());
    match *req.method() {
        http::Method::GET if collection && query.flag("watch") => "WATCH",
        http::Method::GET if collection => "LIST",
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => {
            let ct = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if ct.is_some_and(|c| c.starts_with("application/apply-patch")) {
                "APPLY"
            } else {
                "PATCH"
            }
        }
        http::Method::DELETE if collection => "DELETECOLLECTION",
        http::Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

async fn route(space: &Arc<Space>, req: Request) -> ApiResult<Response> {
    let target = parse_path(req.uri().path())?;
    match target {
        Target::Version => Ok(json_response(StatusCode::OK, &discovery::version(space))),
        Target::Health(kind) => Ok(health(space, kind)),
        Target::Api | Target::Apis | Target::Group(_) | Target::GroupVersion { .. } => {
            discovery::serve(space, &target, req.headers())
        }
        Target::OpenApiV2 => Ok(openapi::v2()),
        Target::OpenApiV3Index => Ok(openapi::v3_index(space)),
        Target::OpenApiV3 { group, version } => openapi::v3_document(space, &group, &version),
        Target::Metrics => Ok(text_response(StatusCode::OK, space.metrics.render())),
        Target::Resource(rp) => resource::serve(space, rp, req).await,
    }
}

fn health(space: &Space, kind: &str) -> Response {
    if kind == "readyz" && !space.store.healthy() {
        return text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "[-]store failed: writes are refused\nreadyz check failed".into(),
        );
    }
    text_response(StatusCode::OK, "ok".into())
}

/// A JSON response.
pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response {
    bytes_response(
        code,
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        "application/json",
    )
}

pub(crate) fn bytes_response(
    code: StatusCode,
    body: Bytes,
    content_type: &'static str,
) -> Response {
    let mut r = (code, Body::from(body)).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text_response(code: StatusCode, s: String) -> Response {
    bytes_response(code, Bytes::from(s), "text/plain; charset=utf-8")
}

/// True when the Accept header asks for a server-side Table.
pub(crate) fn wants_table(h: &HeaderMap) -> bool {
    accept(h).contains("as=Table")
}

pub(crate) fn accept(h: &HeaderMap) -> &str {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Rejects Accept headers that allow no JSON answer.
pub(crate) fn check_acceptable(h: &HeaderMap) -> ApiResult<()> {
    let a = accept(h);
    if a.is_empty() {
        return Ok(());
    }
    let ok = a.split(',').any(|part| {
        let mt = part.split(';').next().unwrap_or("").trim();
        matches!(
            mt,
            "application/json"
                | "*/*"
                | "application/*"
                | "application/yaml"
                | "application/json-seq"
        )
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::not_acceptable(format!(
            "only the following media types are accepted: application/json, application/yaml; got {a}"
        )))
    }
}
