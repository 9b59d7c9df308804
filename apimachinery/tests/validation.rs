//! Object metadata validation with kube-apiserver's exact messages, and the BindingPolicy
//! selector patterns of spec 2.11 / `TestBindingPolicyAdditionalValidations`.

use kubestellar_apimachinery::validation::{
    ErrorKind, FieldError, NameRule, aggregate_message, invalid_message, is_bp_label_value,
    is_bp_match_expression_key, is_bp_operator, status_causes, validate_label_selector,
    validate_object_meta, validate_object_meta_update,
};
use rstest::rstest;
use serde_json::{Value, json};

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[rstest]
#[case::valid_subdomain(json!({"name": "web.example-1"}), false, NameRule::Dns1123Subdomain, vec![])]
#[case::bad_subdomain(
    json!({"name": "Foo_1"}), false, NameRule::Dns1123Subdomain,
    vec![format!("metadata.name: Invalid value: \"Foo_1\": {SUBDOMAIN_MSG}")]
)]
#[case::too_long_subdomain(
    json!({"name": "a".repeat(254)}), false, NameRule::Dns1123Subdomain,
    vec![format!("metadata.name: Invalid value: \"{}\": must be no more than 253 characters", "a".repeat(254))]
)]
#[case::label_with_dots(
    json!({"name": "a.b"}), false, NameRule::Dns1123Label,
    vec!["metadata.name: Invalid value: \"a.b\": must not contain dots".to_string()]
)]
#[case::bad_label(
    json!({"name": "-x"}), false, NameRule::Dns1123Label,
    vec![format!("metadata.name: Invalid value: \"-x\": {LABEL_MSG}")]
)]
#[case::path_segment_dot(
    json!({"name": ".."}), false, NameRule::PathSegment,
    vec!["metadata.name: Invalid value: \"..\": may not be '..'".to_string()]
)]
#[case::path_segment_chars(
    json!({"name": "system:a/b%c"}), false, NameRule::PathSegment,
    vec![
        "metadata.name: Invalid value: \"system:a/b%c\": may not contain '/'".to_string(),
        "metadata.name: Invalid value: \"system:a/b%c\": may not contain '%'".to_string(),
    ]
)]
#[case::path_segment_allows_colons(json!({"name": "system:controller:x"}), false, NameRule::PathSegment, vec![])]
#[case::name_required(
    json!({}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.name: Required value: name or generateName is required".to_string()]
)]
#[case::generate_name_prefix_is_lenient(json!({"generateName": "pi-", "name": "pi-x7k2p"}), false, NameRule::Dns1123Subdomain, vec![])]
#[case::bad_generate_name(
    json!({"generateName": "Pi-"}), false, NameRule::Dns1123Subdomain,
    vec![
        format!("metadata.generateName: Invalid value: \"Pi-\": {SUBDOMAIN_MSG}"),
        "metadata.name: Required value: name or generateName is required".to_string(),
    ]
)]
#[case::namespace_required(
    json!({"name": "x"}), true, NameRule::Dns1123Subdomain,
    vec!["metadata.namespace: Required value".to_string()]
)]
#[case::namespace_forbidden(
    json!({"name": "x", "namespace": "default"}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.namespace: Forbidden: not allowed on this type".to_string()]
)]
#[case::bad_namespace(
    json!({"name": "x", "namespace": "Default"}), true, NameRule::Dns1123Subdomain,
    vec![format!("metadata.namespace: Invalid value: \"Default\": {LABEL_MSG}")]
)]
#[case::negative_generation(
    json!({"name": "x", "generation": -1}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0".to_string()]
)]
#[case::bad_label_key_and_value(
    json!({"name": "x", "labels": {"-bad": "ok", "good": "not ok"}}), false, NameRule::Dns1123Subdomain,
    vec![
        format!("metadata.labels: Invalid value: \"-bad\": {QUALIFIED_NAME_PART_MSG}"),
        format!("metadata.labels: Invalid value: \"not ok\": {LABEL_VALUE_MSG}"),
    ]
)]
#[case::long_label_value(
    json!({"name": "x", "labels": {"k": "v".repeat(64)}}), false, NameRule::Dns1123Subdomain,
    vec![format!("metadata.labels: Invalid value: \"{}\": must be no more than 63 characters", "v".repeat(64))]
)]
#[case::label_prefix_too_long(
    json!({"name": "x", "labels": {format!("{}/k", "p".repeat(254)): "v"}}), false, NameRule::Dns1123Subdomain,
    vec![format!("metadata.labels: Invalid value: \"{}/k\": prefix part must be no more than 253 characters", "p".repeat(254))]
)]
#[case::label_name_too_long(
    json!({"name": "x", "labels": {"n".repeat(64): "v"}}), false, NameRule::Dns1123Subdomain,
    vec![format!("metadata.labels: Invalid value: \"{}\": name part must be no more than 63 characters", "n".repeat(64))]
)]
#[case::annotation_keys_are_case_insensitive(
    json!({"name": "x", "annotations": {"Example.COM/Key": "v", "a/b/c": "v"}}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
)]
#[case::annotations_too_big(
    json!({"name": "x", "annotations": {"big": "x".repeat(256 * 1024)}}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.annotations: Too long: must have at most 262144 bytes".to_string()]
)]
#[case::bad_finalizer(
    json!({"name": "x", "finalizers": ["example.com/hold", "a/b/c"]}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.finalizers: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
)]
#[case::conflicting_finalizers(
    json!({"name": "x", "finalizers": ["orphan", "foregroundDeletion"]}), false, NameRule::Dns1123Subdomain,
    vec!["metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set".to_string()]
)]
#[case::owner_reference_fields(
    json!({"name": "x", "ownerReferences": [{"apiVersion": "apps/", "kind": "", "name": "", "uid": "u"}]}), false, NameRule::Dns1123Subdomain,
    vec![
        "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty".to_string(),
        "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty".to_string(),
        "metadata.ownerReferences.name: Invalid value: \"\": must not be empty".to_string(),
    ]
)]
fn object_meta_on_create(
    #[case] meta: Value,
    #[case] namespaced: bool,
    #[case] rule: NameRule,
    #[case] expected: Vec<String>,
) {
    assert_eq!(
        messages(&validate_object_meta(&meta, namespaced, rule)),
        expected
    );
}

#[test]
fn two_controllers_are_rejected() {
    let meta = json!({"name": "x", "ownerReferences": [
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": true},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": true}
    ]});
    let errs = validate_object_meta(&meta, false, NameRule::Dns1123Subdomain);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .detail
            .ends_with("Found \"true\" in references for A/a and B/b"),
        "{}",
        errs[0]
    );
}

#[test]
fn object_meta_on_update() {
    let old = json!({"name": "x", "uid": "1", "resourceVersion": "5", "generation": 3,
                     "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]});
    let new = json!({"name": "y", "uid": "1", "resourceVersion": "", "generation": 2,
                     "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x", "b.io/y"]});
    assert_eq!(
        messages(&validate_object_meta_update(&new, &old)),
        [
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}",
            "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
            "metadata.generation: Invalid value: 2: must not be decremented",
            "metadata.name: Invalid value: \"y\": field is immutable",
        ]
    );
    let same = json!({"name": "x", "uid": "1", "resourceVersion": "5", "generation": 3,
                      "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": []});
    assert!(validate_object_meta_update(&same, &old).is_empty());
}

#[test]
fn reasons_bodies_and_the_422_message() {
    let errs = validate_object_meta(
        &json!({"name": "Foo_1", "labels": {"k": "a b"}}),
        false,
        NameRule::default(),
    );
    assert_eq!(
        errs.iter().map(FieldError::reason).collect::<Vec<_>>(),
        ["FieldValueInvalid", "FieldValueInvalid"]
    );
    assert_eq!(
        invalid_message("", "ConfigMap", "Foo_1", &errs[..1]),
        format!(
            "ConfigMap \"Foo_1\" is invalid: metadata.name: Invalid value: \"Foo_1\": {SUBDOMAIN_MSG}"
        )
    );
    assert_eq!(
        invalid_message("apps", "Deployment", "Foo_1", &errs),
        format!(
            "Deployment.apps \"Foo_1\" is invalid: [metadata.name: Invalid value: \"Foo_1\": {SUBDOMAIN_MSG}, metadata.labels: Invalid value: \"a b\": {LABEL_VALUE_MSG}]"
        )
    );
    assert_eq!(
        invalid_message("", "ConfigMap", "c", &[]),
        "ConfigMap \"c\" is invalid"
    );
    // Identical messages are reported once, as kube's aggregate does.
    let dup = [
        FieldError::required("spec.x", ""),
        FieldError::required("spec.x", ""),
    ];
    assert_eq!(aggregate_message(&dup), "spec.x: Required value");
    assert_eq!(
        status_causes(&errs[..1]),
        json!([{"reason": "FieldValueInvalid", "message": format!("Invalid value: \"Foo_1\": {SUBDOMAIN_MSG}"), "field": "metadata.name"}])
    );
}

#[rstest]
#[case::required(
    FieldError::required("spec.x", ""),
    "spec.x: Required value",
    "FieldValueRequired"
)]
#[case::required_detail(
    FieldError::required("spec.x", "must be set"),
    "spec.x: Required value: must be set",
    "FieldValueRequired"
)]
#[case::forbidden(
    FieldError::forbidden("spec.x", "nope"),
    "spec.x: Forbidden: nope",
    "FieldValueForbidden"
)]
#[case::not_supported(FieldError::not_supported("spec.mode", "x", &["a", "b"]), "spec.mode: Unsupported value: \"x\": supported values: \"a\", \"b\"", "FieldValueNotSupported")]
#[case::duplicate(
    FieldError::duplicate("spec.tags[1]", "a"),
    "spec.tags[1]: Duplicate value: \"a\"",
    "FieldValueDuplicate"
)]
#[case::too_many(
    FieldError::too_many("spec.list", 5, 3),
    "spec.list: Too many: 5: must have at most 3 items",
    "FieldValueTooMany"
)]
#[case::too_long(
    FieldError::too_long("metadata.annotations", 10),
    "metadata.annotations: Too long: must have at most 10 bytes",
    "FieldValueTooLong"
)]
#[case::null_value(
    FieldError::invalid("spec.x", Value::Null, "bad"),
    "spec.x: Invalid value: \"null\": bad",
    "FieldValueInvalid"
)]
#[case::float_value(
    FieldError::invalid("spec.x", 1.5, "bad"),
    "spec.x: Invalid value: 1.5: bad",
    "FieldValueInvalid"
)]
#[case::bool_value(
    FieldError::invalid("spec.x", true, "bad"),
    "spec.x: Invalid value: true: bad",
    "FieldValueInvalid"
)]
#[case::object_value(FieldError::invalid("spec.x", json!({"a": [1]}), "bad"), "spec.x: Invalid value: map[string]interface {}{\"a\":[]interface {}{1}}: bad", "FieldValueInvalid")]
#[case::type_invalid(
    FieldError::type_invalid("spec.x", "string", "t"),
    "spec.x: Invalid value: \"string\": t",
    "FieldValueTypeInvalid"
)]
fn field_error_formats(#[case] err: FieldError, #[case] text: &str, #[case] reason: &str) {
    assert_eq!(err.to_string(), text);
    assert_eq!(err.reason(), reason);
    assert_eq!(err.kind.reason(), reason);
    assert!(
        matches!(err.kind, ErrorKind::Required | ErrorKind::Forbidden)
            || err.bad_value.is_some()
            || err.kind == ErrorKind::TooLong
    );
}

#[rstest]
#[case::in_without_values(
    json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
    vec!["spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]
)]
#[case::exists_with_values(
    json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
    vec!["spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]
)]
#[case::bad_operator(
    json!({"matchExpressions": [{"key": "a", "operator": "OutOf", "values": ["x"]}]}),
    vec!["spec.selector.matchExpressions[0].operator: Invalid value: \"OutOf\": not a valid selector operator"]
)]
#[case::bad_label(
    json!({"matchLabels": {"app": "a,b"}}),
    vec!["spec.selector.matchLabels: Invalid value: \"a,b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
)]
#[case::valid(json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}), vec![])]
fn label_selector_objects(#[case] selector: Value, #[case] expected: Vec<&str>) {
    assert_eq!(
        messages(&validate_label_selector(Some(&selector), "spec.selector")),
        expected
    );
}

/// Upstream `TestBindingPolicyAdditionalValidations` cases.
#[rstest]
#[case::label_value_list("edgeplatform-test-wec1, edgeplatform-test-wec2", false)]
#[case::label_value_ok("This-is_1.test", true)]
#[case::label_value_empty("", true)]
#[case::value_with_comma("H100,A100", false)]
fn binding_policy_label_values(#[case] value: &str, #[case] ok: bool) {
    assert_eq!(is_bp_label_value(value), ok);
}

#[rstest]
#[case::plain_key("model", true)]
#[case::leading_dash("-model", false)]
#[case::leading_dash_prefix("-kubestellar.io/model", false)]
#[case::prefixed_mixed_case("available.nvidia.models/EST_26-Apr.2024", true)]
#[case::domain_key("sub.do-main.test/0.9-5_Xy", true)]
fn binding_policy_keys(#[case] key: &str, #[case] ok: bool) {
    assert_eq!(is_bp_match_expression_key(key), ok);
}

#[test]
fn binding_policy_operators() {
    for op in ["In", "NotIn", "Exists", "DoesNotExist"] {
        assert!(is_bp_operator(op), "{op}");
    }
    for op in ["OutOf", "in", "Exist", ""] {
        assert!(!is_bp_operator(op), "{op}");
    }
}
