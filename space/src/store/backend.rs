//! The storage backend trait: what the in-memory store needs from durable storage. The store
//! keeps every object in memory and calls its backend from one writer thread only, so a backend
//! is a plain key-value log: load everything once, then persist batches atomically. The default
//! is [`super::redb::RedbBackend`]. The etcd store does not use this trait: there etcd assigns
//! the versions and memory follows etcd's watch (see [`super::etcd`]).

use bytes::Bytes;

use super::StoreError;

/// One change to persist.
#[derive(Clone, Debug)]
pub struct Change {
    /// `group/resource/namespace/name`.
    pub key: String,
    /// The object's JSON; `None` deletes.
    pub value: Option<Bytes>,
}

/// What a backend held when opened.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every stored object: (key, JSON).
    pub objects: Vec<(String, Vec<u8>)>,
    /// The resourceVersion recorded with the last persisted batch; `None` for a new store.
    pub rv: Option<u64>,
}

/// Durable storage under the store.
pub trait Backend: Send + 'static {
    /// Reads everything stored.
    fn load(&mut self) -> Result<Loaded, StoreError>;

    /// Persists `batch` (in order) and the store's resourceVersion `rv` in one atomic step, and
    /// returns only once they would survive a crash of the process or the machine.
    fn persist(&mut self, batch: &[Change], rv: u64) -> Result<(), StoreError>;
}
