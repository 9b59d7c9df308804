//! Upsync, the controller side: the reverse of downsync. A BindingPolicy's `spec.upsync[]`
//! clauses name objects in the selected WECs; their copies come back into the WDS.
//!
//! * [`requests`]: for each WEC, the clauses of every policy selecting it, written as one
//!   request ConfigMap per WDS into the WEC's mailbox namespace (the agent reads only its own
//!   namespace: pull model, see [`crate::api::upsync_request`]);
//! * the agent (`agent/upsync.rs`) watches what those clauses can select in its WEC and keeps
//!   one `UpsyncedObject` per selected object in its mailbox;
//! * [`mirrors`]: each `UpsyncedObject` of this WDS becomes a read-only mirror in the WDS:
//!   same kind and namespace, named `<wec>-<name>-<hash>` ([`names`]), labelled with its origin
//!   WEC and policy, re-asserted when edited or deleted, deleted when its source goes;
//! * [`policy_status`]: bad clauses, objects too large for the ITS and objects the WDS refuses
//!   are reported in the policy's `status.upsyncErrors`.
//!
//! Level-triggered like the other controllers: everything is recomputed from the mirrors of
//! the inputs, and only differences are written.

pub mod clauses;
mod mirrors;
pub mod names;
mod policy_status;
mod requests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::watcher;

use crate::api::labels::ORIGIN_WDS;
use crate::api::upsync_request::REQUEST_LABEL;
use crate::api::{BindingPolicy, ManagedCluster, UpsyncedObject};
use crate::binding::mirror::Mirror;
use crate::binding::queue::Queue;
use crate::controller::Ctx;

/// Field manager of the upsync controller's writes (requests, mirrors, policy status).
pub const FIELD_MANAGER: &str = "Upsync";

/// A mirror in the WDS, by kind, namespace and (mirror) name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MirrorRef {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// The mirror's name.
    pub name: String,
}

/// Units of work.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    /// Recompute every WEC's request.
    Requests,
    /// Bring one mirror in line with its UpsyncedObject.
    Mirror(MirrorRef),
    /// Recompute one policy's `status.upsyncErrors`.
    Status(String),
    /// Look for mirrors left from before a restart.
    Sweep,
}

/// Errors of one reconcile (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum UpsyncError {
    /// A call to the WDS or ITS failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client error.
        source: kube::Error,
    },
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> UpsyncError {
    let what = what.into();
    move |source| UpsyncError::Api { what, source }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

/// The mirror an UpsyncedObject asks for, and the wrapper's `(namespace, name)`.
fn mirror_of(w: &UpsyncedObject) -> MirrorRef {
    let s = &w.spec.source_ref;
    MirrorRef {
        group: s.group.clone(),
        kind: s.kind.clone(),
        namespace: s.namespace.clone(),
        name: names::mirror_name(&w.spec.cluster, &s.name),
    }
}

/// State shared by the upsync controller's tasks.
pub(crate) struct Shared {
    ctx: Arc<Ctx>,
    queue: Arc<Queue<Work>>,
    policies: Mirror<BindingPolicy>,
    clusters: Mirror<ManagedCluster>,
    requests: Mirror<ConfigMap>,
    wrappers: Mirror<UpsyncedObject>,
    /// Which wrappers (mailbox namespace, name) ask for each mirror (kept by the wrapper
    /// mirror's callback).
    by_mirror: WrappersByMirror,
    /// The policies selecting each WEC that have upsync clauses (from the last `Requests`).
    selected: RwLock<BTreeMap<String, BTreeSet<String>>>,
    selected_ready: AtomicBool,
    /// Mirrors of the WDS, by kind, kept by label-selected watches.
    mirrors: mirrors::Mirrors,
    /// Problems writing mirrors, by mirror: (policies, message).
    write_errors: Mutex<HashMap<MirrorRef, (Vec<String>, String)>>,
}

/// The wrappers (mailbox namespace, name) asking for each mirror.
type WrappersByMirror = Arc<Mutex<HashMap<MirrorRef, BTreeSet<(String, String)>>>>;

/// Runs the upsync controller of the WDS until aborted.
pub async fn run(ctx: Arc<Ctx>) {
    let queue: Arc<Queue<Work>> = Queue::new(Duration::from_millis(5));
    let wds = ctx.cfg.wds_name.clone();
    let q = queue.clone();
    let policies = Mirror::start(
        Api::<BindingPolicy>::all(ctx.wds.clone()),
        watcher::Config::default(),
        "BindingPolicy",
        Arc::new(
            move |old: Option<&BindingPolicy>, new: Option<&BindingPolicy>| {
                let spec = |p: Option<&BindingPolicy>| {
                    p.map(|p| {
                        (
                            p.spec.cluster_selectors.clone(),
                            p.spec.upsync.clone(),
                            p.metadata.deletion_timestamp.is_some(),
                        )
                    })
                };
                if spec(old) != spec(new) {
                    q.add(Work::Requests);
                }
                if let Some(p) = new.or(old) {
                    q.add(Work::Status(p.name_any()));
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
                if old.map(|o| o.labels()) != new.map(|n| n.labels()) {
                    q.add(Work::Requests);
                }
            },
        ),
    );
    let q = queue.clone();
    let requests = Mirror::start(
        Api::<ConfigMap>::all(ctx.its.clone()),
        watcher::Config::default().labels(&format!("{REQUEST_LABEL},{ORIGIN_WDS}={wds}")),
        "upsync request",
        Arc::new(move |old: Option<&ConfigMap>, new: Option<&ConfigMap>| {
            if old.map(|o| &o.data) != new.map(|n| &n.data) {
                q.add(Work::Requests);
            }
        }),
    );
    let by_mirror: WrappersByMirror = Arc::default();
    let q = queue.clone();
    let index = by_mirror.clone();
    let wrappers = Mirror::start(
        Api::<UpsyncedObject>::all(ctx.its.clone()),
        watcher::Config::default().labels(&format!("{ORIGIN_WDS}={wds}")),
        "UpsyncedObject",
        Arc::new(
            move |old: Option<&UpsyncedObject>, new: Option<&UpsyncedObject>| {
                let mut index = lock(&index);
                let key = |w: &UpsyncedObject| {
                    (
                        w.metadata.namespace.clone().unwrap_or_default(),
                        w.metadata.name.clone().unwrap_or_default(),
                    )
                };
                if let Some(o) = old {
                    let m = mirror_of(o);
                    if let Some(set) = index.get_mut(&m) {
                        set.remove(&key(o));
                        if set.is_empty() {
                            index.remove(&m);
                        }
                    }
                    q.add(Work::Mirror(m));
                    o.spec
                        .policies
                        .iter()
                        .for_each(|p| q.add(Work::Status(p.clone())));
                }
                if let Some(n) = new {
                    let m = mirror_of(n);
                    index.entry(m.clone()).or_default().insert(key(n));
                    q.add(Work::Mirror(m));
                    n.spec
                        .policies
                        .iter()
                        .for_each(|p| q.add(Work::Status(p.clone())));
                }
            },
        ),
    );
    let q = queue.clone();
    let mirrors = mirrors::Mirrors::new(
        ctx.wds.clone(),
        Arc::new(move |m: MirrorRef| q.add(Work::Mirror(m))),
    );
    let sh = Arc::new(Shared {
        ctx: ctx.clone(),
        queue: queue.clone(),
        policies,
        clusters,
        requests,
        wrappers,
        by_mirror,
        selected: RwLock::default(),
        selected_ready: AtomicBool::new(false),
        mirrors,
        write_errors: Mutex::default(),
    });
    queue.add(Work::Requests);
    queue.add(Work::Sweep);
    let s = sh.clone();
    queue
        .run("upsync", ctx.cfg.concurrency, move |w: Work| {
            let s = s.clone();
            async move {
                match w {
                    Work::Requests => requests::reconcile(&s).await,
                    Work::Mirror(m) => mirrors::reconcile(&s, &m).await,
                    Work::Status(p) => policy_status::reconcile(&s, &p).await,
                    Work::Sweep => mirrors::sweep(&s).await,
                }
            }
        })
        .await;
}
