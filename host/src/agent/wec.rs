//! The WEC side of the agent: discovery, applying and deleting objects, and watching the kinds
//! it applied (to see drift and status changes).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::runtime::watcher;

use super::manifests::{Desired, ObjKey};
use super::{AgentError, Shared, Work, lock};
use crate::binding::queue::AbortOnDrop;

/// A kind resolved in the WEC.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub ar: ApiResource,
    pub namespaced: bool,
}

/// Why one manifest could not be applied.
#[derive(Clone, Debug)]
pub struct ApplyFailure {
    /// Shown on the ManifestWork status.
    pub message: String,
    /// Transient (network, server error): retry with backoff.
    pub retry: bool,
}

fn failure(e: kube::Error) -> ApplyFailure {
    match &e {
        // Only invalid content (400, 422) waits for the ManifestWork to change; anything else
        // (a namespace not there yet, forbidden, conflicts, server errors) may pass later.
        kube::Error::Api(s) => ApplyFailure {
            message: format!("{} ({})", s.message, s.reason),
            retry: !matches!(s.code, 400 | 422),
        },
        _ => ApplyFailure {
            message: e.to_string(),
            retry: true,
        },
    }
}

/// Finds the resource of a kind in the WEC, asking the WEC on a cache miss (CRDs may be new).
pub(super) async fn resolve(sh: &Shared, gvk: &GroupVersionKind) -> Result<Resolved, ApplyFailure> {
    if let Some(r) = lock(&sh.resources).get(gvk) {
        return Ok(r.clone());
    }
    match kube::discovery::pinned_kind(&sh.wec, gvk).await {
        Ok((ar, caps)) => {
            let r = Resolved {
                ar,
                namespaced: caps.scope == Scope::Namespaced,
            };
            lock(&sh.resources).insert(gvk.clone(), r.clone());
            Ok(r)
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Err(ApplyFailure {
            message: format!(
                "no matches for kind \"{}\" in version \"{}\" (is its CRD installed in the WEC?)",
                gvk.kind,
                if gvk.group.is_empty() {
                    gvk.version.clone()
                } else {
                    format!("{}/{}", gvk.group, gvk.version)
                }
            ),
            retry: true,
        }),
        Err(kube::Error::Discovery(e)) => Err(ApplyFailure {
            message: format!(
                "no matches for kind \"{}\" in version \"{}\" (is its CRD installed in the WEC?): {e}",
                gvk.kind,
                if gvk.group.is_empty() {
                    gvk.version.clone()
                } else {
                    format!("{}/{}", gvk.group, gvk.version)
                }
            ),
            retry: true,
        }),
        Err(e) => Err(failure(e)),
    }
}

fn api_for(sh: &Shared, r: &Resolved, namespace: &str) -> Api<DynamicObject> {
    if r.namespaced {
        let ns = if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        Api::namespaced_with(sh.wec.clone(), ns, &r.ar)
    } else {
        Api::all_with(sh.wec.clone(), &r.ar)
    }
}

/// Applies one manifest unless the WEC already has it; returns the live object.
pub(super) async fn apply(sh: &Arc<Shared>, d: &Desired) -> Result<DynamicObject, ApplyFailure> {
    let r = resolve(sh, &d.key.gvk()).await?;
    ensure_watch(sh, &d.key.gvk(), &r);
    let api = api_for(sh, &r, &d.key.namespace);
    let cached = lock(&sh.live).get(&d.key).cloned();
    let live = match cached {
        Some(l) => Some(l),
        None => api.get_opt(&d.key.name).await.map_err(failure)?,
    };
    if let Some(l) = &live {
        let unchanged = d.create_only
            || super::diff::contains(&d.object, &serde_json::to_value(l).unwrap_or_default());
        if unchanged {
            return Ok(remember(sh, &d.key, l.clone()));
        }
    }
    let obj: DynamicObject =
        serde_json::from_value(d.object.clone()).map_err(|e| ApplyFailure {
            message: format!("manifest is not a Kubernetes object: {e}"),
            retry: false,
        })?;
    let result = if d.create_only && live.is_none() {
        match api
            .create(
                &PostParams {
                    field_manager: Some(sh.cfg.field_manager.clone()),
                    ..Default::default()
                },
                &obj,
            )
            .await
        {
            // Created meanwhile by someone else: create-only means leave it.
            Err(kube::Error::Api(s)) if s.code == 409 => api.get(&d.key.name).await,
            other => other,
        }
    } else {
        api.patch(
            &d.key.name,
            &PatchParams::apply(&sh.cfg.field_manager).force(),
            &Patch::Apply(&obj),
        )
        .await
    };
    let applied = result.map_err(failure)?;
    Ok(remember(sh, &d.key, applied))
}

/// Keeps `obj` as the live copy of `key` unless the cache already holds a newer version, and
/// returns the newest. The response of a write can arrive after the watch has delivered later
/// versions (the WEC's controllers update status right after an apply); storing it blindly
/// would report a stale status and never correct it.
pub(super) fn remember(sh: &Shared, key: &ObjKey, obj: DynamicObject) -> DynamicObject {
    let mut live = lock(&sh.live);
    if let Some(cached) = live.get(key)
        && newer(cached, &obj)
    {
        return cached.clone();
    }
    let obj = crate::binding::mirror::slim(obj);
    live.insert(key.clone(), obj.clone());
    obj
}

/// True when `a` is a later version of the same object than `b`. resourceVersions are opaque
/// to clients, but every API server in practice (etcd revisions, our spaces) issues increasing
/// integers; anything else counts as not newer, so the latest arrival wins as before.
fn newer(a: &DynamicObject, b: &DynamicObject) -> bool {
    let rv = |o: &DynamicObject| {
        o.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
    };
    a.metadata.uid == b.metadata.uid && matches!((rv(a), rv(b)), (Some(x), Some(y)) if x > y)
}

/// Deletes an object the agent applied (absent is fine).
pub(super) async fn delete(sh: &Shared, key: &ObjKey) -> Result<(), AgentError> {
    let r = match resolve(sh, &key.gvk()).await {
        Ok(r) => r,
        // The kind is gone from the WEC (CRD deleted): so is the object.
        Err(_) => return Ok(()),
    };
    let api = api_for(sh, &r, &key.namespace);
    match api.delete(&key.name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(AgentError::Wec(e)),
    }
}

/// Starts watching a kind in the WEC (once), feeding changes of applied objects back as work.
fn ensure_watch(sh: &Arc<Shared>, gvk: &GroupVersionKind, r: &Resolved) {
    let mut watched = lock(&sh.watched);
    let std::collections::hash_map::Entry::Vacant(slot) = watched.entry(gvk.clone()) else {
        return;
    };
    let gvk = gvk.clone();
    let api: Api<DynamicObject> = Api::all_with(sh.wec.clone(), &r.ar);
    let sh = sh.clone();
    let task = tokio::spawn(async move {
        let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            let (obj, deleted) = match ev {
                Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => (o, false),
                Ok(watcher::Event::Delete(o)) => (o, true),
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(cluster = %sh.cfg.cluster, kind = %gvk.kind, error = %e, "WEC watch failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let key = ObjKey {
                group: gvk.group.clone(),
                version: gvk.version.clone(),
                kind: gvk.kind.clone(),
                namespace: obj.metadata.namespace.clone().unwrap_or_default(),
                name: obj.metadata.name.clone().unwrap_or_default(),
            };
            if !lock(&sh.wanted).contains_key(&key) {
                continue;
            }
            if deleted {
                lock(&sh.live).remove(&key);
            } else {
                remember(&sh, &key, obj);
            }
            let _ = sh.work_tx.send(Work::Object(key));
        }
    });
    slot.insert(AbortOnDrop(task.abort_handle()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(uid: &str, rv: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "uid": uid, "resourceVersion": rv},
        }))
        .unwrap_or_else(|e| panic!("test object: {e}"))
    }

    #[test]
    fn a_later_version_of_the_same_object_is_newer() {
        assert!(newer(&obj("u", "12"), &obj("u", "9")));
        assert!(!newer(&obj("u", "9"), &obj("u", "12")));
        assert!(!newer(&obj("u", "9"), &obj("u", "9")));
        // A re-created object, or versions that are not integers: the latest arrival wins.
        assert!(!newer(&obj("u2", "12"), &obj("u", "9")));
        assert!(!newer(&obj("u", "x12"), &obj("u", "9")));
    }
}
