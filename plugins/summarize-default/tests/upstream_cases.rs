//! Upstream's StatusCollector e2e cases (ginkgo 23-27) and error cases, through the plugin's
//! exported functions and the SDK's host-side output checks: config JSON in, summary out.

use kubestellar_plugin_sdk::{
    AggregationError, CellValue as Cell, ClusterContext, Plugin, PluginKind, Report, RowError,
    Scope, Summarizer, Summary, Timestamp, testing,
};
use summarize_default::SummarizeDefault;

/// The upstream e2e Deployment `nginx/nginx` (1 replica) as the WDS holds it.
const NGINX: &str = r#"{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "nginx", "namespace": "nginx", "labels": {"app.kubernetes.io/name": "nginx"}},
  "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
  "status": {}
}"#;

/// What each WEC returns once the Deployment is available.
const AVAILABLE: &str = r#"{"availableReplicas": 1, "readyReplicas": 1, "replicas": 1, "updatedReplicas": 1,
  "observedGeneration": 1, "conditions": [{"type": "Available", "status": "True"}]}"#;

fn report(cluster: &str, status: Option<&str>, last_update: Option<i64>) -> Report {
    Report {
        cluster: ClusterContext::named(cluster),
        status: status.map(str::to_owned),
        last_update: last_update.map(|seconds| Timestamp {
            seconds,
            nanoseconds: 0,
        }),
    }
}

/// Validates the config as the host does first, then summarizes with the host's checks.
fn run(config: &str, reports: &[Report]) -> Summary {
    assert_eq!(
        SummarizeDefault::validate_config(config),
        [],
        "config {config}"
    );
    testing::summarize::<SummarizeDefault>(NGINX, reports, config).expect("summary")
}

fn cells(summary: &Summary) -> Vec<Vec<Cell>> {
    summary.rows.iter().map(|r| r.columns.clone()).collect()
}

fn both_available() -> [Report; 2] {
    // Deliberately not in name order: output rows are ordered by WEC name.
    [
        report("cluster2", Some(AVAILABLE), Some(1_700_000_000)),
        report("cluster1", Some(AVAILABLE), Some(1_700_000_100)),
    ]
}

fn string(s: &str) -> Cell {
    Cell::String(s.to_owned())
}

fn number(s: &str) -> Cell {
    Cell::Number(s.to_owned())
}

#[test]
fn describes_itself_as_a_per_object_summarizer_with_a_schema() {
    let info = SummarizeDefault::describe();
    assert_eq!(info.name, "summarize-default");
    assert_eq!(info.kind, PluginKind::Summarizer);
    assert_eq!(info.scope, Scope::PerObject);
    let schema: serde_json::Value =
        serde_json::from_str(info.config_schema.as_deref().expect("schema")).expect("JSON");
    assert!(schema["properties"]["combinedFields"].is_object());
}

#[test]
fn case_23_lists_the_full_status_from_each_wec() {
    let s = run(
        r#"{"select":[{"name":"wecName","def":"inventory.name"},{"name":"status","def":"returned.status"}],"limit":20}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["wecName", "status"]);
    let rows = cells(&s);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], string("cluster1"));
    assert_eq!(rows[1][0], string("cluster2"));
    for row in &rows {
        let Cell::Object(json) = &row[1] else {
            panic!("status column is {:?}", row[1])
        };
        let status: serde_json::Value = serde_json::from_str(json).expect("object is JSON");
        assert_eq!(
            status,
            serde_json::from_str::<serde_json::Value>(AVAILABLE).expect("json")
        );
    }
    assert!(s.row_errors.is_empty() && s.aggregation_errors.is_empty());
}

#[test]
fn case_24_sums_available_replicas_across_wecs() {
    let s = run(
        r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"returned.status.availableReplicas"}],"limit":10}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["sum"]);
    assert_eq!(cells(&s), vec![vec![number("2")]]);
    assert!(s.row_errors.is_empty() && s.aggregation_errors.is_empty());
}

#[test]
fn case_25_lists_wecs_where_available_equals_desired() {
    let config = r#"{"filter":"obj.spec.replicas == returned.status.availableReplicas",
        "select":[{"name":"wecName","def":"inventory.name"}],"limit":10}"#;
    let s = run(config, &both_available());
    assert_eq!(s.column_names, ["wecName"]);
    assert_eq!(
        cells(&s),
        vec![vec![string("cluster1")], vec![string("cluster2")]]
    );

    // A WEC still scaling up is filtered out.
    let scaling = r#"{"availableReplicas": 0, "replicas": 1}"#;
    let reports = [
        report("cluster1", Some(AVAILABLE), None),
        report("cluster2", Some(scaling), None),
    ];
    assert_eq!(
        cells(&run(config, &reports)),
        vec![vec![string("cluster1")]]
    );
}

#[test]
fn case_26_supports_multiple_status_collectors() {
    let available = run(
        r#"{"select":[{"name":"wecName","def":"inventory.name"},{"name":"availableReplicas","def":"returned.status.availableReplicas"}],"limit":10}"#,
        &both_available(),
    );
    let replicas = run(
        r#"{"select":[{"name":"wecName","def":"inventory.name"},{"name":"replicas","def":"returned.status.replicas"}],"limit":10}"#,
        &both_available(),
    );
    for s in [&available, &replicas] {
        assert_eq!(s.column_names.len(), 2);
        assert_eq!(
            cells(s),
            vec![
                vec![string("cluster1"), number("1")],
                vec![string("cluster2"), number("1")]
            ]
        );
    }
    assert_eq!(available.column_names[1], "availableReplicas");
    assert_eq!(replicas.column_names[1], "replicas");
}

#[test]
fn case_27_aggregates_over_zero_wecs() {
    let s = run(
        r#"{"filter":"false","combinedFields":[{"name":"count","type":"COUNT"},
          {"name":"max","type":"MAX","subject":"2"},{"name":"min","type":"MIN","subject":"2"},
          {"name":"sum","type":"SUM","subject":"2"},{"name":"avg","type":"AVG","subject":"2"}],"limit":10}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["count", "max", "min", "sum", "avg"]);
    assert_eq!(
        cells(&s),
        vec![vec![
            number("0"),
            number("-Inf"),
            number("+Inf"),
            number("0"),
            number("NaN")
        ]]
    );
    assert_eq!(
        s.aggregation_errors,
        [AggregationError {
            column_name: "avg".into(),
            error: "no values to average".into()
        }]
    );
    // The same with no destinations at all.
    let empty = run(
        r#"{"combinedFields":[{"name":"count","type":"COUNT"},{"name":"avg","type":"AVG","subject":"2"}]}"#,
        &[],
    );
    assert_eq!(cells(&empty), vec![vec![number("0"), number("NaN")]]);
}

#[test]
fn invalid_configs_are_reported_by_validate_and_refused_by_summarize() {
    let config = r#"{"select":[{"name":"a","def":"inventory.name"}],"groupBy":[{"name":"g","def":"nope"}],"limit":1}"#;
    let problems = SummarizeDefault::validate_config(config);
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "groupBy and combinedFields must be empty if select is not",
            "groupBy must be empty if combinedFields is",
            "groupBy expression (g) invalid: failed to check expression: undeclared reference to 'nope'",
        ]
    );
    assert_eq!(problems[2].field, "spec.groupBy[0].def");
    let err = testing::summarize::<SummarizeDefault>(NGINX, &both_available(), config)
        .expect_err("invalid config");
    let message = &err.plugin_error().expect("plugin-reported error").message;
    assert!(
        message.starts_with("invalid StatusCollector: spec.select: groupBy and"),
        "{message}"
    );
}

#[test]
fn wecs_without_status_yet_still_get_a_row() {
    let reports = [
        report("cluster1", Some(AVAILABLE), Some(1_700_000_000)),
        report("cluster2", None, None),
    ];
    let s = run(
        r#"{"select":[{"name":"wec","def":"inventory.name"},{"name":"status","def":"returned.status"},
            {"name":"avail","def":"returned.status.availableReplicas"}],"limit":10}"#,
        &reports,
    );
    let rows = cells(&s);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][0], string("cluster2"));
    assert_eq!(rows[1][1], Cell::Null);
    // An evaluation error in a projection is shown in its cell.
    let Cell::String(error) = &rows[1][2] else {
        panic!("{:?}", rows[1][2])
    };
    assert!(!error.is_empty());
    assert!(s.row_errors.is_empty());
}

#[test]
fn aggregation_excludes_wecs_with_errors_and_reports_them_per_column() {
    let reports = [
        report("cluster1", Some(AVAILABLE), None),
        report("cluster2", None, None),
        report("cluster3", Some(r#"{"replicas": 1}"#), None),
    ];
    let s = run(
        r#"{"combinedFields":[{"name":"n","type":"COUNT"},
            {"name":"avail","type":"SUM","subject":"returned.status.availableReplicas"},
            {"name":"desired","type":"SUM","subject":"obj.spec.replicas"}]}"#,
        &reports,
    );
    assert_eq!(cells(&s), vec![vec![number("1"), number("1"), number("1")]]);
    let errors: Vec<(&str, &str)> = s
        .row_errors
        .iter()
        .map(|e| (e.cluster.as_str(), e.column_name.as_str()))
        .collect();
    assert_eq!(errors, [("cluster2", "avail"), ("cluster3", "avail")]);
    assert_eq!(s.row_errors[1].error, "No such key: availableReplicas");
}

#[test]
fn group_by_puts_group_columns_first() {
    let reports = [
        report("c1", Some(r#"{"readyReplicas": 2}"#), None),
        report("c2", Some(r#"{"readyReplicas": 1}"#), None),
        report("c3", Some(r#"{"readyReplicas": 2}"#), None),
    ];
    let s = run(
        r#"{"groupBy":[{"name":"ready","def":"returned.status.readyReplicas"}],
            "combinedFields":[{"name":"wecs","type":"COUNT"},{"name":"avg","type":"AVG","subject":"returned.status.readyReplicas"}]}"#,
        &reports,
    );
    assert_eq!(s.column_names, ["ready", "wecs", "avg"]);
    assert_eq!(
        cells(&s),
        vec![
            vec![number("2"), number("2"), number("2")],
            vec![number("1"), number("1"), number("1")]
        ]
    );
}

#[test]
fn filter_null_excludes_and_non_bool_is_a_row_error() {
    let reports = both_available();
    let s = run(
        r#"{"filter":"null","select":[{"name":"w","def":"inventory.name"}]}"#,
        &reports,
    );
    assert!(s.rows.is_empty() && s.row_errors.is_empty());

    let s = run(
        r#"{"filter":"inventory.name","select":[{"name":"w","def":"inventory.name"}]}"#,
        &reports,
    );
    assert!(s.rows.is_empty());
    assert_eq!(
        s.row_errors,
        ["cluster1", "cluster2"].map(|c| RowError {
            cluster: c.into(),
            column_name: String::new(),
            error: "filter expression must evaluate to a boolean".into(),
        })
    );

    // A filter that fails to evaluate is reported in column "" too.
    let s = run(
        r#"{"filter":"returned.status.nothing > 0","combinedFields":[{"name":"n","type":"COUNT"}]}"#,
        &reports,
    );
    assert_eq!(cells(&s), vec![vec![number("0")]]);
    assert_eq!(s.row_errors.len(), 2);
    assert!(
        s.row_errors
            .iter()
            .all(|e| e.column_name.is_empty() && e.error == "No such key: nothing")
    );
}

#[test]
fn limit_bounds_the_rows() {
    let reports: Vec<Report> = ["c5", "c3", "c1", "c4", "c2"]
        .iter()
        .map(|c| report(c, Some(AVAILABLE), None))
        .collect();
    let s = run(
        r#"{"select":[{"name":"w","def":"inventory.name"}],"limit":3}"#,
        &reports,
    );
    assert_eq!(
        cells(&s),
        vec![vec![string("c1")], vec![string("c2")], vec![string("c3")]]
    );
    let s = run(
        r#"{"select":[{"name":"w","def":"inventory.name"}],"limit":0}"#,
        &reports,
    );
    assert!(s.rows.is_empty());
    let s = run(
        r#"{"groupBy":[{"name":"w","def":"inventory.name"}],"combinedFields":[{"name":"n","type":"COUNT"}],"limit":2}"#,
        &reports,
    );
    assert_eq!(
        cells(&s),
        vec![
            vec![string("c1"), number("1")],
            vec![string("c2"), number("1")]
        ]
    );
}

#[test]
fn value_types_map_like_upstream() {
    let s = run(
        r#"{"select":[
            {"name":"str","def":"obj.metadata.name"},
            {"name":"int","def":"obj.spec.replicas"},
            {"name":"uint","def":"3u"},
            {"name":"double","def":"double(obj.spec.replicas) / 4.0"},
            {"name":"big","def":"1234567.0"},
            {"name":"bool","def":"obj.spec.replicas == 1"},
            {"name":"null","def":"null"},
            {"name":"map","def":"obj.metadata.labels"},
            {"name":"ts","def":"propagation.lastReturnedUpdateTimestamp"},
            {"name":"dur","def":"duration('1h')"}],"limit":5}"#,
        &both_available()[1..],
    );
    assert_eq!(
        cells(&s),
        vec![vec![
            string("nginx"),
            number("1"),
            number("3"),
            number("0.25"),
            number("1.234567e+06"),
            Cell::Bool(true),
            Cell::Null,
            Cell::Object(r#"{"app.kubernetes.io/name":"nginx"}"#.into()),
            string("2023-11-14T22:15:00Z"),
            string("3600s"),
        ]]
    );
}

#[test]
fn lists_are_object_cells_as_upstream_renders_them() {
    // Called without the SDK's output check, which (like the WIT comment) wants Object cells
    // to hold JSON objects only; upstream puts CEL lists in Object cells too.
    let config =
        r#"{"select":[{"name":"conditions","def":"returned.status.conditions.map(c, c.type)"}]}"#;
    let s = SummarizeDefault::summarize(NGINX, &both_available()[..1], config).expect("summary");
    assert_eq!(
        cells(&s),
        vec![vec![Cell::Object(r#"["Available"]"#.into())]]
    );
}

#[test]
fn missing_last_update_is_go_zero_time() {
    let s = run(
        r#"{"select":[{"name":"ts","def":"propagation.lastReturnedUpdateTimestamp"},
            {"name":"never","def":"propagation.lastReturnedUpdateTimestamp == timestamp('0001-01-01T00:00:00Z')"}]}"#,
        &[report("c1", None, None)],
    );
    assert_eq!(
        cells(&s),
        vec![vec![string("0001-01-01T00:00:00Z"), Cell::Bool(true)]]
    );
}

#[test]
fn numeric_strings_are_aggregated() {
    let reports = [
        report("c1", Some(r#"{"cpu": "1.5"}"#), None),
        report("c2", Some(r#"{"cpu": "2"}"#), None),
        report("c3", Some(r#"{"cpu": "lots"}"#), None),
    ];
    let s = run(
        r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"returned.status.cpu"},
            {"name":"max","type":"MAX","subject":"returned.status.cpu"}]}"#,
        &reports,
    );
    assert_eq!(cells(&s), vec![vec![number("3.5"), number("2")]]);
    assert_eq!(s.aggregation_errors.len(), 2);
    assert_eq!(
        s.aggregation_errors[0].error,
        "for WEC c3, failed to parse combinedField subject as a float: \"lots\""
    );
}

#[test]
fn bad_input_json_is_reported_not_panicked_on() {
    let config = r#"{"select":[{"name":"r","def":"obj.spec.replicas"}]}"#;
    let err = SummarizeDefault::summarize("{not json", &both_available(), config)
        .expect_err("bad object");
    assert!(
        err.message.starts_with("invalid workload object: "),
        "{}",
        err.message
    );

    // An object no expression reads is not even parsed.
    let config = r#"{"select":[{"name":"w","def":"inventory.name"}]}"#;
    let s = SummarizeDefault::summarize("{not json", &both_available(), config).expect("summary");
    assert_eq!(s.rows.len(), 2);

    let reports = [
        report("c1", Some("[1,"), None),
        report("c2", Some(AVAILABLE), None),
    ];
    let s = run(
        r#"{"select":[{"name":"s","def":"returned.status"}]}"#,
        &reports,
    );
    assert_eq!(s.rows.len(), 1);
    assert_eq!(s.row_errors.len(), 1);
    assert_eq!(s.row_errors[0].cluster, "c1");
    assert!(
        s.row_errors[0]
            .error
            .starts_with("invalid returned status: ")
    );
}
