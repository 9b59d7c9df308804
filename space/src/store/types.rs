//! The store's value types: keys, indexed metadata, stored versions, events.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::registry::GroupResource;

/// Where an object lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub gr: GroupResource,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// Builds a key.
    pub fn new(gr: &GroupResource, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            gr: gr.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    pub(super) fn storage_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.gr.group, self.gr.resource, self.namespace, self.name
        )
    }

    pub(super) fn parse_storage_key(k: &str) -> Option<ObjectKey> {
        let mut it = k.splitn(4, '/');
        let (group, resource, namespace, name) = (it.next()?, it.next()?, it.next()?, it.next()?);
        Some(ObjectKey {
            gr: GroupResource {
                group: group.into(),
                resource: resource.into(),
            },
            namespace: namespace.into(),
            name: name.into(),
        })
    }
}

/// An owner reference, as far as garbage collection cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    pub uid: String,
    pub block_owner_deletion: bool,
}

/// The metadata the store indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjMeta {
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub owners: Vec<OwnerRef>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
}

impl ObjMeta {
    /// Extracts the indexed metadata of an object.
    pub fn of(v: &Value) -> ObjMeta {
        let m = &v["metadata"];
        ObjMeta {
            uid: m["uid"].as_str().unwrap_or_default().to_string(),
            labels: m["labels"]
                .as_object()
                .map(|l| {
                    l.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            owners: m["ownerReferences"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|o| {
                            Some(OwnerRef {
                                uid: o["uid"].as_str()?.to_string(),
                                block_owner_deletion: o["blockOwnerDeletion"]
                                    .as_bool()
                                    .unwrap_or(false),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            finalizers: m["finalizers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            deleting: m["deletionTimestamp"].is_string(),
        }
    }
}

/// One stored object version. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StoredObject {
    pub rv: u64,
    /// The object's JSON, with `metadata.resourceVersion` set to `rv`.
    pub json: Bytes,
    pub meta: Arc<ObjMeta>,
}

impl StoredObject {
    /// Parses the object.
    pub fn value(&self) -> Value {
        // The store only holds JSON it serialized itself.
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// Stores `v` at `rv`; also returns `v` with its new resourceVersion.
    pub(super) fn from_value(mut v: Value, rv: u64) -> (StoredObject, Value) {
        set_rv(&mut v, rv);
        let stored = StoredObject {
            rv,
            json: Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            meta: Arc::new(ObjMeta::of(&v)),
        };
        (stored, v)
    }
}

fn set_rv(v: &mut Value, rv: u64) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// What a commit must find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Whatever is there (or absent).
    None,
    /// The object must not exist (create).
    Absent,
    /// The object must exist.
    Exists,
    /// The object must exist at exactly this resourceVersion.
    ResourceVersion(u64),
}

/// A watch event kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A committed change.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventType,
    pub key: ObjectKey,
    /// The new object; for deletions, the last state with the deletion's resourceVersion.
    pub object: StoredObject,
    /// The previous version (for selector transitions).
    pub prev: Option<StoredObject>,
}

/// The result of a successful commit.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The change's resourceVersion.
    pub rv: u64,
    /// The new object (`None` for a deletion).
    pub new: Option<StoredObject>,
    /// The new object parsed (what `new` holds), saving callers a parse.
    pub value: Option<Value>,
    /// The object before the change.
    pub old: Option<StoredObject>,
}

/// One page of a list.
pub struct Page {
    pub items: Vec<StoredObject>,
    /// The store's resourceVersion when the list was taken.
    pub rv: u64,
    /// Number of matching items after this page (`Some` only when truncated).
    pub remaining: Option<usize>,
}
