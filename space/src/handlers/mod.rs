//! HTTP entry point: one handler parses the path, decodes the body and dispatches to discovery,
//! OpenAPI or the object operations.

mod discovery;
mod openapi;
mod resource;
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
    let user = authn::authenticate(auth, req.headers(), req.extensions().get::<PeerIdentity>())?;
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
