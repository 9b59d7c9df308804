//! The object store: every object in memory (serialized JSON plus the few metadata fields the
//! server indexes) with one global monotonic resourceVersion and a bounded per-resource event
//! history for watches. Reads are served from memory; where the objects are kept decides who
//! writes:
//!
//! * Embedded ([`local`]): writes are serialized by one lock that assigns the resourceVersion
//!   and updates memory; the durable writer ([`durable`]) commits many of them in one batch
//!   through the [`Backend`] (redb + WAL) and publishes their events in resourceVersion order.
//!   A write is answered only once it is on disk. Readers may see a change a little before it
//!   is durable. If the process dies in that window, the change is lost although a reader saw
//!   its resourceVersion; so at most [`MAX_IN_FLIGHT`] changes are ever undurable, and a
//!   reopened store continues [`MAX_IN_FLIGHT`] versions above what it persisted: no
//!   resourceVersion a client saw is ever reused.
//! * etcd ([`etcd`], [`feed`]): the resourceVersion is etcd's revision; writes are etcd
//!   transactions and memory is fed only by an etcd watch, so several replicas share one store.

mod backend;
mod durable;
mod etcd;
mod feed;
mod hub;
mod local;
mod redb;
mod state;
mod types;
mod wal;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::registry::GroupResource;
pub use backend::{Backend, Change, Loaded};
pub use etcd::EtcdConfig;
use hub::Hubs;
pub use redb::RedbBackend;
use state::State;
pub use types::{
    Committed, Event, EventType, ObjMeta, ObjectKey, OwnerRef, Page, Precondition, StoredObject,
};

/// Most changes acknowledged to memory but not yet durable; also how far a reopened store's
/// resourceVersion jumps.
pub const MAX_IN_FLIGHT: usize = 8192;

/// Errors of the storage layer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be opened or read.
    #[error("cannot open the store: {0}")]
    Open(String),
    /// The backend could not persist a batch.
    #[error("cannot write to the store: {0}")]
    Write(String),
    /// The writer is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// An earlier batch failed; no more writes are accepted.
    #[error("the store stopped accepting writes after a failed commit")]
    Failed,
    /// A stored object cannot be read back.
    #[error("stored object {0} is corrupt: {1}")]
    Corrupt(String, String),
}

/// Why a commit was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// [`Precondition::Absent`] and the object exists.
    #[error("already exists")]
    AlreadyExists,
    /// The object must exist and does not.
    #[error("not found")]
    NotFound,
    /// [`Precondition::ResourceVersion`] does not match.
    #[error("resourceVersion conflict")]
    Conflict,
    /// The storage layer failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A started watch: the events after the requested version already known, then live ones.
pub struct Subscription {
    /// Events after the requested version that happened before the watch started.
    pub backlog: Vec<Arc<Event>>,
    /// Live events (may repeat some of the backlog: skip those not above the last seen RV).
    pub rx: broadcast::Receiver<Arc<Event>>,
}

/// The requested version is older than the history kept.
#[derive(Debug, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct Expired {
    /// The version asked for.
    pub requested: u64,
    /// The oldest version the history can resume from.
    pub oldest: u64,
}

/// Where a space keeps its objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded redb database under the space's data directory.
    #[default]
    Embedded,
    /// An etcd v3 cluster, shared by every replica of the space.
    Etcd(EtcdConfig),
}

impl StoreConfig {
    /// Parses `embedded` or `etcd://host:port[,host:port]`.
    pub fn parse(s: &str) -> Result<StoreConfig, StoreError> {
        if s == "embedded" {
            return Ok(StoreConfig::Embedded);
        }
        EtcdConfig::parse(s).map(StoreConfig::Etcd)
    }
}

/// Who writes: the embedded writer, or etcd transactions.
enum Writer {
    Local(local::Local),
    Etcd(Box<etcd::Etcd>),
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    state: Arc<RwLock<State>>,
    hubs: Arc<Mutex<Hubs>>,
    /// Embedded: a commit failed (sticky). etcd: the store is not following etcd right now.
    failed: Arc<AtomicBool>,
    writer: Arc<Writer>,
}

impl Store {
    /// Opens the store in `dir` (created if needed) on the default redb backend, keeping
    /// `history` events per resource.
    pub fn open(dir: &Path, history: usize) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        let backend = RedbBackend::open(&dir.join("space.redb"))?;
        Store::with_backend(Box::new(backend), history)
    }

    /// Opens the store on any backend: loads everything into memory and starts the writer.
    pub fn with_backend(backend: Box<dyn Backend>, history: usize) -> Result<Store, StoreError> {
        let failed = Arc::new(AtomicBool::new(false));
        let (state, writer) = local::open(backend, failed.clone())?;
        let start_rv = state.rv;
        Ok(Store {
            state: Arc::new(RwLock::new(state)),
            hubs: Arc::new(Mutex::new(Hubs::new(history, start_rv))),
            failed,
            writer: Arc::new(Writer::Local(writer)),
        })
    }

    /// Opens the store on etcd under `prefix` (see [`EtcdConfig::prefix_for`]): lists every
    /// object once and follows etcd's watch from there. Blocks until the list is loaded.
    pub fn open_etcd(cfg: &EtcdConfig, prefix: &str, history: usize) -> Result<Store, StoreError> {
        let state = Arc::new(RwLock::new(State::default()));
        let hubs = Arc::new(Mutex::new(Hubs::new(history, 0)));
        let failed = Arc::new(AtomicBool::new(false));
        let (writer, _rev) = etcd::open(cfg, prefix, state.clone(), hubs.clone(), failed.clone())?;
        Ok(Store {
            state,
            hubs,
            failed,
            writer: Arc::new(Writer::Etcd(Box::new(writer))),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// True while commits succeed.
    pub fn healthy(&self) -> bool {
        !self.failed.load(Ordering::SeqCst)
    }

    /// The last assigned resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.read().rv
    }

    /// One object.
    pub fn get(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.read()
            .tables
            .get(&key.gr)?
            .get(&(key.namespace.clone(), key.name.clone()))
            .cloned()
    }

    /// The key of the object with this UID.
    pub fn key_of_uid(&self, uid: &str) -> Option<ObjectKey> {
        self.read().by_uid.get(uid).cloned()
    }

    /// Objects that name `uid` as an owner.
    pub fn dependents_of(&self, uid: &str) -> Vec<ObjectKey> {
        self.read()
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Resources that have at least one object.
    pub fn resources(&self) -> Vec<GroupResource> {
        self.read()
            .tables
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(gr, _)| gr.clone())
            .collect()
    }

    /// Keys of all objects of a resource in a namespace (all namespaces for `None`).
    pub fn keys(&self, gr: &GroupResource, namespace: Option<&str>) -> Vec<ObjectKey> {
        let st = self.read();
        let Some(t) = st.tables.get(gr) else {
            return Vec::new();
        };
        t.keys()
            .filter(|(ns, _)| namespace.is_none_or(|n| n == ns))
            .map(|(ns, name)| ObjectKey::new(gr, ns, name))
            .collect()
    }

    /// Visits every stored object (under the read lock: keep `f` quick).
    pub fn for_each(&self, f: &mut dyn FnMut(&ObjectKey, &StoredObject)) {
        let st = self.read();
        for (gr, t) in &st.tables {
            for ((ns, name), obj) in t {
                f(&ObjectKey::new(gr, ns, name), obj);
            }
        }
    }

    /// Visits every stored object of `gr` (under the read lock: keep `f` quick).
    pub fn for_each_of(&self, gr: &GroupResource, f: &mut dyn FnMut(&ObjectKey, &StoredObject)) {
        let st = self.read();
        for ((ns, name), obj) in st.tables.get(gr).into_iter().flatten() {
            f(&ObjectKey::new(gr, ns, name), obj);
        }
    }

    /// A page of objects of `gr` (in `namespace`, or all), in key order, starting after
    /// `after` (namespace, name), keeping those `filter` accepts, at most `limit` (0 = all).
    pub fn list(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        filter: &dyn Fn(&StoredObject) -> bool,
    ) -> Page {
        let st = self.read();
        let rv = st.rv;
        let Some(t) = st.tables.get(gr) else {
            return Page {
                items: Vec::new(),
                rv,
                remaining: None,
            };
        };
        let start = match (after, namespace) {
            (Some((ns, name)), _) => std::ops::Bound::Excluded((ns.to_string(), name.to_string())),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut remaining = 0usize;
        for ((ns, _), obj) in t.range((start, std::ops::Bound::Unbounded)) {
            if let Some(want) = namespace
                && ns != want
            {
                break;
            }
            if !filter(obj) {
                continue;
            }
            if limit > 0 && items.len() >= limit {
                remaining += 1;
            } else {
                items.push(obj.clone());
            }
        }
        Page {
            items,
            rv,
            remaining: (remaining > 0).then_some(remaining),
        }
    }

    /// Applies one change and waits until it is durable (embedded) or committed to etcd and
    /// applied to this replica's memory (etcd).
    pub async fn commit(
        &self,
        key: &ObjectKey,
        pre: Precondition,
        value: Option<Value>,
    ) -> Result<Committed, CommitError> {
        match &*self.writer {
            Writer::Local(w) => {
                w.commit(&self.state, &self.hubs, &self.failed, key, pre, value)
                    .await
            }
            Writer::Etcd(w) => w.commit(key, pre, value).await,
        }
    }

    /// Starts a watch of `gr` from resourceVersion `from` (exclusive).
    pub fn watch(&self, gr: &GroupResource, from: u64) -> Result<Subscription, Expired> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        let hub = hubs.hub(gr);
        if from < hub.floor {
            return Err(Expired {
                requested: from,
                oldest: hub.floor,
            });
        }
        let backlog = hub
            .history
            .iter()
            .filter(|e| e.object.rv > from)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            rx: hub.tx.subscribe(),
        })
    }

    /// Every event of every resource from now on (for the server's own controllers).
    pub fn subscribe_all(&self) -> broadcast::Receiver<Arc<Event>> {
        self.hubs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .all
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gr() -> GroupResource {
        GroupResource {
            group: String::new(),
            resource: "configmaps".into(),
        }
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}")}})
    }

    #[tokio::test]
    async fn commits_survive_reopen_and_rv_continues() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rv;
        {
            let s = Store::open(dir.path(), 100).expect("open");
            let k = ObjectKey::new(&gr(), "default", "a");
            s.commit(&k, Precondition::Absent, Some(cm("a")))
                .await
                .expect("create");
            let c = s
                .commit(&k, Precondition::None, Some(cm("a")))
                .await
                .expect("update");
            rv = c.rv;
            let k2 = ObjectKey::new(&gr(), "default", "b");
            s.commit(&k2, Precondition::Absent, Some(cm("b")))
                .await
                .expect("create b");
            s.commit(&k2, Precondition::Exists, None)
                .await
                .expect("delete b");
        }
        let s = Store::open(dir.path(), 100).expect("reopen");
        let a = s
            .get(&ObjectKey::new(&gr(), "default", "a"))
            .expect("a survives");
        assert_eq!(a.rv, rv);
        assert!(s.get(&ObjectKey::new(&gr(), "default", "b")).is_none());
        // The deletion of b was the last persisted version; the reopened store starts above
        // anything a reader could have seen before the restart.
        assert_eq!(s.current_rv(), rv + 2 + MAX_IN_FLIGHT as u64);
        assert_eq!(s.key_of_uid("u-a").map(|k| k.name), Some("a".into()));
        drop(s);
        // Even a reopen without writes moves on: the previous run may have shown versions.
        let s = Store::open(dir.path(), 100).expect("third open");
        assert_eq!(s.current_rv(), rv + 2 + 2 * MAX_IN_FLIGHT as u64);
    }

    #[tokio::test]
    async fn a_new_store_starts_at_zero_and_watchers_see_durable_events_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path(), 100).expect("open");
        assert_eq!(s.current_rv(), 0);
        let mut all = s.subscribe_all();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let k = ObjectKey::new(&gr(), "default", &format!("c{i}"));
                s.commit(&k, Precondition::Absent, Some(cm(&format!("c{i}"))))
                    .await
                    .map(|c| c.rv)
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("commit");
        }
        let mut last = 0;
        for _ in 0..20 {
            let ev = all.recv().await.expect("event");
            assert!(ev.object.rv > last, "events in resourceVersion order");
            last = ev.object.rv;
        }
        assert_eq!(last, 20);
    }

    #[tokio::test]
    async fn preconditions_and_watch_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path(), 2).expect("open");
        let k = ObjectKey::new(&gr(), "default", "a");
        let c1 = s
            .commit(&k, Precondition::Absent, Some(cm("a")))
            .await
            .expect("create");
        assert!(matches!(
            s.commit(&k, Precondition::Absent, Some(cm("a"))).await,
            Err(CommitError::AlreadyExists)
        ));
        assert!(matches!(
            s.commit(&k, Precondition::ResourceVersion(c1.rv + 5), Some(cm("a")))
                .await,
            Err(CommitError::Conflict)
        ));
        let sub = s.watch(&gr(), 0).expect("from start");
        assert_eq!(sub.backlog.len(), 1);
        s.commit(&k, Precondition::None, Some(cm("a")))
            .await
            .expect("u1");
        s.commit(&k, Precondition::None, Some(cm("a")))
            .await
            .expect("u2");
        // history holds 2 events: the create fell out, so watching from 0 is too old now.
        assert!(s.watch(&gr(), 0).is_err());
        assert!(s.watch(&gr(), c1.rv).is_ok());
        let page = s.list(&gr(), Some("default"), None, 0, &|_| true);
        assert_eq!(page.items.len(), 1);
    }
}
