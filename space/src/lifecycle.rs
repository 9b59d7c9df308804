//! The space's own controllers: namespace termination, owner-reference garbage collection
//! (background, foreground, orphan) and CRD cleanup. Level-triggered: they react to events and
//! also rescan everything periodically, so a restart or a missed event loses nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::objects::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::objects::{DeleteOptions, PatchType, Subresource, WriteOptions};
use crate::registry::{GroupResource, ResourceInfo};
use crate::space::Space;
use crate::store::{EventType, ObjectKey};

const MANAGER: &str = "space-controller";
const RESYNC: Duration = Duration::from_secs(30);
const RETRY: Duration = Duration::from_millis(500);

/// Work items.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// An owner with this UID is gone: collect its dependents.
    OwnerGone(String),
    /// An object being deleted with a GC finalizer (foreground/orphan).
    Finalize(ObjectKey),
    /// A terminating namespace.
    Namespace(String),
    /// A CRD being deleted.
    Crd(String),
}

/// Runs the controllers until the task is aborted.
pub async fn run(space: Arc<Space>) {
    let mut events = space.store.subscribe_all();
    let mut pending: BTreeSet<Work> = scan(&space);
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    loop {
        if !pending.is_empty() {
            let work = std::mem::take(&mut pending);
            for w in work {
                if !handle(&space, &w).await {
                    pending.insert(w);
                }
            }
        }
        let wait = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            RETRY
        };
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if let Some(w) = work_for_event(&ev) {
                        pending.insert(w);
                    }
                    if ev.kind == EventType::Deleted && !ev.prev.as_ref().is_some_and(|p| p.meta.uid.is_empty()) && let Some(p) = &ev.prev {
                        pending.insert(Work::OwnerGone(p.meta.uid.clone()));
                    }
                    // Drain what is already queued before working.
                    while let Ok(ev) = events.try_recv() {
                        if let Some(w) = work_for_event(&ev) {
                            pending.insert(w);
                        }
                        if ev.kind == EventType::Deleted && let Some(p) = &ev.prev {
                            pending.insert(Work::OwnerGone(p.meta.uid.clone()));
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => pending.extend(scan(&space)),
                Err(RecvError::Closed) => return,
            },
            _ = resync.tick() => pending.extend(scan(&space)),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn work_for_event(ev: &crate::store::Event) -> Option<Work> {
    if ev.kind == EventType::Deleted || !ev.object.meta.deleting {
        return None;
    }
    let key = &ev.key;
    if key.gr.group.is_empty() && key.gr.resource == "namespaces" {
        return Some(Work::Namespace(key.name.clone()));
    }
    if key.gr.group == "apiextensions.k8s.io" && key.gr.resource == "customresourcedefinitions" {
        return Some(Work::Crd(key.name.clone()));
    }
    let f = &ev.object.meta.finalizers;
    if f.iter()
        .any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER)
    {
        return Some(Work::Finalize(key.clone()));
    }
    None
}

/// Everything that needs attention right now (startup and periodic resync).
fn scan(space: &Space) -> BTreeSet<Work> {
    let mut out = BTreeSet::new();
    let store = &space.store;
    let mut owned = Vec::new();
    store.for_each(&mut |key, obj| {
        if obj.meta.deleting {
            if key.gr.group.is_empty() && key.gr.resource == "namespaces" {
                out.insert(Work::Namespace(key.name.clone()));
            } else if key.gr.group == "apiextensions.k8s.io"
                && key.gr.resource == "customresourcedefinitions"
            {
                out.insert(Work::Crd(key.name.clone()));
            } else if obj
                .meta
                .finalizers
                .iter()
                .any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER)
            {
                out.insert(Work::Finalize(key.clone()));
            }
        }
        for o in &obj.meta.owners {
            owned.push(o.uid.clone());
        }
    });
    for uid in owned {
        if store.key_of_uid(&uid).is_none() {
            out.insert(Work::OwnerGone(uid));
        }
    }
    out
}

/// Returns true when the work item is done.
async fn handle(space: &Arc<Space>, w: &Work) -> bool {
    match w {
        Work::OwnerGone(uid) => collect_dependents(space, uid).await,
        Work::Finalize(key) => finalize(space, key).await,
        Work::Namespace(name) => terminate_namespace(space, name).await,
        Work::Crd(name) => cleanup_crd(space, name).await,
    }
}

fn info(space: &Space, gr: &GroupResource) -> Option<Arc<ResourceInfo>> {
    let cat = space.registry.catalog();
    let versions = cat.versions_of(gr);
    let preferred = cat.preferred_version(&gr.group).map(String::from);
    versions
        .iter()
        .find(|r| Some(&r.version) == preferred.as_ref())
        .or(versions.first())
        .cloned()
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..WriteOptions::default()
    }
}

async fn delete_key(space: &Space, key: &ObjectKey, propagation: &str) -> bool {
    let Some(r) = info(space, &key.gr) else {
        return true;
    };
    let dopts = DeleteOptions {
        propagation: Some(propagation.into()),
        ..DeleteOptions::default()
    };
    match space.delete(&r, &key.namespace, &key.name, &dopts).await {
        Ok(_) => true,
        Err(e) if e.code == 404 => true,
        Err(e) => {
            tracing::warn!(space = %space.config.name, object = ?key, error = %e, "garbage collection: delete failed");
            false
        }
    }
}

/// Removes owner references to `uid` from an object.
async fn drop_owner_ref(space: &Space, key: &ObjectKey, uid: &str) -> bool {
    let Some(r) = info(space, &key.gr) else {
        return true;
    };
    let Some(obj) = space.store.get(key) else {
        return true;
    };
    let v = obj.value();
    let refs: Vec<Value> = v["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| a.iter().filter(|o| o["uid"] != uid).cloned().collect())
        .unwrap_or_default();
    let patch = json!({"metadata": {"ownerReferences": if refs.is_empty() { Value::Null } else { Value::Array(refs) }}});
    match space
        .patch(
            &r,
            &key.namespace,
            &key.name,
            PatchType::Merge,
            patch,
            &opts(),
            Subresource::Main,
        )
        .await
    {
        Ok(_) => true,
        Err(e) if e.code == 404 => true,
        Err(e) => {
            tracing::warn!(object = ?key, error = %e, "garbage collection: cannot remove owner reference");
            false
        }
    }
}

/// Background collection after an owner disappeared.
async fn collect_dependents(space: &Space, uid: &str) -> bool {
    if space.store.key_of_uid(uid).is_some() {
        return true; // the owner exists again (a UID is never reused, but be safe)
    }
    let mut done = true;
    for key in space.store.dependents_of(uid) {
        let Some(obj) = space.store.get(&key) else {
            continue;
        };
        let other_owner_alive = obj
            .meta
            .owners
            .iter()
            .any(|o| o.uid != uid && space.store.key_of_uid(&o.uid).is_some());
        let ok = if other_owner_alive {
            drop_owner_ref(space, &key, uid).await
        } else if obj.meta.deleting {
            true
        } else {
            delete_key(space, &key, "Background").await
        };
        done &= ok;
    }
    done
}

/// Foreground (delete dependents first) and orphan (detach dependents first) deletion.
async fn finalize(space: &Space, key: &ObjectKey) -> bool {
    let Some(obj) = space.store.get(key) else {
        return true;
    };
    if !obj.meta.deleting {
        return true;
    }
    let uid = obj.meta.uid.clone();
    let dependents = space.store.dependents_of(&uid);
    let finalizer = if obj.meta.finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
        for d in &dependents {
            if !drop_owner_ref(space, d, &uid).await {
                return false;
            }
        }
        ORPHAN_FINALIZER
    } else if obj
        .meta
        .finalizers
        .iter()
        .any(|f| f == FOREGROUND_FINALIZER)
    {
        if !dependents.is_empty() {
            for d in &dependents {
                if space.store.get(d).is_some_and(|o| !o.meta.deleting) {
                    delete_key(space, d, "Foreground").await;
                }
            }
            return false; // wait until they are gone
        }
        FOREGROUND_FINALIZER
    } else {
        return true;
    };
    remove_finalizer(space, key, finalizer).await
}

async fn remove_finalizer(space: &Space, key: &ObjectKey, finalizer: &str) -> bool {
    let Some(r) = info(space, &key.gr) else {
        return true;
    };
    let Some(obj) = space.store.get(key) else {
        return true;
    };
    let rest: Vec<String> = obj
        .meta
        .finalizers
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": obj.rv.to_string()}});
    match space
        .patch(
            &r,
            &key.namespace,
            &key.name,
            PatchType::Merge,
            patch,
            &opts(),
            Subresource::Main,
        )
        .await
    {
        Ok(_) => true,
        Err(e) if e.code == 404 => true,
        Err(e) if e.code == 409 => false,
        Err(e) => {
            tracing::warn!(object = ?key, error = %e, "cannot remove finalizer {finalizer}");
            false
        }
    }
}

/// Deletes everything in a terminating namespace, then the namespace itself.
async fn terminate_namespace(space: &Space, name: &str) -> bool {
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    let ns_key = ObjectKey::new(&ns_gr, "", name);
    let Some(ns) = space.store.get(&ns_key) else {
        return true;
    };
    if !ns.meta.deleting {
        return true;
    }
    let mut remaining = 0;
    let catalog = space.registry.catalog();
    let mut seen = BTreeSet::new();
    for r in catalog
        .resources
        .iter()
        .filter(|r| r.namespaced && r.is_stored())
    {
        let gr = r.group_resource();
        if !seen.insert(gr.clone()) {
            continue;
        }
        for key in space.store.keys(&gr, Some(name)) {
            remaining += 1;
            if space.store.get(&key).is_some_and(|o| !o.meta.deleting) {
                delete_key(space, &key, "Background").await;
            }
        }
    }
    if remaining > 0 {
        return false;
    }
    let Some(r) = info(space, &ns_gr) else {
        return true;
    };
    let v = ns.value();
    if v["spec"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        let patch = json!({"spec": {"finalizers": null}, "metadata": {"resourceVersion": ns.rv.to_string()}});
        return match space
            .patch(
                &r,
                "",
                name,
                PatchType::Merge,
                patch,
                &opts(),
                Subresource::Main,
            )
            .await
        {
            Ok(_) => true,
            Err(e) if e.code == 404 => true,
            Err(_) => false,
        };
    }
    true
}

/// Deletes every custom resource of a CRD being deleted, then drops its cleanup finalizer.
async fn cleanup_crd(space: &Space, name: &str) -> bool {
    let crd_gr = GroupResource {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    };
    let key = ObjectKey::new(&crd_gr, "", name);
    let Some(crd) = space.store.get(&key) else {
        return true;
    };
    let v = crd.value();
    let gr = GroupResource {
        group: v["spec"]["group"].as_str().unwrap_or_default().into(),
        resource: v["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .into(),
    };
    let mut remaining = 0;
    for k in space.store.keys(&gr, None) {
        remaining += 1;
        if space.store.get(&k).is_some_and(|o| !o.meta.deleting) {
            delete_key(space, &k, "Background").await;
        }
    }
    if remaining > 0 {
        return false;
    }
    remove_finalizer(
        space,
        &key,
        crate::objects::admission::CRD_CLEANUP_FINALIZER,
    )
    .await
}
