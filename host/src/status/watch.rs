//! Watches feeding the index: the control objects of the WDS, the WorkStatuses, ManifestWorks,
//! UpsyncedObjects, ManagedClusters and customization properties of the ITS (only those of this WDS), and the
//! workload objects of every resource the Bindings name (started and stopped as they change).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::{AbortHandle, JoinSet};

use super::index::{Index, MwEntry, Source, WsEntry, has_our_labels};
use super::keys::{Gvr, ObjKey, Work};
use super::upsync::UpsyncCopy;
use super::writer::{ResourceInfo, is_newer};
use super::{Shared, lock};
use crate::api::labels::{
    CUSTOMIZATION_PROPERTIES_NS, EXECUTING_COUNT, MULTIWEC_STATUS, ORIGIN_WDS, SINGLETON_STATUS,
};
use crate::api::{
    Binding, BindingPolicy, CombinedStatus, ManagedCluster, ManifestWork, StatusCollector,
    UpsyncedObject, WasmPlugin, WorkStatus,
};

/// (namespace, name) of a watched object.
type Id = (String, String);

fn id_of<K: kube::Resource>(o: &K) -> Id {
    (
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default(),
    )
}

/// Applies one change of a watched kind to the index.
type Apply<K> = fn(&mut Index, Id, Option<K>) -> Vec<Work>;

/// Keeps one source in the index: every event is applied at once; after each (re)listing the
/// objects that disappeared meanwhile are deleted, and the source is marked listed.
async fn watch_source<K>(
    sh: Arc<Shared>,
    api: Api<K>,
    cfg: watcher::Config,
    source: Source,
    apply: Apply<K>,
) where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut stream = watcher::watcher(api, cfg).boxed();
    let mut known: HashSet<Id> = HashSet::new();
    let mut listing: HashSet<Id> = HashSet::new();
    while let Some(ev) = stream.next().await {
        let work = match ev {
            Ok(watcher::Event::Init) => {
                listing.clear();
                Vec::new()
            }
            Ok(watcher::Event::InitApply(o)) => {
                let id = id_of(&o);
                listing.insert(id.clone());
                apply(&mut lock(&sh.index), id, Some(o))
            }
            Ok(watcher::Event::InitDone) => {
                let gone: Vec<Id> = known.difference(&listing).cloned().collect();
                known = std::mem::take(&mut listing);
                let mut ix = lock(&sh.index);
                let mut work: Vec<Work> = gone
                    .into_iter()
                    .flat_map(|id| apply(&mut ix, id, None))
                    .collect();
                let was_ready = ix.ready();
                ix.synced.insert(source);
                if !was_ready && ix.ready() {
                    work.extend(ix.everything());
                }
                work
            }
            Ok(watcher::Event::Apply(o)) => {
                let id = id_of(&o);
                known.insert(id.clone());
                let mut ix = lock(&sh.index);
                if ix.holds_newer(source, &id, o.meta().resource_version.as_deref()) {
                    Vec::new()
                } else {
                    apply(&mut ix, id, Some(o))
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                let id = id_of(&o);
                known.remove(&id);
                apply(&mut lock(&sh.index), id, None)
            }
            Err(e) => {
                tracing::warn!(wds = %sh.ctx.cfg.wds_name, source = ?source, error = %e, "status controller watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Vec::new()
            }
        };
        if source == Source::Bindings {
            sh.gvrs_changed.notify_one();
        }
        sh.enqueue(work);
    }
}

/// Starts the watches of every source.
pub(super) fn start_sources(sh: &Arc<Shared>, tasks: &mut JoinSet<()>) {
    let wds = sh.ctx.wds.clone();
    let its = sh.ctx.its.clone();
    let all = watcher::Config::default();
    let mine = watcher::Config::default().labels(&format!("{ORIGIN_WDS}={}", sh.ctx.cfg.wds_name));
    tasks.spawn(watch_source::<Binding>(
        sh.clone(),
        Api::all(wds.clone()),
        all.clone(),
        Source::Bindings,
        |ix, id, o| ix.binding_changed(&id.1, o),
    ));
    tasks.spawn(watch_source::<BindingPolicy>(
        sh.clone(),
        Api::all(wds.clone()),
        all.clone(),
        Source::Policies,
        |ix, id, o| ix.policy_changed(&id.1, o),
    ));
    tasks.spawn(watch_source::<StatusCollector>(
        sh.clone(),
        Api::all(wds.clone()),
        all.clone(),
        Source::Collectors,
        |ix, id, o| ix.collector_changed(&id.1, o),
    ));
    tasks.spawn(watch_source::<CombinedStatus>(
        sh.clone(),
        Api::all(wds.clone()),
        all.clone(),
        Source::Combined,
        |ix, id, o| ix.combined_changed(id, o),
    ));
    tasks.spawn(watch_source::<WasmPlugin>(
        sh.clone(),
        Api::all(wds),
        all.clone(),
        Source::WasmPlugins,
        |ix, id, o| ix.wasm_plugin_changed(&id.1, o),
    ));
    tasks.spawn(watch_source::<WorkStatus>(
        sh.clone(),
        Api::all(its.clone()),
        mine.clone(),
        Source::WorkStatuses,
        |ix, id, o| ix.workstatus_changed(id, o.as_ref().map(WsEntry::from)),
    ));
    tasks.spawn(watch_source::<UpsyncedObject>(
        sh.clone(),
        Api::all(its.clone()),
        mine.clone(),
        Source::Upsynced,
        |ix, id, o| ix.upsynced_changed(id, o.as_ref().map(UpsyncCopy::from)),
    ));
    tasks.spawn(watch_source::<ManifestWork>(
        sh.clone(),
        Api::all(its.clone()),
        mine,
        Source::ManifestWorks,
        |ix, id, o| ix.manifestwork_changed(id, o.as_ref().map(MwEntry::from)),
    ));
    tasks.spawn(watch_source::<ManagedCluster>(
        sh.clone(),
        Api::all(its.clone()),
        all.clone(),
        Source::Clusters,
        |ix, id, o| ix.cluster_changed(&id.1, o),
    ));
    tasks.spawn(watch_source::<ConfigMap>(
        sh.clone(),
        Api::namespaced(its, CUSTOMIZATION_PROPERTIES_NS),
        all,
        Source::Properties,
        |ix, id, o| {
            ix.properties_changed(
                &id.1,
                o.map(|cm| {
                    cm.data
                        .unwrap_or_default()
                        .into_iter()
                        .collect::<BTreeMap<_, _>>()
                }),
            )
        },
    ));
}

/// How to reach `gvr`, from discovery.
async fn discover(wds: &kube::Client, gvr: &Gvr) -> Result<ResourceInfo, String> {
    let list = if gvr.group.is_empty() {
        wds.list_core_api_resources(&gvr.version).await
    } else {
        wds.list_api_group_resources(&gvr.api_version()).await
    }
    .map_err(|e| format!("discovery of {}: {e}", gvr.api_version()))?;
    let main = list
        .resources
        .iter()
        .find(|r| r.name == gvr.resource)
        .ok_or_else(|| format!("{} does not serve {}", gvr.api_version(), gvr.resource))?;
    let has_status = list
        .resources
        .iter()
        .any(|r| r.name == format!("{}/status", gvr.resource));
    Ok(ResourceInfo {
        ar: ApiResource {
            group: gvr.group.clone(),
            version: gvr.version.clone(),
            api_version: gvr.api_version(),
            kind: main.kind.clone(),
            plural: gvr.resource.clone(),
        },
        namespaced: main.namespaced,
        has_status,
    })
}

/// An object as the index keeps it (without managedFields, which nothing here reads).
fn stored(o: DynamicObject) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// Keeps the objects of one resource in the index.
async fn watch_gvr(sh: Arc<Shared>, gvr: Gvr) {
    let mut delay = Duration::from_millis(500);
    let res = loop {
        match discover(&sh.ctx.wds, &gvr).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(wds = %sh.ctx.cfg.wds_name, error = %e, "status controller cannot watch a bound resource yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    lock(&sh.index).resources.insert(gvr.clone(), res.clone());
    let api: Api<DynamicObject> = Api::all_with(sh.ctx.wds.clone(), &res.ar);
    let key_of = |o: &DynamicObject| {
        ObjKey::new(
            &gvr.group,
            &gvr.resource,
            o.metadata.namespace.as_deref().unwrap_or_default(),
            o.metadata.name.as_deref().unwrap_or_default(),
        )
    };
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut listing: HashSet<ObjKey> = HashSet::new();
    while let Some(ev) = stream.next().await {
        let work = match ev {
            Ok(watcher::Event::Init) => {
                listing.clear();
                Vec::new()
            }
            Ok(watcher::Event::InitApply(o)) => {
                let k = key_of(&o);
                listing.insert(k.clone());
                lock(&sh.index).object_changed(k, Some(stored(o)))
            }
            Ok(watcher::Event::Apply(o)) => {
                let k = key_of(&o);
                let o = stored(o);
                let mut ix = lock(&sh.index);
                // A live event older than the response of our own later write is dropped (a
                // relist, above, is always taken).
                if ix.objects.get(&k).is_some_and(|held| !is_newer(&o, held)) {
                    Vec::new()
                } else {
                    ix.object_changed(k, Some(o))
                }
            }
            Ok(watcher::Event::InitDone) => {
                let mut ix = lock(&sh.index);
                let gone: Vec<ObjKey> = ix
                    .objects
                    .keys()
                    .filter(|k| {
                        k.group == gvr.group && k.resource == gvr.resource && !listing.contains(*k)
                    })
                    .cloned()
                    .collect();
                let mut work: Vec<Work> = gone
                    .into_iter()
                    .flat_map(|k| ix.object_changed(k, None))
                    .collect();
                listing.clear();
                ix.gvr_synced.insert(gvr.clone());
                // Everything about these objects can be decided now.
                let keys: Vec<ObjKey> = ix
                    .objects
                    .iter()
                    .filter(|(k, o)| {
                        k.group == gvr.group
                            && k.resource == gvr.resource
                            && (ix.obj_bindings.contains_key(*k) || has_our_labels(o))
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    work.push(Work::Object(k.clone()));
                    for b in ix.obj_bindings.get(&k).into_iter().flatten() {
                        work.push(Work::Combined(b.clone(), k.clone()));
                    }
                }
                work
            }
            Ok(watcher::Event::Delete(o)) => lock(&sh.index).object_changed(key_of(&o), None),
            Err(e) => {
                tracing::warn!(wds = %sh.ctx.cfg.wds_name, resource = %gvr, error = %e, "status controller watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Vec::new()
            }
        };
        sh.enqueue(work);
    }
}

/// Once the index is first complete: finds resources whose objects carry labels this controller
/// maintains although no Binding names the resource (their Bindings went while the controller
/// was down), so that they are watched long enough for those labels to be removed.
pub(super) async fn sweep_stale_labels(sh: Arc<Shared>) {
    while !lock(&sh.index).ready() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let discovery = match kube::discovery::Discovery::new(sh.ctx.wds.clone())
        .run()
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(wds = %sh.ctx.cfg.wds_name, error = %e, "discovery for the stale-label sweep failed; skipping it");
            return;
        }
    };
    for group in discovery.groups() {
        if group.name() == crate::api::CONTROL_GROUP {
            continue;
        }
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(kube::discovery::verbs::LIST) {
                continue;
            }
            let gvr = Gvr {
                group: ar.group.clone(),
                version: ar.version.clone(),
                resource: ar.plural.clone(),
            };
            let watched = lock(&sh.index)
                .wanted_gvrs()
                .iter()
                .any(|g| g.group == gvr.group && g.resource == gvr.resource);
            if watched {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(sh.ctx.wds.clone(), &ar);
            for label in [EXECUTING_COUNT, SINGLETON_STATUS, MULTIWEC_STATUS] {
                let found = api
                    .list(&ListParams::default().labels(label).limit(1))
                    .await
                    .is_ok_and(|l| !l.items.is_empty());
                if found {
                    lock(&sh.index).sweep.insert(gvr.clone());
                    sh.gvrs_changed.notify_one();
                    break;
                }
            }
        }
    }
}

/// Starts and stops the watches of workload resources as the Bindings change.
pub(super) async fn manage_gvrs(sh: Arc<Shared>) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut running: HashMap<Gvr, AbortHandle> = HashMap::new();
    loop {
        let wanted = lock(&sh.index).wanted_gvrs();
        for g in &wanted {
            if !running.contains_key(g) {
                let h = tasks.spawn(watch_gvr(sh.clone(), g.clone()));
                running.insert(g.clone(), h);
            }
        }
        let stale: Vec<Gvr> = running
            .keys()
            .filter(|g| !wanted.contains(*g))
            .cloned()
            .collect();
        for g in stale {
            if let Some(h) = running.remove(&g) {
                h.abort();
            }
            lock(&sh.index).forget_gvr(&g);
        }
        tokio::select! {
            _ = sh.gvrs_changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}
