//! The workload simulator: makes a space behave like a cluster running its workloads (like
//! KWOK). Deployments, ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets, Jobs and
//! Pods get the status their controllers or kubelet would report, over time: a new or changed
//! workload first reports its replicas as not ready, and after [`SimulatorConfig::ready_delay`]
//! as ready and available; Jobs then complete. No pods are created for replicas: status only,
//! so that a hundred simulated clusters fit in one process. Simulated Node objects make
//! `kubectl get nodes` look right.
//!
//! Level-triggered: every change of a simulated kind (and a full rescan at start or when events
//! were missed) recomputes the object's desired status from the object itself and writes only
//! the difference, through the same write path as the HTTP handlers. The only memory is when
//! each in-progress generation started, plus one deadline queue.

mod apps;
mod job;
mod kinds;
pub mod nodes;
mod pod;
mod util;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::error::ApiError;
use crate::objects::{FieldValidation, PatchType, Subresource, WriteOptions};
use crate::registry::{Catalog, GroupResource, ResourceInfo};
use crate::space::Space;
use crate::store::{Event, ObjectKey};
use kinds::{Ctx, Kind};

pub use nodes::NODE_NAME;

/// The field manager of the simulator's writes.
pub const MANAGER: &str = "space-simulator";
/// Writes in flight at once (the store commits concurrent writes together).
const CONCURRENCY: usize = 64;
/// Objects looked at before their writes are performed.
const CHUNK: usize = 1024;
/// Minimum time between two re-assertions of one object's status (when someone else keeps
/// writing it, the simulator does not join a hot loop).
const REASSERT_GAP: Duration = Duration::from_millis(500);
/// First retry delay after a failed write; doubles up to [`MAX_RETRY`].
const RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// How the simulator behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatorConfig {
    /// How long a new or changed workload reports its replicas (or a pod its containers) as not
    /// ready yet.
    pub ready_delay: Duration,
    /// How long a Job runs once its pods are ready, before it completes.
    pub job_duration: Duration,
    /// Number of simulated nodes (DaemonSets run one pod per node their selector accepts).
    pub nodes: u32,
}

impl Default for SimulatorConfig {
    fn default() -> SimulatorConfig {
        SimulatorConfig {
            ready_delay: Duration::from_millis(200),
            job_duration: Duration::from_millis(300),
            nodes: 1,
        }
    }
}

/// When the progression of one object's current generation started.
struct Track {
    uid: String,
    generation: i64,
    since: Instant,
    /// A Deployment rollout to a new pod template.
    new_template: bool,
}

/// One write the simulator decided on.
enum Write {
    Create {
        info: Arc<ResourceInfo>,
        key: ObjectKey,
        body: Value,
    },
    Patch {
        info: Arc<ResourceInfo>,
        key: ObjectKey,
        sub: Subresource,
        patch: Value,
    },
}

impl Write {
    fn key(&self) -> &ObjectKey {
        match self {
            Write::Create { key, .. } | Write::Patch { key, .. } => key,
        }
    }

    async fn execute(self, space: &Space) -> Result<(), ApiError> {
        let opts = WriteOptions {
            field_manager: Some(MANAGER.into()),
            field_validation: FieldValidation::Ignore,
            ..WriteOptions::default()
        };
        match self {
            Write::Create { info, key, body } => space
                .create(&info, &key.namespace, body, &opts)
                .await
                .map(|_| ()),
            Write::Patch {
                info,
                key,
                sub,
                patch,
            } => space
                .patch(
                    &info,
                    &key.namespace,
                    &key.name,
                    PatchType::Merge,
                    patch,
                    &opts,
                    sub,
                )
                .await
                .map(|_| ()),
        }
    }
}

/// Runs the simulator until the task is aborted.
pub async fn run(space: Arc<Space>) {
    // Subscribe before the first scan so that no change falls between the two.
    let mut events = space.store.subscribe_all();
    let mut sim = Simulator::new(space);
    let mut dirty = sim.scan();
    loop {
        let now = Instant::now();
        while sim.timers.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, key)) = sim.timers.pop_first() {
                dirty.insert(key);
            }
        }
        loop {
            match events.try_recv() {
                Ok(ev) => sim.note(&ev, &mut dirty),
                Err(TryRecvError::Lagged(_)) => dirty.extend(sim.scan()),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
        if !dirty.is_empty() {
            sim.round(std::mem::take(&mut dirty)).await;
            continue;
        }
        let next = sim.timers.first().map(|(at, _)| *at);
        let wake = async move {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => sim.note(&ev, &mut dirty),
                Err(RecvError::Lagged(_)) => dirty.extend(sim.scan()),
                Err(RecvError::Closed) => return,
            },
            _ = wake => {}
        }
    }
}

/// The simulator's state: in-progress generations and the deadline queue.
struct Simulator {
    space: Arc<Space>,
    cfg: SimulatorConfig,
    tracks: HashMap<ObjectKey, Track>,
    /// Objects to look at again at a given time (stage changes, retries, throttled writes).
    timers: BTreeSet<(Instant, ObjectKey)>,
    /// Recent re-assertions, for [`REASSERT_GAP`].
    reasserted: HashMap<ObjectKey, Instant>,
    /// Consecutive failed writes per object, for the retry backoff.
    failures: HashMap<ObjectKey, u32>,
}

fn nodes_gr() -> GroupResource {
    GroupResource {
        group: String::new(),
        resource: "nodes".into(),
    }
}

impl Simulator {
    fn new(space: Arc<Space>) -> Simulator {
        let cfg = space.config.simulator_config.clone();
        Simulator {
            space,
            cfg,
            tracks: HashMap::new(),
            timers: BTreeSet::new(),
            reasserted: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// Every object the simulator is responsible for, plus the simulated nodes.
    fn scan(&self) -> BTreeSet<ObjectKey> {
        let mut keys: BTreeSet<ObjectKey> = Kind::ALL
            .into_iter()
            .flat_map(|k| self.space.store.keys(&k.group_resource(), None))
            .collect();
        keys.extend((0..self.cfg.nodes).map(|i| ObjectKey::new(&nodes_gr(), "", &nodes::name(i))));
        keys
    }

    /// Marks what a committed change concerns.
    fn note(&self, ev: &Event, dirty: &mut BTreeSet<ObjectKey>) {
        let key = &ev.key;
        if Kind::of(&key.gr).is_some()
            || (key.gr == nodes_gr() && nodes::index_of(&key.name, self.cfg.nodes).is_some())
        {
            dirty.insert(key.clone());
        }
    }

    /// Looks at `keys`, then performs the writes they need, many at once. Works in chunks so
    /// that a rescan of a large space neither holds a worker for long nor queues every write.
    async fn round(&mut self, keys: BTreeSet<ObjectKey>) {
        self.reasserted.retain(|_, at| at.elapsed() < REASSERT_GAP);
        let keys: Vec<ObjectKey> = keys.into_iter().collect();
        for chunk in keys.chunks(CHUNK) {
            let now = Instant::now();
            let now_str = crate::objects::now();
            let catalog = self.space.registry.catalog();
            let writes: Vec<Write> = chunk
                .iter()
                .filter_map(|k| self.plan(k, now, &now_str, &catalog))
                .collect();
            if writes.is_empty() {
                tokio::task::yield_now().await;
                continue;
            }
            tracing::debug!(space = %self.space.config.name, looked = chunk.len(), writes = writes.len(), "simulator round");
            self.execute(writes).await;
        }
    }

    /// Performs writes concurrently; failures other than "gone" or "changed meanwhile" are
    /// retried later with a backoff.
    async fn execute(&mut self, writes: Vec<Write>) {
        let space = self.space.clone();
        let results: Vec<(ObjectKey, Result<(), ApiError>)> = futures::stream::iter(writes)
            .map(|w| {
                let space = space.clone();
                async move {
                    let key = w.key().clone();
                    (key, w.execute(&space).await)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (key, result) in results {
            match result {
                Ok(()) => {
                    self.failures.remove(&key);
                }
                // Gone, or changed meanwhile: the change's own event brings the object back.
                Err(e) if e.code == 404 || e.code == 409 => {
                    self.failures.remove(&key);
                }
                Err(e) => {
                    let n = self.failures.entry(key.clone()).or_insert(0);
                    *n += 1;
                    let delay = RETRY.saturating_mul(1 << (*n - 1).min(6)).min(MAX_RETRY);
                    tracing::warn!(space = %self.space.config.name, object = ?key, error = %e, retry_in = ?delay, "simulator: status write failed");
                    self.timers.insert((Instant::now() + delay, key));
                }
            }
        }
    }

    /// Decides what, if anything, to write for one object now.
    fn plan(
        &mut self,
        key: &ObjectKey,
        now: Instant,
        now_str: &str,
        catalog: &Catalog,
    ) -> Option<Write> {
        if key.gr == nodes_gr() {
            return self.plan_node(key, now_str, catalog);
        }
        let kind = Kind::of(&key.gr)?;
        let (group, version, resource) = kind.gvr();
        let info = catalog.get(group, version, resource)?;
        let Some(obj) = self.space.store.get(key) else {
            self.tracks.remove(key);
            self.failures.remove(key);
            return None;
        };
        let v = obj.value();
        let generation = kind.generation(&v);
        let mut reassert = false;
        let elapsed = if kind.finished(&v) {
            None
        } else {
            match self.tracks.get(key) {
                Some(t) if t.uid == obj.meta.uid && t.generation == generation => {
                    Some(now.duration_since(t.since))
                }
                None if kind.observed(&v) => {
                    reassert = true;
                    None
                }
                _ => {
                    let new_template = kind == Kind::Deployment && apps::template_changed(&v);
                    let track = Track {
                        uid: obj.meta.uid.clone(),
                        generation,
                        since: now,
                        new_template,
                    };
                    self.tracks.insert(key.clone(), track);
                    Some(Duration::ZERO)
                }
            }
        };
        let (stage, next) = kind.stage(elapsed, &self.cfg);
        let mut new_template = false;
        match (next, self.tracks.get(key)) {
            (Some(offset), Some(t)) => {
                new_template = t.new_template;
                self.timers.insert((t.since + offset, key.clone()));
            }
            _ => {
                self.tracks.remove(key);
            }
        }
        let rv = obj.rv.to_string();
        if kind == Kind::Pod && v["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
            // Bind first, like the scheduler; the binding's event brings the pod back.
            if let Some(node) = pod::pick_node(&v, self.cfg.nodes) {
                let patch =
                    json!({"metadata": {"resourceVersion": rv}, "spec": {"nodeName": node}});
                return Some(Write::Patch {
                    info,
                    key: key.clone(),
                    sub: Subresource::Main,
                    patch,
                });
            }
        }
        let ctx = Ctx {
            now: now_str,
            cfg: &self.cfg,
            kube_minor: self.space.config.kube_minor,
            new_template,
        };
        let desired = kind.desired(&v, stage, &ctx);
        let diff = util::merge_diff(v.get("status").unwrap_or(&json!({})), &desired)?;
        if reassert && self.throttled(key, now) {
            return None;
        }
        let patch = json!({"metadata": {"resourceVersion": rv}, "status": diff});
        Some(Write::Patch {
            info,
            key: key.clone(),
            sub: Subresource::Status,
            patch,
        })
    }

    /// A simulated node: created when missing, its status kept Ready.
    fn plan_node(&self, key: &ObjectKey, now_str: &str, catalog: &Catalog) -> Option<Write> {
        let i = nodes::index_of(&key.name, self.cfg.nodes)?;
        let info = catalog.get("", "v1", "nodes")?;
        let Some(obj) = self.space.store.get(key) else {
            return Some(Write::Create {
                info,
                key: key.clone(),
                body: nodes::object(i),
            });
        };
        let v = obj.value();
        let ctx = Ctx {
            now: now_str,
            cfg: &self.cfg,
            kube_minor: self.space.config.kube_minor,
            new_template: false,
        };
        let desired = nodes::status(&v, i, &ctx);
        let diff = util::merge_diff(v.get("status").unwrap_or(&json!({})), &desired)?;
        let patch = json!({"metadata": {"resourceVersion": obj.rv.to_string()}, "status": diff});
        Some(Write::Patch {
            info,
            key: key.clone(),
            sub: Subresource::Status,
            patch,
        })
    }

    /// True when the object's status was re-asserted too recently; it is looked at again later.
    fn throttled(&mut self, key: &ObjectKey, now: Instant) -> bool {
        if let Some(last) = self.reasserted.get(key)
            && now.duration_since(*last) < REASSERT_GAP
        {
            self.timers.insert((*last + REASSERT_GAP, key.clone()));
            return true;
        }
        self.reasserted.insert(key.clone(), now);
        false
    }
}
