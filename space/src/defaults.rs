//! Defaulting of built-in kinds, as kube-apiserver's `SetDefaults_*` functions do, so that
//! `kubectl diff`, `describe` and controllers see the fields they expect.

use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;

/// Fills in defaults for a built-in object (custom resources use their schema's defaults).
pub fn apply(r: &ResourceInfo, obj: &mut Value) {
    if r.is_custom() {
        return;
    }
    match (r.group.as_str(), r.kind.as_str()) {
        ("apps", "Deployment") => {
            let spec = obj_at(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = obj_at_map(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let ru = obj_at_map(strategy, "rollingUpdate");
                default(ru, "maxUnavailable", json!("25%"));
                default(ru, "maxSurge", json!("25%"));
            }
            pod_template(spec);
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let spec = obj_at(obj, "spec");
            default(spec, "replicas", json!(1));
            pod_template(spec);
        }
        ("apps", "StatefulSet") => {
            let spec = obj_at(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            let us = obj_at_map(spec, "updateStrategy");
            default(us, "type", json!("RollingUpdate"));
            if us["type"] == "RollingUpdate" {
                default(obj_at_map(us, "rollingUpdate"), "partition", json!(0));
            }
            let pvc = obj_at_map(spec, "persistentVolumeClaimRetentionPolicy");
            default(pvc, "whenDeleted", json!("Retain"));
            default(pvc, "whenScaled", json!("Retain"));
            pod_template(spec);
        }
        ("apps", "DaemonSet") => {
            let spec = obj_at(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            let us = obj_at_map(spec, "updateStrategy");
            default(us, "type", json!("RollingUpdate"));
            if us["type"] == "RollingUpdate" {
                let ru = obj_at_map(us, "rollingUpdate");
                default(ru, "maxUnavailable", json!(1));
                default(ru, "maxSurge", json!(0));
            }
            pod_template(spec);
        }
        ("batch", "Job") => job(obj),
        ("batch", "CronJob") => {
            let spec = obj_at(obj, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(jt) = spec
                .get_mut("jobTemplate")
                .and_then(|j| j.get_mut("spec"))
                .and_then(Value::as_object_mut)
            {
                job_spec(jt);
            }
        }
        ("", "Pod") => {
            let spec = obj_at(obj, "spec");
            pod_spec(spec);
        }
        ("", "Service") => service(obj),
        ("", "PersistentVolumeClaim") => {
            default(obj_at(obj, "spec"), "volumeMode", json!("Filesystem"));
        }
        ("", "Secret") => {
            if let Some(o) = obj.as_object_mut() {
                o.entry("type").or_insert(json!("Opaque"));
            }
        }
        _ => {}
    }
}

/// True for kinds whose `metadata.generation` kube-apiserver maintains (their strategies set it
/// to 1 on create and bump it on spec changes): workloads, a few policy kinds, CRDs and every
/// custom resource. ConfigMaps, Secrets, Namespaces, Services and the like have none.
pub fn tracks_generation(r: &ResourceInfo) -> bool {
    r.is_custom()
        || matches!(
            (r.group.as_str(), r.resource.as_str()),
            (
                "apps",
                "deployments" | "replicasets" | "statefulsets" | "daemonsets"
            ) | ("batch", "jobs" | "cronjobs")
                | ("", "pods" | "replicationcontrollers")
                | ("policy", "poddisruptionbudgets")
                | ("networking.k8s.io", "ingresses" | "networkpolicies")
                | ("autoscaling", "horizontalpodautoscalers")
                | ("apiextensions.k8s.io", "customresourcedefinitions")
        )
}

/// The status a built-in object starts with: Go serializes a non-pointer status struct even
/// when empty (`status: {}`), and pods start `Pending` with their QoS class.
pub fn initial_status(r: &ResourceInfo, obj: &mut Value) {
    if r.is_custom() || !r.has_status || !obj.is_object() {
        return;
    }
    let status = match (r.group.as_str(), r.resource.as_str()) {
        ("", "services") => json!({"loadBalancer": {}}),
        ("", "pods") => json!({"phase": "Pending", "qosClass": qos_class(&obj["spec"])}),
        ("apiextensions.k8s.io", _) | ("", "namespaces") => return,
        _ => json!({}),
    };
    obj["status"] = status;
}

/// kube's `GetPodQOS`: Guaranteed when every container limits CPU and memory with requests
/// equal to limits, BestEffort when nothing is requested or limited, Burstable otherwise.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        for res in ["cpu", "memory"] {
            if !req[res].is_null() || !lim[res].is_null() {
                any = true;
            }
            let effective_req = if req[res].is_null() {
                &lim[res]
            } else {
                &req[res]
            };
            if lim[res].is_null() || effective_req != &lim[res] {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn obj_at<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let Value::Object(o) = v else {
        unreachable!("made an object above")
    };
    obj_at_map(o, key)
}

fn obj_at_map<'a>(o: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let e = o.entry(key).or_insert_with(|| json!({}));
    if !e.is_object() {
        *e = json!({});
    }
    let Value::Object(m) = e else {
        unreachable!("made an object above")
    };
    m
}

fn default(o: &mut Map<String, Value>, key: &str, v: Value) {
    if o.get(key).is_none_or(Value::is_null) {
        o.insert(key.to_string(), v);
    }
}

fn pod_template(spec: &mut Map<String, Value>) {
    let template = obj_at_map(spec, "template");
    pod_spec(obj_at_map(template, "spec"));
}

fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                container(c);
            }
        }
    }
}

fn container(c: &mut Map<String, Value>) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or_default();
    let tagged = last.contains(':') && !last.ends_with(":latest");
    let policy = if tagged || image.contains('@') {
        "IfNotPresent"
    } else {
        "Always"
    };
    default(c, "imagePullPolicy", json!(policy));
    if let Some(Value::Array(ports)) = c.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(Value::Object(h)) = p.get_mut("httpGet") {
                default(h, "scheme", json!("HTTP"));
            }
        }
    }
}

fn job(obj: &mut Value) {
    let uid = obj["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = obj_at(obj, "spec");
    job_spec(spec);
    // The job controller's selector and labels, generated unless the user asked for a manual one.
    if spec.get("manualSelector").and_then(Value::as_bool) != Some(true) && !uid.is_empty() {
        default(
            spec,
            "selector",
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        let tmeta = obj_at_map(obj_at_map(spec, "template"), "metadata");
        let labels = obj_at_map(tmeta, "labels");
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            default(labels, k, json!(v));
        }
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    pod_template(spec);
}

fn service(obj: &mut Value) {
    let spec = obj_at(obj, "spec");
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let ty = spec["type"].as_str().unwrap_or_default().to_string();
    if ty != "ExternalName" {
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                default(p, "targetPort", port);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn pods_start_pending_with_their_qos_class() {
        let r = Registry::new()
            .catalog()
            .get("", "v1", "pods")
            .expect("served");
        let mut p = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        initial_status(&r, &mut p);
        assert_eq!(
            p["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        let lim = json!({"cpu": "1", "memory": "1Gi"});
        let mut p = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": lim}}]}});
        initial_status(&r, &mut p);
        assert_eq!(p["status"]["qosClass"], "Guaranteed");
        let mut p = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}});
        initial_status(&r, &mut p);
        assert_eq!(p["status"]["qosClass"], "Burstable");
        let cm = Registry::new()
            .catalog()
            .get("", "v1", "configmaps")
            .expect("served");
        assert!(!tracks_generation(&cm) && tracks_generation(&r));
    }

    #[test]
    fn deployment_defaults_like_kube() {
        let r = Registry::new()
            .catalog()
            .get("apps", "v1", "deployments")
            .expect("served");
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}
        ]}}}});
        apply(&r, &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[1]["imagePullPolicy"], "Always");
        assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }
}
