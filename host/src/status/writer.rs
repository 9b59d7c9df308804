//! The single writer: every write the status controller makes goes through one bounded queue
//! of targets, served by one task (linkerd's status writer shape), which keeps a few writes of
//! different targets in flight and never two of the same target.
//!
//! Reconcilers compute the desired content of a target and call [`Writer::reconcile`] with it
//! and with whether the index already shows that content. The writer remembers the write
//! queued and the one executing for each target, so a reconcile that runs again before the
//! watch has caught up neither writes the same thing twice nor lets a stale queued write
//! through. Each write has a timeout; a failed write sends the work that wanted it back to the
//! work queue with backoff. Successful responses go straight into the index, so the next
//! reconcile compares with what was written, and a CombinedStatus write that waited behind
//! another of the same object starts from the version that response left in the index.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::core::{ApiResource, ObjectMeta};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::keys::{ObjKey, Work};
use super::{Shared, lock};
use crate::api::{Binding, BindingPolicy, CombinedStatus, Condition, StatusCollector};

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "kubestellar-status";
/// Targets waiting for the writer (reconcilers wait when it is full).
pub const QUEUE_CAPACITY: usize = 1024;
/// Writes in flight at once (of different targets).
pub const WRITE_CONCURRENCY: usize = 4;
/// Longest a single write may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one write changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    ObjectStatus(ObjKey),
    ObjectLabels(ObjKey),
    Combined(String, String),
    CollectorStatus(String),
    PolicyConditions(String),
    BindingConditions(String),
}

/// How to reach a workload object's resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    pub ar: ApiResource,
    pub namespaced: bool,
    /// The resource has a `status` subresource.
    pub has_status: bool,
}

/// One write.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Replaces an object's `.status` (through the status subresource when there is one).
    ObjectStatus {
        res: ResourceInfo,
        key: ObjKey,
        status: Value,
    },
    /// Sets (`Some`) or removes (`None`) labels of an object.
    ObjectLabels {
        res: ResourceInfo,
        key: ObjKey,
        labels: BTreeMap<String, Option<String>>,
    },
    /// Creates a CombinedStatus.
    CombinedCreate(CombinedStatus),
    /// Replaces a CombinedStatus (its resourceVersion is the precondition).
    CombinedReplace(CombinedStatus),
    /// Deletes a CombinedStatus.
    CombinedDelete {
        namespace: String,
        name: String,
        uid: Option<String>,
    },
    /// Sets a StatusCollector's status.
    CollectorStatus {
        name: String,
        generation: i64,
        errors: Vec<String>,
    },
    /// Sets the conditions of a BindingPolicy (`policy`) or a Binding (server-side apply of the
    /// conditions only).
    Conditions {
        policy: bool,
        name: String,
        conditions: Vec<Condition>,
    },
}

impl Op {
    /// Whether `self` and `other` leave their target the same. CombinedStatus writes compare
    /// without their resourceVersion and without whether they create or replace: the writer
    /// settles both from the index when the write starts (see [`Op::rebased`]).
    fn same_effect(&self, other: &Op) -> bool {
        match (self.combined(), other.combined()) {
            (Some(a), Some(b)) => {
                a.results == b.results
                    && ObjectMeta {
                        resource_version: b.metadata.resource_version.clone(),
                        ..a.metadata.clone()
                    } == b.metadata
            }
            _ => self == other,
        }
    }

    fn combined(&self) -> Option<&CombinedStatus> {
        match self {
            Op::CombinedCreate(cs) | Op::CombinedReplace(cs) => Some(cs),
            _ => None,
        }
    }

    /// A CombinedStatus write brought up to date with `held`, the version the index holds
    /// when the write starts. A write that waited behind another of the same object was
    /// computed before that one's response and would otherwise carry its outdated
    /// resourceVersion (or create what now exists) and fail with a conflict.
    fn rebased(self, held: Option<&CombinedStatus>) -> Op {
        match self {
            Op::CombinedCreate(mut cs) | Op::CombinedReplace(mut cs) => {
                cs.metadata.resource_version =
                    held.and_then(|h| h.metadata.resource_version.clone());
                if held.is_some() {
                    Op::CombinedReplace(cs)
                } else {
                    Op::CombinedCreate(cs)
                }
            }
            other => other,
        }
    }
}

/// Counters of the status controller.
#[derive(Debug, Default)]
pub struct Stats {
    /// Writes that succeeded.
    pub writes: AtomicU64,
    /// Writes that failed (retried later).
    pub write_failures: AtomicU64,
    /// Writes that timed out (retried later).
    pub write_timeouts: AtomicU64,
    /// Queued writes replaced or cancelled before they ran.
    pub coalesced: AtomicU64,
    /// Work items handled.
    pub reconciles: AtomicU64,
    /// Summarizer calls made.
    pub summarize_calls: AtomicU64,
    /// Summaries reused because nothing they depend on changed.
    pub summarize_cached: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub writes: u64,
    pub write_failures: u64,
    pub write_timeouts: u64,
    pub coalesced: u64,
    pub reconciles: u64,
    pub summarize_calls: u64,
    pub summarize_cached: u64,
}

impl Stats {
    /// The current counts.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            writes: g(&self.writes),
            write_failures: g(&self.write_failures),
            write_timeouts: g(&self.write_timeouts),
            coalesced: g(&self.coalesced),
            reconciles: g(&self.reconciles),
            summarize_calls: g(&self.summarize_calls),
            summarize_cached: g(&self.summarize_cached),
        }
    }
}

pub(super) fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

#[derive(Default)]
struct Slot {
    queued: Option<(Op, Work)>,
    executing: Option<Op>,
    failures: u32,
}

/// The writer's queue side, shared by the reconcilers.
pub struct Writer {
    tx: mpsc::Sender<Target>,
    slots: Mutex<HashMap<Target, Slot>>,
}

impl Writer {
    /// A writer and the receiving end its task serves.
    pub fn new() -> (Writer, mpsc::Receiver<Target>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        (
            Writer {
                tx,
                slots: Mutex::default(),
            },
            rx,
        )
    }

    /// Makes `target` end up as `op` says. `in_sync` tells whether the index already shows
    /// that content; `origin` is the work to redo if the write fails.
    pub async fn reconcile(
        &self,
        stats: &Stats,
        target: Target,
        op: Op,
        in_sync: bool,
        origin: Work,
    ) {
        let send = {
            let mut slots = lock(&self.slots);
            let slot = slots.entry(target.clone()).or_default();
            let pending = slot
                .queued
                .as_ref()
                .map(|(o, _)| o)
                .or(slot.executing.as_ref());
            match pending {
                None if in_sync => false,
                None => {
                    slot.queued = Some((op, origin));
                    true
                }
                Some(p) if p.same_effect(&op) => false,
                Some(_) => {
                    let was_queued = slot.queued.is_some();
                    let settled = match &slot.executing {
                        Some(e) => e.same_effect(&op),
                        None => in_sync,
                    };
                    if was_queued {
                        bump(&stats.coalesced);
                    }
                    slot.queued = if settled { None } else { Some((op, origin)) };
                    !was_queued && slot.queued.is_some()
                }
            }
        };
        if send {
            // Bounded: a burst of reconciles waits here for the writer.
            let _ = self.tx.send(target).await;
        }
    }

    /// True when no write is queued or running (for tests and shutdown).
    pub fn idle(&self) -> bool {
        lock(&self.slots)
            .values()
            .all(|s| s.queued.is_none() && s.executing.is_none())
    }
}

/// What a successful write returned, to put into the index.
enum Written {
    Object(ObjKey, Value),
    Combined((String, String), Option<CombinedStatus>),
    Collector(String, StatusCollector),
    Policy(String, BindingPolicy),
    Binding(String, Binding),
    Nothing,
}

/// Takes the queued write of `target` and marks it executing; `None` when nothing is queued
/// or a write of the same target is still running (it is then started after that one).
fn take(sh: &Shared, target: &Target) -> Option<(Op, Work)> {
    let mut slots = lock(&sh.writer.slots);
    let slot = slots.get_mut(target)?;
    if slot.executing.is_some() {
        return None;
    }
    let (mut op, origin) = slot.queued.take()?;
    if let Some(cs) = op.combined() {
        // The index, not the slots, is locked inside: nothing locks them the other way round.
        let ix = lock(&sh.index);
        let held = ix.combined.get(&super::combined::id_of(cs)).cloned();
        op = op.rebased(held.as_deref());
    }
    slot.executing = Some(op.clone());
    Some((op, origin))
}

/// True when `target` has a write queued behind a running one.
fn waiting(sh: &Shared, target: &Target) -> bool {
    lock(&sh.writer.slots)
        .get(target)
        .is_some_and(|s| s.queued.is_some() && s.executing.is_some())
}

/// Serves the writer's queue until the channel closes: up to [`WRITE_CONCURRENCY`] writes of
/// different targets at once, never two of the same target.
pub(super) async fn run(sh: Arc<Shared>, mut rx: mpsc::Receiver<Target>) {
    let mut running: JoinSet<(Target, Work, bool)> = JoinSet::new();
    let mut deferred: Vec<Target> = Vec::new();
    loop {
        tokio::select! {
            t = rx.recv(), if running.len() < WRITE_CONCURRENCY => {
                let Some(target) = t else { break };
                if waiting(&sh, &target) {
                    deferred.push(target);
                } else if let Some((op, origin)) = take(&sh, &target) {
                    running.spawn(write(sh.clone(), target, op, origin));
                }
            }
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok((target, origin, failed)) = done {
                    finish(&sh, &target, origin, failed);
                }
                // Writes that waited for this one (or for a free place) may start now.
                let mut still = Vec::new();
                for t in deferred.drain(..) {
                    if running.len() < WRITE_CONCURRENCY && let Some((op, origin)) = take(&sh, &t) {
                        running.spawn(write(sh.clone(), t, op, origin));
                    } else if waiting(&sh, &t) || lock(&sh.writer.slots).get(&t).is_some_and(|s| s.queued.is_some()) {
                        still.push(t);
                    }
                }
                deferred = still;
            }
        }
    }
}

/// Executes one write; returns whether it failed.
async fn write(sh: Arc<Shared>, target: Target, op: Op, origin: Work) -> (Target, Work, bool) {
    let outcome = tokio::time::timeout(WRITE_TIMEOUT, execute(&sh.ctx.wds, &op)).await;
    let failed = match outcome {
        Ok(Ok(written)) => {
            bump(&sh.stats.writes);
            tracing::debug!(wds = %sh.ctx.cfg.wds_name, target = ?target, "status controller wrote");
            record(&sh, written);
            false
        }
        Ok(Err(e)) => {
            bump(&sh.stats.write_failures);
            tracing::warn!(wds = %sh.ctx.cfg.wds_name, target = ?target, error = %e, "status write failed; will retry");
            true
        }
        Err(_) => {
            bump(&sh.stats.write_timeouts);
            tracing::warn!(wds = %sh.ctx.cfg.wds_name, target = ?target, "status write timed out; will retry");
            true
        }
    };
    (target, origin, failed)
}

/// Marks a write done; a failed one sends its work back with backoff.
fn finish(sh: &Shared, target: &Target, origin: Work, failed: bool) {
    let retry = {
        let mut slots = lock(&sh.writer.slots);
        let mut retry = None;
        if let Some(slot) = slots.get_mut(target) {
            slot.executing = None;
            if failed {
                slot.failures = slot.failures.saturating_add(1);
                retry = Some(
                    Duration::from_millis(200u64 << slot.failures.min(7))
                        .min(Duration::from_secs(30)),
                );
            } else {
                slot.failures = 0;
            }
            if slot.queued.is_none() && slot.failures == 0 {
                slots.remove(target);
            }
        }
        retry
    };
    if let Some(delay) = retry {
        sh.queue.add_after(origin, delay);
    }
}

fn record(sh: &Shared, written: Written) {
    let work = {
        let mut ix = lock(&sh.index);
        match written {
            Written::Object(key, v) => {
                let newer = ix.objects.get(&key).is_none_or(|old| is_newer(&v, old));
                if newer {
                    ix.object_changed(key, Some(v))
                } else {
                    Vec::new()
                }
            }
            Written::Combined(id, cs) => ix.combined_changed(id, cs),
            Written::Collector(name, c) => ix.collector_changed(&name, Some(c)),
            Written::Policy(name, p) => ix.policy_changed(&name, Some(p)),
            Written::Binding(name, b) => ix.binding_changed(&name, Some(b)),
            Written::Nothing => Vec::new(),
        }
    };
    sh.enqueue(work);
}

/// True unless `old` has a higher numeric resourceVersion than `new`.
pub fn is_newer(new: &Value, old: &Value) -> bool {
    let key = "resourceVersion";
    rv_at_least(new["metadata"][key].as_str(), old["metadata"][key].as_str())
}

/// True unless `old` is a higher numeric resourceVersion than `new` (versions that are not
/// numbers, or missing, cannot be ordered and count as newer).
pub fn rv_at_least(new: Option<&str>, old: Option<&str>) -> bool {
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
    match (num(new), num(old)) {
        (Some(n), Some(o)) => n >= o,
        _ => true,
    }
}

fn dynamic_api(wds: &kube::Client, res: &ResourceInfo, key: &ObjKey) -> Api<DynamicObject> {
    if res.namespaced {
        Api::namespaced_with(wds.clone(), &key.namespace, &res.ar)
    } else {
        Api::all_with(wds.clone(), &res.ar)
    }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

async fn execute(wds: &kube::Client, op: &Op) -> Result<Written, kube::Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    match op {
        Op::ObjectStatus { res, key, status } => {
            let api = dynamic_api(wds, res, key);
            let ops: json_patch::Patch =
                serde_json::from_value(json!([{"op": "add", "path": "/status", "value": status}]))
                    .map_err(kube::Error::SerdeError)?;
            let r = if res.has_status {
                api.patch_status(&key.name, &params, &Patch::<()>::Json(ops))
                    .await
            } else {
                api.patch(&key.name, &params, &Patch::<()>::Json(ops)).await
            };
            match r {
                Ok(o) => Ok(Written::Object(
                    key.clone(),
                    serde_json::to_value(o).map_err(kube::Error::SerdeError)?,
                )),
                Err(e) if not_found(&e) => Ok(Written::Nothing),
                Err(e) => Err(e),
            }
        }
        Op::ObjectLabels { res, key, labels } => {
            let api = dynamic_api(wds, res, key);
            let patch = json!({"metadata": {"labels": labels}});
            match api.patch(&key.name, &params, &Patch::Merge(&patch)).await {
                Ok(o) => Ok(Written::Object(
                    key.clone(),
                    serde_json::to_value(o).map_err(kube::Error::SerdeError)?,
                )),
                Err(e) if not_found(&e) => Ok(Written::Nothing),
                Err(e) => Err(e),
            }
        }
        Op::CombinedCreate(cs) => {
            let ns = cs.metadata.namespace.clone().unwrap_or_default();
            let api: Api<CombinedStatus> = Api::namespaced(wds.clone(), &ns);
            let pp = PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            let created = api.create(&pp, cs).await?;
            Ok(Written::Combined(
                (ns, created.metadata.name.clone().unwrap_or_default()),
                Some(created),
            ))
        }
        Op::CombinedReplace(cs) => {
            let ns = cs.metadata.namespace.clone().unwrap_or_default();
            let name = cs.metadata.name.clone().unwrap_or_default();
            let api: Api<CombinedStatus> = Api::namespaced(wds.clone(), &ns);
            let pp = PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            let replaced = api.replace(&name, &pp, cs).await?;
            Ok(Written::Combined((ns, name), Some(replaced)))
        }
        Op::CombinedDelete {
            namespace,
            name,
            uid,
        } => {
            let api: Api<CombinedStatus> = Api::namespaced(wds.clone(), namespace);
            let dp = DeleteParams::default().preconditions(Preconditions {
                uid: uid.clone(),
                resource_version: None,
            });
            match api.delete(name, &dp).await {
                Ok(_) => Ok(Written::Combined((namespace.clone(), name.clone()), None)),
                Err(e) if not_found(&e) => {
                    Ok(Written::Combined((namespace.clone(), name.clone()), None))
                }
                Err(e) => Err(e),
            }
        }
        Op::CollectorStatus {
            name,
            generation,
            errors,
        } => {
            let api: Api<StatusCollector> = Api::all(wds.clone());
            let mut status = json!({"observedGeneration": generation});
            if !errors.is_empty() {
                status["errors"] = json!(errors);
            }
            let body = json!({"apiVersion": "control.kubestellar.io/v1alpha1", "kind": "StatusCollector", "metadata": {"name": name}, "status": status});
            match api.patch_status(name, &apply, &Patch::Apply(&body)).await {
                Ok(c) => Ok(Written::Collector(name.clone(), c)),
                Err(e) if not_found(&e) => Ok(Written::Nothing),
                Err(e) => Err(e),
            }
        }
        Op::Conditions {
            policy,
            name,
            conditions,
        } => {
            let kind = if *policy { "BindingPolicy" } else { "Binding" };
            let body = json!({
                "apiVersion": "control.kubestellar.io/v1alpha1", "kind": kind, "metadata": {"name": name},
                "status": {"conditions": conditions},
            });
            if *policy {
                let api: Api<BindingPolicy> = Api::all(wds.clone());
                match api.patch_status(name, &apply, &Patch::Apply(&body)).await {
                    Ok(p) => Ok(Written::Policy(name.clone(), p)),
                    Err(e) if not_found(&e) => Ok(Written::Nothing),
                    Err(e) => Err(e),
                }
            } else {
                let api: Api<Binding> = Api::all(wds.clone());
                match api.patch_status(name, &apply, &Patch::Apply(&body)).await {
                    Ok(b) => Ok(Written::Binding(name.clone(), b)),
                    Err(e) if not_found(&e) => Ok(Written::Nothing),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(n: i64) -> Op {
        Op::CollectorStatus {
            name: "c".into(),
            generation: n,
            errors: vec![],
        }
    }

    #[tokio::test]
    async fn writes_are_queued_once_and_superseded_or_cancelled() {
        let (w, mut rx) = Writer::new();
        let stats = Stats::default();
        let t = Target::CollectorStatus("c".into());
        let origin = Work::Collector("c".into());
        // In sync and nothing pending: no write.
        w.reconcile(&stats, t.clone(), op(1), true, origin.clone())
            .await;
        assert!(rx.try_recv().is_err());
        // Out of sync: queued once, however often asked.
        w.reconcile(&stats, t.clone(), op(1), false, origin.clone())
            .await;
        w.reconcile(&stats, t.clone(), op(1), false, origin.clone())
            .await;
        assert_eq!(rx.try_recv().ok(), Some(t.clone()));
        assert!(rx.try_recv().is_err());
        // A newer desired content replaces the queued one without a second send.
        w.reconcile(&stats, t.clone(), op(2), false, origin.clone())
            .await;
        assert!(rx.try_recv().is_err());
        assert_eq!(
            lock(&w.slots)[&t].queued.as_ref().map(|q| q.0.clone()),
            Some(op(2))
        );
        // The index caught up with what is wanted: the queued write is cancelled.
        w.reconcile(&stats, t.clone(), op(3), true, origin.clone())
            .await;
        assert!(lock(&w.slots)[&t].queued.is_none());
        assert!(w.idle());
        assert_eq!(stats.snapshot().coalesced, 2);
    }

    #[tokio::test]
    async fn a_running_write_counts_as_the_current_content() {
        let (w, mut rx) = Writer::new();
        let stats = Stats::default();
        let t = Target::CollectorStatus("c".into());
        let origin = Work::Collector("c".into());
        lock(&w.slots).entry(t.clone()).or_default().executing = Some(op(1));
        // Same as what is being written: nothing more, even though the index is stale.
        w.reconcile(&stats, t.clone(), op(1), false, origin.clone())
            .await;
        assert!(rx.try_recv().is_err());
        // Something else: queued behind it, even if the (stale) index happens to match.
        w.reconcile(&stats, t.clone(), op(0), true, origin.clone())
            .await;
        assert_eq!(rx.try_recv().ok(), Some(t.clone()));
        // Back to what is being written: the queued one is dropped.
        w.reconcile(&stats, t.clone(), op(1), false, origin).await;
        assert!(lock(&w.slots)[&t].queued.is_none());
    }

    fn cs(rv: Option<&str>, rows: &str) -> CombinedStatus {
        serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "CombinedStatus",
            "metadata": {"name": "c", "namespace": "ns", "resourceVersion": rv},
            "results": [{"name": "r", "columns": [{"name": "x"}], "rows": [{"columns": [{"type": "String", "string": rows}]}]}],
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_waiting_combined_status_write_starts_from_the_version_the_index_holds() {
        // Computed while the create of the same object was running: it would create again.
        let queued = Op::CombinedCreate(cs(None, "b"));
        let held = cs(Some("7"), "a");
        assert_eq!(
            queued.clone().rebased(Some(&held)),
            Op::CombinedReplace(cs(Some("7"), "b"))
        );
        // Computed before a replace's response: it would carry the old version.
        let queued = Op::CombinedReplace(cs(Some("5"), "b"));
        assert_eq!(
            queued.clone().rebased(Some(&held)),
            Op::CombinedReplace(cs(Some("7"), "b"))
        );
        // The object is gone meanwhile: created again.
        assert_eq!(queued.rebased(None), Op::CombinedCreate(cs(None, "b")));
        // Other writes are left alone.
        assert_eq!(op(1).rebased(Some(&held)), op(1));
    }

    #[tokio::test]
    async fn combined_status_writes_of_the_same_content_are_one_write() {
        let (w, mut rx) = Writer::new();
        let stats = Stats::default();
        let t = Target::Combined("ns".into(), "c".into());
        let origin = Work::Collector("c".into());
        lock(&w.slots).entry(t.clone()).or_default().executing =
            Some(Op::CombinedCreate(cs(None, "a")));
        // The create's response is in the index: the same content, now as a replace of that
        // version, is what is being written.
        w.reconcile(
            &stats,
            t.clone(),
            Op::CombinedReplace(cs(Some("7"), "a")),
            true,
            origin.clone(),
        )
        .await;
        assert!(rx.try_recv().is_err());
        // Different content still waits behind it.
        w.reconcile(
            &stats,
            t.clone(),
            Op::CombinedReplace(cs(Some("7"), "b")),
            false,
            origin,
        )
        .await;
        assert_eq!(rx.try_recv().ok(), Some(t));
    }

    #[test]
    fn resource_versions_order_responses() {
        let v = |rv: &str| json!({"metadata": {"resourceVersion": rv}});
        assert!(is_newer(&v("10"), &v("9")));
        assert!(!is_newer(&v("9"), &v("10")));
        assert!(is_newer(&v("abc"), &v("10")));
    }
}
