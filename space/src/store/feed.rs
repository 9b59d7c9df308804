//! Keeps an etcd-backed store's memory in step with etcd: one consistent list, then one watch
//! from the next revision; every change any replica makes arrives here, is applied to the
//! state and published to watchers. A broken watch resumes from the last applied revision; a
//! watch whose revision etcd has compacted away relists, swaps the state and ends every client
//! watch (their next attempt from an old version gets 410 Expired, and they relist).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use etcd_client::{Client, EventType as EtcdEvent, GetOptions, KeyValue, WatchOptions};
use tokio::sync::watch;

use super::etcd::{Keys, decode_object, revision};
use super::hub::Hubs;
use super::state::{State, deleted_at};
use super::types::{Event, EventType, ObjectKey, StoredObject};

/// Keys fetched per list request (responses stay far below gRPC's message limit).
const PAGE: i64 = 500;
/// Longest pause between attempts to reach etcd again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Lists every object under `keys` at one revision, page by page; returns that revision and
/// the decodable objects (others are logged and skipped).
pub(super) async fn list_all(
    client: &Client,
    keys: &Keys,
) -> Result<(u64, Vec<(ObjectKey, StoredObject)>), etcd_client::Error> {
    let mut kv = client.kv_client();
    let end = keys.range_end();
    let mut from = keys.root().as_bytes().to_vec();
    let mut rev = 0i64;
    let mut out = Vec::new();
    loop {
        let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if rev > 0 {
            opts = opts.with_revision(rev);
        }
        let resp = kv.get(from.clone(), Some(opts)).await?;
        if rev == 0 {
            rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        }
        for item in resp.kvs() {
            if let Some(decoded) = decode(keys, item) {
                out.push(decoded);
            }
        }
        match resp.kvs().last() {
            Some(last) if resp.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => break,
        }
    }
    Ok((revision(rev), out))
}

fn decode(keys: &Keys, kv: &KeyValue) -> Option<(ObjectKey, StoredObject)> {
    let Some(key) = keys.decode(kv.key()) else {
        tracing::warn!(key = %String::from_utf8_lossy(kv.key()), "space store: ignoring an etcd key that names no object");
        return None;
    };
    match decode_object(kv) {
        Ok(obj) => Some((key, obj)),
        Err(e) => {
            tracing::warn!(key = %String::from_utf8_lossy(kv.key()), error = %e, "space store: ignoring an undecodable object in etcd");
            None
        }
    }
}

/// Why following stopped.
enum Stop {
    /// etcd no longer has the revision to resume from.
    Compacted(i64),
    /// The connection or the watch broke.
    Broken(String),
}

/// The follower of one etcd-backed store.
pub(super) struct Feed {
    pub client: Client,
    pub keys: Keys,
    pub state: Arc<RwLock<State>>,
    pub hubs: Arc<Mutex<Hubs>>,
    /// The last revision applied to the state (writers wait on it).
    pub applied: watch::Sender<u64>,
    /// Raised while the store is not following etcd (readiness).
    pub unhealthy: Arc<AtomicBool>,
}

impl Feed {
    /// Follows etcd from revision `rev` (already applied) until the task is dropped.
    pub async fn run(self, mut rev: u64) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let stop = self.follow(&mut rev).await;
            self.unhealthy.store(true, Ordering::SeqCst);
            match stop {
                Stop::Compacted(at) => {
                    tracing::warn!(
                        from = rev,
                        compacted = at,
                        "space store: etcd compacted past the watch; relisting"
                    );
                    match list_all(&self.client, &self.keys).await {
                        Ok((r, objects)) => {
                            self.install(r, objects, true);
                            self.unhealthy.store(false, Ordering::SeqCst);
                            rev = r;
                            backoff = Duration::from_millis(100);
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "space store: relisting from etcd failed")
                        }
                    }
                }
                Stop::Broken(e) => {
                    tracing::warn!(from = rev, error = %e, "space store: the etcd watch broke; resuming");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Watches from `rev + 1`, applying every change and advancing `rev`.
    async fn follow(&self, rev: &mut u64) -> Stop {
        let start = i64::try_from(*rev).unwrap_or(i64::MAX).saturating_add(1);
        let opts = WatchOptions::new()
            .with_range(self.keys.range_end())
            .with_start_revision(start);
        let mut client = self.client.clone();
        let mut stream = match client.watch(self.keys.root(), Some(opts)).await {
            Ok(s) => s,
            Err(e) => return Stop::Broken(e.to_string()),
        };
        loop {
            let resp = match stream.message().await {
                Ok(Some(r)) => r,
                Ok(None) => return Stop::Broken("the watch stream ended".into()),
                Err(e) => return Stop::Broken(e.to_string()),
            };
            if resp.compact_revision() > 0 {
                return Stop::Compacted(resp.compact_revision());
            }
            if resp.canceled() {
                return Stop::Broken(format!("watch cancelled: {}", resp.cancel_reason()));
            }
            if resp.created() {
                self.unhealthy.store(false, Ordering::SeqCst);
            }
            self.apply(resp.events(), rev);
        }
    }

    /// Applies watched changes to the state, then publishes them, then lets writers waiting
    /// for these revisions go.
    fn apply(&self, events: &[etcd_client::Event], rev: &mut u64) {
        let mut out = Vec::new();
        {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            for ev in events {
                let Some(kv) = ev.kv() else { continue };
                let at = revision(kv.mod_revision());
                *rev = (*rev).max(at);
                let new = match ev.event_type() {
                    EtcdEvent::Put => match decode(&self.keys, kv) {
                        Some((_, obj)) => Some(obj),
                        None => continue,
                    },
                    EtcdEvent::Delete => None,
                };
                let Some(key) = self.keys.decode(kv.key()) else {
                    continue;
                };
                if let Some(e) = st.apply(&key, new, at) {
                    out.push(Arc::new(e));
                }
            }
        }
        if !out.is_empty() {
            let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
            for e in out {
                hubs.publish(e);
            }
        }
        self.applied.send_replace(*rev);
    }

    /// Replaces the state with a full list taken at `rev`. On a relist (`resync`), every client
    /// watch ends and watch history restarts at `rev`; the server's own controllers get the
    /// differences as events (they are level-triggered).
    pub fn install(&self, rev: u64, objects: Vec<(ObjectKey, StoredObject)>, resync: bool) {
        let mut fresh = State::default();
        for (key, obj) in objects {
            fresh.insert_loaded(key, obj);
        }
        fresh.rv = fresh.rv.max(rev);
        let diff = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let diff = if resync {
                differences(&st, &fresh, rev)
            } else {
                Vec::new()
            };
            *st = fresh;
            diff
        };
        {
            let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
            hubs.reset(rev);
            for e in diff {
                let _ = hubs.all.send(Arc::new(e));
            }
        }
        self.applied.send_replace(rev);
    }
}

/// What changed from `old` to `new` (a relist at `rev`), as events in resourceVersion order.
fn differences(old: &State, new: &State, rev: u64) -> Vec<Event> {
    let mut out = Vec::new();
    for (gr, table) in &new.tables {
        let before = old.tables.get(gr);
        for ((ns, name), obj) in table {
            let prev = before.and_then(|t| t.get(&(ns.clone(), name.clone())));
            if prev.is_some_and(|p| p.rv == obj.rv) {
                continue;
            }
            out.push(Event {
                kind: if prev.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                },
                key: ObjectKey::new(gr, ns, name),
                object: obj.clone(),
                prev: prev.cloned(),
            });
        }
    }
    for (gr, table) in &old.tables {
        let after = new.tables.get(gr);
        for ((ns, name), obj) in table {
            if after.is_some_and(|t| t.contains_key(&(ns.clone(), name.clone()))) {
                continue;
            }
            out.push(Event {
                kind: EventType::Deleted,
                key: ObjectKey::new(gr, ns, name),
                object: deleted_at(obj, rev),
                prev: Some(obj.clone()),
            });
        }
    }
    out.sort_by_key(|e| e.object.rv);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::GroupResource;
    use serde_json::json;

    fn obj(name: &str, rv: u64) -> (ObjectKey, StoredObject) {
        let gr = GroupResource {
            group: String::new(),
            resource: "configmaps".into(),
        };
        let v =
            json!({"metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}")}});
        (
            ObjectKey::new(&gr, "default", name),
            StoredObject::from_value(v, rv).0,
        )
    }

    fn state(objects: &[(&str, u64)]) -> State {
        let mut s = State::default();
        for (n, rv) in objects {
            let (k, o) = obj(n, *rv);
            s.insert_loaded(k, o);
        }
        s
    }

    #[test]
    fn a_relist_yields_the_differences_in_version_order() {
        let old = state(&[("same", 2), ("changed", 3), ("gone", 4)]);
        let new = state(&[("same", 2), ("changed", 9), ("new", 7)]);
        let got: Vec<(EventType, String, u64, Option<u64>)> = differences(&old, &new, 10)
            .into_iter()
            .map(|e| (e.kind, e.key.name, e.object.rv, e.prev.map(|p| p.rv)))
            .collect();
        assert_eq!(
            got,
            [
                (EventType::Added, "new".into(), 7, None),
                (EventType::Modified, "changed".into(), 9, Some(3)),
                (EventType::Deleted, "gone".into(), 10, Some(4)),
            ]
        );
    }
}
