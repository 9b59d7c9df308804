//! The object store: every object in memory (serialized JSON plus the few metadata fields the
//! server indexes), made durable by [`durable`] before a write is acknowledged, with one global
//! monotonic resourceVersion and a bounded per-resource event history for watches.
//!
//! Writes are serialized by one lock that assigns the resourceVersion and updates memory; the
//! durable writer then commits many of them in one batch through the [`Backend`] and publishes
//! their events in resourceVersion order. A write is answered only once it is on disk.
//!
//! Readers may see a change a little before it is durable. If the process dies in that window,
//! the change is lost although a reader saw its resourceVersion; so at most [`MAX_IN_FLIGHT`]
//! changes are ever undurable, and a reopened store continues [`MAX_IN_FLIGHT`] versions above
//! what it persisted: no resourceVersion a client saw is ever reused.

mod backend;
mod durable;
mod hub;
mod redb;
mod types;
mod wal;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{Semaphore, broadcast, oneshot};

use crate::registry::GroupResource;
pub use backend::{Backend, Change, Loaded};
use durable::{Durable, DurableWrite};
use hub::Hubs;
pub use redb::RedbBackend;
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

/// One resource's objects by (namespace, name).
type Table = BTreeMap<(String, String), StoredObject>;

#[derive(Default)]
struct State {
    rv: u64,
    tables: HashMap<GroupResource, Table>,
    by_uid: HashMap<String, ObjectKey>,
    dependents: HashMap<String, BTreeSet<ObjectKey>>,
}

impl State {
    fn index(&mut self, key: &ObjectKey, old: Option<&StoredObject>, new: Option<&StoredObject>) {
        if let Some(o) = old {
            if !o.meta.uid.is_empty() {
                self.by_uid.remove(&o.meta.uid);
            }
            for owner in &o.meta.owners {
                if let Some(set) = self.dependents.get_mut(&owner.uid) {
                    set.remove(key);
                    if set.is_empty() {
                        self.dependents.remove(&owner.uid);
                    }
                }
            }
        }
        if let Some(n) = new {
            if !n.meta.uid.is_empty() {
                self.by_uid.insert(n.meta.uid.clone(), key.clone());
            }
            for owner in &n.meta.owners {
                self.dependents
                    .entry(owner.uid.clone())
                    .or_default()
                    .insert(key.clone());
            }
        }
    }
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

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    state: Arc<RwLock<State>>,
    hubs: Arc<Mutex<Hubs>>,
    durable: Arc<Durable>,
    failed: Arc<AtomicBool>,
    in_flight: Arc<Semaphore>,
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
    pub fn with_backend(
        mut backend: Box<dyn Backend>,
        history: usize,
    ) -> Result<Store, StoreError> {
        let loaded = backend.load()?;
        let mut state = State::default();
        let mut max_object_rv = 0;
        for (k, bytes) in loaded.objects {
            let key = ObjectKey::parse_storage_key(&k)
                .ok_or_else(|| StoreError::Corrupt(k.clone(), "bad key".into()))?;
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(k.clone(), e.to_string()))?;
            let rv = v["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let obj = StoredObject {
                rv,
                json: Bytes::from(bytes),
                meta: Arc::new(ObjMeta::of(&v)),
            };
            max_object_rv = max_object_rv.max(rv);
            state.index(&key, None, Some(&obj));
            state
                .tables
                .entry(key.gr.clone())
                .or_default()
                .insert((key.namespace, key.name), obj);
        }
        // A store used before may have shown versions it never persisted: start above them,
        // and record the new start so that a crash before the next write jumps again.
        let persisted = loaded.rv.unwrap_or(0).max(max_object_rv);
        state.rv = match loaded.rv {
            Some(_) => persisted + MAX_IN_FLIGHT as u64,
            None => persisted,
        };
        backend.persist(&[], state.rv)?;
        let start_rv = state.rv;
        let failed = Arc::new(AtomicBool::new(false));
        let durable = Durable::start(backend, failed.clone())?;
        Ok(Store {
            state: Arc::new(RwLock::new(state)),
            hubs: Arc::new(Mutex::new(Hubs {
                by_resource: HashMap::new(),
                all: broadcast::channel(16384).0,
                capacity: history.max(1),
                start_rv,
            })),
            durable: Arc::new(durable),
            failed,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
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

    /// Applies one change and waits until it is durable.
    pub async fn commit(
        &self,
        key: &ObjectKey,
        pre: Precondition,
        value: Option<Value>,
    ) -> Result<Committed, CommitError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Failed.into());
        }
        // Held until the change is durable: bounds what a crash can take back.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let (ack_tx, ack_rx) = oneshot::channel();
        let committed = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let tkey = (key.namespace.clone(), key.name.clone());
            let old = st.tables.get(&key.gr).and_then(|t| t.get(&tkey)).cloned();
            match (pre, &old) {
                (Precondition::Absent, Some(_)) => return Err(CommitError::AlreadyExists),
                (Precondition::Exists | Precondition::ResourceVersion(_), None) => {
                    return Err(CommitError::NotFound);
                }
                (Precondition::ResourceVersion(rv), Some(o)) if o.rv != rv => {
                    return Err(CommitError::Conflict);
                }
                _ => {}
            }
            if value.is_none() && old.is_none() {
                return Err(CommitError::NotFound);
            }
            let rv = st.rv + 1;
            st.rv = rv;
            let mut new_value = None;
            let (event, new) = match value {
                Some(v) => {
                    let (obj, v) = StoredObject::from_value(v, rv);
                    new_value = Some(v);
                    st.tables
                        .entry(key.gr.clone())
                        .or_default()
                        .insert(tkey, obj.clone());
                    let kind = if old.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (
                        Event {
                            kind,
                            key: key.clone(),
                            object: obj.clone(),
                            prev: old.clone(),
                        },
                        Some(obj),
                    )
                }
                None => {
                    if let Some(t) = st.tables.get_mut(&key.gr) {
                        t.remove(&tkey);
                    }
                    let last = old
                        .as_ref()
                        .map(|o| StoredObject::from_value(o.value(), rv).0);
                    let object = last.unwrap_or_else(|| StoredObject {
                        rv,
                        json: Bytes::new(),
                        meta: Arc::default(),
                    });
                    (
                        Event {
                            kind: EventType::Deleted,
                            key: key.clone(),
                            object,
                            prev: old.clone(),
                        },
                        None,
                    )
                }
            };
            st.index(key, old.as_ref(), new.as_ref());
            let hubs = self.hubs.clone();
            let event = Arc::new(event);
            self.durable.submit(DurableWrite {
                change: Change {
                    key: key.storage_key(),
                    value: new.as_ref().map(|n| n.json.clone()),
                },
                rv,
                on_durable: Box::new(move || {
                    hubs.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .publish(event)
                }),
                ack: ack_tx,
            })?;
            Committed {
                rv,
                new,
                value: new_value,
                old,
            }
        };
        match ack_rx.await {
            Ok(Ok(())) => Ok(committed),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Closed.into()),
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
