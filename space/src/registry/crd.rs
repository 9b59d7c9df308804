//! Resources defined by CustomResourceDefinitions: one per served version.

use kubestellar_apimachinery::schema::compile_openapi_v3;
use serde_json::Value;

use super::builtin::ALL_VERBS;
use super::{PrinterColumn, ResourceInfo, ScaleInfo};

/// The served versions of a CRD as resources. A CRD being deleted stays served so that its
/// custom resources can still be listed and removed.
pub fn infos_from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(plural), Some(kind)) = (
        spec["group"].as_str(),
        names["plural"].as_str(),
        names["kind"].as_str(),
    ) else {
        return Vec::new();
    };
    let crd_name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    for v in &versions {
        if v["served"].as_bool() != Some(true) {
            continue;
        }
        let Some(version) = v["name"].as_str() else {
            continue;
        };
        let schema = v["schema"]["openAPIV3Schema"]
            .as_object()
            .map(|_| &v["schema"]["openAPIV3Schema"]);
        let schema = schema.and_then(|s| compile_openapi_v3(&with_object_meta(s)).ok());
        let sub = &v["subresources"];
        let scale = sub["scale"].as_object().map(|s| ScaleInfo {
            spec_replicas_path: s
                .get("specReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".spec.replicas")
                .into(),
            status_replicas_path: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .into(),
            label_selector_path: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(String::from),
        });
        let printer_columns = v["additionalPrinterColumns"]
            .as_array()
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        Some(PrinterColumn {
                            name: c["name"].as_str()?.to_string(),
                            type_: c["type"].as_str().unwrap_or("string").to_string(),
                            format: c["format"].as_str().unwrap_or_default().to_string(),
                            description: c["description"].as_str().unwrap_or_default().to_string(),
                            priority: c["priority"].as_i64().unwrap_or(0),
                            json_path: c["jsonPath"].as_str()?.to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceInfo {
            group: group.into(),
            version: version.into(),
            resource: plural.into(),
            kind: kind.into(),
            list_kind: names["listKind"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("{kind}List")),
            singular: names["singular"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| kind.to_lowercase()),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            verbs: ALL_VERBS.to_vec(),
            has_status: sub["status"].is_object(),
            scale,
            schema,
            printer_columns,
            crd: Some(crd_name.clone()),
            storage_version: storage_version.clone(),
        });
    }
    out
}

/// A CRD schema describes `metadata` loosely; give it the real ObjectMeta shape so that
/// validation, pruning and apply treat metadata like any built-in object's.
fn with_object_meta(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
        props.insert("kind".into(), serde_json::json!({"type": "string"}));
        if let Some(meta) = kubestellar_apimachinery::builtin::definitions()
            .raw("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .cloned()
        {
            props.insert("metadata".into(), meta);
        }
    }
    s
}
