//! StatusCollectors: whether each is usable and how to run it, and their `.status`.
//!
//! A collector with CEL fields runs on `builtin:summarize-default` with its `spec` as the
//! configuration, and is valid when that plugin's `validate-config` accepts the spec (its
//! messages are upstream's). A collector with `spec.plugin` runs that summarizer WasmPlugin
//! with `spec.plugin.config`. An invalid or missing collector is treated as non-existent: it
//! contributes no CombinedStatus result and is listed as missing in the BindingPolicy's
//! `StatusCollectorsAvailable` condition; its problems go to its `.status.errors`.

use std::collections::HashMap;
use std::sync::Arc;

use super::keys::Work;
use super::writer::{Op, Target};
use super::{Shared, lock};
use crate::api::{StatusCollector, WasmPlugin};
use crate::plugins::{LoadedPlugin, PluginError, PluginKind};

/// A usable collector.
#[derive(Debug)]
pub struct Runner {
    pub plugin: Arc<LoadedPlugin>,
    /// The configuration (JSON text).
    pub config: String,
}

/// What a collector is right now.
#[derive(Clone, Debug)]
pub enum CollectorState {
    Ready(Arc<Runner>),
    /// No such StatusCollector.
    Missing,
    /// It exists but cannot be used; why (its `.status.errors`).
    Invalid(Vec<String>),
    /// Its plugin is still being loaded by the WasmPlugin registry: decide later.
    Pending(String),
}

impl CollectorState {
    /// True for `Ready`.
    pub fn usable(&self) -> bool {
        matches!(self, CollectorState::Ready(_))
    }
}

/// Validation results by collector, keyed by what they depend on.
#[derive(Default)]
pub struct CollectorCache {
    entries: HashMap<String, (String, CollectorState)>,
}

/// The StatusCollector spec as the built-in summarizer's configuration.
fn cel_config(sc: &StatusCollector) -> String {
    let mut spec = sc.spec.clone();
    spec.plugin = None;
    serde_json::to_string(&spec).unwrap_or_else(|_| "{}".into())
}

fn has_cel_fields(sc: &StatusCollector) -> bool {
    let s = &sc.spec;
    s.filter.is_some()
        || !s.group_by.is_empty()
        || !s.combined_fields.is_empty()
        || !s.select.is_empty()
}

fn problems(e: PluginError, prefix: &str) -> Vec<String> {
    match e {
        PluginError::InvalidConfig { problems, .. } => problems
            .into_iter()
            .map(|p| match (prefix.is_empty(), p.field.is_empty()) {
                (true, _) => p.message,
                (false, true) => format!("{prefix}: {}", p.message),
                (false, false) => format!("{prefix}.{}: {}", p.field, p.message),
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Whether the WasmPlugin registry may still bring `wp` up, so that its absence is not an
/// error yet: it has not finished its first pass, or has not processed this generation.
fn may_still_load(registry_synced: bool, wp: Option<&WasmPlugin>) -> bool {
    if !registry_synced {
        return true;
    }
    let Some(wp) = wp else { return false };
    let generation = wp.metadata.generation.unwrap_or(0);
    wp.status
        .as_ref()
        .is_none_or(|s| s.observed_generation != generation)
}

/// `builtin:summarize-default`, loaded once (compiling it takes a while: off the async
/// threads).
async fn builtin(sh: &Shared) -> Result<Arc<LoadedPlugin>, String> {
    sh.builtin
        .get_or_init(|| async {
            let runtime = sh.ctx.runtime.clone();
            tokio::task::spawn_blocking(move || {
                runtime.builtin(crate::plugins::builtin::SUMMARIZE_DEFAULT)
            })
            .await
            .map_err(|e| format!("loading builtin:summarize-default was interrupted: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()))
        })
        .await
        .clone()
}

/// The state of collector `name`, validated once per version of everything it depends on.
pub async fn state(sh: &Shared, name: &str) -> CollectorState {
    let (sc, wp) = {
        let ix = lock(&sh.index);
        let sc = ix.collectors.get(name).cloned();
        let wp = sc
            .as_ref()
            .and_then(|s| s.spec.plugin.as_ref())
            .and_then(|p| ix.wasm_plugins.get(&p.name).cloned());
        (sc, wp)
    };
    let Some(sc) = sc else {
        return CollectorState::Missing;
    };
    let (plugin, config, prefix) = match &sc.spec.plugin {
        None => match builtin(sh).await {
            Ok(p) => (p, cel_config(&sc), String::new()),
            Err(e) => return CollectorState::Invalid(vec![e]),
        },
        Some(pref) => {
            if has_cel_fields(&sc) {
                return CollectorState::Invalid(vec![
                    "spec.plugin cannot be combined with filter, groupBy, combinedFields or select"
                        .into(),
                ]);
            }
            match sh.ctx.plugins.get(&pref.name) {
                Ok(p) => {
                    let config = pref
                        .config
                        .as_ref()
                        .map_or_else(|| "{}".to_string(), |c| c.to_string());
                    (p, config, "spec.plugin.config".to_string())
                }
                Err(msg) => {
                    if may_still_load(sh.ctx.plugins.is_synced(), wp.as_deref()) {
                        return CollectorState::Pending(msg);
                    }
                    return CollectorState::Invalid(vec![format!("spec.plugin: {msg}")]);
                }
            }
        }
    };
    let key = format!(
        "{}/{}/{}/{}",
        sc.metadata.uid.as_deref().unwrap_or_default(),
        sc.metadata.resource_version.as_deref().unwrap_or_default(),
        plugin.digest(),
        config
    );
    if let Some((k, st)) = lock(&sh.collectors).entries.get(name)
        && *k == key
    {
        return st.clone();
    }
    let st = if plugin.world() != PluginKind::Summarizer {
        CollectorState::Invalid(vec![format!(
            "spec.plugin: {} is a {}, not a summarizer",
            plugin.name(),
            plugin.world()
        )])
    } else {
        // A plugin call: off the async threads.
        let validated = tokio::task::spawn_blocking(move || {
            let r = plugin.validate_config(&config);
            (plugin, config, r)
        })
        .await;
        match validated {
            Ok((plugin, config, Ok(()))) => {
                CollectorState::Ready(Arc::new(Runner { plugin, config }))
            }
            Ok((_, _, Err(e))) => CollectorState::Invalid(problems(e, &prefix)),
            Err(e) => return CollectorState::Pending(format!("validation was interrupted: {e}")),
        }
    };
    lock(&sh.collectors)
        .entries
        .insert(name.to_string(), (key, st.clone()));
    st
}

/// Writes a StatusCollector's `.status` (observedGeneration and its problems).
pub(super) async fn reconcile(sh: &Shared, name: &str) -> Result<(), String> {
    let Some(sc) = lock(&sh.index).collectors.get(name).cloned() else {
        lock(&sh.collectors).entries.remove(name);
        return Ok(());
    };
    let errors = match state(sh, name).await {
        CollectorState::Ready(_) | CollectorState::Missing => Vec::new(),
        CollectorState::Invalid(errors) => errors,
        CollectorState::Pending(why) => {
            return Err(format!(
                "StatusCollector {name}: waiting for its plugin: {why}"
            ));
        }
    };
    let generation = sc.metadata.generation.unwrap_or(0);
    let in_sync = sc
        .status
        .as_ref()
        .is_some_and(|s| s.observed_generation == generation && s.errors == errors);
    let op = Op::CollectorStatus {
        name: name.to_string(),
        generation,
        errors,
    };
    sh.writer
        .reconcile(
            &sh.stats,
            Target::CollectorStatus(name.to_string()),
            op,
            in_sync,
            Work::Collector(name.to_string()),
        )
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::ConfigProblem;

    #[test]
    fn problems_keep_upstream_texts_and_prefix_plugin_fields() {
        let e = || PluginError::InvalidConfig {
            plugin: "p".into(),
            problems: vec![
                ConfigProblem::new("spec.select[0].def", "select expression (a) invalid: boom"),
                ConfigProblem::new("", "whole"),
            ],
        };
        assert_eq!(
            problems(e(), ""),
            ["select expression (a) invalid: boom", "whole"]
        );
        assert_eq!(
            problems(e(), "spec.plugin.config"),
            [
                "spec.plugin.config.spec.select[0].def: select expression (a) invalid: boom",
                "spec.plugin.config: whole"
            ]
        );
    }

    #[test]
    fn the_cel_config_is_the_spec_without_the_plugin() {
        let sc: StatusCollector = serde_json::from_value(serde_json::json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "StatusCollector", "metadata": {"name": "s"},
            "spec": {"select": [{"name": "w", "def": "inventory.name"}], "limit": 20, "plugin": {"name": "x"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cel_config(&sc),
            r#"{"select":[{"name":"w","def":"inventory.name"}],"limit":20}"#
        );
        assert!(has_cel_fields(&sc));
    }

    #[test]
    fn plugins_the_registry_has_not_processed_may_still_load() {
        assert!(may_still_load(false, None));
        assert!(!may_still_load(true, None));
        let mut wp: WasmPlugin = serde_json::from_value(serde_json::json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "WasmPlugin",
            "metadata": {"name": "p", "generation": 2}, "spec": {},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(may_still_load(true, Some(&wp)));
        wp.status = Some(
            serde_json::from_value(serde_json::json!({"observedGeneration": 1}))
                .unwrap_or_default(),
        );
        assert!(may_still_load(true, Some(&wp)));
        wp.status = Some(
            serde_json::from_value(serde_json::json!({"observedGeneration": 2}))
                .unwrap_or_default(),
        );
        assert!(!may_still_load(true, Some(&wp)));
    }
}
