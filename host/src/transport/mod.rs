//! The transport controller: each Binding becomes ManifestWorks in the mailbox namespace of each
//! destination WEC in the ITS, its objects rendered through the plugins on the way.
//!
//! * [`render`]: transform-default + CustomTransform plugins per object and WEC, cached;
//! * [`wrap`]: packing rendered objects into ManifestWorks (pure);
//! * `custom_transforms`: CustomTransform status (validation, plugin failures, warnings);
//! * `inputs`: reading the selected objects and the destinations' contexts; `writes`: the
//!   ManifestWork, finalizer and status writes;
//! * this module: the reconcile loop. Per Binding it reads the selected objects (a GET only when
//!   the Binding names a resourceVersion it has not read yet), renders what changed, applies
//!   the ManifestWorks whose content differs from what the ITS holds, deletes the ones no longer
//!   wanted (only those labelled with this WDS), and writes `Binding.status`.
//!
//! When an object cannot be rendered for a WEC (template or plugin error), what was delivered
//! before stays as it was and nothing new is delivered for it; the error goes to
//! `Binding.status.errors` (and, for plugins, to the CustomTransform's status).

mod custom_transforms;
mod inputs;
pub mod render;
pub mod wrap;
mod writes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::Value;

use crate::api::labels::{CUSTOMIZATION_PROPERTIES_NS, ORIGIN_BINDING, ORIGIN_WDS};
use crate::api::manifest_work::ResourceIdentifier;
use crate::api::{Binding, CustomTransform, ManagedCluster, ManifestWork};
use crate::binding::mirror::Mirror;
use crate::binding::queue::{Next, Queue};
use crate::controller::Ctx;
use crate::plugins::LoadedPlugin;
use inputs::{
    ObjKey, Previous, Source, Wanted, destination, fetch, manifest_identity, previous_manifests,
    wanted_objects,
};
use render::{Destination, Job, Pipeline, RenderError};
use wrap::{Item, Owner};
use writes::{delete_works, set_finalizer, write_status};

/// Field manager of ManifestWorks, Binding status and CustomTransform status (upstream's name).
pub const FIELD_MANAGER: &str = "transport-controller";

/// Most errors listed in a Binding's status.
const MAX_ERRORS: usize = 50;

/// Errors of one reconcile (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A call to the WDS or the ITS failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client error.
        source: kube::Error,
    },
    /// Rendering was interrupted.
    #[error("rendering: {0}")]
    Join(String),
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> TransportError {
    let what = what.into();
    move |source| TransportError::Api { what, source }
}

/// Counters of the running controller, for tests and metrics.
#[derive(Clone, Default)]
pub struct Observer {
    inner: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    rendered: AtomicUsize,
    cached: AtomicUsize,
    applied: AtomicUsize,
    deleted: AtomicUsize,
    fetched: AtomicUsize,
}

impl Observer {
    /// Pipeline runs so far.
    pub fn rendered(&self) -> usize {
        self.inner.rendered.load(Ordering::Relaxed)
    }
    /// Renders served from the cache so far.
    pub fn cached(&self) -> usize {
        self.inner.cached.load(Ordering::Relaxed)
    }
    /// ManifestWorks applied so far.
    pub fn applied(&self) -> usize {
        self.inner.applied.load(Ordering::Relaxed)
    }
    /// ManifestWorks deleted so far.
    pub fn deleted(&self) -> usize {
        self.inner.deleted.load(Ordering::Relaxed)
    }
    /// Objects read from the WDS so far.
    pub fn fetched(&self) -> usize {
        self.inner.fetched.load(Ordering::Relaxed)
    }
}

/// Units of work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    Binding(String),
    AllBindings,
    /// A WEC's labels, annotations or properties changed.
    Cluster(String),
    CustomTransform(String),
    AllCustomTransforms,
}

/// What is remembered per Binding between reconciles.
#[derive(Default)]
struct BindingState {
    sources: HashMap<ObjKey, Arc<Source>>,
    cache: render::Cache,
}

struct Shared {
    ctx: Arc<Ctx>,
    queue: Arc<Queue<Work>>,
    observer: Observer,
    bindings: Mirror<Binding>,
    works: Mirror<ManifestWork>,
    transforms: Mirror<CustomTransform>,
    clusters: Mirror<ManagedCluster>,
    properties: Mirror<ConfigMap>,
    /// `builtin:transform-default`, or why it is unavailable.
    default: Result<Arc<LoadedPlugin>, String>,
    state: Mutex<HashMap<String, BindingState>>,
    /// Plugin failures per CustomTransform, per Binding (shown on the CustomTransform).
    ct_errors: Mutex<HashMap<String, BTreeMap<String, Vec<String>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn label<'a, K: Resource>(o: &'a K, key: &str) -> Option<&'a str> {
    o.meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// Runs the transport controller until aborted.
pub async fn run(ctx: Arc<Ctx>) {
    run_observed(ctx, Observer::default()).await
}

/// Runs the transport controller until aborted, counting through `observer`.
pub async fn run_observed(ctx: Arc<Ctx>, observer: Observer) {
    let queue: Arc<Queue<Work>> = Queue::new(Duration::from_millis(5));
    let wds = ctx.cfg.wds_name.clone();
    let q = queue.clone();
    let bindings = Mirror::start(
        Api::<Binding>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "Binding",
        Arc::new(move |old: Option<&Binding>, new: Option<&Binding>| {
            // Status-only updates (ours, the status controller's) change nothing here.
            let relevant = match (old, new) {
                (Some(o), Some(n)) => {
                    o.metadata.generation != n.metadata.generation
                        || o.metadata.uid != n.metadata.uid
                        || o.metadata.deletion_timestamp != n.metadata.deletion_timestamp
                        || o.metadata.finalizers != n.metadata.finalizers
                }
                _ => true,
            };
            if let Some(b) = new.or(old).filter(|_| relevant) {
                q.add(Work::Binding(b.name_any()));
            }
        }),
    );
    let q = queue.clone();
    let works = Mirror::start(
        Api::<ManifestWork>::all(ctx.its.clone()),
        watcher::Config::default().labels(&format!("{ORIGIN_WDS}={wds}")),
        "ManifestWork",
        Arc::new(
            move |old: Option<&ManifestWork>, new: Option<&ManifestWork>| {
                // The agent's status updates change nothing here.
                let relevant = match (old, new) {
                    (Some(o), Some(n)) => {
                        o.spec != n.spec
                            || o.metadata.labels != n.metadata.labels
                            || o.metadata.deletion_timestamp != n.metadata.deletion_timestamp
                    }
                    _ => true,
                };
                if let Some(b) = new
                    .or(old)
                    .filter(|_| relevant)
                    .and_then(|mw| label(mw, ORIGIN_BINDING))
                {
                    q.add(Work::Binding(b.to_string()));
                }
            },
        ),
    );
    let q = queue.clone();
    let transforms = Mirror::start(
        Api::<CustomTransform>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "CustomTransform",
        Arc::new(
            move |old: Option<&CustomTransform>, new: Option<&CustomTransform>| {
                let relevant = match (old, new) {
                    (Some(o), Some(n)) => {
                        o.metadata.generation != n.metadata.generation
                            || o.metadata.deletion_timestamp != n.metadata.deletion_timestamp
                    }
                    _ => true,
                };
                if relevant {
                    // Siblings' warnings may change, and any Binding may use it.
                    q.add(Work::AllCustomTransforms);
                    q.add(Work::AllBindings);
                }
            },
        ),
    );
    let q = queue.clone();
    let clusters = Mirror::start(
        Api::<ManagedCluster>::all(ctx.its.clone()),
        watcher::Config::default(),
        "ManagedCluster",
        Arc::new(
            move |old: Option<&ManagedCluster>, new: Option<&ManagedCluster>| {
                let relevant = match (old, new) {
                    (Some(o), Some(n)) => {
                        o.metadata.labels != n.metadata.labels
                            || o.metadata.annotations != n.metadata.annotations
                    }
                    _ => true,
                };
                if let Some(c) = new.or(old).filter(|_| relevant) {
                    q.add(Work::Cluster(c.name_any()));
                }
            },
        ),
    );
    let q = queue.clone();
    let properties = Mirror::start(
        Api::<ConfigMap>::namespaced(ctx.its.clone(), CUSTOMIZATION_PROPERTIES_NS),
        watcher::Config::default(),
        "ConfigMap",
        Arc::new(move |old: Option<&ConfigMap>, new: Option<&ConfigMap>| {
            let relevant = match (old, new) {
                (Some(o), Some(n)) => o.data != n.data || o.binary_data != n.binary_data,
                _ => true,
            };
            if let Some(c) = new.or(old).filter(|_| relevant) {
                q.add(Work::Cluster(c.name_any()));
            }
        }),
    );
    let runtime = ctx.runtime.clone();
    let default = match tokio::task::spawn_blocking(move || {
        runtime.builtin(crate::plugins::builtin::TRANSFORM_DEFAULT)
    })
    .await
    {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!(
            "loading builtin:transform-default was interrupted: {e}"
        )),
    };
    if let Err(e) = &default {
        tracing::error!(error = %e, "transform-default is unavailable: nothing can be delivered");
    }
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        queue: queue.clone(),
        observer,
        bindings,
        works,
        transforms,
        clusters,
        properties,
        default,
        state: Mutex::default(),
        ct_errors: Mutex::default(),
    });
    // A WasmPlugin change may change any rendering.
    let mut changes = ctx.plugins.subscribe();
    let q = queue.clone();
    let _plugin_changes = crate::binding::queue::AbortOnDrop(
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            while let Ok(_) | Err(RecvError::Lagged(_)) = changes.recv().await {
                q.add(Work::AllBindings);
                q.add(Work::AllCustomTransforms);
            }
        })
        .abort_handle(),
    );
    let sh = shared.clone();
    queue
        .run("transport", ctx.cfg.concurrency, move |w: Work| {
            let sh = sh.clone();
            async move { handle(&sh, w).await }
        })
        .await;
}

async fn handle(sh: &Arc<Shared>, w: Work) -> Result<Next, TransportError> {
    match w {
        Work::Binding(name) => reconcile(sh, &name).await,
        Work::AllBindings => {
            for b in sh.bindings.list() {
                sh.queue.add(Work::Binding(b.name_any()));
            }
            Ok(Next::Done)
        }
        Work::Cluster(cluster) => {
            for b in sh.bindings.list() {
                if b.spec.destinations.iter().any(|d| d.cluster_id == cluster) {
                    sh.queue.add(Work::Binding(b.name_any()));
                }
            }
            Ok(Next::Done)
        }
        Work::CustomTransform(name) => custom_transforms::reconcile(sh, &name).await,
        Work::AllCustomTransforms => {
            for ct in sh.transforms.list() {
                sh.queue.add(Work::CustomTransform(ct.name_any()));
            }
            Ok(Next::Done)
        }
    }
}

/// True when every input has been listed once (acting on partial inputs could delete
/// ManifestWorks that should stay). The WasmPlugin registry counts only when a CustomTransform
/// names plugins: its first sync compiles every declared module (seconds), and delivering
/// with transform-default alone need not wait for that.
fn ready(sh: &Shared) -> bool {
    sh.bindings.is_synced()
        && sh.works.is_synced()
        && sh.transforms.is_synced()
        && sh.clusters.is_synced()
        && sh.properties.is_synced()
        && (sh.ctx.plugins.is_synced() || !uses_plugins(sh))
}

/// Whether any live CustomTransform names a plugin.
fn uses_plugins(sh: &Shared) -> bool {
    !sh.transforms
        .filter(|ct| ct.metadata.deletion_timestamp.is_none() && !ct.spec.plugins.is_empty())
        .is_empty()
}

async fn reconcile(sh: &Arc<Shared>, name: &str) -> Result<Next, TransportError> {
    if !ready(sh) {
        return Ok(Next::After(Duration::from_millis(25)));
    }
    let mine: Vec<Arc<ManifestWork>> = sh
        .works
        .filter(|mw| label(mw, ORIGIN_BINDING) == Some(name));
    let binding = sh.bindings.get("", name);
    let live = binding
        .clone()
        .filter(|b| b.metadata.deletion_timestamp.is_none());
    let Some(binding_obj) = live else {
        delete_works(sh, mine.iter().map(|m| &**m)).await?;
        lock(&sh.state).remove(name);
        note_ct_errors(sh, name, BTreeMap::new());
        if let Some(b) = binding {
            set_finalizer(sh, &b, false).await?;
        }
        return Ok(Next::Done);
    };
    set_finalizer(sh, &binding_obj, true).await?;
    let mut state = lock(&sh.state).remove(name).unwrap_or_default();
    let result = deliver(sh, &binding_obj, &mine, &mut state).await;
    lock(&sh.state).insert(name.to_string(), state);
    result
}

async fn deliver(
    sh: &Arc<Shared>,
    b: &Binding,
    mine: &[Arc<ManifestWork>],
    state: &mut BindingState,
) -> Result<Next, TransportError> {
    let name = b.name_any();
    let generation = b.metadata.generation.unwrap_or_default();
    let wds = sh.ctx.cfg.wds_name.clone();
    let uid = b.metadata.uid.clone().unwrap_or_default();
    let owner = Owner {
        binding: &name,
        binding_uid: &uid,
        wds: &wds,
    };
    let default = match &sh.default {
        Ok(p) => p.clone(),
        Err(e) => {
            // Nothing can be rendered: keep everything delivered so far, say why.
            write_status(sh, b, vec![e.clone()]).await?;
            return Ok(Next::Done);
        }
    };
    let destinations: Vec<Destination> = b
        .spec
        .destinations
        .iter()
        .map(|d| destination(sh, &d.cluster_id))
        .collect();
    let wanted = wanted_objects(b);
    let sources = fetch(sh, &wanted, &mut state.sources).await?;

    // One pipeline per GroupResource.
    let mut pipelines: HashMap<(String, String), Arc<Pipeline>> = HashMap::new();
    let mut jobs = Vec::new();
    let mut job_objects: Vec<usize> = Vec::new();
    for (i, (w, s)) in wanted.iter().zip(&sources).enumerate() {
        let Some(s) = s else { continue };
        let gr = (w.key.gvr.group.clone(), w.key.gvr.resource.clone());
        let pipeline = pipelines
            .entry(gr.clone())
            .or_insert_with(|| {
                let cts = sh.transforms.filter(|ct| {
                    ct.metadata.deletion_timestamp.is_none()
                        && ct.spec.api_group == gr.0
                        && ct.spec.resource == gr.1
                });
                Arc::new(Pipeline::new(
                    &cts,
                    &|n| sh.ctx.plugins.get(n),
                    default.digest(),
                ))
            })
            .clone();
        jobs.push(Job {
            uid: s.uid.clone(),
            resource_version: s.resource_version.clone(),
            object: s.json.clone(),
            identity: s.identity.clone(),
            pipeline,
        });
        job_objects.push(i);
    }
    let mut cache = std::mem::take(&mut state.cache);
    let dests = destinations.clone();
    let (cache, results, stats) = tokio::task::spawn_blocking(move || {
        let (results, stats) = render::render_all(&default, &jobs, &dests, &mut cache);
        cache.sweep();
        (cache, results, stats)
    })
    .await
    .map_err(|e| TransportError::Join(e.to_string()))?;
    state.cache = cache;
    sh.observer
        .inner
        .rendered
        .fetch_add(stats.rendered, Ordering::Relaxed);
    sh.observer
        .inner
        .cached
        .fetch_add(stats.cached, Ordering::Relaxed);

    // What was delivered before, for objects that fail to render now.
    let mut previous: Option<Previous> = None;
    let mut errors: Vec<String> = Vec::new();
    let mut ct_errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut retry_later = false;
    let mut desired: Vec<(String, String, crate::api::ManifestWorkSpec)> = Vec::new();
    let mut reported: HashSet<usize> = HashSet::new();
    for (di, d) in destinations.iter().enumerate() {
        let mut items = Vec::new();
        for (ji, &oi) in job_objects.iter().enumerate() {
            let w = &wanted[oi];
            let Some(s) = &sources[oi] else { continue };
            let manifest = match &results[ji][di] {
                Ok(v) => Some(v.clone()),
                Err(e) => {
                    note_render_error(w, d, e, reported.insert(ji), &mut errors, &mut ct_errors);
                    retry_later |= e.transient;
                    let prev = previous.get_or_insert_with(|| previous_manifests(mine));
                    let id = (
                        d.name.clone(),
                        manifest_identity(
                            &serde_json::from_str::<Value>(&s.json).unwrap_or(Value::Null),
                        ),
                    );
                    prev.get(&id).cloned().map(render::Manifest::new)
                }
            };
            let Some(render::Manifest {
                value: manifest,
                size,
            }) = manifest
            else {
                continue;
            };
            items.push(Item {
                uid: s.uid.clone(),
                id: ResourceIdentifier {
                    group: w.key.gvr.group.clone(),
                    resource: w.key.gvr.resource.clone(),
                    name: w.key.name.clone(),
                    namespace: w.key.namespace.clone(),
                },
                display: w.display(),
                manifest,
                size,
                create_only: w.create_only,
            });
        }
        let limits = wrap::Limits {
            max_num: sh.ctx.cfg.max_num_wrapped,
            max_size: sh.ctx.cfg.max_size_wrapped,
        };
        let (works, too_big) = wrap::pack(&items, owner, limits);
        for (_, e) in too_big {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
        desired.extend(works.into_iter().map(|(n, spec)| (d.name.clone(), n, spec)));
    }

    // Write what differs, delete what is no longer wanted.
    let wanted_names: HashSet<(&str, &str)> = desired
        .iter()
        .map(|(ns, n, _)| (ns.as_str(), n.as_str()))
        .collect();
    let stale: Vec<&ManifestWork> = mine
        .iter()
        .filter(|m| {
            !wanted_names.contains(&(
                m.metadata.namespace.as_deref().unwrap_or_default(),
                m.metadata.name.as_deref().unwrap_or_default(),
            ))
        })
        .map(|m| &**m)
        .collect();
    let mut writes = Vec::new();
    for (ns, n, spec) in &desired {
        match sh.works.get(ns, n) {
            Some(o) if wrap::up_to_date(&o, spec, owner) => {}
            // Going away (the agent is cleaning up); its deletion event brings us back.
            Some(o) if o.metadata.deletion_timestamp.is_some() => {}
            _ => writes.push((
                ns.clone(),
                n.clone(),
                wrap::manifest_work(n, ns, spec, owner, generation),
            )),
        }
    }
    let applied = writes::apply_works(sh, writes).await?;
    if applied > 0 {
        tracing::debug!(binding = %name, applied, "applied ManifestWorks");
    }
    delete_works(sh, stale.into_iter()).await?;

    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(format!("... and {more} more errors"));
    }
    write_status(sh, b, errors).await?;
    note_ct_errors(sh, &name, ct_errors);
    Ok(if retry_later {
        Next::After(Duration::from_secs(5))
    } else {
        Next::Done
    })
}

fn note_render_error(
    w: &Wanted,
    d: &Destination,
    e: &RenderError,
    first_for_object: bool,
    errors: &mut Vec<String>,
    ct_errors: &mut BTreeMap<String, Vec<String>>,
) {
    let located = format!("{} for WEC {}: {}", w.display(), d.name, e.message);
    if let Some(ct) = &e.custom_transform {
        ct_errors
            .entry(ct.clone())
            .or_default()
            .push(located.clone());
    }
    // Upstream reports the first failing destination of each object.
    if first_for_object {
        if e.custom_transform.is_none() && e.message.starts_with("template:") {
            errors.extend(e.message.lines().map(str::to_string));
        } else {
            errors.push(located);
        }
    }
}

/// Records the plugin failures a Binding's objects hit, per CustomTransform, and queues the
/// CustomTransforms whose list changed.
fn note_ct_errors(sh: &Shared, binding: &str, new: BTreeMap<String, Vec<String>>) {
    let mut changed = Vec::new();
    {
        let mut all = lock(&sh.ct_errors);
        for (ct, per_binding) in all.iter_mut() {
            if !new.contains_key(ct) && per_binding.remove(binding).is_some() {
                changed.push(ct.clone());
            }
        }
        for (ct, errs) in new {
            let e = all.entry(ct.clone()).or_default();
            if e.get(binding) != Some(&errs) {
                e.insert(binding.to_string(), errs);
                changed.push(ct);
            }
        }
        all.retain(|_, v| !v.is_empty());
    }
    for ct in changed {
        sh.queue.add(Work::CustomTransform(ct));
    }
}
