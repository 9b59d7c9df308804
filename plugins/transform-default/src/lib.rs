//! `transform-default`: KubeStellar's built-in transformation of workload objects on their way
//! from the WDS to a WEC, as a WebAssembly component (world `transformer`).
//!
//! In order, as upstream's transport controller does it:
//! 1. WEC-independent removals: server-populated metadata, the last-applied annotation and the
//!    status ([`strip`]); kind-specific fields of Services, Jobs and PersistentVolumes
//!    ([`kinds`]); the CustomTransform `remove` queries given as configuration ([`config`],
//!    [`jsonpath`]).
//! 2. WEC-dependent template expansion, for objects annotated
//!    `control.kubestellar.io/expand-templates: "true"` ([`templates`], [`gotmpl`]).
//!
//! The object's apiVersion, kind, name and namespace are kept whatever the configuration says,
//! as the plugin contract requires.

pub mod config;
mod fast;
pub mod gostr;
pub mod gotmpl;
pub mod jsonpath;
pub mod kinds;
pub mod strip;
pub mod templates;

use kubestellar_plugin_sdk::{
    ClusterContext, ConfigProblem, Plugin, PluginError, PluginInfo, PluginKind, Scope, Transformed,
    Transformer, json,
};
use serde_json::{Map, Value};

/// The plugin.
pub struct TransformDefault;

impl Plugin for TransformDefault {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "transform-default".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: PluginKind::Transformer,
            scope: Scope::PerCluster,
            config_schema: Some(config::SCHEMA.to_owned()),
        }
    }

    fn validate_config(config: &str) -> Vec<ConfigProblem> {
        config::validate(config)
    }
}

impl Transformer for TransformDefault {
    fn transform(
        object: &str,
        cluster: Option<&ClusterContext>,
        config: &str,
    ) -> Result<Transformed, PluginError> {
        transform(object, cluster, config)
    }
}

kubestellar_plugin_sdk::export_transformer!(TransformDefault);

/// Transforms one object (JSON text) for `cluster`. `used_cluster` is false when no template
/// was expanded, so the host may reuse the output for every destination.
pub fn transform(
    object: &str,
    cluster: Option<&ClusterContext>,
    config: &str,
) -> Result<Transformed, PluginError> {
    let config = config::compiled(config)?;
    if config.removes.is_empty()
        && let Some(out) = fast::try_transform(object, cluster.is_some())
    {
        return Ok(Transformed {
            object: out,
            used_cluster: false,
        });
    }
    full(object, cluster, &config)
}

/// The general path: decode the whole object, apply every step, encode it.
fn full(
    object: &str,
    cluster: Option<&ClusterContext>,
    config: &config::Config,
) -> Result<Transformed, PluginError> {
    let mut obj = json::parse_object(object, "object")?;
    let identity = Identity::of(&obj);

    strip::strip_common(&mut obj);
    kinds::strip_kind_specific(&mut obj);
    if !config.removes.is_empty() {
        // Removal never replaces the root, so the object stays an object.
        let mut root = Value::Object(std::mem::take(&mut obj));
        for query in &config.removes {
            jsonpath::remove(&mut root, query);
        }
        if let Value::Object(map) = root {
            obj = map;
        }
    }

    let mut used_cluster = false;
    if let Some(cluster) = cluster
        && strip::annotation(&obj, templates::EXPAND_ANNOTATION) == Some("true")
    {
        let outcome = templates::expand(&mut obj, cluster);
        if !outcome.errors.is_empty() {
            return Err(PluginError::new(outcome.errors.join("\n")));
        }
        used_cluster = outcome.used_cluster;
    }

    identity.restore(&mut obj);
    Ok(Transformed {
        object: json::to_text(&obj)?,
        used_cluster,
    })
}

/// The fields that identify an object, which a transform must not change.
struct Identity {
    api_version: Option<Value>,
    kind: Option<Value>,
    name: Option<Value>,
    namespace: Option<Value>,
}

impl Identity {
    fn of(obj: &Map<String, Value>) -> Self {
        let meta = |field: &str| obj.get("metadata").and_then(|m| m.get(field)).cloned();
        Identity {
            api_version: obj.get("apiVersion").cloned(),
            kind: obj.get("kind").cloned(),
            name: meta("name"),
            namespace: meta("namespace"),
        }
    }

    fn restore(self, obj: &mut Map<String, Value>) {
        let put = |map: &mut Map<String, Value>, key: &str, value: Option<Value>| {
            if let Some(v) = value
                && map.get(key) != Some(&v)
            {
                map.insert(key.to_owned(), v);
            }
        };
        put(obj, "apiVersion", self.api_version);
        put(obj, "kind", self.kind);
        if self.name.is_none() && self.namespace.is_none() {
            return;
        }
        let metadata = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        if let Value::Object(m) = metadata {
            put(m, "name", self.name);
            put(m, "namespace", self.namespace);
        }
    }
}
