//! REST operations on a resource: list, watch, create, get, update, patch, delete,
//! deletecollection, and the `status` / `scale` subresources; plus access reviews.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::{bytes_response, check_acceptable, json_response, wants_table};
use crate::error::{ApiError, ApiResult};
use crate::objects::{
    DeleteOptions, FieldValidation, ListOptions, PatchType, Subresource, WriteOptions, WriteOutcome,
};
use crate::registry::ResourceInfo;
use crate::request::{Query, ResourcePath};
use crate::security::UserInfo;
use crate::space::Space;
use crate::table;

/// Serves one request on a resource path.
pub async fn serve(space: &Arc<Space>, rp: ResourcePath, req: Request) -> ApiResult<Response> {
    let cat = space.registry.catalog();
    let r = cat
        .get(&rp.group, &rp.version, &rp.resource)
        .ok_or_else(ApiError::no_route)?;
    if (!r.namespaced && rp.namespace.is_some())
        || (r.namespaced && rp.namespace.is_none() && rp.name.is_some())
    {
        return Err(ApiError::no_route());
    }
    let (parts, body) = req.into_parts();
    check_acceptable(&parts.headers)?;
    let q = Query::parse(parts.uri.query());
    let ns = rp.namespace.clone().unwrap_or_default();
    let headers = &parts.headers;
    if parts.method == Method::POST
        && r.group.is_empty()
        && r.resource == "serviceaccounts"
        && rp.subresource.as_deref() == Some("token")
        && let Some(name) = &rp.name
    {
        let body = decode_body(headers, read_body(space, body).await?)?;
        return super::token::serve(space, &r, &ns, name, body);
    }
    let verb = match (&parts.method, rp.name.is_some()) {
        (&Method::GET, false) if q.flag("watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, false) => "create",
        (&Method::DELETE, false) => "deletecollection",
        (&Method::GET, true) => "get",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        _ => {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    let sub_verb_ok = rp.subresource.is_some() && matches!(verb, "get" | "update" | "patch");
    if !r.verbs.contains(&verb) && !sub_verb_ok {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    if rp.subresource.is_some() && !sub_verb_ok {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let sub = Subresource::parse(rp.subresource.as_deref(), &r)?;
    let name = rp.name.clone().unwrap_or_default();
    let namespace = rp.namespace.as_deref();
    match verb {
        "watch" => super::watch::serve(space.clone(), r, namespace.map(String::from), &q, headers),
        "list" => list(space, &r, namespace, &q, headers),
        "get" => get(space, &r, &ns, &name, sub, &q, headers),
        "create" => {
            let body = decode_body(headers, read_body(space, body).await?)?;
            if r.group == "authorization.k8s.io" || r.group == "authentication.k8s.io" {
                let caller = parts.extensions.get::<UserInfo>();
                return Ok(access_review(space, &r, body, caller));
            }
            let opts = write_options(&q, headers)?;
            let out = space.create(&r, &ns, body, &opts).await?;
            Ok(outcome(space, &r, out, &q, headers))
        }
        "update" => {
            let body = decode_body(headers, read_body(space, body).await?)?;
            let opts = write_options(&q, headers)?;
            let out = space.update(&r, &ns, &name, body, &opts, sub).await?;
            Ok(outcome(space, &r, out, &q, headers))
        }
        "patch" => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let kind = PatchType::from_content_type(ct).ok_or_else(|| {
                ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                    if r.is_custom() { "" } else { ", application/strategic-merge-patch+json" }
                ))
            })?;
            let raw = read_body(space, body).await?;
            let patch = if kind == PatchType::Apply {
                parse_yaml_or_json(&raw)?
            } else {
                parse_json(&raw)?
            };
            let opts = write_options(&q, headers)?;
            let out = space.patch(&r, &ns, &name, kind, patch, &opts, sub).await?;
            Ok(outcome(space, &r, out, &q, headers))
        }
        "delete" => {
            let raw = read_body(space, body).await?;
            let body = if raw.is_empty() {
                json!({})
            } else {
                decode_body(headers, raw)?
            };
            let opts = DeleteOptions::parse(&body, &q)?;
            let out = space.delete(&r, &ns, &name, &opts).await?;
            Ok(json_response(StatusCode::OK, &out.object))
        }
        "deletecollection" => {
            let raw = read_body(space, body).await?;
            let body = if raw.is_empty() {
                json!({})
            } else {
                decode_body(headers, raw)?
            };
            let dopts = DeleteOptions::parse(&body, &q)?;
            let lopts = ListOptions::parse(&q, &r)?;
            let page = space.list_objects(
                &r,
                namespace,
                &ListOptions {
                    limit: 0,
                    continue_token: None,
                    ..lopts
                },
            )?;
            let mut deleted = Vec::new();
            for item in page.items {
                let v = item.value();
                let n = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let ons = v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                match space.delete(&r, &ons, &n, &dopts).await {
                    Ok(o) => deleted.push(o.object),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({"kind": r.list_kind, "apiVersion": r.api_version(), "metadata": {"resourceVersion": space.store.current_rv().to_string()}, "items": deleted});
            Ok(json_response(StatusCode::OK, &list))
        }
        _ => Err(ApiError::no_route()),
    }
}

async fn read_body(space: &Space, body: Body) -> ApiResult<Bytes> {
    let limit = space.config.max_body_bytes;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

fn parse_json(b: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(b)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

fn parse_yaml_or_json(b: &[u8]) -> ApiResult<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(b) {
        return Ok(v);
    }
    serde_yaml_ng::from_slice::<Value>(b)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

/// Decodes a request body by its Content-Type: JSON, YAML or Kubernetes protobuf.
fn decode_body(headers: &HeaderMap, b: Bytes) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let base = ct.split(';').next().unwrap_or("").trim();
    let v = match base {
        "application/vnd.kubernetes.protobuf" => kubestellar_apimachinery::protobuf::decode(&b)
            .map_err(|e| ApiError::bad_request(format!("failed to decode protobuf body: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml_or_json(&b)?,
        "application/json" | "" | "*/*" => serde_json::from_slice(&b).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
            )));
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(v)
}

fn write_options(q: &Query, headers: &HeaderMap) -> ApiResult<WriteOptions> {
    let dry_run = match q.get("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(o) => {
            return Err(ApiError::bad_request(format!(
                "unsupported dryRun value {o:?}: only All is supported"
            )));
        }
    };
    // Like kube-apiserver: without fieldManager, the manager is the User-Agent's program name.
    let field_manager = q
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .map(String::from)
        .or_else(|| {
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.split('/').next().unwrap_or(ua).to_string())
                .filter(|s| !s.is_empty())
        });
    if let Some(m) = &field_manager
        && m.len() > 128
    {
        return Err(ApiError::bad_request(
            "fieldManager: Too long: may not be more than 128 bytes",
        ));
    }
    Ok(WriteOptions {
        dry_run,
        field_manager,
        field_validation: FieldValidation::parse(q.get("fieldValidation"))?,
        force: q.flag("force"),
    })
}

fn outcome(
    space: &Space,
    r: &ResourceInfo,
    out: WriteOutcome,
    q: &Query,
    headers: &HeaderMap,
) -> Response {
    let code = StatusCode::from_u16(out.code).unwrap_or(StatusCode::OK);
    let mut resp = if wants_table(headers) {
        let rv = space.store.current_rv();
        json_response(
            code,
            &table::table(
                r,
                std::slice::from_ref(&out.object),
                rv,
                None,
                q.get("includeObject").unwrap_or("Metadata"),
            ),
        )
    } else {
        match out.raw {
            Some(raw) if single_version(space, r) => bytes_response(code, raw, "application/json"),
            _ => json_response(code, &out.object),
        }
    };
    for w in out.warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", serde_json::Value::String(w))) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn get(
    space: &Space,
    r: &Arc<ResourceInfo>,
    ns: &str,
    name: &str,
    sub: Subresource,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if sub == Subresource::Scale {
        return Ok(json_response(
            StatusCode::OK,
            &space.get_scale(r, ns, name)?,
        ));
    }
    let obj = space.get_object(r, ns, name)?;
    if wants_table(headers) {
        let v = space.present(r, obj.value());
        return Ok(json_response(
            StatusCode::OK,
            &table::table(
                r,
                &[v],
                obj.rv,
                None,
                q.get("includeObject").unwrap_or("Metadata"),
            ),
        ));
    }
    if single_version(space, r) {
        return Ok(bytes_response(StatusCode::OK, obj.json, "application/json"));
    }
    Ok(json_response(
        StatusCode::OK,
        &space.present(r, obj.value()),
    ))
}

/// True when the stored JSON can be served as is (one served version, so apiVersion matches).
fn single_version(space: &Space, r: &ResourceInfo) -> bool {
    !r.is_custom()
        || space
            .registry
            .catalog()
            .versions_of(&r.group_resource())
            .len()
            == 1
}

fn list(
    space: &Space,
    r: &Arc<ResourceInfo>,
    namespace: Option<&str>,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let opts = ListOptions::parse(q, r)?;
    let res = space.list_objects(r, namespace, &opts)?;
    if wants_table(headers) {
        let objs: Vec<Value> = res
            .items
            .iter()
            .map(|o| space.present(r, o.value()))
            .collect();
        let mut t = table::table(
            r,
            &objs,
            res.rv,
            res.continue_token.as_deref(),
            q.get("includeObject").unwrap_or("Metadata"),
        );
        if let Some(n) = res.remaining {
            t["metadata"]["remainingItemCount"] = json!(n);
        }
        return Ok(json_response(StatusCode::OK, &t));
    }
    let mut meta = json!({"resourceVersion": res.rv.to_string()});
    if let Some(c) = &res.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = res.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    // Items are concatenated from their stored JSON: no re-serialization for large lists.
    let head =
        json!({"kind": r.list_kind, "apiVersion": r.api_version(), "metadata": meta}).to_string();
    let mut buf = BytesMut::with_capacity(
        head.len() + res.items.iter().map(|i| i.json.len() + 1).sum::<usize>() + 16,
    );
    buf.put_slice(&head.as_bytes()[..head.len() - 1]);
    buf.put_slice(b",\"items\":[");
    let raw = single_version(space, r);
    for (i, item) in res.items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        if raw {
            buf.put_slice(&item.json);
        } else {
            buf.put_slice(&serde_json::to_vec(&space.present(r, item.value())).unwrap_or_default());
        }
    }
    buf.put_slice(b"]}");
    Ok(bytes_response(
        StatusCode::OK,
        buf.freeze(),
        "application/json",
    ))
}

/// `SelfSubjectAccessReview` and friends: answered by the RBAC authorizer in a secure space;
/// an insecure space allows every request, and says so.
fn access_review(
    space: &Space,
    r: &ResourceInfo,
    mut body: Value,
    caller: Option<&UserInfo>,
) -> Response {
    body["apiVersion"] = json!(r.api_version());
    body["kind"] = json!(r.kind);
    if let (Some(auth), Some(caller)) = (&space.auth, caller) {
        crate::security::review::answer(auth, &space.store, &r.kind, caller, &mut body);
    } else if r.kind == "SelfSubjectReview" {
        body["status"] = json!({"userInfo": {"username": "system:anonymous", "groups": ["system:unauthenticated"]}});
    } else if r.kind == "SelfSubjectRulesReview" {
        body["status"] = json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false
        });
    } else {
        body["status"] =
            json!({"allowed": true, "reason": "the embedded space grants every request"});
    }
    if body["metadata"].is_null() {
        body["metadata"] = json!({});
    }
    json_response(StatusCode::CREATED, &body)
}
