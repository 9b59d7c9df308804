//! Shared fixtures for the strategic-merge-patch and server-side-apply tests: an excerpt of
//! kube-apiserver's OpenAPI v3 `components/schemas` for Deployment, Service and ConfigMap with
//! the real patch and list-type extensions, and small object builders.

#![allow(dead_code)]

use std::sync::Arc;

use kubestellar_apimachinery::schema::{Definitions, Schema};
use serde_json::{Value, json};

fn r(name: &str) -> Value {
    json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}], "default": {}})
}

/// A reference to a struct held by pointer (no zero value, so no default).
fn rp(name: &str) -> Value {
    json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}]})
}

fn string() -> Value {
    json!({"type": "string", "default": ""})
}

fn int() -> Value {
    json!({"type": "integer", "format": "int32"})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}})
}

/// The excerpt, as kube-apiserver 1.33 serves it under `/openapi/v3/apis/apps/v1` and `api/v1`.
pub fn definitions() -> Arc<Definitions> {
    let schemas = json!({
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {
            "annotations": string_map(),
            "creationTimestamp": r("io.k8s.apimachinery.pkg.apis.meta.v1.Time"),
            "deletionTimestamp": rp("io.k8s.apimachinery.pkg.apis.meta.v1.Time"),
            "finalizers": {"type": "array", "items": string(),
                "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
            "generateName": string(),
            "generation": {"type": "integer", "format": "int64"},
            "labels": string_map(),
            "managedFields": {"type": "array", "items": r("io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"),
                "x-kubernetes-list-type": "atomic"},
            "name": string(),
            "namespace": string(),
            "ownerReferences": {"type": "array", "items": r("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"),
                "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
            "resourceVersion": string(),
            "selfLink": string(),
            "uid": string()
        }},
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"type": "string", "format": "date-time"},
        "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry": {"type": "object", "properties": {
            "apiVersion": string(), "fieldsType": string(), "fieldsV1": {"type": "object"},
            "manager": string(), "operation": string(), "subresource": string(),
            "time": r("io.k8s.apimachinery.pkg.apis.meta.v1.Time")
        }},
        "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference": {"type": "object", "required": ["apiVersion", "kind", "name", "uid"],
            "properties": {"apiVersion": string(), "kind": string(), "name": string(), "uid": string(),
                "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}},
            "x-kubernetes-map-type": "atomic"},
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector": {"type": "object", "properties": {
            "matchExpressions": {"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "atomic"},
            "matchLabels": string_map()
        }, "x-kubernetes-map-type": "atomic"},
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": true},
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
        "io.k8s.api.apps.v1.Deployment": {"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": r("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": r("io.k8s.api.apps.v1.DeploymentSpec"),
            "status": r("io.k8s.api.apps.v1.DeploymentStatus")
        }, "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]},
        "io.k8s.api.apps.v1.DeploymentSpec": {"type": "object", "required": ["selector", "template"], "properties": {
            "minReadySeconds": int(),
            "paused": {"type": "boolean"},
            "progressDeadlineSeconds": int(),
            "replicas": int(),
            "revisionHistoryLimit": int(),
            "selector": rp("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"),
            "strategy": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}], "default": {},
                "x-kubernetes-patch-strategy": "retainKeys"},
            "template": r("io.k8s.api.core.v1.PodTemplateSpec")
        }},
        "io.k8s.api.apps.v1.DeploymentStrategy": {"type": "object", "properties": {
            "rollingUpdate": rp("io.k8s.api.apps.v1.RollingUpdateDeployment"), "type": string()
        }},
        "io.k8s.api.apps.v1.RollingUpdateDeployment": {"type": "object", "properties": {
            "maxSurge": rp("io.k8s.apimachinery.pkg.util.intstr.IntOrString"),
            "maxUnavailable": rp("io.k8s.apimachinery.pkg.util.intstr.IntOrString")
        }},
        "io.k8s.api.apps.v1.DeploymentStatus": {"type": "object", "properties": {
            "availableReplicas": int(), "observedGeneration": {"type": "integer"}, "readyReplicas": int(),
            "replicas": int(), "updatedReplicas": int(),
            "conditions": {"type": "array", "items": r("io.k8s.api.apps.v1.DeploymentCondition"),
                "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge"}
        }},
        "io.k8s.api.apps.v1.DeploymentCondition": {"type": "object", "required": ["type", "status"], "properties": {
            "type": string(), "status": string(), "reason": string(), "message": string()
        }},
        "io.k8s.api.core.v1.PodTemplateSpec": {"type": "object", "properties": {
            "metadata": r("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": r("io.k8s.api.core.v1.PodSpec")
        }},
        "io.k8s.api.core.v1.PodSpec": {"type": "object", "required": ["containers"], "properties": {
            "containers": {"type": "array", "items": r("io.k8s.api.core.v1.Container"),
                "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
            "initContainers": {"type": "array", "items": r("io.k8s.api.core.v1.Container"),
                "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
            "imagePullSecrets": {"type": "array", "items": {"type": "object", "properties": {"name": string()},
                "x-kubernetes-map-type": "atomic"},
                "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
            "nodeSelector": {"type": "object", "additionalProperties": string(), "x-kubernetes-map-type": "atomic"},
            "restartPolicy": string(),
            "serviceAccountName": string(),
            "terminationGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "tolerations": {"type": "array", "items": r("io.k8s.api.core.v1.Toleration"), "x-kubernetes-list-type": "atomic"},
            "volumes": {"type": "array", "items": r("io.k8s.api.core.v1.Volume"),
                "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge,retainKeys"}
        }},
        "io.k8s.api.core.v1.Toleration": {"type": "object", "properties": {
            "key": string(), "operator": string(), "value": string(), "effect": string()
        }},
        "io.k8s.api.core.v1.Volume": {"type": "object", "required": ["name"], "properties": {
            "name": string(),
            "configMap": {"type": "object", "properties": {"name": string()}},
            "emptyDir": {"type": "object", "properties": {"medium": string()}}
        }},
        "io.k8s.api.core.v1.Container": {"type": "object", "required": ["name"], "properties": {
            "args": {"type": "array", "items": string(), "x-kubernetes-list-type": "atomic"},
            "command": {"type": "array", "items": string(), "x-kubernetes-list-type": "atomic"},
            "env": {"type": "array", "items": r("io.k8s.api.core.v1.EnvVar"),
                "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
            "image": {"type": "string"},
            "imagePullPolicy": {"type": "string"},
            "name": string(),
            "ports": {"type": "array", "items": r("io.k8s.api.core.v1.ContainerPort"),
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "containerPort", "x-kubernetes-patch-strategy": "merge"},
            "resources": r("io.k8s.api.core.v1.ResourceRequirements"),
            "volumeMounts": {"type": "array", "items": {"type": "object", "properties": {"mountPath": string(), "name": string()}},
                "x-kubernetes-list-map-keys": ["mountPath"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "mountPath", "x-kubernetes-patch-strategy": "merge"}
        }},
        "io.k8s.api.core.v1.ContainerPort": {"type": "object", "required": ["containerPort"], "properties": {
            "containerPort": int(), "hostPort": int(), "name": {"type": "string"},
            "protocol": {"type": "string", "default": "TCP"}
        }},
        "io.k8s.api.core.v1.EnvVar": {"type": "object", "required": ["name"], "properties": {
            "name": string(), "value": {"type": "string"}, "valueFrom": {"type": "object"}
        }},
        "io.k8s.api.core.v1.ResourceRequirements": {"type": "object", "properties": {
            "limits": {"type": "object", "additionalProperties": r("io.k8s.apimachinery.pkg.api.resource.Quantity")},
            "requests": {"type": "object", "additionalProperties": r("io.k8s.apimachinery.pkg.api.resource.Quantity")}
        }},
        "io.k8s.api.core.v1.Service": {"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": r("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": r("io.k8s.api.core.v1.ServiceSpec"),
            "status": {"type": "object"}
        }},
        "io.k8s.api.core.v1.ServiceSpec": {"type": "object", "properties": {
            "clusterIP": {"type": "string"},
            "ports": {"type": "array", "items": r("io.k8s.api.core.v1.ServicePort"),
                "x-kubernetes-list-map-keys": ["port", "protocol"], "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "port", "x-kubernetes-patch-strategy": "merge"},
            "selector": {"type": "object", "additionalProperties": string(), "x-kubernetes-map-type": "atomic"},
            "type": {"type": "string"}
        }},
        "io.k8s.api.core.v1.ServicePort": {"type": "object", "required": ["port"], "properties": {
            "name": {"type": "string"}, "nodePort": int(), "port": int(),
            "protocol": {"type": "string", "default": "TCP"},
            "targetPort": r("io.k8s.apimachinery.pkg.util.intstr.IntOrString")
        }},
        "io.k8s.api.core.v1.ConfigMap": {"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": r("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "data": string_map(),
            "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
            "immutable": {"type": "boolean"}
        }}
    });
    Definitions::new(schemas.as_object().expect("a literal object"))
}

/// The schema of a definition of the excerpt.
pub fn schema(name: &str) -> Schema {
    definitions()
        .get(name)
        .unwrap_or_else(|| panic!("fixture defines {name}"))
}

/// `apps/v1 Deployment`.
pub fn deployment_schema() -> Schema {
    schema("io.k8s.api.apps.v1.Deployment")
}

/// `v1 Service`.
pub fn service_schema() -> Schema {
    schema("io.k8s.api.core.v1.Service")
}

/// `v1 ConfigMap`.
pub fn configmap_schema() -> Schema {
    schema("io.k8s.api.core.v1.ConfigMap")
}

/// The manifest of the spec's traces: `web`, one `nginx` container.
pub fn web_manifest(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

/// The image of container `name` of a Deployment.
pub fn image_of(d: &Value, name: &str) -> Option<String> {
    d.pointer("/spec/template/spec/containers")?
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["image"].as_str())
        .map(String::from)
}

/// Names of a Deployment's containers in order.
pub fn container_names(d: &Value) -> Vec<String> {
    d.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
