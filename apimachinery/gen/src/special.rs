//! Definitions whose JSON form is not their protobuf structure: times, quantities,
//! int-or-string, embedded raw JSON, and the apiextensions "X or Y" unions. Their schemas are
//! written the way kube-apiserver 1.33 publishes them in /openapi/v3, and they carry
//! `x-proto-convert` (how the decoder turns the message into JSON) and `x-proto-fields` (the
//! message's own wire layout, tag -> type).

use serde_json::{Value, json};

/// The schema (without description) and converter of a special definition.
pub fn special(def: &str) -> Option<(Value, &'static str)> {
    let preserve = json!({"x-kubernetes-preserve-unknown-fields": true});
    Some(match def {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" => {
            (json!({"type": "string", "format": "date-time"}), "time")
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => (
            json!({"type": "string", "format": "date-time"}),
            "micro-time",
        ),
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration" => (json!({"type": "string"}), "duration"),
        // kube publishes oneOf + format; x-kubernetes-int-or-string is added so that the
        // structural schema (schema.rs) knows the node without understanding oneOf.
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => (
            json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}],
                   "x-kubernetes-int-or-string": true}),
            "int-or-string",
        ),
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => (
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
            "quantity",
        ),
        // kube publishes `type: object` only; these hold arbitrary JSON, so unknown fields are
        // preserved (as the apiserver's own structural model treats them).
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1" => (
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            "raw-json",
        ),
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => (preserve, "raw-json"),
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray" => {
            (preserve, "or-array")
        }
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool" => {
            (preserve, "or-bool")
        }
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray" => {
            (preserve, "or-string-array")
        }
        _ => return None,
    })
}

/// Definitions kube publishes without a protobuf counterpart of their own, built from Go facts.
pub const GO_ONLY: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.Table",
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableColumnDefinition",
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableRow",
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableRowCondition",
];

/// Extra roots beyond what k8s-openapi lists (kube serves them but does not publish them).
pub const EXTRA_ROOTS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata",
    "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.TableOptions",
];

/// Group/version/kinds the apiserver serves for meta types that are not resources of a group.
pub fn meta_gvks(def: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    match def {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Table" => vec![("meta.k8s.io", "v1", "Table")],
        "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata" => {
            vec![("meta.k8s.io", "v1", "PartialObjectMetadata")]
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList" => {
            vec![("meta.k8s.io", "v1", "PartialObjectMetadataList")]
        }
        _ => Vec::new(),
    }
}

/// The group versions whose kinds are roots, as (k8s-pb module, API group).
pub const GROUP_VERSIONS: &[(&str, &str)] = &[
    ("api::core::v1", ""),
    ("api::apps::v1", "apps"),
    ("api::batch::v1", "batch"),
    ("api::rbac::v1", "rbac.authorization.k8s.io"),
    ("api::networking::v1", "networking.k8s.io"),
    ("api::policy::v1", "policy"),
    ("api::autoscaling::v1", "autoscaling"),
    ("api::autoscaling::v2", "autoscaling"),
    ("api::coordination::v1", "coordination.k8s.io"),
    (
        "apiextensions_apiserver::pkg::apis::apiextensions::v1",
        "apiextensions.k8s.io",
    ),
    ("api::authorization::v1", "authorization.k8s.io"),
    ("api::authentication::v1", "authentication.k8s.io"),
    ("api::events::v1", "events.k8s.io"),
    ("api::storage::v1", "storage.k8s.io"),
    ("api::scheduling::v1", "scheduling.k8s.io"),
    ("api::discovery::v1", "discovery.k8s.io"),
    (
        "api::admissionregistration::v1",
        "admissionregistration.k8s.io",
    ),
    ("api::certificates::v1", "certificates.k8s.io"),
    ("api::node::v1", "node.k8s.io"),
    ("api::flowcontrol::v1", "flowcontrol.apiserver.k8s.io"),
    ("apimachinery::pkg::apis::meta::v1", "meta.k8s.io"),
];

/// Definitions taken from k8s-openapi alone (no protobuf message exists).
pub const OPENAPI_ONLY: &[&str] = &["io.k8s.apimachinery.pkg.version.Info"];
