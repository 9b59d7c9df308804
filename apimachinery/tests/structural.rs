//! Structural-schema behaviour of the apiserver: unknown fields and pruning, defaulting, and
//! validation with kube's messages, on CRD-style snippets and on real built-in kinds.

use kubestellar_apimachinery::builtin::schema_for;
use kubestellar_apimachinery::schema::{Schema, compile_openapi_v3};
use kubestellar_apimachinery::structural::{
    apply_defaults, prune, strict_decoding_message, unknown_fields, validate,
};
use kubestellar_apimachinery::validation::{FieldError, cluster_selector_schema, invalid_message};
use rstest::rstest;
use serde_json::{Value, json};

fn compile(v: Value) -> Schema {
    compile_openapi_v3(&v).expect("schema compiles")
}

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// A CRD root with one `spec` schema.
fn crd(spec: Value) -> Schema {
    compile(json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec
        }
    }))
}

fn widget_schema() -> Schema {
    crd(json!({
        "type": "object",
        "properties": {
            "size": {"type": "integer"},
            "containers": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "port": {"x-kubernetes-int-or-string": true},
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}
            }
        }
    }))
}

#[rstest]
#[case::known_only(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "anything": 1}, "spec": {"size": 1}}), vec![])]
#[case::top_level(json!({"spec": {}, "junk": 1}), vec!["junk"])]
#[case::nested(json!({"spec": {"foo": "bar", "size": 2}}), vec!["spec.foo"])]
#[case::list_items(json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "imagez": "x"}]}}), vec!["spec.containers[1].imagez"])]
#[case::map_values(json!({"spec": {"labels": {"k": {"v": "1", "w": "2"}}}}), vec!["spec.labels.k.w"])]
#[case::preserved_unknowns_kept_declared_pruned(json!({"spec": {"free": {"anything": {"deep": 1}, "known": {"a": "x", "b": "y"}}}}), vec!["spec.free.known.b"])]
#[case::int_or_string_scalar(json!({"spec": {"port": "http"}}), vec![])]
#[case::embedded_resource_meta(json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "spec": {"replicas": 1, "zz": 1}, "extra": true}}}), vec!["spec.template.extra", "spec.template.spec.zz"])]
#[case::sorted(json!({"spec": {"z": 1, "a": 1}, "b": 1}), vec!["b", "spec.a", "spec.z"])]
fn unknown_fields_of_a_crd(#[case] obj: Value, #[case] expected: Vec<&str>) {
    assert_eq!(unknown_fields(&obj, &widget_schema()), expected);
}

#[test]
fn prune_removes_exactly_the_unknown_fields() {
    let mut obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 1, "foo": 2, "containers": [{"name": "a", "imagez": "x"}], "free": {"keep": true}},
        "status": {"whatever": 1}
    });
    let pruned = prune(&mut obj, &widget_schema());
    assert_eq!(pruned, ["spec.containers[0].imagez", "spec.foo", "status"]);
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1, "containers": [{"name": "a"}], "free": {"keep": true}}
        })
    );
    assert!(unknown_fields(&obj, &widget_schema()).is_empty());
}

#[test]
fn strict_decoding_messages() {
    assert_eq!(
        strict_decoding_message(&["dataz".into()]),
        "strict decoding error: unknown field \"dataz\""
    );
    assert_eq!(
        strict_decoding_message(&["a".into(), "spec.b".into()]),
        "strict decoding error: unknown field \"a\", unknown field \"spec.b\""
    );
}

#[test]
fn builtin_config_map_with_unknown_field() {
    // Acceptance check 12: `kubectl apply` of a ConfigMap with `dataz`.
    let cm = schema_for("", "v1", "ConfigMap").expect("ConfigMap schema");
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "dataz": {"a": "b"}});
    let unknown = unknown_fields(&obj, &cm);
    assert_eq!(
        strict_decoding_message(&unknown),
        "strict decoding error: unknown field \"dataz\""
    );
    let good = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "labels": {"a": "b"}}, "data": {"a": "b"}});
    assert!(unknown_fields(&good, &cm).is_empty());
    assert!(
        validate(&good, &cm).is_empty(),
        "{:?}",
        validate(&good, &cm)
    );
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "default", "labels": {"app": "web"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "100m", "memory": 1073741824}}
                }]}
            }
        },
        "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2024-05-01T10:00:00Z"}]}
    })
}

#[test]
fn builtin_deployment_known_and_unknown_fields() {
    let schema = schema_for("apps", "v1", "Deployment").expect("Deployment schema");
    let obj = deployment();
    assert!(
        unknown_fields(&obj, &schema).is_empty(),
        "{:?}",
        unknown_fields(&obj, &schema)
    );
    assert!(
        validate(&obj, &schema).is_empty(),
        "{:?}",
        messages(&validate(&obj, &schema))
    );

    let mut bad = deployment();
    bad["spec"]["template"]["spec"]["containers"][0]["imagez"] = json!("x");
    bad["spec"]["template"]["metadata"]["containers"] = json!([]);
    bad["metadata"]["nam"] = json!("typo");
    assert_eq!(
        unknown_fields(&bad, &schema),
        [
            "metadata.nam",
            "spec.template.metadata.containers",
            "spec.template.spec.containers[0].imagez"
        ]
    );
}

#[test]
fn builtin_deployment_value_errors() {
    let schema = schema_for("apps", "v1", "Deployment").expect("Deployment schema");
    let mut obj = deployment();
    obj["spec"]["replicas"] = json!("three");
    obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(true);
    obj["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("list")
        .push(json!({"name": "nginx", "image": "x"}));
    assert_eq!(
        messages(&validate(&obj, &schema)),
        [
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"boolean\": spec.strategy.rollingUpdate.maxSurge in body must be of type integer,string: \"boolean\"",
            "<nil>: Invalid value: \"\": \"spec.strategy.rollingUpdate.maxSurge\" must validate one and only one schema (oneOf). Found none valid",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"boolean\": spec.strategy.rollingUpdate.maxSurge in body must be of type integer: \"boolean\"",
            "spec.template.spec.containers[1]: Duplicate value: map[string]interface {}{\"name\":\"nginx\"}",
        ]
    );
}

#[test]
fn opaque_builtin_objects_and_crd_empty_objects_differ() {
    use kubestellar_apimachinery::schema::Definitions;
    let defs = Definitions::new(
        json!({
            "T": {"type": "object", "properties": {"raw": {"$ref": "#/components/schemas/R"}}},
            "R": {"type": "object"}
        })
        .as_object()
        .expect("object"),
    );
    let builtin = defs.get("T").expect("T");
    let value = json!({"raw": {"x": 1}});
    assert!(unknown_fields(&value, &builtin).is_empty());
    let crd = compile(json!({"type": "object", "properties": {"raw": {"type": "object"}}}));
    assert_eq!(unknown_fields(&value, &crd), ["raw.x"]);
}

fn defaulting_schema() -> Schema {
    crd(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "fast"},
            "optional": {"type": "string"},
            "nullableWithDefault": {"type": "string", "nullable": true, "default": "d"},
            "nested": {"type": "object", "properties": {"level": {"type": "integer", "default": 3}}},
            "absentParent": {"type": "object", "properties": {"x": {"type": "string", "default": "never"}}},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "port": {"type": "integer", "default": 80}}}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "enabled": {"type": "boolean", "default": true}}}},
            "withDefaultObject": {"type": "object", "default": {"a": "b"}, "properties": {"a": {"type": "string"}, "c": {"type": "string", "default": "d"}}}
        }
    }))
}

#[test]
fn defaults_fill_absent_fields_where_the_parent_exists() {
    let mut obj = json!({"spec": {
        "replicas": 5,
        "optional": null,
        "mode": null,
        "nullableWithDefault": null,
        "nested": {},
        "items": [{"name": "a"}, {"name": "b", "port": 8080}],
        "map": {"x": {}, "y": {"enabled": false}}
    }});
    apply_defaults(&mut obj, &defaulting_schema());
    assert_eq!(
        obj,
        json!({"spec": {
            "replicas": 5,
            "mode": "fast",
            "nullableWithDefault": null,
            "nested": {"level": 3},
            "items": [{"name": "a", "port": 80}, {"name": "b", "port": 8080}],
            "map": {"x": {"enabled": true}, "y": {"enabled": false}},
            "withDefaultObject": {"a": "b", "c": "d"}
        }})
    );
}

#[test]
fn defaults_do_not_create_a_missing_spec() {
    let mut obj = json!({"metadata": {"name": "x"}});
    apply_defaults(&mut obj, &defaulting_schema());
    assert_eq!(obj, json!({"metadata": {"name": "x"}}));
}

fn validation_schema() -> Schema {
    crd(json!({
        "type": "object",
        "required": ["x"],
        "properties": {
            "x": {"type": "string"},
            "size": {"type": "integer"},
            "ratio": {"type": "number", "minimum": 0.5, "maximum": 1.5, "multipleOf": 0.25},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "level": {"type": "integer", "enum": [1, 2]},
            "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
            "replicas": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10, "exclusiveMaximum": true, "multipleOf": 2},
            "list": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
            "unique": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
            "m": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": {"type": "string", "maxLength": 1}},
            "closed": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}},
            "t": {"type": "string", "format": "date-time"},
            "b": {"type": "string", "format": "byte"},
            "port": {"x-kubernetes-int-or-string": true},
            "nullable": {"type": "string", "nullable": true},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
            "endpoints": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                          "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}}}},
            "source": {"type": "object", "properties": {"pvc": {"type": "string"}, "snapshot": {"type": "string"}},
                       "oneOf": [{"required": ["pvc"]}, {"required": ["snapshot"]}]},
            "both": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                     "allOf": [{"required": ["a"]}, {"required": ["b"]}]},
            "notEmpty": {"type": "string", "not": {"enum": [""]}},
            "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }
    }))
}

#[rstest]
#[case::valid(json!({"x": "ok", "size": 3, "ratio": 0.75, "port": 8080, "nullable": null}), vec![])]
#[case::required(json!({}), vec!["spec.x: Required value"])]
#[case::integer_type(json!({"x": "", "size": "string"}), vec!["spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""])]
#[case::integral_float_is_an_integer(json!({"x": "", "size": 2.0}), vec![])]
#[case::fraction_is_not(json!({"x": "", "size": 2.5}), vec!["spec.size: Invalid value: \"number\": spec.size in body must be of type integer: \"number\""])]
#[case::integer_is_a_number(json!({"x": "", "ratio": 1}), vec![])]
#[case::boolean_type(json!({"x": "", "flag": "yes"}), vec!["spec.flag: Invalid value: \"string\": spec.flag in body must be of type boolean: \"string\""])]
#[case::object_type(json!({"x": "", "m": []}), vec!["spec.m: Invalid value: \"array\": spec.m in body must be of type object: \"array\""])]
#[case::non_nullable_null(json!({"x": null}), vec!["spec.x: Invalid value: \"null\": spec.x in body must be of type string: \"null\""])]
#[case::enum_string(json!({"x": "", "mode": "x"}), vec!["spec.mode: Unsupported value: \"x\": supported values: \"a\", \"b\""])]
#[case::enum_number(json!({"x": "", "level": 3}), vec!["spec.level: Unsupported value: 3: supported values: \"1\", \"2\""])]
#[case::enum_number_ok(json!({"x": "", "level": 2.0}), vec![])]
#[case::pattern(json!({"x": "", "name": "XY"}), vec!["spec.name: Invalid value: \"XY\": spec.name in body should match '^[a-z]+$'"])]
#[case::min_length(json!({"x": "", "name": "a"}), vec!["spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"])]
#[case::max_length(json!({"x": "", "name": "abcdef"}), vec!["spec.name: Too long: may not be longer than 5"])]
#[case::minimum(json!({"x": "", "replicas": 0}), vec!["spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"])]
#[case::exclusive_maximum(json!({"x": "", "replicas": 10}), vec!["spec.replicas: Invalid value: 10: spec.replicas in body should be less than 10"])]
#[case::multiple_of_int(json!({"x": "", "replicas": 3}), vec!["spec.replicas: Invalid value: 3: spec.replicas in body should be a multiple of 2"])]
#[case::float_bounds(json!({"x": "", "ratio": 0.3}), vec![
    "spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.25",
    "spec.ratio: Invalid value: 0.3: spec.ratio in body should be greater than or equal to 0.5",
])]
// kube compares integer data with the limit truncated to an integer, and prints it so.
#[case::integer_against_float_maximum(json!({"x": "", "ratio": 2}), vec!["spec.ratio: Invalid value: 2: spec.ratio in body should be less than or equal to 1"])]
#[case::float_maximum(json!({"x": "", "ratio": 1.75}), vec!["spec.ratio: Invalid value: 1.75: spec.ratio in body should be less than or equal to 1.5"])]
#[case::int32_range(json!({"x": "", "replicas": 3000000000_i64}), vec![
    "spec.replicas: Invalid value: 3000000000: Checked value must be of type integer with format int32 in spec.replicas",
    "spec.replicas: Invalid value: 3000000000: spec.replicas in body should be less than 10",
])]
#[case::min_items(json!({"x": "", "list": []}), vec!["spec.list: Invalid value: 0: spec.list in body should have at least 1 items"])]
#[case::max_items(json!({"x": "", "list": ["a", "b", "c"]}), vec!["spec.list: Too many: 3: must have at most 2 items"])]
#[case::item_type(json!({"x": "", "list": ["a", 1]}), vec!["spec.list[1]: Invalid value: \"integer\": spec.list[1] in body must be of type string: \"integer\""])]
#[case::unique_items(json!({"x": "", "unique": [1, 2, 1]}), vec!["spec.unique: Invalid value: \"\": spec.unique in body shouldn't contain duplicates"])]
#[case::min_properties(json!({"x": "", "m": {}}), vec!["spec.m: Invalid value: 0: spec.m in body should have at least 1 properties"])]
#[case::max_properties(json!({"x": "", "m": {"a": "1", "b": "2"}}), vec!["spec.m: Too many: 2: must have at most 1 items"])]
#[case::additional_properties_schema(json!({"x": "", "m": {"a": "long"}}), vec!["spec.m.a: Too long: may not be longer than 1"])]
#[case::additional_properties_false(json!({"x": "", "closed": {"a": "x", "z": 1}}), vec!["spec.closed: Invalid value: \"z\": spec.closed.z in body is a forbidden property"])]
#[case::date_time(json!({"x": "", "t": "yesterday"}), vec!["spec.t: Invalid value: \"yesterday\": spec.t in body must be of type date-time: \"yesterday\""])]
#[case::date_time_ok(json!({"x": "", "t": "2024-05-01T10:00:00Z"}), vec![])]
#[case::byte(json!({"x": "", "b": "not base64!"}), vec!["spec.b: Invalid value: \"not base64!\": spec.b in body must be of type byte: \"not base64!\""])]
#[case::int_or_string(json!({"x": "", "port": true}), vec!["spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""])]
#[case::int_or_string_string(json!({"x": "", "port": "http"}), vec![])]
#[case::set_duplicates(json!({"x": "", "tags": ["a", "b", "a", "a"]}), vec!["spec.tags[2]: Duplicate value: \"a\""])]
#[case::map_duplicates(json!({"x": "", "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}, {"port": 3}, {"port": 4}]}), vec![
    "spec.ports[1]: Duplicate value: map[string]interface {}{\"name\":\"a\"}",
    "spec.ports[3]: Duplicate value: map[string]interface {}{}",
])]
#[case::map_multi_key_duplicates(json!({"x": "", "endpoints": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}]}), vec![
    "spec.endpoints[2]: Duplicate value: map[string]interface {}{\"port\":80, \"protocol\":\"TCP\"}",
])]
#[case::map_list_non_object(json!({"x": "", "ports": ["a"]}), vec![
    "spec.ports[0]: Invalid value: \"string\": spec.ports[0] in body must be of type object: \"string\"",
    "spec.ports[0]: Invalid value: \"a\": must be an object for an array of list-type map",
])]
#[case::one_of_none(json!({"x": "", "source": {}}), vec![
    "<nil>: Invalid value: \"\": \"spec.source\" must validate one and only one schema (oneOf). Found none valid",
    "spec.source.pvc: Required value",
])]
#[case::one_of_two(json!({"x": "", "source": {"pvc": "a", "snapshot": "b"}}), vec![
    "<nil>: Invalid value: \"\": \"spec.source\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
])]
#[case::one_of_ok(json!({"x": "", "source": {"snapshot": "b"}}), vec![])]
#[case::all_of(json!({"x": "", "both": {"a": "x"}}), vec![
    "spec.both.b: Required value",
    "<nil>: Invalid value: \"\": \"spec.both\" must validate all the schemas (allOf)",
])]
#[case::all_of_none(json!({"x": "", "both": {}}), vec![
    "spec.both.a: Required value",
    "spec.both.b: Required value",
    "<nil>: Invalid value: \"\": \"spec.both\" must validate all the schemas (allOf). None validated",
])]
#[case::not(json!({"x": "", "notEmpty": ""}), vec!["<nil>: Invalid value: \"\": \"spec.notEmpty\" must not validate the schema (not)"])]
#[case::embedded_type_meta(json!({"x": "", "embedded": {"kind": "my kind", "metadata": {"name": "a/b"}, "other": 1}}), vec![
    "spec.embedded.apiVersion: Required value",
    "spec.embedded.kind: Invalid value: \"my kind\": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    "spec.embedded.metadata.name: Invalid value: \"a/b\": may not contain '/'",
])]
fn crd_validation_messages(#[case] spec: Value, #[case] expected: Vec<&str>) {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    assert_eq!(messages(&validate(&obj, &validation_schema())), expected);
}

#[test]
fn invalid_pattern_is_reported_not_fatal() {
    let schema = crd(
        json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}}),
    );
    let errs = validate(&json!({"spec": {"a": "x"}}), &schema);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .detail
            .starts_with("spec.a in body should match '(unclosed, but pattern is invalid: "),
        "{}",
        errs[0]
    );
}

/// The BindingPolicy schema as upstream publishes it, with the `anyOf` over the object tests
/// of each `downsync[]` clause and the cluster-selector patterns of spec 2.11.
fn binding_policy_schema() -> Schema {
    let selector = json!({"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array", "items": {"type": "object", "required": ["key", "operator"], "properties": {
            "key": {"type": "string"}, "operator": {"type": "string"}, "values": {"type": "array", "items": {"type": "string"}}}}}
    }});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    crd(json!({
        "type": "object",
        "properties": {
            "clusterSelectors": {"type": "array", "items": cluster_selector_schema()},
            "downsync": {"type": "array", "items": {
                "type": "object",
                "anyOf": [
                    {"required": ["apiGroup"]}, {"required": ["resources"]}, {"required": ["namespaces"]},
                    {"required": ["namespaceSelectors"]}, {"required": ["objectSelectors"]}, {"required": ["objectNames"]}
                ],
                "properties": {
                    "apiGroup": {"type": "string"},
                    "resources": strings.clone(),
                    "namespaces": strings.clone(),
                    "objectNames": strings.clone(),
                    "namespaceSelectors": {"type": "array", "items": selector.clone()},
                    "objectSelectors": {"type": "array", "items": selector},
                    "createOnly": {"type": "boolean"},
                    "statusCollectors": strings,
                    "wantSingletonReportedState": {"type": "boolean"},
                    "wantMultiWECReportedState": {"type": "boolean"}
                }
            }},
            "wantSingletonReportedState": {"type": "boolean"}
        }
    }))
}

fn binding_policy(spec: Value) -> Value {
    json!({"apiVersion": "control.kubestellar.io/v1alpha1", "kind": "BindingPolicy", "metadata": {"name": "bp"}, "spec": spec})
}

/// Upstream `TestBindingPolicyValidation`: unknown fields (strict) and the `anyOf`.
#[rstest]
#[case::junk(json!({"junk": 1}), vec!["spec.junk"], vec![])]
#[case::junq(json!({"downsync": [{"junq": true}]}), vec!["spec.downsync[0].junq"], vec![
    "<nil>: Invalid value: \"\": \"spec.downsync[0]\" must validate at least one schema (anyOf)",
    "spec.downsync[0].apiGroup: Required value",
])]
#[case::create_only_alone(json!({"downsync": [{"createOnly": true}]}), vec![], vec![
    "<nil>: Invalid value: \"\": \"spec.downsync[0]\" must validate at least one schema (anyOf)",
    "spec.downsync[0].apiGroup: Required value",
])]
#[case::legacy_status_collection(json!({"downsync": [{"statusCollection": {"statusCollectors": ["phred"]}}]}), vec!["spec.downsync[0].statusCollection"], vec![
    "<nil>: Invalid value: \"\": \"spec.downsync[0]\" must validate at least one schema (anyOf)",
    "spec.downsync[0].apiGroup: Required value",
])]
#[case::resources_star(json!({"downsync": [{"resources": ["*"]}]}), vec![], vec![])]
#[case::second_clause_bad(json!({"downsync": [{"objectNames": ["a"], "createOnly": true}, {"createOnly": true}]}), vec![], vec![
    "<nil>: Invalid value: \"\": \"spec.downsync[1]\" must validate at least one schema (anyOf)",
    "spec.downsync[1].apiGroup: Required value",
])]
fn binding_policy_validation(
    #[case] spec: Value,
    #[case] unknown: Vec<&str>,
    #[case] invalid: Vec<&str>,
) {
    let schema = binding_policy_schema();
    let obj = binding_policy(spec);
    assert_eq!(unknown_fields(&obj, &schema), unknown);
    assert_eq!(messages(&validate(&obj, &schema)), invalid);
}

#[test]
fn binding_policy_422_message() {
    let errs = validate(
        &binding_policy(json!({"downsync": [{"createOnly": true}]})),
        &binding_policy_schema(),
    );
    assert_eq!(
        invalid_message("control.kubestellar.io", "BindingPolicy", "bp", &errs),
        "BindingPolicy.control.kubestellar.io \"bp\" is invalid: [<nil>: Invalid value: \"\": \"spec.downsync[0]\" must validate at least one schema (anyOf), spec.downsync[0].apiGroup: Required value]"
    );
}

const VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
const KEY_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";

/// Upstream `TestBindingPolicyAdditionalValidations`, through the CRD schema patterns.
#[rstest]
#[case::list_as_value(json!({"matchLabels": {"location": "edgeplatform-test-wec1, edgeplatform-test-wec2"}}), vec![format!(
    "spec.clusterSelectors[0].matchLabels.location: Invalid value: \"edgeplatform-test-wec1, edgeplatform-test-wec2\": spec.clusterSelectors[0].matchLabels.location in body should match '{VALUE_PATTERN}'"
)])]
#[case::domain_key_and_value(json!({"matchLabels": {"sub.do-main.test/0.9-5_Xy": "This-is_1.test"}}), vec![])]
#[case::dash_key(json!({"matchExpressions": [{"key": "-model", "operator": "In", "values": ["a"]}]}), vec![format!(
    "spec.clusterSelectors[0].matchExpressions[0].key: Invalid value: \"-model\": spec.clusterSelectors[0].matchExpressions[0].key in body should match '{KEY_PATTERN}'"
)])]
#[case::dash_prefixed_key(json!({"matchExpressions": [{"key": "-kubestellar.io/model", "operator": "Exists"}]}), vec![format!(
    "spec.clusterSelectors[0].matchExpressions[0].key: Invalid value: \"-kubestellar.io/model\": spec.clusterSelectors[0].matchExpressions[0].key in body should match '{KEY_PATTERN}'"
)])]
#[case::bad_operator(json!({"matchExpressions": [{"key": "gpu", "operator": "OutOf", "values": ["a"]}]}), vec![
    "spec.clusterSelectors[0].matchExpressions[0].operator: Invalid value: \"OutOf\": spec.clusterSelectors[0].matchExpressions[0].operator in body should match '^(In|NotIn|Exists|DoesNotExist)$'".to_string()
])]
#[case::comma_value(json!({"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["H100,A100"]}]}), vec![format!(
    "spec.clusterSelectors[0].matchExpressions[0].values[0]: Invalid value: \"H100,A100\": spec.clusterSelectors[0].matchExpressions[0].values[0] in body should match '{VALUE_PATTERN}'"
)])]
#[case::mixed_case_key(json!({"matchExpressions": [{"key": "available.nvidia.models/EST_26-Apr.2024", "operator": "Exists"}]}), vec![])]
fn binding_policy_cluster_selector_patterns(
    #[case] selector: Value,
    #[case] expected: Vec<String>,
) {
    let obj =
        binding_policy(json!({"clusterSelectors": [selector], "downsync": [{"resources": ["*"]}]}));
    assert_eq!(
        messages(&validate(&obj, &binding_policy_schema())),
        expected
    );
}
