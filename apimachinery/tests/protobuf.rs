//! Protobuf bodies built with the k8s-pb prost types (as a Go client would encode them),
//! wrapped in the `k8s\0` + runtime.Unknown envelope, decoded and compared field for field with
//! the JSON Go would write. Also: hostile and malformed input.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::coordination::v1 as coord;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::networking::v1 as net;
use k8s_pb::api::policy::v1 as policy;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime as rt;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use kubestellar_apimachinery::protobuf::{ProtobufError, decode, is_protobuf_content_type};
use prost::Message;
use serde_json::{Value, json};

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = rt::Unknown {
        type_meta: Some(rt::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        // Go writes both, empty.
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn body(api_version: &str, kind: &str, msg: &impl Message) -> Vec<u8> {
    envelope(api_version, kind, msg.encode_to_vec())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn map<V>(pairs: &[(&str, V)]) -> BTreeMap<String, V>
where
    V: Clone,
{
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        ..Default::default()
    })
}

fn quantity(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

fn int_port(p: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(p),
        str_val: None,
    })
}

fn str_port(p: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: None,
        str_val: s(p),
    })
}

fn decoded(b: &[u8]) -> Value {
    match decode(b) {
        Ok(v) => v,
        Err(e) => panic!("decode failed: {e}"),
    }
}

#[test]
fn namespace_with_time_labels_and_empty_status() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("team-a"),
            labels: map(&[("env", "dev".to_string())]),
            // Go sends a zero Time as an empty message; JSON says null.
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        spec: Some(core::NamespaceSpec {
            finalizers: vec!["kubernetes".into()],
        }),
        status: Some(core::NamespaceStatus::default()),
    };
    assert_eq!(
        decoded(&body("v1", "Namespace", &ns)),
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "team-a", "labels": {"env": "dev"}, "creationTimestamp": null},
               "spec": {"finalizers": ["kubernetes"]}, "status": {}})
    );
}

#[test]
fn configmap_data_and_binary_data() {
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: s("c"),
            namespace: s("default"),
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_767_366_245),
                nanos: Some(0),
            }),
            ..Default::default()
        }),
        // A pointer: an explicit false is kept.
        immutable: Some(false),
        data: map(&[("a", "b".to_string()), ("empty", String::new())]),
        binary_data: map(&[("bin", vec![0u8, 1, 0xff, b'a'])]),
    };
    assert_eq!(
        decoded(&body("v1", "ConfigMap", &cm)),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "namespace": "default", "creationTimestamp": "2026-01-02T15:04:05Z"},
               "immutable": false, "data": {"a": "b", "empty": ""}, "binaryData": {"bin": "AAH/YQ=="}})
    );
}

#[test]
fn secret_bytes_become_base64_and_string_data_stays_absent() {
    let secret = core::Secret {
        metadata: meta("s"),
        immutable: None,
        data: map(&[
            ("password", b"p@ss w0rd".to_vec()),
            ("user", b"admin".to_vec()),
        ]),
        string_data: BTreeMap::new(),
        r#type: s("Opaque"),
    };
    let got = decoded(&body("v1", "Secret", &secret));
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "data": {"password": "cEBzcyB3MHJk", "user": "YWRtaW4="}, "type": "Opaque"})
    );
    assert!(got.get("stringData").is_none());
}

fn container() -> core::Container {
    core::Container {
        name: s("web"),
        image: s("nginx:1.27"),
        args: vec!["--port".into(), "8080".into()],
        ports: vec![core::ContainerPort {
            name: s("http"),
            container_port: Some(8080),
            protocol: s("TCP"),
            // Go's non-pointer zero values, present on the wire: omitted from JSON.
            host_port: Some(0),
            host_ip: s(""),
        }],
        env: vec![
            core::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
            core::EnvVar {
                name: s("POD"),
                value: None,
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("metadata.name"),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: map(&[("memory", quantity("512Mi"))]),
            requests: map(&[("cpu", quantity("250m")), ("memory", quantity("128Mi"))]),
            claims: Vec::new(),
        }),
        liveness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/healthz"),
                    port: int_port(8080),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            period_seconds: Some(0),
            ..Default::default()
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                tcp_socket: Some(core::TcpSocketAction {
                    port: str_port("http"),
                    host: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        stdin: Some(false),
        termination_message_path: s(""),
        ..Default::default()
    }
}

#[test]
fn deployment_with_container_ports_resources_env_and_probes() {
    let labels = map(&[("app", "web".to_string())]);
    let d = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            labels: labels.clone(),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            // A pointer: zero replicas is kept (else the server would default it to 1).
            replicas: Some(0),
            min_ready_seconds: Some(0),
            paused: Some(false),
            selector: Some(meta::LabelSelector {
                match_labels: labels.clone(),
                match_expressions: Vec::new(),
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels,
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![container()],
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: int_port(1),
                    max_surge: str_port("25%"),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decoded(&body("apps/v1", "Deployment", &d)),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                "name": "web", "image": "nginx:1.27", "args": ["--port", "8080"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "prod"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 5},
                "readinessProbe": {"tcpSocket": {"port": "http"}}
            }]}}
        }})
    );
}

#[test]
fn service_with_int_and_named_target_ports() {
    let svc = core::Service {
        metadata: meta("svc"),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    protocol: s("TCP"),
                    port: Some(80),
                    target_port: int_port(8080),
                    node_port: Some(0),
                    ..Default::default()
                },
                core::ServicePort {
                    name: s("https"),
                    port: Some(443),
                    target_port: str_port("https"),
                    ..Default::default()
                },
            ],
            selector: map(&[("app", "web".to_string())]),
            cluster_ip: s("10.0.0.10"),
            r#type: s("ClusterIP"),
            ip_families: vec!["IPv4".into()],
            ..Default::default()
        }),
        status: Some(core::ServiceStatus::default()),
    };
    assert_eq!(
        decoded(&body("v1", "Service", &svc)),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
            "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                               {"name": "https", "port": 443, "targetPort": "https"}],
                     "selector": {"app": "web"}, "clusterIP": "10.0.0.10", "type": "ClusterIP", "ipFamilies": ["IPv4"]},
            "status": {}})
    );
}

fn pod_template(restart: &str) -> Option<core::PodTemplateSpec> {
    Some(core::PodTemplateSpec {
        metadata: Some(meta::ObjectMeta::default()),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: s("c"),
                image: s("busybox"),
                command: vec!["echo".into(), "hi".into()],
                ..Default::default()
            }],
            restart_policy: s(restart),
            ..Default::default()
        }),
    })
}

#[test]
fn job_and_cronjob() {
    let job = batch::Job {
        metadata: meta("j"),
        spec: Some(batch::JobSpec {
            backoff_limit: Some(0),
            completions: Some(1),
            template: pod_template("Never"),
            ..Default::default()
        }),
        status: None,
    };
    let pod = json!({"metadata": {}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["echo", "hi"]}],
                     "restartPolicy": "Never"}});
    assert_eq!(
        decoded(&body("batch/v1", "Job", &job)),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
               "spec": {"backoffLimit": 0, "completions": 1, "template": pod}})
    );
    let cj = batch::CronJob {
        metadata: meta("cj"),
        spec: Some(batch::CronJobSpec {
            schedule: s("*/5 * * * *"),
            suspend: Some(false),
            successful_jobs_history_limit: Some(3),
            job_template: Some(batch::JobTemplateSpec {
                metadata: Some(meta::ObjectMeta::default()),
                spec: Some(batch::JobSpec {
                    template: pod_template("OnFailure"),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let mut pod = pod;
    pod["spec"]["restartPolicy"] = json!("OnFailure");
    assert_eq!(
        decoded(&body("batch/v1", "CronJob", &cj)),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
               "spec": {"schedule": "*/5 * * * *", "suspend": false, "successfulJobsHistoryLimit": 3,
                        "jobTemplate": {"metadata": {}, "spec": {"template": pod}}}})
    );
}

#[test]
fn role_and_cluster_role_binding() {
    let role = rbac::Role {
        metadata: meta("r"),
        rules: vec![rbac::PolicyRule {
            verbs: vec!["get".into(), "list".into()],
            api_groups: vec![String::new(), "apps".into()],
            resources: vec!["pods".into(), "deployments".into()],
            resource_names: vec!["a".into()],
            non_resource_ur_ls: Vec::new(),
        }],
    };
    assert_eq!(
        decoded(&body("rbac.authorization.k8s.io/v1", "Role", &role)),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
               "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods", "deployments"],
                          "resourceNames": ["a"]}]})
    );
    let crb = rbac::ClusterRoleBinding {
        metadata: meta("crb"),
        subjects: vec![rbac::Subject {
            kind: s("Group"),
            api_group: s("rbac.authorization.k8s.io"),
            name: s("devs"),
            namespace: s(""),
        }],
        role_ref: Some(rbac::RoleRef {
            api_group: s("rbac.authorization.k8s.io"),
            kind: s("ClusterRole"),
            name: s("view"),
        }),
    };
    assert_eq!(
        decoded(&body(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            &crb
        )),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
               "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}})
    );
}

#[test]
fn ingress_rule_value_is_inlined_into_the_rule() {
    let ing = net::Ingress {
        metadata: meta("ing"),
        spec: Some(net::IngressSpec {
            ingress_class_name: s("nginx"),
            rules: vec![net::IngressRule {
                host: s("foo.com"),
                ingress_rule_value: Some(net::IngressRuleValue {
                    http: Some(net::HttpIngressRuleValue {
                        paths: vec![net::HttpIngressPath {
                            path: s("/bar"),
                            path_type: s("Prefix"),
                            backend: Some(net::IngressBackend {
                                service: Some(net::IngressServiceBackend {
                                    name: s("svc1"),
                                    port: Some(net::ServiceBackendPort {
                                        name: None,
                                        number: Some(8080),
                                    }),
                                }),
                                resource: None,
                            }),
                        }],
                    }),
                }),
            }],
            tls: vec![net::IngressTls {
                hosts: vec!["foo.com".into()],
                secret_name: s("secret1"),
            }],
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decoded(&body("networking.k8s.io/v1", "Ingress", &ing)),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing"},
               "spec": {"ingressClassName": "nginx",
                        "rules": [{"host": "foo.com", "http": {"paths": [{"path": "/bar", "pathType": "Prefix",
                                   "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}}]}}],
                        "tls": [{"hosts": ["foo.com"], "secretName": "secret1"}]}})
    );
}

#[test]
fn pod_volume_source_and_local_object_reference_are_inlined() {
    let pod = core::Pod {
        metadata: meta("p"),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: s("cfg"),
                volume_source: Some(core::VolumeSource {
                    config_map: Some(core::ConfigMapVolumeSource {
                        local_object_reference: Some(core::LocalObjectReference {
                            name: s("settings"),
                        }),
                        default_mode: Some(420),
                        optional: Some(false),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            containers: vec![core::Container {
                name: s("c"),
                image: s("busybox"),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decoded(&body("v1", "Pod", &pod)),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420, "optional": false}}],
                        "containers": [{"name": "c", "image": "busybox"}]}})
    );
}

#[test]
fn pod_disruption_budgets_and_quotas() {
    let pdb = policy::PodDisruptionBudget {
        metadata: meta("pdb"),
        spec: Some(policy::PodDisruptionBudgetSpec {
            min_available: str_port("50%"),
            selector: Some(meta::LabelSelector {
                match_labels: BTreeMap::new(),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: s("app"),
                    operator: s("In"),
                    values: vec!["x".into()],
                }],
            }),
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decoded(&body("policy/v1", "PodDisruptionBudget", &pdb)),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"},
               "spec": {"minAvailable": "50%",
                        "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]}}})
    );
    let q = core::ResourceQuota {
        metadata: meta("q"),
        spec: Some(core::ResourceQuotaSpec {
            hard: map(&[
                ("cpu", quantity("1")),
                ("memory", quantity("1Gi")),
                ("pods", quantity("2")),
            ]),
            scopes: vec!["NotBestEffort".into()],
            scope_selector: None,
        }),
        status: None,
    };
    assert_eq!(
        decoded(&body("v1", "ResourceQuota", &q)),
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
               "spec": {"hard": {"cpu": "1", "memory": "1Gi", "pods": "2"}, "scopes": ["NotBestEffort"]}})
    );
}

#[test]
fn access_reviews_keep_required_false_and_extra_lists() {
    let ssar = authz::SelfSubjectAccessReview {
        metadata: Some(meta::ObjectMeta {
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: s("kube-system"),
                verb: s("get"),
                resource: s("pods"),
                subresource: s("log"),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        // `allowed` has no omitempty in Go: false is written.
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            ..Default::default()
        }),
    };
    assert_eq!(
        decoded(&body(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &ssar
        )),
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "metadata": {"creationTimestamp": null},
               "spec": {"resourceAttributes": {"namespace": "kube-system", "verb": "get", "resource": "pods", "subresource": "log"}},
               "status": {"allowed": false}})
    );
    let sar = authz::SubjectAccessReview {
        metadata: None,
        spec: Some(authz::SubjectAccessReviewSpec {
            user: s("alice"),
            groups: vec!["devs".into()],
            extra: map(&[(
                "scopes",
                authz::ExtraValue {
                    items: vec!["a".into(), "b".into()],
                },
            )]),
            ..Default::default()
        }),
        status: None,
    };
    assert_eq!(
        decoded(&body(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            &sar
        )),
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "alice", "groups": ["devs"], "extra": {"scopes": ["a", "b"]}}})
    );
}

#[test]
fn micro_time_raw_extension_fields_v1_and_verbs() {
    let lease = coord::Lease {
        metadata: Some(meta::ObjectMeta {
            name: s("l"),
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl"),
                operation: s("Apply"),
                api_version: s("coordination.k8s.io/v1"),
                time: Some(meta::Time {
                    seconds: Some(1_767_366_245),
                    nanos: Some(999),
                }),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(br#"{"f:spec":{"f:holderIdentity":{}}}"#.to_vec()),
                }),
                subresource: s(""),
            }],
            ..Default::default()
        }),
        spec: Some(coord::LeaseSpec {
            holder_identity: s("node-1"),
            lease_duration_seconds: Some(40),
            renew_time: Some(meta::MicroTime {
                seconds: Some(1_767_366_245),
                nanos: Some(123_456_789),
            }),
            ..Default::default()
        }),
    };
    assert_eq!(
        decoded(&body("coordination.k8s.io/v1", "Lease", &lease)),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "l", "managedFields": [{"manager": "kubectl", "operation": "Apply",
                   "apiVersion": "coordination.k8s.io/v1", "time": "2026-01-02T15:04:05Z", "fieldsType": "FieldsV1",
                   "fieldsV1": {"f:spec": {"f:holderIdentity": {}}}}]},
               "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-01-02T15:04:05.123456Z"}})
    );
    let rev = apps::ControllerRevision {
        metadata: meta("rev"),
        data: Some(rt::RawExtension {
            raw: Some(br#"{"spec":{"template":{"x":[1,2.5,"s",null]}}}"#.to_vec()),
        }),
        revision: Some(0),
    };
    assert_eq!(
        decoded(&body("apps/v1", "ControllerRevision", &rev)),
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "rev"},
               "data": {"spec": {"template": {"x": [1, 2.5, "s", null]}}}, "revision": 0})
    );
    let list = meta::APIResourceList {
        group_version: s("apps/v1"),
        resources: vec![meta::APIResource {
            name: s("deployments"),
            singular_name: s("deployment"),
            namespaced: Some(true),
            kind: s("Deployment"),
            verbs: Some(meta::Verbs {
                items: vec!["get".into(), "list".into()],
            }),
            short_names: vec!["deploy".into()],
            ..Default::default()
        }],
    };
    assert_eq!(
        decoded(&body("v1", "APIResourceList", &list)),
        json!({"apiVersion": "v1", "kind": "APIResourceList", "groupVersion": "apps/v1",
               "resources": [{"name": "deployments", "singularName": "deployment", "namespaced": true,
                              "kind": "Deployment", "verbs": ["get", "list"], "shortNames": ["deploy"]}]})
    );
}

fn crd(schema: ext::JsonSchemaProps) -> ext::CustomResourceDefinition {
    ext::CustomResourceDefinition {
        metadata: meta("widgets.example.com"),
        spec: Some(ext::CustomResourceDefinitionSpec {
            group: s("example.com"),
            names: Some(ext::CustomResourceDefinitionNames {
                plural: s("widgets"),
                kind: s("Widget"),
                ..Default::default()
            }),
            scope: s("Namespaced"),
            versions: vec![ext::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(schema),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

#[test]
fn crd_schema_unions_and_raw_json() {
    let string_schema = ext::JsonSchemaProps {
        r#type: s("string"),
        ..Default::default()
    };
    let schema = ext::JsonSchemaProps {
        r#type: s("object"),
        properties: map(&[
            (
                "size",
                ext::JsonSchemaProps {
                    r#type: s("integer"),
                    // Pointers: zero is meaningful.
                    minimum: Some(0.0),
                    maximum: Some(10.5),
                    // Non-pointer omitempty: false is dropped.
                    exclusive_maximum: Some(false),
                    default: Some(ext::Json {
                        raw: Some(b"3".to_vec()),
                    }),
                    ..Default::default()
                },
            ),
            (
                "tags",
                ext::JsonSchemaProps {
                    r#type: s("array"),
                    items: Some(Box::new(ext::JsonSchemaPropsOrArray {
                        schema: Some(Box::new(string_schema.clone())),
                        j_son_schemas: Vec::new(),
                    })),
                    ..Default::default()
                },
            ),
            (
                "free",
                ext::JsonSchemaProps {
                    r#type: s("object"),
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
                        allows: Some(false),
                        schema: None,
                    })),
                    ..Default::default()
                },
            ),
            (
                "labels",
                ext::JsonSchemaProps {
                    r#type: s("object"),
                    additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
                        allows: Some(true),
                        schema: Some(Box::new(string_schema)),
                    })),
                    r#enum: vec![ext::Json {
                        raw: Some(br#"{"a":"b"}"#.to_vec()),
                    }],
                    ..Default::default()
                },
            ),
        ]),
        required: vec!["size".into()],
        ..Default::default()
    };
    let got = decoded(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &crd(schema),
    ));
    assert_eq!(
        got["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 0, "maximum": 10.5, "default": 3},
            "tags": {"type": "array", "items": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "additionalProperties": false},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "enum": [{"a": "b"}]}
        }})
    );
    assert_eq!(
        got["spec"]["names"],
        json!({"plural": "widgets", "kind": "Widget"})
    );
    assert_eq!(got["spec"]["versions"][0]["served"], json!(true));
}

#[test]
fn unknown_fields_are_skipped_and_repeated_messages_merge() {
    let mut raw = core::ConfigMap {
        metadata: meta("c"),
        ..Default::default()
    }
    .encode_to_vec();
    // Unknown field 99 (varint) and 100 (bytes) in the ConfigMap.
    raw.extend([0x98, 0x06, 0x2a, 0xa2, 0x06, 0x02, b'h', b'i']);
    // metadata again: merges (namespace added, name kept).
    let more = meta::ObjectMeta {
        namespace: s("ns"),
        ..Default::default()
    }
    .encode_to_vec();
    raw.push(0x0a);
    raw.push(u8::try_from(more.len()).expect("short"));
    raw.extend(more);
    let mut b = envelope("v1", "ConfigMap", raw);
    // An unknown envelope field.
    b.extend([0x28, 0x01]);
    assert_eq!(
        decoded(&b),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}})
    );
}

#[test]
fn deep_but_legal_nesting_decodes_and_hostile_nesting_is_refused() {
    fn nested(levels: usize) -> ext::JsonSchemaProps {
        let mut s = ext::JsonSchemaProps {
            r#type: s("string"),
            ..Default::default()
        };
        for _ in 0..levels {
            s = ext::JsonSchemaProps {
                not: Some(Box::new(s)),
                ..Default::default()
            };
        }
        s
    }
    let ok = decoded(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &crd(nested(40)),
    ));
    let mut node = &ok["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    for _ in 0..40 {
        node = &node["not"];
    }
    assert_eq!(node, &json!({"type": "string"}));

    let hostile = body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &crd(nested(1000)),
    );
    assert!(matches!(
        decode(&hostile),
        Err(ProtobufError::TooDeep { .. })
    ));
}

#[test]
fn malformed_bodies_give_typed_errors() {
    let good = body(
        "v1",
        "ConfigMap",
        &core::ConfigMap {
            metadata: meta("c"),
            ..Default::default()
        },
    );
    assert!(matches!(decode(b""), Err(ProtobufError::BadMagic)));
    assert!(matches!(
        decode(b"{\"kind\":\"ConfigMap\"}"),
        Err(ProtobufError::BadMagic)
    ));
    assert!(matches!(decode(&good[1..]), Err(ProtobufError::BadMagic)));
    assert!(matches!(
        decode(b"k8s\0"),
        Err(ProtobufError::MissingTypeMeta)
    ));

    // Every truncation: an error, or (cut between envelope fields) a partial object; no panic.
    let d = body(
        "apps/v1",
        "Deployment",
        &apps::Deployment {
            metadata: meta("web"),
            spec: Some(apps::DeploymentSpec {
                template: Some(core::PodTemplateSpec {
                    metadata: None,
                    spec: Some(core::PodSpec {
                        containers: vec![container()],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        },
    );
    let mut errors = 0;
    for n in 4..d.len() {
        match decode(&d[..n]) {
            Err(_) => errors += 1,
            Ok(v) => assert_eq!(v["kind"], json!("Deployment"), "prefix {n}"),
        }
    }
    assert!(
        errors > d.len() - 10,
        "{errors} of {} truncations rejected",
        d.len()
    );

    let unknown = body("apps/v1", "Frobnicator", &core::ConfigMap::default());
    match decode(&unknown) {
        Err(ProtobufError::UnknownKind { api_version, kind }) => {
            assert_eq!(
                (api_version.as_str(), kind.as_str()),
                ("apps/v1", "Frobnicator")
            )
        }
        other => panic!("expected UnknownKind, got {other:?}"),
    }
    // Table is served but has no protobuf form.
    assert!(matches!(
        decode(&envelope("meta.k8s.io/v1", "Table", Vec::new())),
        Err(ProtobufError::UnknownKind { .. })
    ));

    // A length of 2^62 for `raw`: refused without allocating.
    let mut absurd = b"k8s\0".to_vec();
    let tm = rt::TypeMeta {
        api_version: s("v1"),
        kind: s("ConfigMap"),
    }
    .encode_to_vec();
    absurd.push(0x0a);
    absurd.push(u8::try_from(tm.len()).expect("short"));
    absurd.extend(tm);
    absurd.extend([
        0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 2, 3,
    ]);
    assert!(matches!(decode(&absurd), Err(ProtobufError::Malformed(_))));

    // A string field sent as a varint.
    let wrong_type = envelope("v1", "ConfigMap", vec![0x0a, 0x02, 0x08, 0x01]);
    assert!(
        matches!(decode(&wrong_type), Err(ProtobufError::Malformed(m)) if m.contains("ObjectMeta.name"))
    );

    // IntOrString with an impossible type, and embedded JSON that is not JSON.
    let bad_port = body(
        "policy/v1",
        "PodDisruptionBudget",
        &policy::PodDisruptionBudget {
            spec: Some(policy::PodDisruptionBudgetSpec {
                min_available: Some(IntOrString {
                    r#type: Some(7),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    assert!(matches!(
        decode(&bad_port),
        Err(ProtobufError::InvalidValue(_))
    ));
    let bad_raw = body(
        "apps/v1",
        "ControllerRevision",
        &apps::ControllerRevision {
            data: Some(rt::RawExtension {
                raw: Some(b"{not json".to_vec()),
            }),
            ..Default::default()
        },
    );
    assert!(matches!(
        decode(&bad_raw),
        Err(ProtobufError::InvalidJson(_))
    ));

    // Compressed or foreign payloads are refused, not misread.
    let mut gz = rt::Unknown::decode(&good[4..]).expect("envelope");
    gz.content_encoding = s("gzip");
    let mut b = b"k8s\0".to_vec();
    b.extend(gz.encode_to_vec());
    assert!(matches!(
        decode(&b),
        Err(ProtobufError::UnsupportedEncoding(_))
    ));
}

#[test]
fn json_payload_in_the_envelope_is_accepted() {
    let unknown = rt::Unknown {
        type_meta: Some(rt::TypeMeta {
            api_version: s("v1"),
            kind: s("ConfigMap"),
        }),
        raw: Some(br#"{"metadata":{"name":"c"},"data":{"a":"b"}}"#.to_vec()),
        content_encoding: None,
        content_type: s("application/json"),
    };
    let mut b = b"k8s\0".to_vec();
    b.extend(unknown.encode_to_vec());
    assert_eq!(
        decoded(&b),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
    );
}

#[test]
fn content_types() {
    assert!(is_protobuf_content_type(
        "application/vnd.kubernetes.protobuf"
    ));
    assert!(is_protobuf_content_type(
        "application/vnd.kubernetes.protobuf; charset=utf-8"
    ));
    assert!(is_protobuf_content_type(
        "Application/VND.Kubernetes.Protobuf;stream=watch"
    ));
    assert!(!is_protobuf_content_type("application/json"));
    assert!(!is_protobuf_content_type(
        "application/vnd.kubernetes.protobuf+json"
    ));
    assert!(!is_protobuf_content_type(""));
}
