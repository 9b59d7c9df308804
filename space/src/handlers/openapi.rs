//! OpenAPI: `/openapi/v3` (index and one document per group-version, with the real schemas of
//! built-in kinds and CRDs, and the PATCH operations that make kubectl trust server-side field
//! validation) and an empty protobuf `/openapi/v2` (what kubectl 1.27 needs, finding F2/F3).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::{bytes_response, json_response};
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::space::Space;

/// `/openapi/v2`: a valid, empty protobuf `Document`.
pub fn v2() -> Response {
    bytes_response(
        StatusCode::OK,
        Bytes::new(),
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
    )
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group-version, with a hash that changes with its content.
pub fn v3_index(space: &Space) -> Response {
    let cat = space.registry.catalog();
    let mut paths = Map::new();
    for (g, versions) in &cat.groups {
        for v in versions {
            let doc = document(space, g, v);
            let p = gv_path(g, v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", doc.0)}),
            );
        }
    }
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

/// `/openapi/v3/{api/v1 | apis/g/v}`.
pub fn v3_document(space: &Space, group: &str, version: &str) -> ApiResult<Response> {
    if space
        .registry
        .catalog()
        .in_group_version(group, version)
        .is_empty()
    {
        return Err(ApiError::no_route());
    }
    let (_, body) = document(space, group, version);
    Ok(bytes_response(
        StatusCode::OK,
        (*body).clone(),
        "application/json",
    ))
}

type Doc = (String, Arc<Bytes>);

/// Built-in group-version documents never change: computed once per process.
fn builtin_cache() -> &'static Mutex<BTreeMap<String, Doc>> {
    static CACHE: OnceLock<Mutex<BTreeMap<String, Doc>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn document(space: &Space, group: &str, version: &str) -> Doc {
    let resources = space.registry.catalog().in_group_version(group, version);
    let custom = resources.iter().any(|r| r.is_custom());
    let key = gv_path(group, version);
    if !custom
        && let Some(d) = builtin_cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
    {
        return d.clone();
    }
    let doc = build_document(group, version, &resources);
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    let out = (format!("{:016X}", h.finish()), Arc::new(Bytes::from(bytes)));
    if !custom {
        builtin_cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, out.clone());
    }
    out
}

fn build_document(group: &str, version: &str, resources: &[Arc<ResourceInfo>]) -> Value {
    let defs = kubestellar_apimachinery::builtin::raw_document();
    let all = defs.get("schemas").and_then(Value::as_object);
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for r in resources {
        let gvk = json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
        let def_name = if r.is_custom() {
            let name = format!("{}.{}.{}", reverse_domain(&r.group), r.version, r.kind);
            if let Some(s) = crd_schema(r) {
                let mut s = s;
                s["x-kubernetes-group-version-kind"] = gvk.clone();
                schemas.insert(name.clone(), s);
            }
            wanted.insert("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into());
            name
        } else {
            match kubestellar_apimachinery::builtin::definition_name(&r.group, &r.version, &r.kind)
            {
                Some(n) => {
                    wanted.insert(n.to_string());
                    n.to_string()
                }
                None => continue,
            }
        };
        add_paths(&mut paths, r, &def_name, &gvk);
    }
    // Everything the wanted definitions reference.
    let mut queue: Vec<String> = wanted.iter().cloned().collect();
    for s in schemas.values() {
        collect_refs(s, &mut queue);
    }
    let mut seen = BTreeSet::new();
    while let Some(n) = queue.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(d) = all.and_then(|a| a.get(&n)) {
            collect_refs(d, &mut queue);
            schemas.entry(n).or_insert_with(|| strip_proto(d));
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
        "x-kubestellar-group-version": gv_path(group, version),
    })
}

fn reverse_domain(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

fn crd_schema(r: &ResourceInfo) -> Option<Value> {
    let mut s = r.schema.as_ref()?.raw();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "metadata".into(),
            json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "description": "Standard object's metadata."}),
        );
    }
    Some(s)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    if let Some(n) = x
                        .as_str()
                        .and_then(|s| s.strip_prefix("#/components/schemas/"))
                    {
                        out.push(n.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Drops our protobuf annotations (`x-proto-*`), which are not part of what kube publishes.
fn strip_proto(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with("x-proto"))
                .map(|(k, x)| (k.clone(), strip_proto(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_proto).collect()),
        other => other.clone(),
    }
}

fn param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn add_paths(paths: &mut Map<String, Value>, r: &ResourceInfo, def: &str, gvk: &Value) {
    let prefix = format!("/{}", gv_path(&r.group, &r.version));
    let (collection, item) = if r.namespaced {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", r.resource),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.resource),
        )
    } else {
        (
            format!("{prefix}/{}", r.resource),
            format!("{prefix}/{}/{{name}}", r.resource),
        )
    };
    let schema_ref = json!({"$ref": format!("#/components/schemas/{def}")});
    let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}});
    let op = |action: &str, params: Vec<Value>| json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk[0], "parameters": params, "responses": ok});
    let write_params = || {
        vec![
            param("dryRun"),
            param("fieldManager"),
            param("fieldValidation"),
        ]
    };
    let mut patch_params = write_params();
    patch_params.push(
        json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}),
    );
    let patch_op = {
        let mut p = op("patch", patch_params);
        let mut content = Map::new();
        for ct in [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ] {
            content.insert(ct.into(), json!({"schema": {"type": "object"}}));
        }
        if !r.is_custom() {
            content.insert(
                "application/strategic-merge-patch+json".into(),
                json!({"schema": {"type": "object"}}),
            );
        }
        p["requestBody"] = json!({"content": content, "required": true});
        p
    };
    paths.insert(
        item.clone(),
        json!({
            "get": op("get", vec![]),
            "put": op("put", write_params()),
            "patch": patch_op.clone(),
            "delete": op("delete", vec![param("dryRun")]),
        }),
    );
    paths.insert(
        collection,
        json!({"get": op("list", vec![]), "post": op("post", write_params())}),
    );
    if r.has_status {
        paths.insert(
            format!("{item}/status"),
            json!({"get": op("get", vec![]), "put": op("put", write_params()), "patch": patch_op}),
        );
    }
}
