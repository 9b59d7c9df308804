//! The embedded writer: the store assigns resourceVersions itself under its lock, updates
//! memory, and the [`Durable`] thread persists batches through a [`Backend`] before the write is
//! acknowledged and its event published.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{Semaphore, oneshot};

use super::backend::{Backend, Change};
use super::durable::{Durable, DurableWrite};
use super::hub::Hubs;
use super::state::State;
use super::types::{Committed, ObjMeta, ObjectKey, Precondition, StoredObject};
use super::{CommitError, MAX_IN_FLIGHT, StoreError};

/// The writer of an embedded store.
pub(super) struct Local {
    durable: Durable,
    in_flight: Semaphore,
}

/// Loads everything `backend` holds; returns the state and the writer.
pub(super) fn open(
    mut backend: Box<dyn Backend>,
    failed: Arc<AtomicBool>,
) -> Result<(State, Local), StoreError> {
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
        state.insert_loaded(key, obj);
    }
    // A store used before may have shown versions it never persisted: start above them, and
    // record the new start so that a crash before the next write jumps again.
    let persisted = loaded.rv.unwrap_or(0).max(max_object_rv);
    state.rv = match loaded.rv {
        Some(_) => persisted + MAX_IN_FLIGHT as u64,
        None => persisted,
    };
    backend.persist(&[], state.rv)?;
    let durable = Durable::start(backend, failed)?;
    Ok((
        state,
        Local {
            durable,
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        },
    ))
}

impl Local {
    /// Applies one change in memory and waits until it is durable.
    pub async fn commit(
        &self,
        state: &RwLock<State>,
        hubs: &Arc<Mutex<Hubs>>,
        failed: &AtomicBool,
        key: &ObjectKey,
        pre: Precondition,
        value: Option<Value>,
    ) -> Result<Committed, CommitError> {
        if failed.load(Ordering::SeqCst) {
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
            let mut st = state.write().unwrap_or_else(|e| e.into_inner());
            let old = st.get(key).cloned();
            check(pre, old.as_ref().map(|o| o.rv))?;
            if value.is_none() && old.is_none() {
                return Err(CommitError::NotFound);
            }
            let rv = st.rv + 1;
            let (new, new_value) = match value {
                Some(v) => {
                    let (obj, v) = StoredObject::from_value(v, rv);
                    (Some(obj), Some(v))
                }
                None => (None, None),
            };
            let event = st
                .apply(key, new.clone(), rv)
                .ok_or(CommitError::NotFound)?;
            let hubs = hubs.clone();
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
}

/// Checks a precondition against the resourceVersion of what is stored (`None`: absent).
pub(super) fn check(pre: Precondition, current: Option<u64>) -> Result<(), CommitError> {
    match (pre, current) {
        (Precondition::Absent, Some(_)) => Err(CommitError::AlreadyExists),
        (Precondition::Exists | Precondition::ResourceVersion(_), None) => {
            Err(CommitError::NotFound)
        }
        (Precondition::ResourceVersion(want), Some(have)) if want != have => {
            Err(CommitError::Conflict)
        }
        _ => Ok(()),
    }
}
