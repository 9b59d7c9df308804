//! The `/scale` subresource: an `autoscaling/v1 Scale` view of an object's replicas, read and
//! written through the paths the resource declares.

use kubestellar_apimachinery::schema::Schema;
use serde_json::{Value, json};

use super::patch::{PatchType, apply_patch};
use super::{Subresource, WriteOptions, WriteOutcome, get_path, set_path};
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceInfo;
use crate::space::Space;
use crate::store::ObjectKey;

impl Space {
    /// `/scale` reads.
    pub fn get_scale(&self, r: &ResourceInfo, namespace: &str, name: &str) -> ApiResult<Value> {
        let key = ObjectKey::new(&r.group_resource(), namespace, name);
        let obj = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(&r.group, &r.resource, name))?
            .value();
        Ok(scale_of(r, &obj))
    }

    pub(super) async fn write_scale(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        w: ScaleWrite,
        opts: &WriteOptions,
    ) -> ApiResult<WriteOutcome> {
        let Some(si) = r.scale.clone() else {
            return Err(ApiError::no_route());
        };
        let schema = Schema::any();
        let out = self
            .guaranteed_update(
                r,
                namespace,
                name,
                None,
                opts,
                Subresource::Main,
                false,
                |old| {
                    let current = scale_of(r, old);
                    let wanted = match &w {
                        ScaleWrite::Replace(s) => {
                            if let Some(rv) = s["metadata"]["resourceVersion"].as_str()
                                && Some(rv) != old["metadata"]["resourceVersion"].as_str()
                            {
                                return Err(ApiError::conflict(&r.group, &r.resource, name));
                            }
                            s.clone()
                        }
                        ScaleWrite::Patch(kind, p) => apply_patch(*kind, &current, p, &schema)?,
                    };
                    let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
                    if replicas < 0 {
                        return Err(ApiError::invalid(
                            "autoscaling",
                            "scale",
                            "Scale",
                            name,
                            vec![Cause {
                                reason: "FieldValueInvalid".into(),
                                message: format!(
                                    "Invalid value: {replicas}: must be greater than or equal to 0"
                                ),
                                field: "spec.replicas".into(),
                            }],
                        ));
                    }
                    let mut new = old.clone();
                    set_path(&mut new, &si.spec_replicas_path, json!(replicas));
                    Ok(new)
                },
            )
            .await?;
        Ok(WriteOutcome {
            object: scale_of(r, &out.object),
            code: 200,
            warnings: out.warnings,
            raw: None,
        })
    }
}

pub(super) enum ScaleWrite {
    Replace(Value),
    Patch(PatchType, Value),
}

/// An `autoscaling/v1 Scale` for an object.
fn scale_of(r: &ResourceInfo, obj: &Value) -> Value {
    let si = r.scale.clone();
    let (spec_path, status_path, sel_path) = match &si {
        Some(s) => (
            s.spec_replicas_path.as_str(),
            s.status_replicas_path.as_str(),
            s.label_selector_path.as_deref(),
        ),
        None => (".spec.replicas", ".status.replicas", None),
    };
    let m = &obj["metadata"];
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": get_path(obj, spec_path).cloned().unwrap_or(json!(0))},
        "status": {"replicas": get_path(obj, status_path).cloned().unwrap_or(json!(0))},
    });
    let selector = sel_path
        .and_then(|p| get_path(obj, p))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            // Built-ins keep a structured selector in spec.selector; render it as a string.
            obj["spec"]["selector"]["matchLabels"]
                .as_object()
                .map(|ml| {
                    ml.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
        });
    if let Some(s) = selector {
        scale["status"]["selector"] = json!(s);
    }
    if m["namespace"].is_null()
        && let Some(o) = scale["metadata"].as_object_mut()
    {
        o.remove("namespace");
    }
    scale
}
