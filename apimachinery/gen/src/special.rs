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
