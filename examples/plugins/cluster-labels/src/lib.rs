//! An example transformer plugin: labels every object on its way to a WEC with the WEC's name
//! and, when the WEC has one, its `region` label.
//!
//! Configuration (JSON): `{"prefix": "example.kubestellar.io"}` (default `kubestellar.io`); the
//! labels set are `<prefix>/cluster` and `<prefix>/region`.
//!
//! Build: `cargo build -p cluster-labels --target wasm32-wasip2 --profile wasm-guest`
//! (or `./scripts/build-examples`).

use kubestellar_plugin_sdk::{
    ClusterContext, ConfigProblem, Plugin, PluginError, PluginInfo, PluginKind, Scope, Transformed,
    Transformer,
};
use serde_json::{Map, Value};

/// The plugin.
pub struct ClusterLabels;

const SCHEMA: &str =
    r#"{"type":"object","properties":{"prefix":{"type":"string"}},"additionalProperties":false}"#;

fn prefix(config: &str) -> Result<String, String> {
    if config.trim().is_empty() {
        return Ok("kubestellar.io".into());
    }
    let v: Value = serde_json::from_str(config).map_err(|e| format!("config is not JSON: {e}"))?;
    let o = v.as_object().ok_or("config must be a JSON object")?;
    if let Some(k) = o.keys().find(|k| *k != "prefix") {
        return Err(format!("unknown config field {k:?}"));
    }
    match o.get("prefix") {
        None => Ok("kubestellar.io".into()),
        Some(Value::String(p)) if !p.is_empty() && !p.contains('/') => Ok(p.clone()),
        Some(_) => Err("prefix must be a non-empty DNS subdomain without '/'".into()),
    }
}

impl Plugin for ClusterLabels {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "cluster-labels".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Transformer,
            scope: Scope::PerCluster,
            config_schema: Some(SCHEMA.into()),
        }
    }

    fn validate_config(config: &str) -> Vec<ConfigProblem> {
        match prefix(config) {
            Ok(_) => Vec::new(),
            Err(message) => vec![ConfigProblem {
                field: "prefix".into(),
                message,
            }],
        }
    }
}

impl Transformer for ClusterLabels {
    fn transform(
        object: &str,
        cluster: Option<&ClusterContext>,
        config: &str,
    ) -> Result<Transformed, PluginError> {
        let prefix = prefix(config).map_err(PluginError::from)?;
        let Some(cluster) = cluster else {
            return Ok(Transformed {
                object: object.to_string(),
                used_cluster: false,
            });
        };
        let mut obj: Value = serde_json::from_str(object)
            .map_err(|e| PluginError::from(format!("object is not JSON: {e}")))?;
        let meta = obj
            .as_object_mut()
            .ok_or_else(|| PluginError::from("object is not a JSON object"))?
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let labels = meta
            .as_object_mut()
            .ok_or_else(|| PluginError::from("metadata is not an object"))?
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        let labels = labels
            .as_object_mut()
            .ok_or_else(|| PluginError::from("labels is not an object"))?;
        labels.insert(
            format!("{prefix}/cluster"),
            Value::String(cluster.name.clone()),
        );
        if let Some(region) = cluster.label("region") {
            labels.insert(
                format!("{prefix}/region"),
                Value::String(region.to_string()),
            );
        }
        Ok(Transformed {
            object: obj.to_string(),
            used_cluster: true,
        })
    }
}

kubestellar_plugin_sdk::export_transformer!(ClusterLabels);

#[cfg(test)]
mod tests {
    use super::*;
    use kubestellar_plugin_sdk::Pair;

    #[test]
    fn labels_with_cluster_and_region() {
        let cluster = ClusterContext {
            name: "cluster1".into(),
            labels: vec![Pair {
                key: "region".into(),
                value: "east".into(),
            }],
            annotations: vec![],
            properties: vec![],
        };
        let out = ClusterLabels::transform(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
            Some(&cluster),
            r#"{"prefix":"ex.io"}"#,
        )
        .expect("transforms");
        let v: Value = serde_json::from_str(&out.object).expect("json");
        assert_eq!(v["metadata"]["labels"]["ex.io/cluster"], "cluster1");
        assert_eq!(v["metadata"]["labels"]["ex.io/region"], "east");
        assert!(out.used_cluster);
        assert_eq!(
            ClusterLabels::validate_config(r#"{"prefix":"a/b"}"#).len(),
            1
        );
        assert!(ClusterLabels::validate_config("{}").is_empty());
    }
}
