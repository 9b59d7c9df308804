//! Rendering an object for a WEC: `builtin:transform-default` (with the `remove` queries of the
//! CustomTransforms for the object's GroupResource), then each transformer plugin those
//! CustomTransforms name, in order, each with its configuration.
//!
//! Results are cached by (object UID and resourceVersion, pipeline fingerprint) when the
//! pipeline did not look at the cluster, else also by the destination's context fingerprint, so
//! an object is rendered once per version (per cluster only when it must be) and nothing is
//! re-rendered while its inputs stay the same.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::Value;

use crate::api::CustomTransform;
use crate::plugins::{
    ClusterContext, Identity, LoadedPlugin, Pair, PluginError, PluginKind, PreparedCluster,
};

/// A destination WEC and everything a plugin may know about it.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The WEC's name (its mailbox namespace).
    pub name: String,
    /// What plugins get (converted once, not per call).
    pub context: PreparedCluster,
    /// Fingerprint of `context`.
    pub fingerprint: u64,
}

impl Destination {
    /// A destination from its ManagedCluster's labels and annotations and its customization
    /// properties (each `None` when missing).
    pub fn new(
        name: &str,
        labels: Option<&BTreeMap<String, String>>,
        annotations: Option<&BTreeMap<String, String>>,
        properties: BTreeMap<String, String>,
    ) -> Destination {
        let pairs = |m: Option<&BTreeMap<String, String>>| -> Vec<Pair> {
            m.map(|m| m.iter().map(|(k, v)| Pair::new(k, v)).collect())
                .unwrap_or_default()
        };
        let context = ClusterContext {
            name: name.to_string(),
            labels: pairs(labels),
            annotations: pairs(annotations),
            properties: pairs(Some(&properties)),
        };
        let mut h = DefaultHasher::new();
        context.name.hash(&mut h);
        for list in [&context.labels, &context.annotations, &context.properties] {
            list.hash(&mut h);
        }
        Destination {
            name: name.to_string(),
            context: PreparedCluster::new(&context),
            fingerprint: h.finish(),
        }
    }
}

/// One transformer plugin step of a pipeline.
#[derive(Clone)]
pub struct Step {
    /// The CustomTransform naming it.
    pub custom_transform: String,
    /// The WasmPlugin's name.
    pub plugin_name: String,
    /// The loaded plugin, or why it is unusable.
    pub plugin: Result<Arc<LoadedPlugin>, String>,
    /// Its configuration as JSON text.
    pub config: String,
}

/// What is applied to the objects of one GroupResource.
#[derive(Clone)]
pub struct Pipeline {
    /// transform-default's configuration (`{"remove": [...]}`).
    pub default_config: String,
    /// Plugin steps, in order.
    pub steps: Vec<Step>,
    /// Fingerprint of everything above (plugin digests included).
    pub fingerprint: u64,
}

impl Pipeline {
    /// The pipeline for the CustomTransforms of one GroupResource (any order; sorted by name
    /// here). `plugin` resolves WasmPlugin names; `default_digest` identifies transform-default.
    pub fn new(
        transforms: &[Arc<CustomTransform>],
        plugin: &dyn Fn(&str) -> Result<Arc<LoadedPlugin>, String>,
        default_digest: &str,
    ) -> Pipeline {
        let mut cts: Vec<&Arc<CustomTransform>> = transforms.iter().collect();
        cts.sort_by_key(|c| c.metadata.name.clone());
        let removes: Vec<&String> = cts.iter().flat_map(|c| c.spec.remove.iter()).collect();
        let default_config = serde_json::json!({ "remove": removes }).to_string();
        let mut steps = Vec::new();
        for ct in &cts {
            for p in &ct.spec.plugins {
                steps.push(Step {
                    custom_transform: ct.metadata.name.clone().unwrap_or_default(),
                    plugin_name: p.name.clone(),
                    plugin: plugin(&p.name),
                    config: config_text(p.config.as_ref()),
                });
            }
        }
        let mut h = DefaultHasher::new();
        default_digest.hash(&mut h);
        default_config.hash(&mut h);
        for s in &steps {
            s.custom_transform.hash(&mut h);
            s.plugin_name.hash(&mut h);
            match &s.plugin {
                Ok(p) => p.digest().hash(&mut h),
                Err(e) => e.hash(&mut h),
            }
            s.config.hash(&mut h);
        }
        Pipeline {
            default_config,
            steps,
            fingerprint: h.finish(),
        }
    }
}

/// A plugin configuration as handed to the plugin: the JSON text, `{}` when absent.
pub fn config_text(config: Option<&Value>) -> String {
    match config {
        None | Some(Value::Null) => "{}".to_string(),
        Some(v) => v.to_string(),
    }
}

/// Why an object could not be rendered for a WEC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// For `Binding.status.errors`.
    pub message: String,
    /// The CustomTransform whose plugin failed (its status shows the error too).
    pub custom_transform: Option<String>,
    /// Worth retrying later with the same inputs (deadline, no instance available).
    pub transient: bool,
}

/// A rendered object, as a WEC gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object.
    pub value: Arc<Value>,
    /// Its size as compact JSON, in bytes (what `maxSizeWrapped` counts), measured once when
    /// it is rendered rather than on every pass that delivers it.
    pub size: usize,
}

impl Manifest {
    /// Wraps `value`, measuring it.
    pub fn new(value: Arc<Value>) -> Manifest {
        let size = crate::api::encoded_len(&*value);
        Manifest { value, size }
    }
}

/// A rendered manifest, or why not.
pub type Rendered = Result<Manifest, RenderError>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    resource_version: String,
    pipeline: u64,
    /// `None`: valid for every destination.
    cluster: Option<u64>,
}

#[derive(Debug, Clone)]
enum Entry {
    /// The output did not depend on the cluster: valid for every destination.
    Independent(Manifest),
    /// The output depends on the cluster: look up per destination.
    Dependent,
    /// The result for one destination.
    ForCluster(Rendered),
}

/// Rendered objects of one Binding. Each pass keeps only the entries it used.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<Key, Entry>,
    used: HashSet<Key>,
}

impl Cache {
    fn get(&mut self, k: &Key) -> Option<&Entry> {
        let e = self.entries.get(k)?;
        self.used.insert(k.clone());
        Some(e)
    }

    fn put(&mut self, k: Key, e: Entry) {
        self.used.insert(k.clone());
        self.entries.insert(k, e);
    }

    /// Drops what the last pass did not use.
    pub fn sweep(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.entries.retain(|k, _| used.contains(k));
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One object to render.
pub struct Job {
    /// UID in the WDS.
    pub uid: String,
    /// resourceVersion in the WDS.
    pub resource_version: String,
    /// The object as read from the WDS, JSON.
    pub object: Arc<String>,
    /// Its identity (what every transform must keep).
    pub identity: Arc<Identity>,
    /// Its pipeline.
    pub pipeline: Arc<Pipeline>,
}

/// Counters of one rendering pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Pipeline runs.
    pub rendered: usize,
    /// Results taken from the cache.
    pub cached: usize,
}

/// Renders every job for every destination (results indexed `[job][destination]`). Blocking:
/// plugins run here.
pub fn render_all(
    default: &LoadedPlugin,
    jobs: &[Job],
    destinations: &[Destination],
    cache: &mut Cache,
) -> (Vec<Vec<Rendered>>, Stats) {
    let mut stats = Stats::default();
    let out = jobs
        .iter()
        .map(|job| {
            destinations
                .iter()
                .map(|d| {
                    let shared = Key {
                        uid: job.uid.clone(),
                        resource_version: job.resource_version.clone(),
                        pipeline: job.pipeline.fingerprint,
                        cluster: None,
                    };
                    let own = Key {
                        cluster: Some(d.fingerprint),
                        ..shared.clone()
                    };
                    match cache.get(&shared).cloned() {
                        Some(Entry::Independent(v)) => {
                            stats.cached += 1;
                            return Ok(v);
                        }
                        Some(Entry::Dependent) => {
                            if let Some(Entry::ForCluster(r)) = cache.get(&own).cloned() {
                                stats.cached += 1;
                                return r;
                            }
                        }
                        _ => {
                            if let Some(Entry::ForCluster(r)) = cache.get(&own).cloned() {
                                stats.cached += 1;
                                return r;
                            }
                        }
                    }
                    stats.rendered += 1;
                    match render(
                        default,
                        &job.pipeline,
                        &job.object,
                        Some(&job.identity),
                        &d.context,
                    ) {
                        Ok((v, false)) => {
                            let m = Manifest::new(Arc::new(v));
                            cache.put(shared, Entry::Independent(m.clone()));
                            Ok(m)
                        }
                        Ok((v, true)) => {
                            let m = Manifest::new(Arc::new(v));
                            cache.put(shared, Entry::Dependent);
                            cache.put(own, Entry::ForCluster(Ok(m.clone())));
                            Ok(m)
                        }
                        Err(e) => {
                            // Transient failures are not remembered: the next pass tries again.
                            if !e.transient {
                                cache.put(own, Entry::ForCluster(Err(e.clone())));
                            }
                            Err(e)
                        }
                    }
                })
                .collect()
        })
        .collect();
    (out, stats)
}

fn transient(e: &PluginError) -> bool {
    matches!(
        e,
        PluginError::Deadline { .. } | PluginError::Instantiate { .. }
    )
}

/// Runs the pipeline on one object for one cluster: the output and whether it used the cluster.
/// `identity`: the object's (`None` when it is not a JSON object); every step must keep it.
pub fn render(
    default: &LoadedPlugin,
    pipeline: &Pipeline,
    object: &str,
    identity: Option<&Identity>,
    cluster: &PreparedCluster,
) -> Result<(Value, bool), RenderError> {
    let out = default
        .transform_known(object, identity, Some(cluster), &pipeline.default_config)
        .map_err(|e| RenderError {
            // Template errors are upstream's messages; they name the cluster and the object.
            message: match &e {
                PluginError::PluginReported { message, .. } => message.clone(),
                e => e.to_string(),
            },
            custom_transform: None,
            transient: transient(&e),
        })?;
    let mut used = out.used_cluster;
    let mut text = out.object;
    for step in &pipeline.steps {
        let fail = |message: String, transient: bool| RenderError {
            message: format!("CustomTransform {}: {message}", step.custom_transform),
            custom_transform: Some(step.custom_transform.clone()),
            transient,
        };
        let plugin = step.plugin.as_ref().map_err(|e| fail(e.clone(), false))?;
        if plugin.world() != PluginKind::Transformer {
            return Err(fail(
                format!(
                    "WasmPlugin {} is a {}, not a transformer",
                    step.plugin_name,
                    plugin.world()
                ),
                false,
            ));
        }
        let out = plugin
            .transform_known(&text, identity, Some(cluster), &step.config)
            .map_err(|e| fail(e.to_string(), transient(&e)))?;
        used |= out.used_cluster;
        text = out.object;
    }
    let mut value: Value = serde_json::from_str(&text).map_err(|e| RenderError {
        message: format!("the transformed object is not JSON: {e}"),
        custom_transform: None,
        transient: false,
    })?;
    // The executing count describes the WDS object's delivery; in a WEC it would be wrong, and
    // carrying it would rewrite every ManifestWork whenever the count changes.
    if let Some(labels) = value
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(crate::api::labels::EXECUTING_COUNT);
        if labels.is_empty()
            && let Some(meta) = value
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
        {
            meta.remove("labels");
        }
    }
    Ok((value, used))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::{PluginRuntime, RuntimeConfig};

    fn default() -> Arc<LoadedPlugin> {
        let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
        rt.builtin("transform-default").unwrap()
    }

    fn destinations() -> Vec<Destination> {
        ["c1", "c2", "c3"]
            .iter()
            .map(|n| {
                let labels = BTreeMap::from([("region".to_string(), format!("r-{n}"))]);
                Destination::new(n, Some(&labels), None, BTreeMap::new())
            })
            .collect()
    }

    fn job(name: &str, rv: &str, annotations: serde_json::Value, pipeline: &Arc<Pipeline>) -> Job {
        let obj = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "resourceVersion": rv, "annotations": annotations,
                         "labels": {"drop": "me", "keep": "me"}},
            "data": {"k": "v"},
        });
        Job {
            uid: format!("uid-{name}"),
            resource_version: rv.into(),
            object: Arc::new(obj.to_string()),
            identity: Arc::new(Identity::of_value(&obj).unwrap()),
            pipeline: pipeline.clone(),
        }
    }

    fn pipeline(default: &LoadedPlugin, remove: &[&str]) -> Arc<Pipeline> {
        let ct: CustomTransform = serde_json::from_value(serde_json::json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "CustomTransform",
            "metadata": {"name": "ct"}, "spec": {"apiGroup": "", "resource": "configmaps", "remove": remove},
        }))
        .unwrap();
        Arc::new(Pipeline::new(
            &[Arc::new(ct)],
            &|n| Err(format!("no {n}")),
            default.digest(),
        ))
    }

    #[test]
    fn renders_once_per_object_unless_the_cluster_matters() {
        let d = default();
        let p = pipeline(&d, &["$.metadata.labels.drop"]);
        let templated = serde_json::json!({"control.kubestellar.io/expand-templates": "true", "where": "{{ .region }}"});
        let jobs = vec![
            job("plain", "1", serde_json::json!({}), &p),
            job("tmpl", "1", templated, &p),
        ];
        let mut cache = Cache::default();
        let (out, stats) = render_all(&d, &jobs, &destinations(), &mut cache);
        assert_eq!(
            stats,
            Stats {
                rendered: 4,
                cached: 2
            }
        );
        let plain = out[0][0].as_ref().unwrap();
        assert!(
            Arc::ptr_eq(&plain.value, &out[0][2].as_ref().unwrap().value),
            "one result shared by all WECs"
        );
        assert_eq!(plain.size, plain.value.to_string().len());
        let plain = &plain.value;
        assert_eq!(
            plain["metadata"]["labels"],
            serde_json::json!({"keep": "me"})
        );
        assert!(
            plain["metadata"].get("uid").is_none()
                && plain["metadata"].get("resourceVersion").is_none()
        );
        let wheres: Vec<&str> = out[1]
            .iter()
            .map(|r| {
                r.as_ref().unwrap().value["metadata"]["annotations"]["where"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(wheres, ["r-c1", "r-c2", "r-c3"]);

        // Nothing changed: everything from the cache.
        cache.sweep();
        let (_, stats) = render_all(&d, &jobs, &destinations(), &mut cache);
        assert_eq!(
            stats,
            Stats {
                rendered: 0,
                cached: 6
            }
        );
        // A new resourceVersion of one object, a changed WEC: only those re-render.
        cache.sweep();
        let mut dests = destinations();
        dests[1] = Destination::new(
            "c2",
            Some(&BTreeMap::from([(
                "region".to_string(),
                "moved".to_string(),
            )])),
            None,
            BTreeMap::new(),
        );
        let jobs2 = vec![
            job("plain", "2", serde_json::json!({}), &p),
            Job {
                uid: jobs[1].uid.clone(),
                resource_version: jobs[1].resource_version.clone(),
                object: jobs[1].object.clone(),
                identity: jobs[1].identity.clone(),
                pipeline: jobs[1].pipeline.clone(),
            },
        ];
        let (out, stats) = render_all(&d, &jobs2, &dests, &mut cache);
        assert_eq!(
            stats,
            Stats {
                rendered: 2,
                cached: 4
            }
        );
        assert_eq!(
            out[1][1].as_ref().unwrap().value["metadata"]["annotations"]["where"],
            "moved"
        );
        // A CustomTransform change is a new pipeline: everything re-renders; the sweep forgets
        // what no longer applies.
        cache.sweep();
        let p2 = pipeline(&d, &["$.data"]);
        let jobs3 = vec![job("plain", "2", serde_json::json!({}), &p2)];
        let (out, stats) = render_all(&d, &jobs3, &dests, &mut cache);
        assert_eq!(
            stats,
            Stats {
                rendered: 1,
                cached: 2
            }
        );
        assert!(out[0][0].as_ref().unwrap().value.get("data").is_none());
        cache.sweep();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn errors_name_the_step_and_are_remembered() {
        let d = default();
        let p = pipeline(&d, &[]);
        let bad = serde_json::json!({"control.kubestellar.io/expand-templates": "true", "x": "{{ .nope }}"});
        let jobs = vec![job("bad", "1", bad, &p)];
        let mut cache = Cache::default();
        let (out, stats) = render_all(&d, &jobs, &destinations()[..1], &mut cache);
        assert_eq!(stats.rendered, 1);
        let e = out[0][0].as_ref().unwrap_err();
        assert!(
            e.message.starts_with("template: c1/ConfigMap(ns/bad)"),
            "{}",
            e.message
        );
        assert!(e.custom_transform.is_none() && !e.transient);
        cache.sweep();
        let (_, stats) = render_all(&d, &jobs, &destinations()[..1], &mut cache);
        assert_eq!(
            stats,
            Stats {
                rendered: 0,
                cached: 1
            }
        );

        // A step whose WasmPlugin is missing fails with the CustomTransform's name.
        let ct: CustomTransform = serde_json::from_value(serde_json::json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "CustomTransform",
            "metadata": {"name": "mine"}, "spec": {"apiGroup": "", "resource": "configmaps", "plugins": [{"name": "gone"}]},
        }))
        .unwrap();
        let p = Arc::new(Pipeline::new(
            &[Arc::new(ct)],
            &|n| Err(format!("WasmPlugin {n} not found")),
            d.digest(),
        ));
        let jobs = vec![job("ok", "1", serde_json::json!({}), &p)];
        let (out, _) = render_all(&d, &jobs, &destinations()[..1], &mut Cache::default());
        let e = out[0][0].as_ref().unwrap_err();
        assert_eq!(e.message, "CustomTransform mine: WasmPlugin gone not found");
        assert_eq!(e.custom_transform.as_deref(), Some("mine"));
    }
}
