//! The WEC agent: pulls the ManifestWorks of its own mailbox namespace in the ITS, applies them
//! to its WEC (server-side apply, or create-only), prunes what left them, repairs drift, and
//! reports back (ManifestWork status, one WorkStatus per delivered object).
//!
//! Level-triggered: every reconcile compares what the ManifestWorks ask for with what the WEC
//! holds and writes only differences, so a restart or a reconnect re-applies nothing unchanged.
//! What it applied is recorded in each ManifestWork's `status.resourceStatus` (and a finalizer
//! keeps a ManifestWork until its objects are removed), so the agent never deletes objects it
//! did not create, even across restarts.

mod backlog;
pub mod diff;
pub mod manifests;
mod report;
mod upsync;
mod wec;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::api::labels::MANIFESTWORK_CLEANUP_FINALIZER;
use crate::api::{ManifestWork, WorkStatus};
use crate::binding::mirror::slim;
use crate::binding::queue::AbortOnDrop;
use backlog::Backlog;
use manifests::{Desired, ObjKey};

/// Name of the Lease the agent renews in its mailbox namespace, as a heartbeat.
pub const HEARTBEAT_LEASE: &str = "kubestellar-agent";
/// Seconds between heartbeats.
pub const HEARTBEAT_SECONDS: u64 = 15;

/// Longest wait before retrying a failed reconcile.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Settings of one agent.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The WEC's name = its ManagedCluster's name = its mailbox namespace in the ITS.
    pub cluster: String,
    /// Field manager for server-side apply in the WEC.
    pub field_manager: String,
    /// Full re-reconcile period (safety net; events drive normal operation).
    pub resync: Duration,
    /// ManifestWorks reconciled at once.
    pub concurrency: usize,
    /// Largest UpsyncedObject (bytes of JSON) written to the ITS; a larger object is reported
    /// on its BindingPolicy instead of copied.
    pub upsync_max_bytes: usize,
    /// Counters and heartbeat of the reconcile loop (read by `/healthz`, `/readyz`, `/metrics`).
    pub stats: crate::health::LoopStats,
}

impl AgentConfig {
    /// Defaults for a cluster.
    pub fn new(cluster: impl Into<String>) -> AgentConfig {
        AgentConfig {
            cluster: cluster.into(),
            field_manager: "kubestellar-agent".into(),
            resync: Duration::from_secs(300),
            concurrency: 8,
            upsync_max_bytes: 1_000_000,
            stats: Default::default(),
        }
    }
}

/// Errors of one reconcile (retried with backoff; the agent keeps serving the others).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("ITS: {0}")]
    Its(#[source] kube::Error),
    #[error("WEC: {0}")]
    Wec(#[source] kube::Error),
    #[error("{0}")]
    Retry(String),
}

/// Units of work.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Work {
    /// Reconcile one ManifestWork.
    Mw(String),
    /// An applied object changed in the WEC: check drift, report status.
    Object(ObjKey),
    /// Reconcile everything.
    Resync,
    /// A namespace or CRD was just applied: retry failed work now rather than after backoff.
    RetryFailed,
}

/// What the agent knows, shared by its tasks.
pub(crate) struct Shared {
    cfg: AgentConfig,
    its: kube::Client,
    wec: kube::Client,
    /// ManifestWorks of the mailbox, as last seen.
    mws: Mutex<BTreeMap<String, ManifestWork>>,
    /// WorkStatus objects of the mailbox, as last seen.
    workstatuses: Mutex<HashMap<String, WorkStatus>>,
    /// Applied objects as last seen in the WEC.
    live: Mutex<HashMap<ObjKey, DynamicObject>>,
    /// Which ManifestWorks want each object, and what they want.
    wanted: Mutex<HashMap<ObjKey, Wanted>>,
    /// Discovery results in the WEC.
    resources: Mutex<HashMap<kube::core::GroupVersionKind, wec::Resolved>>,
    /// Kinds watched in the WEC, with their watch tasks (aborted when the agent stops).
    watched: Mutex<HashMap<kube::core::GroupVersionKind, AbortOnDrop>>,
    work_tx: mpsc::UnboundedSender<Work>,
}

/// The desired state of one object.
#[derive(Clone, Debug)]
struct Wanted {
    owners: BTreeSet<String>,
    desired: Desired,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One agent: ITS mailbox on one side, WEC on the other.
pub struct Agent {
    shared: Arc<Shared>,
    work_rx: mpsc::UnboundedReceiver<Work>,
}

impl Agent {
    /// An agent for `cfg.cluster`, with clients for the ITS and the WEC.
    pub fn new(cfg: AgentConfig, its: kube::Client, wec: kube::Client) -> Agent {
        let (work_tx, work_rx) = mpsc::unbounded_channel();
        Agent {
            shared: Arc::new(Shared {
                cfg,
                its,
                wec,
                mws: Mutex::default(),
                workstatuses: Mutex::default(),
                live: Mutex::default(),
                wanted: Mutex::default(),
                resources: Mutex::default(),
                watched: Mutex::default(),
                work_tx,
            }),
            work_rx,
        }
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let sh = self.shared.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(watch_manifestworks(sh.clone()));
        tasks.spawn(watch_workstatuses(sh.clone()));
        tasks.spawn(heartbeat(sh.clone()));
        tasks.spawn(upsync::run(sh.clone()));
        tokio::pin!(shutdown);
        let mut backlog = Backlog::default();
        let mut retry: BTreeMap<tokio::time::Instant, Vec<Work>> = BTreeMap::new();
        let mut failures: HashMap<Work, u32> = HashMap::new();
        let mut running: JoinSet<(Work, Result<(), AgentError>)> = JoinSet::new();
        let mut in_flight: HashSet<Work> = HashSet::new();
        let mut resync = tokio::time::interval(sh.cfg.resync);
        resync.tick().await;
        // Beats while idle, so that `/healthz` can tell a quiet loop from a wedged one.
        let mut beat = tokio::time::interval(Duration::from_secs(5));
        loop {
            sh.cfg
                .stats
                .beat(backlog.len() + retry.values().map(Vec::len).sum::<usize>());
            // Start what can start; Resync and RetryFailed only queue more, so go round again.
            loop {
                let free = sh.cfg.concurrency.saturating_sub(running.len());
                let chosen = if free == 0 {
                    Vec::new()
                } else {
                    backlog.take(free, &in_flight)
                };
                if chosen.is_empty() {
                    break;
                }
                let mut queued_more = false;
                for w in chosen {
                    match w {
                        Work::Resync => {
                            let mws = lock(&sh.mws);
                            let all: Vec<Work> = mws.keys().map(|n| Work::Mw(n.clone())).collect();
                            backlog.extend(all, &mws);
                            queued_more = true;
                        }
                        Work::RetryFailed => {
                            let mws = lock(&sh.mws);
                            for (_, ws) in std::mem::take(&mut retry) {
                                backlog.extend(ws, &mws);
                            }
                            failures.clear();
                            queued_more = true;
                        }
                        w => {
                            in_flight.insert(w.clone());
                            let sh = sh.clone();
                            running.spawn(async move {
                                let r = handle(&sh, &w).await;
                                (w, r)
                            });
                        }
                    }
                }
                if !queued_more {
                    break;
                }
            }
            let next_retry = retry.keys().next().copied();
            tokio::select! {
                _ = &mut shutdown => break,
                w = self.work_rx.recv() => match w {
                    Some(w) => {
                        let mws = lock(&sh.mws);
                        backlog.insert(w, &mws);
                        while let Ok(w) = self.work_rx.try_recv() {
                            backlog.insert(w, &mws);
                        }
                    }
                    None => break,
                },
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok((w, result)) = done {
                        in_flight.remove(&w);
                        sh.cfg.stats.reconciled(result.is_ok());
                        match result {
                            Ok(()) => {
                                failures.remove(&w);
                            }
                            Err(e) => {
                                let n = failures.entry(w.clone()).or_insert(0);
                                *n += 1;
                                let delay = Duration::from_millis(200u64.saturating_mul(1 << (*n).min(8))).min(MAX_BACKOFF);
                                tracing::warn!(cluster = %sh.cfg.cluster, work = ?w, error = %e, retry_in_ms = delay.as_millis() as u64, "agent reconcile failed");
                                retry.entry(tokio::time::Instant::now() + delay).or_default().push(w);
                            }
                        }
                    }
                }
                _ = async {
                    match next_retry {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending::<()>().await,
                    }
                } => {
                    let now = tokio::time::Instant::now();
                    let due: Vec<_> = retry.range(..=now).map(|(k, _)| *k).collect();
                    let mws = lock(&sh.mws);
                    for k in due {
                        if let Some(ws) = retry.remove(&k) {
                            backlog.extend(ws, &mws);
                        }
                    }
                }
                _ = resync.tick() => {
                    backlog.insert(Work::Resync, &lock(&sh.mws));
                }
                _ = beat.tick() => {}
            }
        }
        tasks.abort_all();
        running.abort_all();
        // The WEC watches hold the shared state, so dropping it would not end them.
        lock(&sh.watched).clear();
    }
}

async fn handle(sh: &Arc<Shared>, w: &Work) -> Result<(), AgentError> {
    match w {
        Work::Mw(name) => reconcile_mw(sh, name).await,
        Work::Object(key) => object_changed(sh, key).await,
        Work::Resync | Work::RetryFailed => Ok(()),
    }
}

/// Keeps `mws` in sync with the mailbox and queues reconciles.
async fn watch_manifestworks(sh: Arc<Shared>) {
    let api: Api<ManifestWork> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut initial: BTreeMap<String, ManifestWork> = BTreeMap::new();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => initial.clear(),
            Ok(watcher::Event::InitApply(mw)) => {
                initial.insert(mw.metadata.name.clone().unwrap_or_default(), slim(mw));
            }
            Ok(watcher::Event::InitDone) => {
                sh.cfg.stats.set_synced();
                let gone: Vec<String> = {
                    let mut mws = lock(&sh.mws);
                    let gone = mws
                        .keys()
                        .filter(|k| !initial.contains_key(*k))
                        .cloned()
                        .collect();
                    *mws = std::mem::take(&mut initial);
                    gone
                };
                rebuild_wanted(&sh);
                for g in gone {
                    let _ = sh.work_tx.send(Work::Mw(g));
                }
                let _ = sh.work_tx.send(Work::Resync);
            }
            Ok(watcher::Event::Apply(mw)) => {
                let name = mw.metadata.name.clone().unwrap_or_default();
                lock(&sh.mws).insert(name.clone(), slim(mw));
                let _ = sh.work_tx.send(Work::Mw(name));
            }
            Ok(watcher::Event::Delete(mw)) => {
                let name = mw.metadata.name.clone().unwrap_or_default();
                lock(&sh.mws).remove(&name);
                let _ = sh.work_tx.send(Work::Mw(name));
            }
            Err(e) => {
                tracing::warn!(cluster = %sh.cfg.cluster, error = %e, "watching ManifestWorks in the ITS failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Renews the agent's Lease in its mailbox namespace (`kubestellar status` reads it).
async fn heartbeat(sh: Arc<Shared>) {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    let mut tick = tokio::time::interval(Duration::from_secs(HEARTBEAT_SECONDS));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": HEARTBEAT_LEASE, "namespace": sh.cfg.cluster},
            "spec": {"holderIdentity": sh.cfg.field_manager, "leaseDurationSeconds": 3 * HEARTBEAT_SECONDS, "renewTime": now},
        });
        if let Err(e) = api
            .patch(
                HEARTBEAT_LEASE,
                &PatchParams::apply(&sh.cfg.field_manager).force(),
                &Patch::Apply(&body),
            )
            .await
        {
            tracing::debug!(cluster = %sh.cfg.cluster, error = %e, "heartbeat failed");
        }
    }
}

/// Keeps `workstatuses` in sync with the mailbox (so that reports write only differences).
async fn watch_workstatuses(sh: Arc<Shared>) {
    let api: Api<WorkStatus> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut initial = HashMap::new();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => initial.clear(),
            Ok(watcher::Event::InitApply(ws)) => {
                initial.insert(ws.metadata.name.clone().unwrap_or_default(), slim(ws));
            }
            Ok(watcher::Event::InitDone) => *lock(&sh.workstatuses) = std::mem::take(&mut initial),
            Ok(watcher::Event::Apply(ws)) => {
                let stale = stale_report(&sh, &ws);
                lock(&sh.workstatuses)
                    .insert(ws.metadata.name.clone().unwrap_or_default(), slim(ws));
                if let Some(key) = stale {
                    let _ = sh.work_tx.send(Work::Object(key));
                }
            }
            Ok(watcher::Event::Delete(ws)) => {
                lock(&sh.workstatuses).remove(&ws.metadata.name.clone().unwrap_or_default());
            }
            Err(e) => {
                tracing::warn!(cluster = %sh.cfg.cluster, error = %e, "watching WorkStatuses in the ITS failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The object a WorkStatus reports, when the WEC already shows it with another status: two
/// reports of one object can race and the older finish last, so every report that lands is
/// checked against the object (level-triggered), not only the reports the agent makes.
fn stale_report(sh: &Shared, ws: &WorkStatus) -> Option<ObjKey> {
    let r = &ws.spec.source_ref;
    let key = ObjKey {
        group: r.group.clone(),
        version: r.version.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
    };
    let live = lock(&sh.live);
    let now = live.get(&key)?.data.get("status");
    let reported = ws.status.as_ref();
    let empty = Value::Object(Default::default());
    (now.unwrap_or(&empty) != reported.unwrap_or(&empty)).then_some(key)
}

/// Recomputes which ManifestWorks want which objects, from the current ManifestWorks.
fn rebuild_wanted(sh: &Shared) {
    let mws = lock(&sh.mws).clone();
    let mut wanted: HashMap<ObjKey, Wanted> = HashMap::new();
    for (name, mw) in &mws {
        if mw.metadata.deletion_timestamp.is_some() {
            continue;
        }
        for d in manifests::desired(mw).0 {
            wanted
                .entry(d.key.clone())
                .or_insert_with(|| Wanted {
                    owners: BTreeSet::new(),
                    desired: d.clone(),
                })
                .owners
                .insert(name.clone());
        }
    }
    *lock(&sh.wanted) = wanted;
}

/// What the ManifestWork applied before (from its status), as keys.
fn previously_applied(mw: &ManifestWork) -> Vec<ObjKey> {
    mw.status
        .as_ref()
        .map(|s| {
            s.resource_status
                .manifests
                .iter()
                .filter(|m| !m.resource_meta.kind.is_empty() && !m.resource_meta.name.is_empty())
                .map(|m| ObjKey {
                    group: m.resource_meta.group.clone(),
                    version: m.resource_meta.version.clone(),
                    kind: m.resource_meta.kind.clone(),
                    namespace: m.resource_meta.namespace.clone(),
                    name: m.resource_meta.name.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn reconcile_mw(sh: &Arc<Shared>, name: &str) -> Result<(), AgentError> {
    let mw = lock(&sh.mws).get(name).cloned();
    let Some(mw) = mw else {
        // Gone without our finalizer (forced): release what it wanted, from memory.
        let keys: Vec<ObjKey> = lock(&sh.wanted)
            .iter()
            .filter(|(_, w)| w.owners.contains(name))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            release(sh, name, &k, true).await?;
        }
        return Ok(());
    };
    let orphan = mw
        .spec
        .delete_option
        .as_ref()
        .and_then(|d| d.propagation_policy.as_deref())
        .is_some_and(|p| p == "Orphan");
    let (desired, bad) = manifests::desired(&mw);
    let previous = previously_applied(&mw);
    if mw.metadata.deletion_timestamp.is_some() {
        let mut keys: BTreeSet<ObjKey> = previous.into_iter().collect();
        keys.extend(desired.iter().map(|d| d.key.clone()));
        for k in keys {
            release(sh, name, &k, !orphan).await?;
        }
        return remove_finalizer(sh, &mw).await;
    }
    ensure_finalizer(sh, &mw).await?;
    let desired_keys: BTreeSet<&ObjKey> = desired.iter().map(|d| &d.key).collect();
    for k in previous.iter().filter(|k| !desired_keys.contains(k)) {
        release(sh, name, k, !orphan).await?;
    }
    let mut outcomes = Vec::new();
    for d in &desired {
        {
            let mut wanted = lock(&sh.wanted);
            let w = wanted.entry(d.key.clone()).or_insert_with(|| Wanted {
                owners: BTreeSet::new(),
                desired: d.clone(),
            });
            w.owners.insert(name.to_string());
            w.desired = d.clone();
        }
        let result = wec::apply(sh, d).await;
        if result.is_ok() && manifests::apply_rank(&d.key) < 2 {
            // Objects waiting for this namespace or CRD can go now.
            let _ = sh.work_tx.send(Work::RetryFailed);
        }
        if let Ok(applied) = &result {
            report::work_status(sh, &mw, &d.key, applied).await?;
        }
        outcomes.push((d.clone(), result));
    }
    report::manifestwork_status(sh, &mw, &outcomes, &bad).await
}

/// Drops `mw`'s claim on an object; deletes it from the WEC (and its WorkStatus) when no
/// ManifestWork wants it any more.
async fn release(sh: &Arc<Shared>, mw: &str, key: &ObjKey, delete: bool) -> Result<(), AgentError> {
    let unowned = {
        let mut wanted = lock(&sh.wanted);
        match wanted.get_mut(key) {
            Some(w) => {
                w.owners.remove(mw);
                if w.owners.is_empty() {
                    wanted.remove(key);
                    true
                } else {
                    false
                }
            }
            None => true,
        }
    };
    if !unowned {
        return Ok(());
    }
    if delete {
        wec::delete(sh, key).await?;
    }
    lock(&sh.live).remove(key);
    report::delete_work_status(sh, key).await
}

async fn ensure_finalizer(sh: &Shared, mw: &ManifestWork) -> Result<(), AgentError> {
    let mut fins = mw.metadata.finalizers.clone().unwrap_or_default();
    if fins.iter().any(|f| f == MANIFESTWORK_CLEANUP_FINALIZER) {
        return Ok(());
    }
    fins.push(MANIFESTWORK_CLEANUP_FINALIZER.into());
    let api: Api<ManifestWork> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    let patch =
        json!({"metadata": {"finalizers": fins, "resourceVersion": mw.metadata.resource_version}});
    api.patch(
        &mw.metadata.name.clone().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(AgentError::Its)?;
    Ok(())
}

async fn remove_finalizer(sh: &Shared, mw: &ManifestWork) -> Result<(), AgentError> {
    let fins: Vec<String> = mw
        .metadata
        .finalizers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != MANIFESTWORK_CLEANUP_FINALIZER)
        .collect();
    if Some(fins.len()) == mw.metadata.finalizers.as_ref().map(Vec::len) {
        return Ok(());
    }
    let api: Api<ManifestWork> = Api::namespaced(sh.its.clone(), &sh.cfg.cluster);
    let patch =
        json!({"metadata": {"finalizers": fins, "resourceVersion": mw.metadata.resource_version}});
    match api
        .patch(
            &mw.metadata.name.clone().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(AgentError::Its(e)),
    }
}

/// An applied object changed in the WEC: repair drift (through its ManifestWork) and report
/// its status.
async fn object_changed(sh: &Arc<Shared>, key: &ObjKey) -> Result<(), AgentError> {
    let Some(w) = lock(&sh.wanted).get(key).cloned() else {
        return Ok(());
    };
    let live = lock(&sh.live).get(key).cloned();
    let drifted = match &live {
        None => true,
        Some(l) => {
            !w.desired.create_only
                && !diff::contains(
                    &w.desired.object,
                    &serde_json::to_value(l).unwrap_or(Value::Null),
                )
        }
    };
    if drifted {
        for owner in &w.owners {
            let _ = sh.work_tx.send(Work::Mw(owner.clone()));
        }
        return Ok(());
    }
    let Some(live) = live else { return Ok(()) };
    let Some(owner) = w.owners.iter().next().cloned() else {
        return Ok(());
    };
    let mw = lock(&sh.mws).get(&owner).cloned();
    match mw {
        Some(mw) => report::work_status(sh, &mw, key, &live).await,
        None => Ok(()),
    }
}
