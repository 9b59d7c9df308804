//! What the apiserver does to particular kinds on every write (Namespace, Secret, CRD), and
//! metadata/schema validation.

use base64::Engine;
use kubestellar_apimachinery::structural;
use kubestellar_apimachinery::validation::{self, FieldError, NameRule};
use serde_json::{Value, json};

use super::{meta_mut, now};
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceInfo;
use crate::space::Space;

/// Finalizer a CRD carries until its custom resources are gone.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Kind-specific mutations before storing.
pub(super) fn mutate(
    space: &Space,
    r: &ResourceInfo,
    old: Option<&Value>,
    obj: &mut Value,
) -> ApiResult<()> {
    match (r.group.as_str(), r.resource.as_str()) {
        ("", "services") => super::services::allocate(space, r, old, obj)?,
        ("", "namespaces") => {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if old.is_none() {
                if obj["spec"]["finalizers"].is_null() {
                    obj["spec"] = json!({"finalizers": ["kubernetes"]});
                }
                obj["status"] = json!({"phase": "Active"});
            }
        }
        ("", "secrets") => {
            if let Some(string_data) = obj.get("stringData").and_then(Value::as_object).cloned() {
                let data = obj
                    .as_object_mut()
                    .map(|o| o.entry("data").or_insert_with(|| json!({})));
                if let Some(Value::Object(d)) = data {
                    for (k, v) in string_data {
                        let s = v.as_str().unwrap_or_default();
                        d.insert(
                            k,
                            json!(base64::engine::general_purpose::STANDARD.encode(s)),
                        );
                    }
                }
                if let Some(o) = obj.as_object_mut() {
                    o.remove("stringData");
                }
            }
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => mutate_crd(old, obj),
        _ => {}
    }
    Ok(())
}

fn mutate_crd(old: Option<&Value>, obj: &mut Value) {
    if old.is_none() {
        let m = meta_mut(obj);
        let fins = m.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = fins.as_array_mut()
            && !a.iter().any(|f| f == CRD_CLEANUP_FINALIZER)
        {
            a.push(json!(CRD_CLEANUP_FINALIZER));
        }
    }
    let mut names = obj["spec"]["names"].clone();
    if let Some(n) = names.as_object_mut() {
        let kind = n
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        n.entry("singular")
            .or_insert_with(|| json!(kind.to_lowercase()));
        n.entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    obj["spec"]["names"] = names.clone();
    let mut stored: Vec<Value> = old
        .and_then(|o| o["status"]["storedVersions"].as_array().cloned())
        .unwrap_or_default();
    if let Some(storage) = obj["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"].as_bool() == Some(true)))
        .map(|v| v["name"].clone())
        && !stored.contains(&storage)
    {
        stored.push(storage);
    }
    let old_conditions = old
        .map(|o| o["status"]["conditions"].clone())
        .unwrap_or(Value::Null);
    let since = old_conditions
        .as_array()
        .and_then(|c| c.first())
        .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
        .unwrap_or_else(now);
    let terminating = obj["metadata"]["deletionTimestamp"].is_string();
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "lastTransitionTime": since, "reason": "NoConflicts", "message": "no conflicts found"}),
        json!({"type": "Established", "status": "True", "lastTransitionTime": since, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}),
    ];
    if terminating {
        conditions.push(json!({"type": "Terminating", "status": "True", "lastTransitionTime": since, "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}));
    }
    obj["status"] =
        json!({"conditions": conditions, "acceptedNames": names, "storedVersions": stored});
}

/// True for a CRD-established resource being deleted.
pub(crate) fn blocks_removal(r: &ResourceInfo, obj: &Value) -> bool {
    // A namespace goes away only once its own (spec) finalizers are done.
    r.group.is_empty()
        && r.resource == "namespaces"
        && obj["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
}

/// The name rule of a resource, as kube-apiserver's `ValidateNameFunc`.
fn name_rule(r: &ResourceInfo) -> NameRule {
    match (r.group.as_str(), r.resource.as_str()) {
        ("", "namespaces") => NameRule::Dns1123Label,
        ("", "services") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// Metadata, special-kind and (for custom resources) schema validation; 422 on failure.
pub(super) fn validate(
    _space: &Space,
    r: &ResourceInfo,
    old: Option<&Value>,
    obj: &Value,
) -> ApiResult<()> {
    let meta = &obj["metadata"];
    let mut errs: Vec<FieldError> = match old {
        None => validation::validate_object_meta(meta, r.namespaced, name_rule(r)),
        Some(o) => validation::validate_object_meta_update(meta, &o["metadata"]),
    };
    if old.is_some() {
        // Labels, annotations, finalizers and owner references may change on update.
        errs.extend(validation::validate_labels(
            meta.get("labels"),
            "metadata.labels",
        ));
        errs.extend(validation::validate_annotations(
            meta.get("annotations"),
            "metadata.annotations",
        ));
    }
    match (r.group.as_str(), r.resource.as_str()) {
        ("apiextensions.k8s.io", "customresourcedefinitions") => errs.extend(validate_crd(obj)),
        ("", "configmaps") => errs.extend(super::config_data::validate_config_map(old, obj)?),
        ("", "secrets") => errs.extend(super::config_data::validate_secret(old, obj)?),
        _ => {}
    }
    if r.is_custom()
        && let Some(schema) = &r.schema
    {
        let mut body = obj.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("metadata");
        }
        errs.extend(
            structural::validate(&body, schema)
                .into_iter()
                .filter(|e| !e.field.starts_with("metadata")),
        );
    }
    if errs.is_empty() {
        return Ok(());
    }
    let name = meta["name"].as_str().unwrap_or_default();
    Err(invalid(r, name, &errs))
}

/// The 422 error for a list of field errors.
pub(crate) fn invalid(r: &ResourceInfo, name: &str, errs: &[FieldError]) -> ApiError {
    let causes = errs
        .iter()
        .map(|e| Cause {
            reason: e.reason().to_string(),
            message: e.body(),
            field: e.field.clone(),
        })
        .collect();
    let mut e = ApiError::invalid(&r.group, &r.resource, &r.kind, name, causes);
    e.message = validation::invalid_message(&r.group, &r.kind, name, errs);
    e
}

fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            group,
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    }
    if spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group".to_string(),
        ));
    }
    match spec["scope"].as_str() {
        Some("Cluster" | "Namespaced") => {}
        other => errs.push(FieldError::not_supported(
            "spec.scope",
            other.unwrap_or_default(),
            &["Cluster", "Namespaced"],
        )),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!([]),
            "must have exactly one version marked as storage version",
        ));
    } else if versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count()
        != 1
    {
        errs.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    errs
}
