//! The binding controller: each BindingPolicy (what × where) becomes a Binding of the same name
//! listing the selected objects (with their resourceVersions and merged modulation) and the
//! selected WECs.
//!
//! * [`resources`]: which resources of the WDS are watched (discovery, CRDs) and the watches,
//!   which feed an index of every object's labels and resourceVersion;
//! * [`matching`] and [`resolve`]: pure functions from a policy, the index, namespace labels
//!   and the inventory to the Binding spec;
//! * this module: the reconcile loop, which writes the Binding, the policy's finalizer and the
//!   policy's `status.observedGeneration` / `status.errors` only when they differ.
//!
//! Every event (policy, object, namespace, WEC, CRD, Binding) queues a full re-evaluation of the
//! affected policies, coalesced over a few milliseconds.

pub mod matching;
pub mod mirror;
pub mod queue;
pub mod resolve;
pub mod resources;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::api::labels::BINDING_POLICY_FINALIZER;
use crate::api::{Binding, BindingPolicy, BindingSpec, ManagedCluster};
use crate::controller::Ctx;
use matching::Labels;
use mirror::Mirror;
use queue::{Next, Queue};
use resolve::{Gvr, Index, Resolution};
use resources::{Watchable, Watches};

/// Field manager of the Binding writes and of BindingPolicy `status.observedGeneration` and
/// `status.errors` (upstream's name).
pub const FIELD_MANAGER: &str = "Binding";

/// How long a trigger waits for more before its policy is re-evaluated.
const COALESCE: Duration = Duration::from_millis(5);

/// Least time between two writes of one Binding: a stream of object changes (a big
/// `kubectl apply`) becomes a few Binding updates rather than one per object.
const MIN_WRITE_INTERVAL: Duration = Duration::from_millis(50);

/// Errors of one reconcile (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// A call to the WDS failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client error.
        source: kube::Error,
    },
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> BindingError {
    let what = what.into();
    move |source| BindingError::Api { what, source }
}

/// What the running controller shows to tests and metrics.
#[derive(Clone, Default)]
pub struct Observer {
    watched: Arc<RwLock<BTreeSet<Gvr>>>,
}

impl Observer {
    /// The resources of the WDS currently watched.
    pub fn watched(&self) -> BTreeSet<Gvr> {
        self.watched
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Units of work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    /// Re-evaluate one policy.
    Policy(String),
    /// Re-evaluate every policy.
    All,
    /// Objects of a resource changed: re-evaluate the policies that may select them.
    Objects(Gvr),
    /// CRDs changed: recompute the watched resources.
    Resources,
}

struct Shared {
    ctx: Arc<Ctx>,
    queue: Arc<Queue<Work>>,
    observer: Observer,
    index: Arc<RwLock<Index>>,
    watches: Mutex<Watches>,
    /// Built-in resources found by discovery at startup.
    builtin: Mutex<Option<Vec<Watchable>>>,
    resources_ready: std::sync::atomic::AtomicBool,
    policies: Mirror<BindingPolicy>,
    bindings: Mirror<Binding>,
    clusters: Mirror<ManagedCluster>,
    namespaces: Mirror<Namespace>,
    crds: Mirror<CustomResourceDefinition>,
    /// Each policy's last resolution (for singleton checks across policies).
    resolutions: Mutex<HashMap<String, Arc<Resolution>>>,
    /// Bindings as last written: (resourceVersion before the write, object after it), used
    /// until the mirror catches up.
    written: Mutex<HashMap<String, (String, Arc<Binding>)>>,
    /// When each Binding was last written.
    last_write: Mutex<HashMap<String, std::time::Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the binding controller until aborted.
pub async fn run(ctx: Arc<Ctx>) {
    run_observed(ctx, Observer::default()).await
}

/// Runs the binding controller until aborted, reporting through `observer`.
pub async fn run_observed(ctx: Arc<Ctx>, observer: Observer) {
    let queue: Arc<Queue<Work>> = Queue::new(COALESCE);
    let q = queue.clone();
    let policies = Mirror::start(
        Api::<BindingPolicy>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "BindingPolicy",
        Arc::new(
            move |_old: Option<&BindingPolicy>, new: Option<&BindingPolicy>| match new {
                Some(p) => q.add(Work::Policy(p.name_any())),
                // Gone: other policies' singleton errors may change.
                None => q.add(Work::All),
            },
        ),
    );
    let q = queue.clone();
    let bindings = Mirror::start(
        Api::<Binding>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "Binding",
        Arc::new(move |old: Option<&Binding>, new: Option<&Binding>| {
            if let Some(b) = new.or(old) {
                q.add(Work::Policy(b.name_any()));
            }
        }),
    );
    let q = queue.clone();
    let clusters = Mirror::start(
        Api::<ManagedCluster>::all(ctx.its.clone()),
        watcher::Config::default(),
        "ManagedCluster",
        Arc::new(
            move |old: Option<&ManagedCluster>, new: Option<&ManagedCluster>| {
                if old.map(|o| o.labels()) != new.map(|n| n.labels()) {
                    q.add(Work::All);
                }
            },
        ),
    );
    let q = queue.clone();
    let namespaces = Mirror::start(
        Api::<Namespace>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "Namespace",
        Arc::new(move |old: Option<&Namespace>, new: Option<&Namespace>| {
            if old.map(|o| o.labels()) != new.map(|n| n.labels()) {
                q.add(Work::All);
            }
        }),
    );
    let q = queue.clone();
    let crds = Mirror::start(
        Api::<CustomResourceDefinition>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "CustomResourceDefinition",
        Arc::new(
            move |_: Option<&CustomResourceDefinition>, _: Option<&CustomResourceDefinition>| {
                q.add(Work::Resources)
            },
        ),
    );
    let index: Arc<RwLock<Index>> = Arc::default();
    let q = queue.clone();
    let watches = Watches::new(
        ctx.wds.clone(),
        index.clone(),
        Arc::new(move |g: &Gvr| q.add(Work::Objects(g.clone()))),
    );
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        queue: queue.clone(),
        observer,
        index,
        watches: Mutex::new(watches),
        builtin: Mutex::new(None),
        resources_ready: Default::default(),
        policies,
        bindings,
        clusters,
        namespaces,
        crds,
        resolutions: Mutex::default(),
        written: Mutex::default(),
        last_write: Mutex::default(),
    });
    queue.add(Work::Resources);
    let sh = shared.clone();
    queue
        .run("binding", ctx.cfg.concurrency, move |w: Work| {
            let sh = sh.clone();
            async move { handle(&sh, w).await }
        })
        .await;
}

async fn handle(sh: &Arc<Shared>, w: Work) -> Result<Next, BindingError> {
    match w {
        Work::Policy(name) => reconcile(sh, &name).await,
        Work::All => {
            for p in sh.policies.list() {
                sh.queue.add(Work::Policy(p.name_any()));
            }
            Ok(Next::Done)
        }
        Work::Objects(gvr) => {
            for p in sh.policies.list() {
                let interested = p.spec.downsync.iter().any(|c| {
                    c.test.api_group.as_deref().is_none_or(|g| g == gvr.group)
                        && (c.test.resources.is_empty()
                            || c.test
                                .resources
                                .iter()
                                .any(|r| r == "*" || *r == gvr.resource))
                });
                // A policy that had objects of this resource must drop them too.
                let had = lock(&sh.resolutions)
                    .get(&p.name_any())
                    .is_some_and(|r| r.objects.keys().any(|o| o.gvr == gvr));
                if interested || had {
                    sh.queue.add(Work::Policy(p.name_any()));
                }
            }
            Ok(Next::Done)
        }
        Work::Resources => update_resources(sh).await,
    }
}

/// Recomputes the watched resources from discovery (once) and the CRDs (each time).
async fn update_resources(sh: &Arc<Shared>) -> Result<Next, BindingError> {
    if !sh.crds.is_synced() {
        return Ok(Next::After(Duration::from_millis(20)));
    }
    let crds = sh.crds.list();
    let api_groups = &sh.ctx.cfg.api_groups;
    let builtin = lock(&sh.builtin).clone();
    let builtin = match builtin {
        Some(b) => b,
        None => {
            let crd_resources: HashSet<(String, String)> = crds
                .iter()
                .map(|c| (c.spec.group.clone(), c.spec.names.plural.clone()))
                .collect();
            let b = resources::discover_builtin(&sh.ctx.wds, &crd_resources, api_groups)
                .await
                .map_err(api_err("discovery"))?;
            *lock(&sh.builtin) = Some(b.clone());
            b
        }
    };
    let mut wanted = builtin;
    wanted.extend(resources::crd_watchables(
        crds.iter().map(|c| &**c),
        api_groups,
    ));
    wanted.sort();
    wanted.dedup_by(|a, b| a.gvr == b.gvr);
    let watched = {
        let mut w = lock(&sh.watches);
        w.set(&wanted);
        w.watched()
    };
    *sh.observer
        .watched
        .write()
        .unwrap_or_else(|e| e.into_inner()) = watched;
    sh.resources_ready
        .store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(Next::Done)
}

/// True when every input has been listed once, so that a resolution is complete.
fn ready(sh: &Shared) -> bool {
    sh.resources_ready.load(std::sync::atomic::Ordering::SeqCst)
        && sh.policies.is_synced()
        && sh.bindings.is_synced()
        && sh.clusters.is_synced()
        && sh.namespaces.is_synced()
        && lock(&sh.watches).all_settled()
}

/// The Binding as we know it best: the mirror's, or the one we just wrote if the mirror has not
/// seen our write yet.
fn current_binding(sh: &Shared, name: &str) -> Option<Arc<Binding>> {
    let mirrored = sh.bindings.get("", name);
    let mut written = lock(&sh.written);
    if let Some((before, after)) = written.get(name) {
        let seen = mirrored
            .as_ref()
            .and_then(|b| b.metadata.resource_version.clone())
            .unwrap_or_default();
        if seen == *before {
            return Some(after.clone());
        }
        written.remove(name);
    }
    mirrored
}

async fn reconcile(sh: &Arc<Shared>, name: &str) -> Result<Next, BindingError> {
    if !ready(sh) {
        return Ok(Next::After(Duration::from_millis(25)));
    }
    if let Some(t) = lock(&sh.last_write).get(name) {
        let since = t.elapsed();
        if since < MIN_WRITE_INTERVAL {
            return Ok(Next::After(MIN_WRITE_INTERVAL - since));
        }
    }
    let policies: Api<BindingPolicy> = Api::all(sh.ctx.wds.clone());
    let bindings: Api<Binding> = Api::all(sh.ctx.wds.clone());
    let Some(policy) = sh.policies.get("", name) else {
        forget(sh, name);
        return Ok(Next::Done);
    };
    if policy.metadata.deletion_timestamp.is_some() {
        forget(sh, name);
        match bindings.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(api_err(format!("deleting Binding {name}"))(e)),
        }
        set_finalizer(&policies, &policy, false).await?;
        return Ok(Next::Done);
    }
    set_finalizer(&policies, &policy, true).await?;

    let existing = current_binding(sh, name);
    if existing
        .as_ref()
        .is_some_and(|b| b.metadata.deletion_timestamp.is_some())
    {
        // Being removed (the transport controller cleans up first); recreate it once gone.
        return Ok(Next::After(Duration::from_millis(200)));
    }
    let resolution = {
        let ns_list = sh.namespaces.list();
        let empty = Labels::new();
        let ns_labels: HashMap<&str, &Labels> = ns_list
            .iter()
            .map(|n| {
                (
                    n.metadata.name.as_deref().unwrap_or_default(),
                    n.metadata.labels.as_ref().unwrap_or(&empty),
                )
            })
            .collect();
        let lookup = |ns: &str| ns_labels.get(ns).copied();
        let clusters: Vec<(String, Labels)> = sh
            .clusters
            .list()
            .iter()
            .map(|c| (c.name_any(), c.labels().clone()))
            .collect();
        let index = sh.index.read().unwrap_or_else(|e| e.into_inner());
        resolve::resolve(
            &policy.spec,
            &index,
            &lookup,
            &clusters,
            existing.as_ref().map(|b| &b.spec),
        )
    };
    let resolution = Arc::new(resolution);
    let (previous, singleton_error) = {
        let mut all = lock(&sh.resolutions);
        let previous = all.insert(name.to_string(), resolution.clone());
        let err = resolve::singleton_error(&resolution, all.values().map(|r| &**r));
        (previous, err)
    };
    if singleton_inputs_changed(previous.as_deref(), &resolution)
        && lock(&sh.resolutions)
            .values()
            .any(|r| r.objects.values().any(|w| *w))
    {
        sh.queue.add(Work::All);
    }

    let owner = owner_reference(&policy);
    let up_to_date = existing.as_ref().is_some_and(|b| {
        b.spec == resolution.spec
            && b.metadata.owner_references.as_deref() == Some(std::slice::from_ref(&owner))
    });
    let binding = if up_to_date {
        existing
    } else {
        Some(
            write_binding(
                sh,
                &bindings,
                name,
                existing.as_deref(),
                &resolution.spec,
                owner,
            )
            .await?,
        )
    };

    let mut errors: Vec<String> = singleton_error.into_iter().collect();
    errors.extend(resolution.errors.iter().cloned());
    errors.extend(
        binding
            .as_ref()
            .and_then(|b| b.status.as_ref())
            .map(|s| s.errors.clone())
            .unwrap_or_default(),
    );
    let generation = policy.metadata.generation.unwrap_or_default();
    let status = policy.status.clone().unwrap_or_default();
    if status.observed_generation != generation || status.errors != errors {
        let body = json!({
            "apiVersion": "control.kubestellar.io/v1alpha1",
            "kind": "BindingPolicy",
            "metadata": {"name": name},
            "status": if errors.is_empty() {
                json!({"observedGeneration": generation})
            } else {
                json!({"observedGeneration": generation, "errors": errors})
            },
        });
        match policies
            .patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(api_err(format!("status of BindingPolicy {name}"))(e)),
        }
    }
    Ok(Next::Done)
}

/// Whether what singleton checks of other policies depend on changed.
fn singleton_inputs_changed(old: Option<&Resolution>, new: &Resolution) -> bool {
    match old {
        None => true,
        Some(old) => old.spec.destinations != new.spec.destinations || old.objects != new.objects,
    }
}

fn forget(sh: &Shared, name: &str) {
    lock(&sh.last_write).remove(name);
    let removed = lock(&sh.resolutions).remove(name);
    if removed.is_some_and(|r| r.objects.values().any(|w| *w)) {
        sh.queue.add(Work::All);
    }
}

fn owner_reference(policy: &BindingPolicy) -> OwnerReference {
    OwnerReference {
        api_version: BindingPolicy::api_version(&()).into_owned(),
        kind: BindingPolicy::kind(&()).into_owned(),
        name: policy.name_any(),
        uid: policy.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(false),
    }
}

async fn write_binding(
    sh: &Shared,
    api: &Api<Binding>,
    name: &str,
    existing: Option<&Binding>,
    spec: &BindingSpec,
    owner: OwnerReference,
) -> Result<Arc<Binding>, BindingError> {
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let mut before = existing
        .and_then(|b| b.metadata.resource_version.clone())
        .unwrap_or_default();
    let written = match existing {
        Some(b) => {
            let mut b = b.clone();
            b.spec = spec.clone();
            b.metadata.owner_references = Some(vec![owner]);
            b.metadata.managed_fields = None;
            match api.replace(name, &pp, &b).await {
                // The status controller writes the Binding's status too; when its write is
                // newer than what the mirror shows, take the current object and write again
                // at once (the spec is ours alone) rather than backing off.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let mut fresh = api
                        .get(name)
                        .await
                        .map_err(api_err(format!("reading Binding {name}")))?;
                    before = fresh.metadata.resource_version.clone().unwrap_or_default();
                    fresh.spec = spec.clone();
                    fresh.metadata.owner_references = b.metadata.owner_references.take();
                    fresh.metadata.managed_fields = None;
                    api.replace(name, &pp, &fresh)
                        .await
                        .map_err(api_err(format!("updating Binding {name}")))?
                }
                other => other.map_err(api_err(format!("updating Binding {name}")))?,
            }
        }
        None => {
            let mut b = Binding::new(name, spec.clone());
            b.metadata.owner_references = Some(vec![owner]);
            api.create(&pp, &b)
                .await
                .map_err(api_err(format!("creating Binding {name}")))?
        }
    };
    let written = Arc::new(written);
    lock(&sh.last_write).insert(name.to_string(), std::time::Instant::now());
    lock(&sh.written).insert(name.to_string(), (before, written.clone()));
    tracing::debug!(
        binding = name,
        objects = spec.workload.cluster_scope.len() + spec.workload.namespace_scope.len(),
        destinations = spec.destinations.len(),
        "wrote Binding"
    );
    Ok(written)
}

/// Adds or removes the policy's finalizer (a merge patch guarded by resourceVersion).
async fn set_finalizer(
    api: &Api<BindingPolicy>,
    policy: &BindingPolicy,
    present: bool,
) -> Result<(), BindingError> {
    let fins = policy.finalizers();
    let has = fins.iter().any(|f| f == BINDING_POLICY_FINALIZER);
    if has == present {
        return Ok(());
    }
    let new: Vec<&String> = if present {
        fins.iter().collect()
    } else {
        fins.iter()
            .filter(|f| *f != BINDING_POLICY_FINALIZER)
            .collect()
    };
    let mut new: Vec<String> = new.into_iter().cloned().collect();
    if present {
        new.push(BINDING_POLICY_FINALIZER.to_string());
    }
    let patch = json!({"metadata": {"finalizers": new, "resourceVersion": policy.metadata.resource_version}});
    match api
        .patch(
            &policy.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(api_err(format!(
            "finalizer of BindingPolicy {}",
            policy.name_any()
        ))(e)),
    }
}
