//! A mirror of one kind of object in a space (a reflector with change callbacks): the latest
//! version of every object, whether the initial list is complete, and a callback with the old
//! and new version of each object that changed, so that controllers can decide what a change
//! means (a status-only update, say, may mean nothing).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::queue::AbortOnDrop;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// Called with the old and new version of a changed object (`None`: absent).
pub type OnChange<K> = Arc<dyn Fn(Option<&K>, Option<&K>) + Send + Sync>;

struct Inner<K> {
    items: BTreeMap<Key, Arc<K>>,
}

/// The latest known version of every object of one kind. Cheap to clone.
pub struct Mirror<K> {
    inner: Arc<RwLock<Inner<K>>>,
    synced: watch::Receiver<bool>,
    _task: Arc<AbortOnDrop>,
}

impl<K> Clone for Mirror<K> {
    fn clone(&self) -> Self {
        Mirror {
            inner: self.inner.clone(),
            synced: self.synced.clone(),
            _task: self._task.clone(),
        }
    }
}

fn key_of<K: Resource>(o: &K) -> Key {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

impl<K> Mirror<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    /// Starts mirroring what `api` lists (filtered by `cfg`); `on_change` sees every change
    /// (after the initial list: every object, as a change from `None`).
    pub fn start(
        api: Api<K>,
        cfg: watcher::Config,
        what: &'static str,
        on_change: OnChange<K>,
    ) -> Mirror<K> {
        let inner = Arc::new(RwLock::new(Inner {
            items: BTreeMap::new(),
        }));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(run(api, cfg, what, inner.clone(), tx, on_change));
        Mirror {
            inner,
            synced: rx,
            _task: Arc::new(AbortOnDrop(task.abort_handle())),
        }
    }

    /// The object `namespace/name` (namespace empty for cluster-scoped kinds).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .items
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Every object, ordered by namespace and name.
    pub fn list(&self) -> Vec<Arc<K>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.items.values().cloned().collect()
    }

    /// Objects for which `f` holds.
    pub fn filter(&self, f: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.items.values().filter(|o| f(o)).cloned().collect()
    }

    /// True once the initial list has been received.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits for the initial list.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// The object less its managedFields: no reader of a mirror needs them, and they are often as
/// large as the rest of the object (a ManifestWork applied server-side lists every field).
pub fn slim<K: Resource>(mut o: K) -> K {
    o.meta_mut().managed_fields = None;
    o
}

async fn run<K>(
    api: Api<K>,
    cfg: watcher::Config,
    what: &'static str,
    inner: Arc<RwLock<Inner<K>>>,
    synced: watch::Sender<bool>,
    on_change: OnChange<K>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut initial: BTreeMap<Key, Arc<K>> = BTreeMap::new();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => initial.clear(),
            Ok(watcher::Event::InitApply(o)) => {
                initial.insert(key_of(&o), Arc::new(slim(o)));
            }
            Ok(watcher::Event::InitDone) => {
                let old = {
                    let mut g = inner.write().unwrap_or_else(|e| e.into_inner());
                    std::mem::replace(&mut g.items, std::mem::take(&mut initial))
                };
                let new = inner
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .items
                    .clone();
                let _ = synced.send(true);
                for (k, o) in &old {
                    if !new.contains_key(k) {
                        on_change(Some(o), None);
                    }
                }
                for (k, n) in &new {
                    let o = old.get(k);
                    if o.is_none_or(|o| o.resource_version() != n.resource_version()) {
                        on_change(o.map(|o| &**o), Some(n));
                    }
                }
            }
            Ok(watcher::Event::Apply(o)) => {
                let k = key_of(&o);
                let n = Arc::new(slim(o));
                let old = inner
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .items
                    .insert(k, n.clone());
                on_change(old.as_deref(), Some(&n));
            }
            Ok(watcher::Event::Delete(o)) => {
                let old = inner
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .items
                    .remove(&key_of(&o));
                on_change(Some(old.as_deref().unwrap_or(&o)), None);
            }
            Err(e) => {
                // The stream backs off by itself.
                tracing::warn!(kind = what, error = %e, "watch failed; retrying");
            }
        }
    }
}
