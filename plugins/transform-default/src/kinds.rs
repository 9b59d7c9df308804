//! Kind-specific removals (upstream `pkg/transport/generic/filtering`): fields a WEC allocates
//! or controllers stamp, which would conflict when applied to another cluster.

use serde_json::{Map, Value};

use crate::strip::{annotation, metadata_map};

/// Annotation listing what to keep (comma/space separated: `nodeport`, `clusterip`).
const PRESERVE: &str = "control.kubestellar.io/preserve";

/// The kinds with their own rules.
#[derive(Clone, Copy)]
enum Rules {
    Service,
    PersistentVolume,
    Job,
}

fn rules(api_version: Option<&str>, kind: Option<&str>) -> Option<Rules> {
    match (api_version?, kind?) {
        ("v1", "Service") => Some(Rules::Service),
        ("v1", "PersistentVolume") => Some(Rules::PersistentVolume),
        ("batch/v1", "Job") => Some(Rules::Job),
        _ => None,
    }
}

/// Whether objects of this apiVersion and kind have kind-specific removals.
pub fn has_rules(api_version: Option<&str>, kind: Option<&str>) -> bool {
    rules(api_version, kind).is_some()
}

/// Applies the removals for the object's apiVersion and kind, if it has any.
pub fn strip_kind_specific(object: &mut Map<String, Value>) {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let kind = object.get("kind").and_then(Value::as_str);
    match rules(api_version, kind) {
        Some(Rules::Service) => clean_service(object),
        Some(Rules::PersistentVolume) => clean_persistent_volume(object),
        Some(Rules::Job) => clean_job(object),
        None => {}
    }
}

fn preserves(object: &Map<String, Value>, what: &str) -> bool {
    annotation(object, PRESERVE).is_some_and(|v| v.split([',', ' ']).any(|item| item == what))
}

fn spec(object: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    object.get_mut("spec")?.as_object_mut()
}

/// Service: the WEC allocates IPs and node ports and defaults the traffic fields. Headless
/// Services stay headless; `preserve: clusterip` / `nodeport` keep those.
fn clean_service(object: &mut Map<String, Value>) {
    let keep_cluster_ip = preserves(object, "clusterip");
    let keep_node_port = preserves(object, "nodeport");
    let Some(spec) = spec(object) else { return };
    for field in [
        "ipFamilies",
        "externalTrafficPolicy",
        "internalTrafficPolicy",
        "ipFamilyPolicy",
        "sessionAffinity",
    ] {
        spec.remove(field);
    }
    if !keep_cluster_ip {
        if spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_some_and(|ip| ip != "None")
        {
            spec.remove("clusterIP");
        }
        let headless = match spec.get("clusterIPs") {
            Some(Value::Array(ips)) if ips.iter().all(Value::is_string) => Some(
                ips.iter()
                    .filter(|ip| ip.as_str() == Some("None"))
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        };
        match headless {
            Some(ips) if ips.is_empty() => {
                spec.remove("clusterIPs");
            }
            Some(ips) => {
                spec.insert("clusterIPs".to_owned(), Value::Array(ips));
            }
            None => {}
        }
    }
    if !keep_node_port && let Some(Value::Array(ports)) = spec.get_mut("ports") {
        // Upstream sets nodePort to null; an absent field means the same to the apiserver.
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
}

/// Labels the Job controller stamps (old and new spelling).
fn is_job_controller_label(key: &str) -> bool {
    key == "controller-uid" || key == "batch.kubernetes.io/controller-uid"
}

/// Job: the selector and its controller-uid labels are generated per cluster; `suspend` is the
/// WDS's business.
fn clean_job(object: &mut Map<String, Value>) {
    if let Some(annotations) = metadata_map(object, "annotations") {
        annotations.remove("batch.kubernetes.io/job-tracking");
    }
    if let Some(labels) = metadata_map(object, "labels") {
        labels.retain(|k, _| !is_job_controller_label(k));
    }
    if let Some(spec) = spec(object) {
        spec.remove("selector");
        spec.remove("suspend");
        if let Some(Value::Object(labels)) = spec
            .get_mut("template")
            .and_then(|t| t.pointer_mut("/metadata/labels"))
        {
            labels.retain(|k, _| !is_job_controller_label(k));
        }
    }
    object.remove("status");
}

/// PersistentVolume: the binder stamps the claim's identity, which differs in every cluster.
fn clean_persistent_volume(object: &mut Map<String, Value>) {
    if let Some(Value::Object(claim_ref)) = spec(object).and_then(|s| s.get_mut("claimRef")) {
        claim_ref.remove("uid");
        claim_ref.remove("resourceVersion");
    }
    object.remove("status");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Value {
        let Value::Object(mut obj) = v else {
            panic!("test input must be an object")
        };
        strip_kind_specific(&mut obj);
        Value::Object(obj)
    }

    fn service(annotations: Value, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "annotations": annotations}, "spec": spec})
    }

    #[test]
    fn service_allocations_are_removed() {
        let out = run(service(
            json!({}),
            json!({
                "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7", "fd00::7"], "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                "sessionAffinity": "None", "type": "NodePort",
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 443, "nodePort": 30443}]
            }),
        ));
        assert_eq!(
            out["spec"],
            json!({"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]})
        );
    }

    #[test]
    fn headless_service_stays_headless() {
        let out = run(service(
            json!({}),
            json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]}),
        ));
        assert_eq!(
            out["spec"],
            json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80}]})
        );
        let out = run(service(
            json!({}),
            json!({"clusterIPs": ["10.1.1.1", "None"]}),
        ));
        assert_eq!(out["spec"], json!({"clusterIPs": ["None"]}));
    }

    #[test]
    fn preserve_annotation_keeps_node_ports_and_cluster_ips() {
        let spec = json!({"clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"], "ports": [{"port": 80, "nodePort": 30080}]});
        let out = run(service(json!({PRESERVE: "nodeport"}), spec.clone()));
        assert_eq!(
            out["spec"],
            json!({"ports": [{"port": 80, "nodePort": 30080}]})
        );
        let out = run(service(
            json!({PRESERVE: "clusterip, nodeport"}),
            spec.clone(),
        ));
        assert_eq!(out["spec"], spec);
        let out = run(service(json!({PRESERVE: "nodeports"}), spec));
        assert_eq!(out["spec"], json!({"ports": [{"port": 80}]}));
    }

    #[test]
    fn other_kinds_and_versions_are_untouched() {
        let v = json!({"apiVersion": "v2", "kind": "Service", "spec": {"clusterIP": "1.2.3.4"}});
        assert_eq!(run(v.clone()), v);
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"selector": {}}, "status": {}});
        assert_eq!(run(v.clone()), v);
    }

    #[test]
    fn job_generated_fields_are_removed() {
        let out = run(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j",
                "annotations": {"batch.kubernetes.io/job-tracking": "", "keep": "1"},
                "labels": {"controller-uid": "u", "batch.kubernetes.io/controller-uid": "u", "job-name": "j"}},
            "spec": {"selector": {"matchLabels": {"controller-uid": "u"}}, "suspend": false, "parallelism": 2,
                "template": {"metadata": {"labels": {"controller-uid": "u", "batch.kubernetes.io/controller-uid": "u",
                    "job-name": "j", "app": "x"}}, "spec": {"restartPolicy": "Never"}}},
            "status": {"succeeded": 1}
        }));
        assert_eq!(
            out,
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "j", "annotations": {"keep": "1"}, "labels": {"job-name": "j"}},
                "spec": {"parallelism": 2, "template": {"metadata": {"labels": {"job-name": "j", "app": "x"}},
                    "spec": {"restartPolicy": "Never"}}}
            })
        );
    }

    #[test]
    fn persistent_volume_claim_identity_is_removed() {
        let out = run(json!({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
            "spec": {"claimRef": {"name": "c", "namespace": "n", "uid": "u", "resourceVersion": "7"}, "capacity": {"storage": "1Gi"}},
            "status": {"phase": "Bound"}
        }));
        assert_eq!(
            out,
            json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
                "spec": {"claimRef": {"name": "c", "namespace": "n"}, "capacity": {"storage": "1Gi"}}})
        );
    }
}
