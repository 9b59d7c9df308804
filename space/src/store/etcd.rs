//! The etcd v3 backend: objects live in etcd under `PREFIX/registry/<group>/<resource>/[<ns>/]<name>`
//! (`core` for the legacy group, no namespace segment for cluster-scoped objects), as JSON
//! without `metadata.resourceVersion`; an object's resourceVersion is its etcd `mod_revision`,
//! so several space servers on one etcd agree on every version.
//!
//! Writes are etcd transactions: a create compares `create_revision == 0`, an update or delete
//! compares `mod_revision` with the version the caller read, so concurrent writers through
//! different replicas never lose an update (the loser gets a conflict). The in-memory state is
//! fed only by [`feed`]'s etcd watch; a write is answered once that watch has applied its
//! revision, so a client reads its own writes from the replica it wrote through.
//!
//! The etcd client runs on a runtime of its own thread, so the store can be opened from
//! synchronous code and used from any runtime.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KeyValue, PutOptions,
    Txn, TxnOp, TxnOpResponse,
};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::feed::{self, Feed};
use super::hub::Hubs;
use super::state::State;
use super::types::{Committed, ObjectKey, Precondition, StoredObject};
use super::{CommitError, StoreError};
use crate::registry::GroupResource;

/// How long connecting and the first list may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one transaction may take.
const TXN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a writer waits for its revision to come back through the watch.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an etcd-backed space keeps its objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs (`http://host:port`).
    pub endpoints: Vec<String>,
    /// Key prefix of this space; `None` means `/kubestellar/<space name>`.
    pub prefix: Option<String>,
}

impl EtcdConfig {
    /// Parses `etcd://host:port[,host:port...]`.
    pub fn parse(url: &str) -> Result<EtcdConfig, StoreError> {
        let bad = |why: &str| StoreError::Open(format!("bad etcd address {url:?}: {why}"));
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| bad("expected etcd://host:port[,host:port]"))?;
        let rest = rest.trim_end_matches('/');
        let mut endpoints = Vec::new();
        for hp in rest.split(',') {
            let (host, port) = hp
                .rsplit_once(':')
                .ok_or_else(|| bad("every endpoint needs host:port"))?;
            if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
                return Err(bad(&format!("{hp:?} is not host:port")));
            }
            endpoints.push(format!("http://{hp}"));
        }
        Ok(EtcdConfig {
            endpoints,
            prefix: None,
        })
    }

    /// The prefix used for a space named `space`.
    pub fn prefix_for(&self, space: &str) -> String {
        let p = self
            .prefix
            .clone()
            .unwrap_or_else(|| format!("/kubestellar/{space}"));
        p.trim_end_matches('/').to_string()
    }
}

/// Maps store keys to etcd keys and back.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    /// `PREFIX/registry/`
    root: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            root: format!("{prefix}/registry/"),
        }
    }

    /// The prefix every object key starts with.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The first key after every object key (the end of the range).
    pub fn range_end(&self) -> Vec<u8> {
        let mut end = self.root.as_bytes().to_vec();
        // The root ends with '/', so incrementing the last byte cannot overflow.
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        end
    }

    pub fn encode(&self, key: &ObjectKey) -> String {
        let group = if key.gr.group.is_empty() {
            "core"
        } else {
            key.gr.group.as_str()
        };
        if key.namespace.is_empty() {
            format!("{}{group}/{}/{}", self.root, key.gr.resource, key.name)
        } else {
            format!(
                "{}{group}/{}/{}/{}",
                self.root, key.gr.resource, key.namespace, key.name
            )
        }
    }

    pub fn decode(&self, raw: &[u8]) -> Option<ObjectKey> {
        let rest = std::str::from_utf8(raw).ok()?.strip_prefix(&self.root)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (group, resource, namespace, name) = match parts.as_slice() {
            [g, r, name] => (*g, *r, "", *name),
            [g, r, ns, name] => (*g, *r, *ns, *name),
            _ => return None,
        };
        if name.is_empty() || resource.is_empty() {
            return None;
        }
        let group = if group == "core" { "" } else { group };
        Some(ObjectKey::new(
            &GroupResource {
                group: group.into(),
                resource: resource.into(),
            },
            namespace,
            name,
        ))
    }
}

/// Decodes a stored object; its resourceVersion is the key's `mod_revision`.
pub(super) fn decode_object(kv: &KeyValue) -> Result<StoredObject, String> {
    let v: Value = serde_json::from_slice(kv.value()).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    Ok(StoredObject::from_value(v, revision(kv.mod_revision())).0)
}

/// etcd revisions are positive `i64`s.
pub(super) fn revision(r: i64) -> u64 {
    u64::try_from(r).unwrap_or(0)
}

fn etcd_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Write(format!("etcd: {e}"))
}

/// The writer of an etcd-backed store, and the thread its client runs on.
pub(super) struct Etcd {
    handle: tokio::runtime::Handle,
    client: Client,
    keys: Keys,
    applied: watch::Receiver<u64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects, loads every object of the space into `state` and starts following changes.
/// Returns the writer and the revision the state was loaded at.
pub(super) fn open(
    cfg: &EtcdConfig,
    prefix: &str,
    state: Arc<RwLock<State>>,
    hubs: Arc<Mutex<Hubs>>,
    unhealthy: Arc<AtomicBool>,
) -> Result<(Etcd, u64), StoreError> {
    let keys = Keys::new(prefix);
    let endpoints = cfg.endpoints.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (applied_tx, applied_rx) = watch::channel(0u64);
    let feed_keys = keys.clone();
    let thread = std::thread::Builder::new()
        .name("space-etcd".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(StoreError::Open(e.to_string())));
                    return;
                }
            };
            rt.block_on(async move {
                let start = async {
                    let opts = ConnectOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
                    let client = Client::connect(&endpoints, Some(opts))
                        .await
                        .map_err(|e| e.to_string())?;
                    let (rev, loaded) = feed::list_all(&client, &feed_keys)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((client, rev, loaded))
                };
                let (client, rev, loaded) = match tokio::time::timeout(OPEN_TIMEOUT, start).await {
                    Ok(Ok(x)) => x,
                    Ok(Err(e)) => {
                        let _ = ready_tx.send(Err(StoreError::Open(format!(
                            "etcd at {}: {e}",
                            endpoints.join(",")
                        ))));
                        return;
                    }
                    Err(_) => {
                        let _ = ready_tx.send(Err(StoreError::Open(format!(
                            "etcd at {} did not answer within {OPEN_TIMEOUT:?}",
                            endpoints.join(",")
                        ))));
                        return;
                    }
                };
                let feed = Feed {
                    client: client.clone(),
                    keys: feed_keys,
                    state,
                    hubs,
                    applied: applied_tx,
                    unhealthy,
                };
                feed.install(rev, loaded, false);
                if ready_tx
                    .send(Ok((client, tokio::runtime::Handle::current(), rev)))
                    .is_err()
                {
                    return;
                }
                tokio::select! {
                    _ = stop_rx => {}
                    _ = feed.run(rev) => {}
                }
            });
        })
        .map_err(|e| StoreError::Open(e.to_string()))?;
    let (client, handle, rev) = match ready_rx.recv() {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => {
            let _ = thread.join();
            return Err(StoreError::Open("the etcd client thread died".into()));
        }
    };
    Ok((
        Etcd {
            handle,
            client,
            keys,
            applied: applied_rx,
            stop: Some(stop_tx),
            thread: Some(thread),
        },
        rev,
    ))
}

impl Etcd {
    /// Commits one change as an etcd transaction, then waits until the watch has applied it.
    pub async fn commit(
        &self,
        key: &ObjectKey,
        pre: Precondition,
        value: Option<Value>,
    ) -> Result<Committed, CommitError> {
        let k = self.keys.encode(key);
        let payload = match &value {
            Some(v) => {
                let mut v = v.clone();
                if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                Some(serde_json::to_vec(&v).map_err(etcd_err)?)
            }
            None => None,
        };
        let compare = match pre {
            Precondition::None => None,
            Precondition::Absent => Some(Compare::create_revision(k.clone(), CompareOp::Equal, 0)),
            Precondition::Exists => {
                Some(Compare::create_revision(k.clone(), CompareOp::Greater, 0))
            }
            Precondition::ResourceVersion(rv) => Some(Compare::mod_revision(
                k.clone(),
                CompareOp::Equal,
                i64::try_from(rv).unwrap_or(i64::MAX),
            )),
        };
        let op = match payload {
            Some(bytes) => TxnOp::put(k.clone(), bytes, Some(PutOptions::new().with_prev_key())),
            None => TxnOp::delete(k.clone(), Some(DeleteOptions::new().with_prev_key())),
        };
        let txn = Txn::new()
            .when(compare.into_iter().collect::<Vec<_>>())
            .and_then(vec![op])
            .or_else(vec![TxnOp::get(k, None::<GetOptions>)]);
        let mut client = self.client.clone();
        let resp = self
            .handle
            .spawn(async move { tokio::time::timeout(TXN_TIMEOUT, client.txn(txn)).await })
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(|_| etcd_err(format!("no answer within {TXN_TIMEOUT:?}")))?
            .map_err(etcd_err)?;
        let rev = revision(resp.header().map(|h| h.revision()).unwrap_or(0));
        let responses = resp.op_responses();
        if !resp.succeeded() {
            let current = responses.iter().find_map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().map(|kv| revision(kv.mod_revision())),
                _ => None,
            });
            let Some(current) = current else {
                return Err(CommitError::NotFound);
            };
            // Let the caller's next read see what it lost to.
            self.wait_applied(current).await;
            return Err(match pre {
                Precondition::Absent => CommitError::AlreadyExists,
                _ => CommitError::Conflict,
            });
        }
        let prev = responses.iter().find_map(|r| match r {
            TxnOpResponse::Put(p) => p.prev_key().cloned(),
            TxnOpResponse::Delete(d) => d.prev_kvs().first().cloned(),
            _ => None,
        });
        if value.is_none() && prev.is_none() {
            return Err(CommitError::NotFound);
        }
        let old = prev.as_ref().and_then(|kv| decode_object(kv).ok());
        self.wait_applied(rev).await;
        let (new, new_value) = match value {
            Some(v) => {
                let (obj, v) = StoredObject::from_value(v, rev);
                (Some(obj), Some(v))
            }
            None => (None, None),
        };
        Ok(Committed {
            rv: rev,
            new,
            value: new_value,
            old,
        })
    }

    /// Waits (a bounded time) until the watch has applied revision `rev`.
    async fn wait_applied(&self, rev: u64) {
        let mut rx = self.applied.clone();
        let waited = tokio::time::timeout(APPLY_TIMEOUT, rx.wait_for(|a| *a >= rev)).await;
        if !matches!(waited, Ok(Ok(_))) {
            tracing::warn!(
                revision = rev,
                "space store: the etcd watch has not delivered a committed revision yet"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_like_kubernetes() {
        let k = Keys::new("/kubestellar/wds1");
        let gr = |g: &str, r: &str| GroupResource {
            group: g.into(),
            resource: r.into(),
        };
        let cm = ObjectKey::new(&gr("", "configmaps"), "default", "a");
        assert_eq!(
            k.encode(&cm),
            "/kubestellar/wds1/registry/core/configmaps/default/a"
        );
        let ns = ObjectKey::new(&gr("", "namespaces"), "", "default");
        assert_eq!(
            k.encode(&ns),
            "/kubestellar/wds1/registry/core/namespaces/default"
        );
        let d = ObjectKey::new(&gr("apps", "deployments"), "x", "web");
        for key in [cm, ns, d] {
            assert_eq!(k.decode(k.encode(&key).as_bytes()), Some(key));
        }
        assert_eq!(
            k.decode(b"/kubestellar/wds2/registry/core/namespaces/a"),
            None
        );
        assert_eq!(k.decode(b"/kubestellar/wds1/registry/core/a/b/c/d"), None);
        assert_eq!(k.range_end(), b"/kubestellar/wds1/registry0".to_vec());
    }

    #[test]
    fn parses_store_urls() {
        let c = EtcdConfig::parse("etcd://127.0.0.1:2379,etcd-1:2379").expect("parse");
        assert_eq!(c.endpoints, ["http://127.0.0.1:2379", "http://etcd-1:2379"]);
        assert_eq!(c.prefix_for("wds1"), "/kubestellar/wds1");
        for bad in [
            "http://x:1",
            "etcd://",
            "etcd://host",
            "etcd://h:port",
            "etcd://h:1,",
        ] {
            assert!(EtcdConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
