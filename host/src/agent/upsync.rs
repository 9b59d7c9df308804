//! The agent's side of upsync: reads the upsync requests in its mailbox namespace (one
//! ConfigMap per WDS, see [`crate::api::upsync_request`]), watches the WEC resources those
//! clauses can select, and keeps one `UpsyncedObject` per (WDS, selected object) in the mailbox,
//! carrying the whole object; it deletes the copy when the object goes or stops matching.
//!
//! Level-triggered like the rest of the agent: every object is reconciled from what the WEC
//! holds, what the requests ask and what the mailbox already has, and only differences are
//! written, so a restart rewrites nothing and removes the copies of objects deleted meanwhile.
//! An object too large for the ITS is not dropped silently: its UpsyncedObject carries
//! `status.error` instead of the object, which the controller reports on the BindingPolicy.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::discovery::{Discovery, verbs};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

use super::Shared;
use crate::api::labels::{ORIGIN_WDS, UPSYNC_CLUSTER};
use crate::api::upsync_request::{CLAUSES_KEY, REQUEST_LABEL, RequestedClause};
use crate::api::{SourceRef, UpsyncedObject};
use crate::binding::matching::{Labels, ObjectFacts};
use crate::binding::mirror::Mirror;
use crate::binding::queue::{AbortOnDrop, Next, Queue};
use crate::upsync::clauses::CompiledClause;
use crate::upsync::names::wrapper_name;

/// Field manager of the agent's UpsyncedObject writes.
pub const UPSYNC_MANAGER: &str = "kubestellar-agent-upsync";

/// `(group, resource)` of a WEC resource.
type Gr = (String, String);

/// One object of the WEC, by resource, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ObjRef {
    group: String,
    resource: String,
    namespace: String,
    name: String,
}

/// Units of work.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Work {
    /// Requests or WEC CRDs changed: recompile clauses, restart watches, re-check everything.
    Requests,
    /// Bring the copies of one object in line.
    Object(ObjRef),
}

/// The objects of one watched resource, by (namespace, name).
type ObjectsByKey = Arc<RwLock<BTreeMap<(String, String), Arc<DynamicObject>>>>;

/// A running watch of one WEC resource.
struct ResourceWatch {
    ar: ApiResource,
    objects: ObjectsByKey,
    synced: Arc<AtomicBool>,
    _task: AbortOnDrop,
}

/// What this agent last wrote to one UpsyncedObject: the body, and the resourceVersion the
/// ITS gave it (so that our own write, normalized by the server, is not mistaken for drift).
struct Written {
    body: Value,
    resource_version: String,
}

/// The upsync state of one agent.
struct Upsync {
    sh: Arc<Shared>,
    queue: Arc<Queue<Work>>,
    requests: Mirror<ConfigMap>,
    wrappers: Mirror<UpsyncedObject>,
    /// Clauses by WDS name.
    clauses: RwLock<BTreeMap<String, Vec<CompiledClause>>>,
    /// True once `clauses` reflect a complete list of requests.
    clauses_ready: AtomicBool,
    watches: Mutex<BTreeMap<Gr, ResourceWatch>>,
    written: Mutex<HashMap<String, Written>>,
    /// Keeps the WEC's CRDs watched (new kinds may match wildcard clauses).
    _crds: Mirror<CustomResourceDefinition>,
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Errors of one upsync reconcile (retried with backoff).
#[derive(Debug, thiserror::Error)]
enum UpsyncError {
    #[error("ITS: {0}")]
    Its(#[source] kube::Error),
    #[error("WEC discovery: {0}")]
    Discovery(#[source] kube::Error),
}

/// Runs the upsync side of an agent until aborted.
pub(super) async fn run(sh: Arc<Shared>) {
    let queue: Arc<Queue<Work>> = Queue::new(Duration::from_millis(5));
    let mailbox = sh.cfg.cluster.clone();
    let q = queue.clone();
    let requests = Mirror::start(
        Api::<ConfigMap>::namespaced(sh.its.clone(), &mailbox),
        watcher::Config::default().labels(REQUEST_LABEL),
        "upsync request",
        Arc::new(move |old: Option<&ConfigMap>, new: Option<&ConfigMap>| {
            if old.map(|o| &o.data) != new.map(|n| &n.data) {
                q.add(Work::Requests);
            }
        }),
    );
    let q = queue.clone();
    let wrappers = Mirror::start(
        Api::<UpsyncedObject>::namespaced(sh.its.clone(), &mailbox),
        watcher::Config::default(),
        "UpsyncedObject",
        Arc::new(
            move |old: Option<&UpsyncedObject>, new: Option<&UpsyncedObject>| {
                // Someone else's change (or a deletion) is repaired by the reconcile.
                if let Some(w) = new.or(old) {
                    q.add(Work::Object(source_of(w)));
                }
            },
        ),
    );
    let q = queue.clone();
    let crds = Mirror::start(
        Api::<CustomResourceDefinition>::all(sh.wec.clone()),
        watcher::Config::default(),
        "WEC CustomResourceDefinition",
        Arc::new(
            move |old: Option<&CustomResourceDefinition>,
                  new: Option<&CustomResourceDefinition>| {
                if old.map(|o| (&o.spec, &o.status)) != new.map(|n| (&n.spec, &n.status)) {
                    q.add(Work::Requests);
                }
            },
        ),
    );
    let up = Arc::new(Upsync {
        sh,
        queue: queue.clone(),
        requests,
        wrappers,
        clauses: RwLock::default(),
        clauses_ready: AtomicBool::new(false),
        watches: Mutex::default(),
        written: Mutex::default(),
        _crds: crds,
    });
    queue.add(Work::Requests);
    let u = up.clone();
    queue
        .run("agent-upsync", 4, move |w: Work| {
            let u = u.clone();
            async move {
                match w {
                    Work::Requests => requests_changed(&u).await,
                    Work::Object(r) => reconcile(&u, &r).await,
                }
            }
        })
        .await;
}

fn source_of(w: &UpsyncedObject) -> ObjRef {
    let s = &w.spec.source_ref;
    ObjRef {
        group: s.group.clone(),
        resource: s.resource.clone(),
        namespace: s.namespace.clone(),
        name: s.name.clone(),
    }
}

/// Parses the request ConfigMaps into clauses per WDS. A request that does not parse is
/// logged and ignored (it asks for nothing).
fn compile_requests(
    cluster: &str,
    cms: &[Arc<ConfigMap>],
) -> BTreeMap<String, Vec<CompiledClause>> {
    let mut out: BTreeMap<String, Vec<CompiledClause>> = BTreeMap::new();
    for cm in cms {
        let Some(wds) = cm
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ORIGIN_WDS))
            .cloned()
        else {
            continue;
        };
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get(CLAUSES_KEY))
            .map(String::as_str)
            .unwrap_or("[]");
        let requested: Vec<RequestedClause> = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(cluster, wds = %wds, error = %e, "upsync request does not parse; ignored");
                continue;
            }
        };
        let compiled = out.entry(wds).or_default();
        for r in requested {
            let mut errors = Vec::new();
            compiled.push(CompiledClause::compile(
                &r.policy,
                r.index,
                &r.clause,
                &mut errors,
            ));
        }
    }
    out
}

/// Recompiles the clauses, starts and stops resource watches, and re-checks every object.
async fn requests_changed(up: &Arc<Upsync>) -> Result<Next, UpsyncError> {
    if !up.requests.is_synced() {
        return Ok(Next::After(Duration::from_millis(20)));
    }
    let clauses = compile_requests(&up.sh.cfg.cluster, &up.requests.list());
    let all: Vec<&CompiledClause> = clauses.values().flatten().collect();
    let mut wanted: BTreeMap<Gr, ApiResource> = BTreeMap::new();
    if !all.is_empty() {
        let discovery = Discovery::new(up.sh.wec.clone())
            .run()
            .await
            .map_err(UpsyncError::Discovery)?;
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                let listable =
                    caps.supports_operation(verbs::LIST) && caps.supports_operation(verbs::WATCH);
                if listable
                    && crate::binding::resources::allowed(&ar.group, &ar.plural, &[])
                    && all
                        .iter()
                        .any(|c| c.may_match_resource(&ar.group, &ar.plural))
                {
                    wanted.insert((ar.group.clone(), ar.plural.clone()), ar);
                }
            }
        }
    }
    *up.clauses.write().unwrap_or_else(|e| e.into_inner()) = clauses;
    up.clauses_ready.store(true, Ordering::SeqCst);
    {
        let mut watches = lock(&up.watches);
        watches.retain(|gr, w| wanted.get(gr).is_some_and(|ar| ar.version == w.ar.version));
        for (gr, ar) in wanted {
            watches
                .entry(gr)
                .or_insert_with(|| start_watch(up.clone(), ar));
        }
        // Every object may now match differently.
        for w in watches.values() {
            for (ns, name) in read(&w.objects).keys() {
                up.queue.add(Work::Object(ObjRef {
                    group: w.ar.group.clone(),
                    resource: w.ar.plural.clone(),
                    namespace: ns.clone(),
                    name: name.clone(),
                }));
            }
        }
    }
    for w in up.wrappers.list() {
        up.queue.add(Work::Object(source_of(&w)));
    }
    Ok(Next::Done)
}

/// Watches one WEC resource, keeping its objects and queueing each change.
fn start_watch(up: Arc<Upsync>, ar: ApiResource) -> ResourceWatch {
    let objects: ObjectsByKey = Arc::default();
    let synced = Arc::new(AtomicBool::new(false));
    let (o, s, a) = (objects.clone(), synced.clone(), ar.clone());
    let task = tokio::spawn(async move {
        let api: Api<DynamicObject> = Api::all_with(up.sh.wec.clone(), &a);
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut initial = BTreeMap::new();
        let key = |o: &DynamicObject| {
            (
                o.metadata.namespace.clone().unwrap_or_default(),
                o.metadata.name.clone().unwrap_or_default(),
            )
        };
        let queue = |(namespace, name): (String, String)| {
            up.queue.add(Work::Object(ObjRef {
                group: a.group.clone(),
                resource: a.plural.clone(),
                namespace,
                name,
            }))
        };
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => initial.clear(),
                Ok(watcher::Event::InitApply(obj)) => {
                    initial.insert(key(&obj), Arc::new(obj));
                }
                Ok(watcher::Event::InitDone) => {
                    let old = std::mem::take(&mut *o.write().unwrap_or_else(|e| e.into_inner()));
                    let keys: BTreeSet<(String, String)> =
                        old.into_keys().chain(initial.keys().cloned()).collect();
                    *o.write().unwrap_or_else(|e| e.into_inner()) = std::mem::take(&mut initial);
                    s.store(true, Ordering::SeqCst);
                    keys.into_iter().for_each(queue);
                    // Copies of objects deleted while nobody watched go now.
                    for w in up.wrappers.list() {
                        let r = source_of(&w);
                        if r.group == a.group && r.resource == a.plural {
                            up.queue.add(Work::Object(r));
                        }
                    }
                }
                Ok(watcher::Event::Apply(obj)) => {
                    let k = key(&obj);
                    o.write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(k.clone(), Arc::new(obj));
                    queue(k);
                }
                Ok(watcher::Event::Delete(obj)) => {
                    let k = key(&obj);
                    o.write().unwrap_or_else(|e| e.into_inner()).remove(&k);
                    queue(k);
                }
                Err(e) => {
                    tracing::debug!(cluster = %up.sh.cfg.cluster, resource = %a.plural, error = %e, "WEC watch for upsync failed; retrying");
                }
            }
        }
    });
    ResourceWatch {
        ar,
        objects,
        synced,
        _task: AbortOnDrop(task.abort_handle()),
    }
}

/// The object as carried: the whole object less `managedFields`, with its apiVersion and kind.
fn carried(ar: &ApiResource, obj: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
        m.insert("kind".into(), Value::String(ar.kind.clone()));
    }
    v
}

/// The UpsyncedObject body for one WDS (apply configuration).
fn wrapper_body(
    cluster: &str,
    wds: &str,
    name: &str,
    source: &SourceRef,
    policies: &[String],
    object: Option<Value>,
    error: Option<String>,
) -> Value {
    let mut spec = json!({"sourceRef": source, "cluster": cluster, "policies": policies});
    if let Some(o) = object {
        spec["object"] = o;
    }
    let mut body = json!({
        "apiVersion": "control.kubestellar.io/v1alpha1",
        "kind": "UpsyncedObject",
        "metadata": {
            "name": name,
            "namespace": cluster,
            "labels": {ORIGIN_WDS: wds, UPSYNC_CLUSTER: cluster},
        },
        "spec": spec,
    });
    if let Some(e) = error {
        body["status"] = json!({"error": e});
    }
    body
}

/// Whether an ITS error says the object is too large.
fn too_large(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s)
            if s.code == 413
                || (s.code == 422 || s.code == 400 || s.code == 500)
                    && ["too large", "too long", "exceeds"]
                        .iter()
                        .any(|m| s.message.to_lowercase().contains(m)) =>
        {
            Some(s.message.clone())
        }
        _ => None,
    }
}

/// Whether the live wrapper already says what `body` says.
fn up_to_date(live: &UpsyncedObject, body: &Value) -> bool {
    let Ok(live) = serde_json::to_value(live) else {
        return false;
    };
    live.get("spec") == body.get("spec")
        && live.pointer("/status/error") == body.pointer("/status/error")
        && super::diff::contains(&body["metadata"]["labels"], &live["metadata"]["labels"])
}

/// Brings the copies of one object in line with the object and the requests.
async fn reconcile(up: &Arc<Upsync>, r: &ObjRef) -> Result<Next, UpsyncError> {
    if !up.clauses_ready.load(Ordering::SeqCst) || !up.wrappers.is_synced() {
        return Ok(Next::After(Duration::from_millis(50)));
    }
    let (object, ar) = {
        let watches = lock(&up.watches);
        match watches.get(&(r.group.clone(), r.resource.clone())) {
            Some(w) if !w.synced.load(Ordering::SeqCst) => {
                return Ok(Next::After(Duration::from_millis(50)));
            }
            Some(w) => (
                read(&w.objects)
                    .get(&(r.namespace.clone(), r.name.clone()))
                    .cloned(),
                Some(w.ar.clone()),
            ),
            None => (None, None),
        }
    };
    let cluster = up.sh.cfg.cluster.clone();
    // The policies of each WDS that select the object.
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let (Some(obj), Some(_)) = (&object, &ar) {
        let empty = Labels::new();
        let facts = ObjectFacts {
            group: &r.group,
            resource: &r.resource,
            namespace: &r.namespace,
            name: &r.name,
            labels: obj.metadata.labels.as_ref().unwrap_or(&empty),
        };
        for (wds, clauses) in read(&up.clauses).iter() {
            let mut policies: Vec<String> = clauses
                .iter()
                .filter(|c| c.matches(&facts))
                .map(|c| c.policy.clone())
                .collect();
            policies.sort();
            policies.dedup();
            if !policies.is_empty() {
                wanted.insert(wds.clone(), policies);
            }
        }
    }
    let api: Api<UpsyncedObject> = Api::namespaced(up.sh.its.clone(), &cluster);
    let existing: Vec<Arc<UpsyncedObject>> = up.wrappers.filter(|w| source_of(w) == *r);
    // Copies no WDS wants any more.
    for w in &existing {
        let wds = w
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ORIGIN_WDS))
            .cloned()
            .unwrap_or_default();
        let name = w.metadata.name.clone().unwrap_or_default();
        let keep = wanted.contains_key(&wds)
            && name == wrapper_name(&wds, &r.group, &r.resource, &r.namespace, &r.name);
        if !keep {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(UpsyncError::Its(e)),
            }
            lock(&up.written).remove(&name);
        }
    }
    let (Some(obj), Some(ar)) = (object, ar) else {
        return Ok(Next::Done);
    };
    let source = SourceRef {
        group: r.group.clone(),
        version: ar.version.clone(),
        resource: r.resource.clone(),
        kind: ar.kind.clone(),
        name: r.name.clone(),
        namespace: r.namespace.clone(),
    };
    let content = carried(&ar, &obj);
    for (wds, policies) in wanted {
        let name = wrapper_name(&wds, &r.group, &r.resource, &r.namespace, &r.name);
        let mut body = wrapper_body(
            &cluster,
            &wds,
            &name,
            &source,
            &policies,
            Some(content.clone()),
            None,
        );
        let size = crate::api::encoded_len(&body);
        let limit = up.sh.cfg.upsync_max_bytes;
        if size > limit {
            body = wrapper_body(
                &cluster,
                &wds,
                &name,
                &source,
                &policies,
                None,
                Some(format!(
                    "object is too large for the ITS: its copy takes {size} bytes, the limit is {limit}"
                )),
            );
        }
        let live = existing
            .iter()
            .find(|w| w.metadata.name.as_deref() == Some(name.as_str()));
        if let Some(live) = live {
            if up_to_date(live, &body) {
                continue;
            }
            // Our own last write, as the server normalized it: not drift.
            let ours = lock(&up.written).get(&name).is_some_and(|w| {
                w.body == body
                    && Some(&w.resource_version) == live.metadata.resource_version.as_ref()
            });
            if ours {
                continue;
            }
        }
        let params = PatchParams::apply(UPSYNC_MANAGER).force();
        let result = match api.patch(&name, &params, &Patch::Apply(&body)).await {
            Err(e) if body.pointer("/spec/object").is_some() && too_large(&e).is_some() => {
                body = wrapper_body(
                    &cluster,
                    &wds,
                    &name,
                    &source,
                    &policies,
                    None,
                    Some(format!(
                        "object is too large for the ITS: {}",
                        too_large(&e).unwrap_or_default()
                    )),
                );
                api.patch(&name, &params, &Patch::Apply(&body)).await
            }
            other => other,
        };
        let written = result.map_err(UpsyncError::Its)?;
        lock(&up.written).insert(
            name,
            Written {
                body,
                resource_version: written.metadata.resource_version.unwrap_or_default(),
            },
        );
    }
    Ok(Next::Done)
}

/// The clauses a request would carry for `policy` (used by tests of the request format).
#[cfg(test)]
fn requested(policy: &str, clauses: &[crate::api::UpsyncPolicyClause]) -> Vec<RequestedClause> {
    clauses
        .iter()
        .enumerate()
        .map(|(index, c)| RequestedClause {
            policy: policy.to_string(),
            index,
            clause: c.clone(),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    fn cm(wds: &str, clauses: &str) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: kube::api::ObjectMeta {
                labels: Some(Map::from([(ORIGIN_WDS.to_string(), wds.to_string())])),
                ..Default::default()
            },
            data: Some(Map::from([(CLAUSES_KEY.to_string(), clauses.to_string())])),
            ..Default::default()
        })
    }

    #[test]
    fn requests_compile_per_wds_and_bad_ones_are_ignored() {
        let clause: crate::api::UpsyncPolicyClause =
            serde_json::from_value(json!({"resources": ["configmaps"]})).unwrap();
        let good = serde_json::to_string(&requested("p", &[clause])).unwrap();
        assert!(
            good.contains("\"policy\":\"p\"") && good.contains("\"resources\""),
            "{good}"
        );
        let out = compile_requests("c1", &[cm("wds1", &good), cm("wds2", "not json")]);
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["wds1"]);
        let l = Labels::new();
        let facts = ObjectFacts {
            group: "",
            resource: "configmaps",
            namespace: "n",
            name: "x",
            labels: &l,
        };
        assert!(out["wds1"][0].matches(&facts));
        assert_eq!(out["wds1"][0].policy, "p");
    }

    #[test]
    fn carried_object_drops_managed_fields_and_keeps_the_rest() {
        let ar = ApiResource::erase::<ConfigMap>(&());
        let obj: DynamicObject = serde_json::from_value(json!({
            "metadata": {"name": "x", "namespace": "n", "managedFields": [{"manager": "m"}], "labels": {"a": "b"}},
            "data": {"k": "v"},
        }))
        .unwrap();
        let c = carried(&ar, &obj);
        assert_eq!(c["apiVersion"], "v1");
        assert_eq!(c["kind"], "ConfigMap");
        assert_eq!(c["data"]["k"], "v");
        assert_eq!(c["metadata"]["labels"]["a"], "b");
        assert!(c["metadata"].get("managedFields").is_none());
    }
}
