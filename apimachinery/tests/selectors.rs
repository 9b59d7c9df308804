//! Label and field selectors: the spec's acceptance checks 17 and 18, kube's parse errors, and
//! the BindingPolicy selector cases.

use std::collections::BTreeMap;

use kubestellar_apimachinery::selectors::{
    FieldSelector, LabelSelector, Operator, from_label_selector_json, parse_field_selector,
    parse_label_selector,
};
use rstest::rstest;
use serde_json::{Value, json};

/// cm1..cm5 labelled idx=1..5, plus two unlabelled ConfigMaps (acceptance check 17).
fn config_maps() -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<_> = (1..=5)
        .map(|i| {
            (
                format!("cm{i}"),
                BTreeMap::from([("idx".to_string(), i.to_string())]),
            )
        })
        .collect();
    out.push(("plain1".into(), BTreeMap::new()));
    out.push((
        "plain2".into(),
        BTreeMap::from([("other".to_string(), "x".to_string())]),
    ));
    out
}

fn select(selector: &str) -> Vec<String> {
    let sel = parse_label_selector(selector).expect("selector parses");
    config_maps()
        .into_iter()
        .filter(|(_, labels)| sel.matches(labels))
        .map(|(n, _)| n)
        .collect()
}

#[rstest]
#[case::in_set("idx in (1,2)", &["cm1", "cm2"])]
#[case::notin_and_exists("idx notin (1,2),idx", &["cm3", "cm4", "cm5"])]
#[case::not_equals_matches_unlabelled("idx!=3", &["cm1", "cm2", "cm4", "cm5", "plain1", "plain2"])]
#[case::does_not_exist("!idx", &["plain1", "plain2"])]
#[case::exists("idx", &["cm1", "cm2", "cm3", "cm4", "cm5"])]
#[case::equals("idx=4", &["cm4"])]
#[case::double_equals("idx==4", &["cm4"])]
#[case::greater_than("idx>3", &["cm4", "cm5"])]
#[case::less_than("idx<2", &["cm1"])]
#[case::notin_alone_matches_absent("idx notin (1,2,3,4)", &["cm5", "plain1", "plain2"])]
#[case::whitespace("  idx   in   ( 1 , 5 )  ", &["cm1", "cm5"])]
#[case::and_of_two("idx in (1,2,3), idx!=2", &["cm1", "cm3"])]
#[case::empty_selects_all("", &["cm1", "cm2", "cm3", "cm4", "cm5", "plain1", "plain2"])]
fn acceptance_check_17(#[case] selector: &str, #[case] expected: &[&str]) {
    assert_eq!(select(selector), expected);
}

#[rstest]
#[case::two_identifiers(
    "a b",
    "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
)]
#[case::unclosed_set(
    "x in (a",
    "unable to parse requirement: found '', expected: ',' or ')'"
)]
#[case::trailing_comma("x=a,", "found '', expected: identifier after ','")]
#[case::leading_comma(",x", "found ',', expected: !, identifier, or 'end of string'")]
#[case::two_values("x=a b", "found 'b', expected: ',' or 'end of string'")]
#[case::missing_paren("x in a", "unable to parse requirement: found 'a' expected: '('")]
#[case::bang_alone("!", "unable to parse requirement: found '', expected: identifier")]
#[case::gt_not_integer(
    "x>a",
    "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
)]
#[case::bad_value(
    "x=a$",
    "unable to parse requirement: values[0][x]: Invalid value: \"a$\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)]
#[case::bad_key_prefix(
    "Foo_/bar=1",
    "unable to parse requirement: <nil>: Invalid value: \"Foo_/bar\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)]
#[case::bad_key_name(
    "-x",
    "unable to parse requirement: <nil>: Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)]
fn label_selector_parse_errors(#[case] selector: &str, #[case] message: &str) {
    let err = parse_label_selector(selector).expect_err("selector must not parse");
    assert_eq!(err.to_string(), message);
}

#[rstest]
#[case::sorted_by_key("x in (b,a), y, !z, w notin (c)", "w notin (c),x in (a,b),y,!z")]
#[case::operators_kept("b==1,a=2,c!=3,d>4,e<5", "a=2,b==1,c!=3,d>4,e<5")]
#[case::empty_values("x in (,a),y=", "x in (,a),y=")]
#[case::keyword_as_value("x in (in,notin)", "x in (in,notin)")]
#[case::prefixed_key("example.com/tier notin (fe)", "example.com/tier notin (fe)")]
fn label_selector_canonical_string(#[case] selector: &str, #[case] canonical: &str) {
    let sel = parse_label_selector(selector).expect("selector parses");
    assert_eq!(sel.to_string(), canonical);
    assert_eq!(
        parse_label_selector(canonical).expect("canonical parses"),
        sel
    );
}

#[test]
fn label_selector_matches_objects_pairs_and_exact_matches() {
    let sel = parse_label_selector("app=web,tier!=db").expect("parses");
    let obj = json!({"metadata": {"labels": {"app": "web"}}});
    assert!(sel.matches_object(&obj));
    assert!(!sel.matches_object(&json!({"metadata": {}})));
    assert!(sel.matches_pairs([("app", "web"), ("tier", "fe")]));
    assert!(!sel.matches_pairs([("app", "web"), ("tier", "db")]));
    assert_eq!(sel.requires_exact_match("app"), Some("web"));
    assert_eq!(sel.requires_exact_match("tier"), None);
    assert_eq!(sel.requirements()[1].operator(), Operator::NotEquals);
}

#[rstest]
#[case::null_matches_nothing(Value::Null, &[])]
#[case::empty_matches_everything(json!({}), &["c1", "c2", "c3"])]
#[case::match_labels(json!({"matchLabels": {"location-group": "edge", "name": "cluster1"}}), &["c1"])]
#[case::match_expression_in(json!({"matchExpressions": [{"key": "name", "operator": "In", "values": ["cluster1", "cluster2", "cluster3"]}]}), &["c1", "c2"])]
#[case::match_expression_not_in(json!({"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["east"]}]}), &["c2", "c3"])]
#[case::exists(json!({"matchExpressions": [{"key": "region", "operator": "Exists"}]}), &["c1", "c2"])]
#[case::does_not_exist(json!({"matchExpressions": [{"key": "region", "operator": "DoesNotExist"}]}), &["c3"])]
#[case::labels_and_expressions(json!({"matchLabels": {"location-group": "edge"}, "matchExpressions": [{"key": "region", "operator": "In", "values": ["west"]}]}), &["c2"])]
fn metav1_label_selectors(#[case] selector: Value, #[case] expected: &[&str]) {
    // The upstream e2e inventory: cluster1 and cluster2 at the edge, plus an unlabelled one.
    let clusters = [
        (
            "c1",
            json!({"location-group": "edge", "name": "cluster1", "region": "east"}),
        ),
        (
            "c2",
            json!({"location-group": "edge", "name": "cluster2", "region": "west"}),
        ),
        ("c3", json!({})),
    ];
    let sel = from_label_selector_json(&selector).expect("selector converts");
    let got: Vec<&str> = clusters
        .iter()
        .filter(|(_, labels)| labels.as_object().is_some_and(|m| sel.matches(m)))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn binding_policy_cluster_selectors_are_ored() {
    // Upstream e2e case 12: [{matchLabels name=cluster1}, {matchExpressions name In [...]}].
    let selectors = json!([
        {"matchLabels": {"name": "cluster1"}},
        {"matchExpressions": [{"key": "name", "operator": "In", "values": ["cluster1", "cluster2", "cluster3"]}]}
    ]);
    let parsed: Vec<LabelSelector> = selectors
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| from_label_selector_json(s).expect("valid selector"))
        .collect();
    let selected = |labels: &[(&str, &str)]| parsed.iter().any(|s| s.matches(labels));
    assert!(selected(&[("name", "cluster1")]));
    assert!(selected(&[("name", "cluster2")]));
    assert!(!selected(&[("name", "cluster4")]));
    assert!(!selected(&[]));
}

#[rstest]
#[case::bad_operator(
    json!({"matchExpressions": [{"key": "gpu", "operator": "OutOf", "values": ["a"]}]}),
    "\"OutOf\" is not a valid label selector operator"
)]
#[case::in_without_values(
    json!({"matchExpressions": [{"key": "gpu", "operator": "In", "values": []}]}),
    "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
)]
#[case::exists_with_values(
    json!({"matchExpressions": [{"key": "gpu", "operator": "Exists", "values": ["x"]}]}),
    "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
)]
#[case::bad_value_with_comma(
    json!({"matchLabels": {"location": "edgeplatform-test-wec1, edgeplatform-test-wec2"}}),
    "values[0][location]: Invalid value: \"edgeplatform-test-wec1, edgeplatform-test-wec2\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)]
#[case::several_errors_aggregated(
    json!({"matchExpressions": [{"key": "-model", "operator": "In", "values": []}]}),
    "[key: Invalid value: \"-model\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty]"
)]
#[case::not_an_object(json!("app=web"), "a label selector must be an object, not a string")]
fn metav1_label_selector_errors(#[case] selector: Value, #[case] message: &str) {
    let err = from_label_selector_json(&selector).expect_err("selector is invalid");
    assert_eq!(err.to_string(), message);
}

fn name_getter(name: &'static str) -> impl Fn(&str) -> Option<String> {
    move |field: &str| match field {
        "metadata.name" => Some(name.to_string()),
        "metadata.namespace" => Some("default".to_string()),
        _ => None,
    }
}

#[test]
fn acceptance_check_18() {
    let names = ["cm1", "cm2", "cm3"];
    let run = |selector: &str| -> Vec<&str> {
        let sel = parse_field_selector(selector).expect("selector parses");
        names
            .iter()
            .copied()
            .filter(|n| sel.matches(&name_getter(n)))
            .collect()
    };
    assert_eq!(run("metadata.name=cm1"), ["cm1"]);
    assert_eq!(run("metadata.name==cm1"), ["cm1"]);
    assert_eq!(run("metadata.name!=cm1"), ["cm2", "cm3"]);
    assert_eq!(
        run("metadata.namespace=default,metadata.name!=cm2"),
        ["cm1", "cm3"]
    );
    // The server rejects fields it does not support, by name.
    let unsupported = parse_field_selector("spec.foo=bar").expect("parses");
    assert_eq!(unsupported.fields().collect::<Vec<_>>(), ["spec.foo"]);
    assert_eq!(unsupported.requires_exact_match("spec.foo"), Some("bar"));
}

#[rstest]
#[case::sorted(
    "metadata.name=b,metadata.namespace=a",
    "metadata.name=b,metadata.namespace=a"
)]
#[case::sorts_terms("b=2,a=1", "a=1,b=2")]
#[case::double_equals_prints_single("a==1", "a=1")]
#[case::not_equals("a!=1", "a!=1")]
#[case::escapes_round_trip(r"a=x\,y\=z\\w", r"a=x\,y\=z\\w")]
#[case::empty_terms_skipped(",a=1,,", "a=1")]
#[case::empty_value("a=", "a=")]
fn field_selector_canonical_string(#[case] selector: &str, #[case] canonical: &str) {
    let sel: FieldSelector = selector.parse().expect("parses");
    assert_eq!(sel.to_string(), canonical);
}

#[test]
fn field_selector_unescapes_values() {
    let sel = parse_field_selector(r"metadata.name=a\,b").expect("parses");
    assert_eq!(sel.requirements()[0].value, "a,b");
    assert!(sel.matches(&|_: &str| Some("a,b".to_string())));
    assert!(parse_field_selector("").expect("empty parses").is_empty());
}

#[rstest]
#[case::no_operator(
    "metadata.name",
    "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
)]
#[case::unescaped_equals("a=b=c", "invalid field selector: unescaped character in value: 61")]
#[case::unescaped_comma_needs_escape(
    r"a=b\x",
    r"invalid field selector: invalid escape sequence: \x"
)]
#[case::trailing_backslash(r"a=b\", r"invalid field selector: invalid escape sequence: \")]
fn field_selector_errors(#[case] selector: &str, #[case] message: &str) {
    assert_eq!(
        parse_field_selector(selector)
            .expect_err("invalid")
            .to_string(),
        message
    );
}
