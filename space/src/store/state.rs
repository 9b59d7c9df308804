//! The in-memory state every backend serves reads from: the objects of each resource, the UID
//! index and the owner → dependents index, at one resourceVersion.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::types::{Event, EventType, ObjectKey, StoredObject};
use crate::registry::GroupResource;

/// One resource's objects by (namespace, name).
pub(super) type Table = BTreeMap<(String, String), StoredObject>;

/// Every object, indexed.
#[derive(Default)]
pub(super) struct State {
    /// The resourceVersion of the last change applied.
    pub rv: u64,
    pub tables: HashMap<GroupResource, Table>,
    pub by_uid: HashMap<String, ObjectKey>,
    pub dependents: HashMap<String, BTreeSet<ObjectKey>>,
}

impl State {
    /// Updates the UID and dependents indexes for `key` going from `old` to `new`.
    pub fn index(
        &mut self,
        key: &ObjectKey,
        old: Option<&StoredObject>,
        new: Option<&StoredObject>,
    ) {
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

    /// The stored version of `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<&StoredObject> {
        self.tables
            .get(&key.gr)?
            .get(&(key.namespace.clone(), key.name.clone()))
    }

    /// Adds an object while loading (no event).
    pub fn insert_loaded(&mut self, key: ObjectKey, obj: StoredObject) {
        self.index(&key, None, Some(&obj));
        self.tables
            .entry(key.gr)
            .or_default()
            .insert((key.namespace, key.name), obj);
    }

    /// Applies a change at `rv` (`new` = `None` deletes) and returns its watch event, or `None`
    /// when a deletion finds nothing to delete.
    pub fn apply(&mut self, key: &ObjectKey, new: Option<StoredObject>, rv: u64) -> Option<Event> {
        self.rv = self.rv.max(rv);
        let tkey = (key.namespace.clone(), key.name.clone());
        let old = match &new {
            Some(obj) => self
                .tables
                .entry(key.gr.clone())
                .or_default()
                .insert(tkey, obj.clone()),
            None => self.tables.get_mut(&key.gr).and_then(|t| t.remove(&tkey)),
        };
        self.index(key, old.as_ref(), new.as_ref());
        let event = match new {
            Some(object) => Event {
                kind: if old.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                },
                key: key.clone(),
                object,
                prev: old,
            },
            None => {
                let last = old.as_ref()?;
                Event {
                    kind: EventType::Deleted,
                    key: key.clone(),
                    object: deleted_at(last, rv),
                    prev: old,
                }
            }
        };
        Some(event)
    }
}

/// The last state of a deleted object, carrying the deletion's resourceVersion.
pub(super) fn deleted_at(last: &StoredObject, rv: u64) -> StoredObject {
    if last.json.is_empty() {
        return StoredObject {
            rv,
            json: Bytes::new(),
            meta: Arc::default(),
        };
    }
    StoredObject::from_value(last.value(), rv).0
}
