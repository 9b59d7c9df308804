//! An example transformer plugin: fills values of ConfigMaps on their way to a WEC from that
//! WEC's customization properties (or labels), so one ConfigMap in the WDS becomes a
//! per-cluster one in each WEC.
//!
//! Configuration (JSON): `{"values": {"endpoint": "clusterURL", "zone": "label:region"}}` sets
//! `data.endpoint` to the WEC's property `clusterURL` and `data.zone` to its label `region`.
//! Only ConfigMaps are changed; a WEC lacking a named property is an error (reported on the
//! Binding), unless `"optional": true`, which leaves that key out.
//!
//! Build: `kubestellar plugin build` in this directory (or
//! `cargo build -p cluster-config --target wasm32-wasip2 --release`).

use kubestellar_plugin_sdk::serde_json::{Map, Value};
use kubestellar_plugin_sdk::{
    ClusterContext, ConfigProblem, Plugin, PluginError, PluginInfo, PluginKind, Scope, Transformed,
    Transformer, json,
};

/// The plugin.
pub struct ClusterConfig;

const SCHEMA: &str = r#"{"type":"object","properties":{"values":{"type":"object","additionalProperties":{"type":"string"}},"optional":{"type":"boolean"}},"additionalProperties":false}"#;

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum From {
    Property(String),
    Label(String),
}

/// The parsed configuration.
#[derive(Debug, Default)]
struct Config {
    values: Vec<(String, From)>,
    optional: bool,
}

fn parse_config(config: &str) -> Result<Config, ConfigProblem> {
    let v = json::parse_object(config, "config").map_err(|e| ConfigProblem::new("", e.message))?;
    let mut out = Config::default();
    for (k, v) in &v {
        match (k.as_str(), v) {
            ("values", Value::Object(m)) => {
                for (key, source) in m {
                    let Value::String(s) = source else {
                        return Err(ConfigProblem::new(
                            format!("values.{key}"),
                            "must be a string",
                        ));
                    };
                    let from = match s.strip_prefix("label:") {
                        Some(l) => From::Label(l.to_owned()),
                        None => From::Property(s.strip_prefix("property:").unwrap_or(s).to_owned()),
                    };
                    out.values.push((key.clone(), from));
                }
            }
            ("values", _) => return Err(ConfigProblem::new("values", "must be an object")),
            ("optional", Value::Bool(b)) => out.optional = *b,
            ("optional", _) => return Err(ConfigProblem::new("optional", "must be a boolean")),
            (other, _) => {
                return Err(ConfigProblem::new(
                    other,
                    "unknown field; expected values or optional",
                ));
            }
        }
    }
    Ok(out)
}

impl Plugin for ClusterConfig {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "cluster-config".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Transformer,
            scope: Scope::PerCluster,
            config_schema: Some(SCHEMA.into()),
        }
    }

    fn validate_config(config: &str) -> Vec<ConfigProblem> {
        parse_config(config).err().into_iter().collect()
    }
}

impl Transformer for ClusterConfig {
    fn transform(
        object: &str,
        cluster: Option<&ClusterContext>,
        config: &str,
    ) -> Result<Transformed, PluginError> {
        let config = parse_config(config)
            .map_err(|p| PluginError::new(format!("invalid configuration: {p}")))?;
        let mut obj = json::parse_object(object, "object")?;
        let is_configmap = obj.get("kind").and_then(Value::as_str) == Some("ConfigMap")
            && obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
        let Some(cluster) = cluster.filter(|_| is_configmap && !config.values.is_empty()) else {
            return Ok(Transformed {
                object: object.to_owned(),
                used_cluster: false,
            });
        };
        let data = obj
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| PluginError::new("data is not an object"))?;
        for (key, from) in &config.values {
            let value = match from {
                From::Property(p) => cluster.property(p),
                From::Label(l) => cluster.label(l),
            };
            match value {
                Some(v) => {
                    data.insert(key.clone(), Value::String(v.to_owned()));
                }
                None if config.optional => {}
                None => {
                    let what = match from {
                        From::Property(p) => format!("property {p}"),
                        From::Label(l) => format!("label {l}"),
                    };
                    return Err(PluginError::new(format!(
                        "WEC {} has no {what} (needed for data.{key})",
                        cluster.name
                    )));
                }
            }
        }
        Ok(Transformed {
            object: json::to_text(&Value::Object(obj))?,
            used_cluster: true,
        })
    }
}

kubestellar_plugin_sdk::export_transformer!(ClusterConfig);

#[cfg(test)]
mod tests {
    use super::*;

    const CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app","namespace":"shop"},"data":{"static":"x"}}"#;

    fn east() -> ClusterContext {
        ClusterContext::named("cluster1")
            .with_label("region", "east")
            .with_property("clusterURL", "https://my.clusters/1001-abcd")
    }

    #[test]
    fn fills_values_from_properties_and_labels() {
        let config = r#"{"values":{"endpoint":"clusterURL","zone":"label:region"}}"#;
        assert!(ClusterConfig::validate_config(config).is_empty());
        let out = ClusterConfig::transform(CM, Some(&east()), config).map_err(|e| e.message);
        let Ok(out) = out else { panic!("{out:?}") };
        assert!(out.used_cluster);
        let v: Value =
            kubestellar_plugin_sdk::serde_json::from_str(&out.object).unwrap_or_default();
        assert_eq!(v["data"]["endpoint"], "https://my.clusters/1001-abcd");
        assert_eq!(v["data"]["zone"], "east");
        assert_eq!(v["data"]["static"], "x");
        assert_eq!(
            kubestellar_plugin_sdk::check::transformed_object(CM, &out.object),
            Ok(())
        );
    }

    #[test]
    fn missing_values_and_other_kinds() {
        let config = r#"{"values":{"db":"dbHost"}}"#;
        let err = ClusterConfig::transform(CM, Some(&east()), config)
            .err()
            .map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("WEC cluster1 has no property dbHost (needed for data.db)")
        );
        let optional = r#"{"values":{"db":"dbHost"},"optional":true}"#;
        assert!(ClusterConfig::transform(CM, Some(&east()), optional).is_ok());
        let deploy = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}"#;
        let out = ClusterConfig::transform(deploy, Some(&east()), config).map(|t| t.used_cluster);
        assert_eq!(out, Ok(false));
        assert_eq!(
            ClusterConfig::validate_config(r#"{"values":{"a":1}}"#).len(),
            1
        );
        assert_eq!(ClusterConfig::validate_config(r#"{"other":1}"#).len(), 1);
    }
}
