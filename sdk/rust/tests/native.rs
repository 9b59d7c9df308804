//! The SDK used natively, the way a plugin's unit tests use it.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

use kubestellar_plugin_sdk::testing::{self, CallError};
use kubestellar_plugin_sdk::*;

const OBJ: &str =
    r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns"}}"#;

struct Renamer;

impl Plugin for Renamer {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "renamer".into(),
            version: "0".into(),
            kind: PluginKind::Transformer,
            scope: Scope::PerCluster,
            config_schema: None,
        }
    }

    fn validate_config(config: &str) -> Vec<ConfigProblem> {
        if config.contains("bad") {
            vec![ConfigProblem::new("x", "bad")]
        } else {
            Vec::new()
        }
    }
}

impl Transformer for Renamer {
    fn transform(
        object: &str,
        cluster: Option<&ClusterContext>,
        config: &str,
    ) -> Result<Transformed, PluginError> {
        let mut obj = json::parse_object(object, "object")?;
        log(Level::Debug, "renaming");
        if config == "rename" {
            obj["metadata"]["name"] = "other".into();
        }
        if let Some(c) = cluster {
            obj["metadata"]["labels"] =
                serde_json::json!({ "c": c.name, "r": c.label("region"), "t": c.property("tier") });
        }
        Ok(Transformed {
            object: json::to_text(&obj)?,
            used_cluster: cluster.is_some(),
        })
    }
}

export_transformer!(Renamer);

struct Counter;

impl Plugin for Counter {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "counter".into(),
            version: "0".into(),
            kind: PluginKind::Summarizer,
            scope: Scope::PerObject,
            config_schema: None,
        }
    }
}

impl Summarizer for Counter {
    fn summarize(_object: &str, reports: &[Report], config: &str) -> Result<Summary, PluginError> {
        let columns = if config == "ragged" {
            vec![]
        } else {
            vec![CellValue::Number(reports.len().to_string())]
        };
        Ok(Summary {
            column_names: vec!["count".into()],
            rows: vec![Row { columns }],
            ..Default::default()
        })
    }
}

export_summarizer!(Counter);

#[test]
fn transform_runs_natively_with_cluster_context_and_logs() {
    let c = ClusterContext::named("wec1")
        .with_label("region", "eu")
        .with_property("tier", "gold");
    let out = testing::transform::<Renamer>(OBJ, Some(&c), "").unwrap();
    assert!(out.used_cluster);
    let v: serde_json::Value = serde_json::from_str(&out.object).unwrap();
    assert_eq!(
        v["metadata"]["labels"],
        serde_json::json!({"c": "wec1", "r": "eu", "t": "gold"})
    );
    assert_eq!(
        testing::take_logs(),
        vec![(Level::Debug, "renaming".to_owned())]
    );
    assert!(testing::take_logs().is_empty());
}

#[test]
fn host_checks_apply_natively() {
    let err = testing::transform::<Renamer>(OBJ, None, "rename").unwrap_err();
    assert_eq!(
        err,
        CallError::InvalidOutput(r#"metadata.name changed from "a" to "other""#.into())
    );
    let err = testing::transform::<Renamer>("[]", None, "").unwrap_err();
    assert_eq!(
        err.plugin_error().unwrap().message,
        "object is not a JSON object but an array"
    );
    assert_eq!(
        testing::validate_config::<Renamer>("bad"),
        vec![ConfigProblem::new("x", "bad")]
    );
}

#[test]
fn summarize_runs_natively_and_shape_is_checked() {
    let reports = vec![Report::default(), Report::default()];
    let s = testing::summarize::<Counter>("{}", &reports, "{}").unwrap();
    assert_eq!(s.rows[0].columns, vec![CellValue::Number("2".into())]);
    let err = testing::summarize::<Counter>("{}", &reports, "ragged").unwrap_err();
    assert!(matches!(err, CallError::InvalidOutput(_)), "{err}");
}

#[test]
fn wrong_kind_is_reported() {
    struct Confused;
    impl Plugin for Confused {
        fn describe() -> PluginInfo {
            PluginInfo {
                kind: PluginKind::Summarizer,
                ..Renamer::describe()
            }
        }
    }
    impl Transformer for Confused {
        fn transform(
            o: &str,
            _: Option<&ClusterContext>,
            _: &str,
        ) -> Result<Transformed, PluginError> {
            Ok(Transformed {
                object: o.into(),
                used_cluster: false,
            })
        }
    }
    let err = testing::transform::<Confused>(OBJ, None, "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "describe() says summarizer, but the plugin is used as a transformer"
    );
}

#[test]
fn cell_values_from_json() {
    use serde_json::json;
    assert_eq!(CellValue::from_json(&json!(null)), CellValue::Null);
    assert_eq!(
        CellValue::from_json(&json!(2)),
        CellValue::Number("2".into())
    );
    assert_eq!(
        CellValue::from_json(&json!(0.5)),
        CellValue::Number("0.5".into())
    );
    assert_eq!(
        CellValue::from_json(&json!("x")),
        CellValue::String("x".into())
    );
    assert_eq!(
        CellValue::from_json(&json!({"a":1})),
        CellValue::Object(r#"{"a":1}"#.into())
    );
    assert_eq!(
        CellValue::from_json(&json!([1])),
        CellValue::Array("[1]".into())
    );
    assert_eq!(PluginError::from("x").to_string(), "x");
    let e: PluginError = serde_json::from_str::<serde_json::Value>("{")
        .unwrap_err()
        .into();
    assert!(e.message.starts_with("invalid JSON: "));
}
