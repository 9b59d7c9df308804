//! The built-in `summarize-default` plugin through the real wasmtime runtime: upstream's
//! StatusCollector e2e cases (ginkgo 23-27), validation and error cases, as the status
//! controller will run them (`builtin:summarize-default`, host-side output checks included).

use std::sync::{Arc, OnceLock};

use kubestellar::plugins::{
    AggregationError, CellValue, ClusterContext, Limits, LoadedPlugin, PluginError, PluginKind,
    PluginRuntime, Report, RuntimeConfig, Scope, Summary, Timestamp,
};

/// The upstream e2e Deployment `nginx/nginx` (1 replica) as the WDS holds it.
const NGINX: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"nginx","namespace":"nginx","labels":{"app.kubernetes.io/name":"nginx"}},
 "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"nginx","image":"nginx"}]}}},"status":{}}"#;

/// What each WEC returns once the Deployment is available.
const AVAILABLE: &str = r#"{"availableReplicas":1,"readyReplicas":1,"replicas":1,"updatedReplicas":1,
 "observedGeneration":1,"conditions":[{"type":"Available","status":"True"}]}"#;

fn plugin_with(limits: Limits) -> Arc<LoadedPlugin> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: None,
        builtin_limits: limits,
    })
    .expect("runtime");
    runtime
        .builtin("builtin:summarize-default")
        .expect("built-in summarize-default loads")
}

/// One runtime for the tests that need no particular limits: compiling the component is the
/// slow part.
fn plugin() -> Arc<LoadedPlugin> {
    static PLUGIN: OnceLock<Arc<LoadedPlugin>> = OnceLock::new();
    PLUGIN
        .get_or_init(|| plugin_with(Limits::default()))
        .clone()
}

fn report(cluster: &str, status: Option<&str>, seconds: Option<i64>) -> Report {
    Report {
        cluster: ClusterContext::named(cluster),
        status: status.map(str::to_owned),
        last_update: seconds.map(|seconds| Timestamp {
            seconds,
            nanoseconds: 0,
        }),
    }
}

fn both_available() -> Vec<Report> {
    vec![
        report("cluster2", Some(AVAILABLE), Some(1_700_000_000)),
        report("cluster1", Some(AVAILABLE), Some(1_700_000_100)),
    ]
}

/// Validates first, as the status controller does, then summarizes.
fn run(plugin: &LoadedPlugin, config: &str, reports: &[Report]) -> Summary {
    plugin.validate_config(config).expect("valid config");
    plugin.summarize(NGINX, reports, config).expect("summary")
}

fn cells(summary: &Summary) -> Vec<Vec<CellValue>> {
    summary.rows.iter().map(|r| r.columns.clone()).collect()
}

fn string(s: &str) -> CellValue {
    CellValue::String(s.to_owned())
}

fn number(s: &str) -> CellValue {
    CellValue::Number(s.to_owned())
}

#[test]
fn describes_itself() {
    let plugin = plugin();
    let info = plugin.info();
    assert_eq!(info.name, "summarize-default");
    assert_eq!(info.kind, PluginKind::Summarizer);
    assert_eq!(info.scope, Scope::PerObject);
    assert!(
        info.config_schema
            .as_deref()
            .is_some_and(|s| s.contains("combinedFields"))
    );
}

#[test]
fn upstream_e2e_cases_23_to_27() {
    let plugin = plugin();

    // 23: the full status from each WEC.
    let s = run(
        &plugin,
        r#"{"select":[{"name":"wecName","def":"inventory.name"},{"name":"status","def":"returned.status"}],"limit":20}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["wecName", "status"]);
    let rows = cells(&s);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        [&rows[0][0], &rows[1][0]],
        [&string("cluster1"), &string("cluster2")]
    );
    for row in &rows {
        let CellValue::Object(json) = &row[1] else {
            panic!("status cell {:?}", row[1])
        };
        let status: serde_json::Value = serde_json::from_str(json).expect("JSON");
        assert_eq!(status["availableReplicas"], 1);
    }

    // 24: SUM of availableReplicas.
    let s = run(
        &plugin,
        r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"returned.status.availableReplicas"}],"limit":10}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["sum"]);
    assert_eq!(cells(&s), [[number("2")]]);

    // 25: the WECs where availableReplicas equals the desired replicas.
    let s = run(
        &plugin,
        r#"{"filter":"obj.spec.replicas == returned.status.availableReplicas",
            "select":[{"name":"wecName","def":"inventory.name"}],"limit":10}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["wecName"]);
    assert_eq!(cells(&s), [[string("cluster1")], [string("cluster2")]]);

    // 26: two collectors for one object are two calls.
    for (column, def) in [
        ("availableReplicas", "returned.status.availableReplicas"),
        ("replicas", "returned.status.replicas"),
    ] {
        let config = format!(
            r#"{{"select":[{{"name":"wecName","def":"inventory.name"}},{{"name":"{column}","def":"{def}"}}],"limit":10}}"#
        );
        let s = run(&plugin, &config, &both_available());
        assert_eq!(s.column_names, ["wecName", column]);
        assert_eq!(
            cells(&s),
            [
                [string("cluster1"), number("1")],
                [string("cluster2"), number("1")]
            ]
        );
    }

    // 27: aggregating over zero WECs.
    let s = run(
        &plugin,
        r#"{"filter":"false","combinedFields":[{"name":"count","type":"COUNT"},
            {"name":"max","type":"MAX","subject":"2"},{"name":"min","type":"MIN","subject":"2"},
            {"name":"sum","type":"SUM","subject":"2"},{"name":"avg","type":"AVG","subject":"2"}],"limit":10}"#,
        &both_available(),
    );
    assert_eq!(s.column_names, ["count", "max", "min", "sum", "avg"]);
    assert_eq!(
        cells(&s),
        [[
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
}

#[test]
fn invalid_configs_are_rejected_with_upstream_messages() {
    let plugin = plugin();
    let config = r#"{"select":[{"name":"a","def":"inventory.name"}],
        "combinedFields":[{"name":"n","type":"COUNT","subject":"1"}],"filter":"foo == 1","limit":1}"#;
    let Err(PluginError::InvalidConfig { problems, .. }) = plugin.validate_config(config) else {
        panic!("expected InvalidConfig");
    };
    let found: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "spec.select",
                "groupBy and combinedFields must be empty if select is not"
            ),
            (
                "spec.filter",
                "filter expression invalid: failed to check expression: undeclared reference to 'foo'"
            ),
            (
                "spec.combinedFields[0].subject",
                "combinedField expression (n) invalid: subject must be nil for COUNT type"
            ),
        ]
    );

    // Summarizing with it anyway is the plugin's own, reported error.
    match plugin.summarize(NGINX, &both_available(), config) {
        Err(PluginError::PluginReported { message, .. }) => {
            assert!(
                message.starts_with("invalid StatusCollector: spec.select: "),
                "{message}"
            )
        }
        other => panic!("expected PluginReported, got {other:?}"),
    }
}

#[test]
fn evaluation_errors_land_in_cells_and_row_errors() {
    let plugin = plugin();
    let reports = vec![
        report("cluster1", Some(AVAILABLE), None),
        report("cluster2", None, None),
    ];

    // In a projection, the error text is the cell.
    let s = run(
        &plugin,
        r#"{"select":[{"name":"wec","def":"inventory.name"},{"name":"avail","def":"returned.status.availableReplicas"}]}"#,
        &reports,
    );
    assert_eq!(s.rows[0].columns[1], number("1"));
    assert!(matches!(&s.rows[1].columns[1], CellValue::String(e) if !e.is_empty()));

    // In an aggregation, the WEC is left out and reported per column; a non-bool filter
    // result is reported in column "".
    let s = run(
        &plugin,
        r#"{"combinedFields":[{"name":"n","type":"COUNT"},{"name":"avail","type":"SUM","subject":"returned.status.availableReplicas"}]}"#,
        &reports,
    );
    assert_eq!(cells(&s), [[number("1"), number("1")]]);
    assert_eq!(s.row_errors.len(), 1);
    assert_eq!(
        (
            s.row_errors[0].cluster.as_str(),
            s.row_errors[0].column_name.as_str()
        ),
        ("cluster2", "avail")
    );

    let s = run(
        &plugin,
        r#"{"filter":"'yes'","select":[{"name":"w","def":"inventory.name"}]}"#,
        &reports,
    );
    assert!(s.rows.is_empty());
    assert!(
        s.row_errors.iter().all(|e| e.column_name.is_empty()
            && e.error == "filter expression must evaluate to a boolean")
    );

    // An unparsable workload object is the plugin's reported error, not a trap.
    let config = r#"{"select":[{"name":"r","def":"obj.spec.replicas"}]}"#;
    match plugin.summarize("{oops", &reports, config) {
        Err(PluginError::PluginReported { message, .. }) => {
            assert!(
                message.starts_with("invalid workload object: "),
                "{message}"
            )
        }
        other => panic!("expected PluginReported, got {other:?}"),
    }
}

#[test]
fn limit_and_null_filter_follow_our_decisions() {
    let plugin = plugin();
    let reports: Vec<Report> = ["c3", "c1", "c2"]
        .iter()
        .map(|c| report(c, Some(AVAILABLE), None))
        .collect();
    let s = run(
        &plugin,
        r#"{"select":[{"name":"w","def":"inventory.name"}],"limit":2}"#,
        &reports,
    );
    assert_eq!(cells(&s), [[string("c1")], [string("c2")]]);
    let s = run(
        &plugin,
        r#"{"filter":"null","select":[{"name":"w","def":"inventory.name"}],"limit":9}"#,
        &reports,
    );
    assert!(s.rows.is_empty() && s.row_errors.is_empty());
}

fn many_reports(n: usize) -> Vec<Report> {
    (0..n)
        .map(|i| {
            let status = format!(
                r#"{{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":{},
"conditions":[{{"type":"Available","status":"True","lastUpdateTime":"2024-05-01T10:00:00Z","lastTransitionTime":"2024-05-01T10:00:00Z",
"reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."}},{{"type":"Progressing","status":"True",
"lastUpdateTime":"2024-05-01T10:00:00Z","lastTransitionTime":"2024-05-01T09:59:00Z","reason":"NewReplicaSetAvailable",
"message":"ReplicaSet \"nginx-5d9c7b\" has successfully progressed."}}]}}"#,
                i % 3
            );
            report(&format!("cluster{i:04}"), Some(&status), Some(1_700_000_000 + i as i64))
        })
        .collect()
}

#[test]
fn sums_over_a_thousand_wecs() {
    let plugin = plugin();
    let reports = many_reports(1000);
    let config = r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"returned.status.availableReplicas"},
        {"name":"n","type":"COUNT"}],"limit":10}"#;
    let s = run(&plugin, config, &reports);
    // availableReplicas cycles 0, 1, 2: 333 ones and 333 twos.
    assert_eq!(cells(&s), [[number("999"), number("1000")]]);
}
