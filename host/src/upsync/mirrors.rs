//! Mirrors in the WDS: each UpsyncedObject of this WDS becomes an object of the same kind and
//! namespace named `<wec>-<name>-<hash>` ([`super::names::mirror_name`]), labelled
//! `upsync.kubestellar.io/mirror=<wec>` and `upsync.kubestellar.io/policy=<policy>`, annotated
//! with its origin and all selecting policies.
//!
//! Mirrors are read-only: the controller watches them (label-selected watches, one per kind)
//! and re-asserts what it mirrors when a user edits it, re-creates a deleted mirror while its
//! source exists, and deletes a mirror whose source or selection went. Mirrored fields are
//! applied by server-side apply under field manager `Upsync`; the status goes through the
//! status subresource when the kind has one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Map, Value, json};

use super::{FIELD_MANAGER, MirrorRef, Shared, UpsyncError, Work, api_err, lock, read};
use crate::agent::diff::contains;
use crate::api::UpsyncedObject;
use crate::api::labels::{
    UPSYNC_MIRROR, UPSYNC_ORIGIN_CLUSTER, UPSYNC_ORIGIN_NAME, UPSYNC_POLICIES, UPSYNC_POLICY,
};
use crate::binding::queue::{AbortOnDrop, Next};

/// Called with every mirror that changed in the WDS.
pub(super) type OnMirror = Arc<dyn Fn(MirrorRef) + Send + Sync>;

/// A kind of the WDS that mirrors are written in.
#[derive(Clone, Debug)]
struct KindInfo {
    ar: ApiResource,
    namespaced: bool,
    status_subresource: bool,
}

struct Watched {
    info: KindInfo,
    synced: Arc<AtomicBool>,
    _task: AbortOnDrop,
}

/// Every live mirror with its kind.
type LiveMirrors = Arc<RwLock<HashMap<MirrorRef, (KindInfo, Arc<DynamicObject>)>>>;

/// The mirrors of the WDS, by kind (watched once a mirror of that kind is wanted or found).
pub(super) struct Mirrors {
    wds: kube::Client,
    on_change: OnMirror,
    kinds: Mutex<HashMap<GroupVersionKind, Watched>>,
    live: LiveMirrors,
}

impl Mirrors {
    /// Mirrors of the WDS behind `wds`; `on_change` sees every change.
    pub(super) fn new(wds: kube::Client, on_change: OnMirror) -> Mirrors {
        Mirrors {
            wds,
            on_change,
            kinds: Mutex::default(),
            live: Arc::default(),
        }
    }

    /// Resolves a kind in the WDS and starts watching its mirrors; `Ok(None)` while the first
    /// list is pending.
    async fn kind(&self, gvk: &GroupVersionKind) -> Result<Option<KindInfo>, String> {
        if let Some(w) = lock(&self.kinds).get(gvk) {
            return Ok(w.synced.load(Ordering::SeqCst).then(|| w.info.clone()));
        }
        let (ar, caps) =
            kube::discovery::pinned_kind(&self.wds, gvk)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(s) if s.code == 404 => {
                        format!("the WDS does not serve {}", describe(gvk))
                    }
                    other => format!("the WDS does not serve {}: {other}", describe(gvk)),
                })?;
        let info = KindInfo {
            namespaced: caps.scope == Scope::Namespaced,
            status_subresource: caps.subresources.iter().any(|(s, _)| s.plural == "status"),
            ar,
        };
        self.watch(gvk.clone(), info);
        Ok(None)
    }

    fn watch(&self, gvk: GroupVersionKind, info: KindInfo) {
        let mut kinds = lock(&self.kinds);
        if kinds.contains_key(&gvk) {
            return;
        }
        let synced = Arc::new(AtomicBool::new(false));
        let (s, live, on_change, i) = (
            synced.clone(),
            self.live.clone(),
            self.on_change.clone(),
            info.clone(),
        );
        let api: Api<DynamicObject> = Api::all_with(self.wds.clone(), &info.ar);
        let task = tokio::spawn(async move {
            let cfg = watcher::Config::default().labels(UPSYNC_MIRROR);
            let mut stream = watcher::watcher(api, cfg).default_backoff().boxed();
            let key = |o: &DynamicObject| MirrorRef {
                group: i.ar.group.clone(),
                kind: i.ar.kind.clone(),
                namespace: o.metadata.namespace.clone().unwrap_or_default(),
                name: o.metadata.name.clone().unwrap_or_default(),
            };
            let mut initial = Vec::new();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Init) => initial.clear(),
                    Ok(watcher::Event::InitApply(o)) => initial.push(o),
                    Ok(watcher::Event::InitDone) => {
                        let keys: Vec<MirrorRef> = {
                            let mut live = live.write().unwrap_or_else(|e| e.into_inner());
                            let mut keys: Vec<MirrorRef> = live
                                .keys()
                                .filter(|k| k.group == i.ar.group && k.kind == i.ar.kind)
                                .cloned()
                                .collect();
                            live.retain(|k, _| !(k.group == i.ar.group && k.kind == i.ar.kind));
                            for o in initial.drain(..) {
                                let k = key(&o);
                                keys.push(k.clone());
                                live.insert(k, (i.clone(), Arc::new(o)));
                            }
                            keys
                        };
                        s.store(true, Ordering::SeqCst);
                        keys.into_iter().for_each(|k| on_change(k));
                    }
                    Ok(watcher::Event::Apply(o)) => {
                        let k = key(&o);
                        live.write()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(k.clone(), (i.clone(), Arc::new(o)));
                        on_change(k);
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        let k = key(&o);
                        live.write().unwrap_or_else(|e| e.into_inner()).remove(&k);
                        on_change(k);
                    }
                    Err(e) => {
                        tracing::debug!(kind = %i.ar.kind, error = %e, "watching upsync mirrors failed; retrying");
                    }
                }
            }
        });
        kinds.insert(
            gvk,
            Watched {
                info,
                synced,
                _task: AbortOnDrop(task.abort_handle()),
            },
        );
    }

    fn get(&self, m: &MirrorRef) -> Option<(KindInfo, Arc<DynamicObject>)> {
        read(&self.live).get(m).cloned()
    }
}

fn describe(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() {
        format!("{}/{}", gvk.version, gvk.kind)
    } else {
        format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind)
    }
}

/// Whether `v` may be a label value.
fn label_value_ok(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// The mirror of a carried object: (the object without status, its status if any). Metadata
/// keeps labels and annotations (less kubectl's last-applied configuration) and gains the
/// mirror's labels and annotations; everything the server owns is dropped.
pub fn desired_mirror(
    wrapper: &UpsyncedObject,
    policies: &[String],
) -> Option<(Value, Option<Value>)> {
    let mut obj = wrapper.spec.object.clone()?;
    let map = obj.as_object_mut()?;
    let status = map.remove("status");
    let meta = map
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let source = &wrapper.spec.source_ref;
    let mut labels: Map<String, Value> = meta
        .get("labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert(UPSYNC_MIRROR.into(), json!(wrapper.spec.cluster));
    if let Some(first) = policies.first().filter(|p| label_value_ok(p)) {
        labels.insert(UPSYNC_POLICY.into(), json!(first));
    }
    let mut annotations: Map<String, Value> = meta
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(UPSYNC_POLICIES.into(), json!(policies.join(",")));
    annotations.insert(UPSYNC_ORIGIN_CLUSTER.into(), json!(wrapper.spec.cluster));
    annotations.insert(UPSYNC_ORIGIN_NAME.into(), json!(source.name));
    let mut new_meta = Map::new();
    new_meta.insert(
        "name".into(),
        json!(super::names::mirror_name(
            &wrapper.spec.cluster,
            &source.name
        )),
    );
    if !source.namespace.is_empty() {
        new_meta.insert("namespace".into(), json!(source.namespace));
    }
    new_meta.insert("labels".into(), Value::Object(labels));
    new_meta.insert("annotations".into(), Value::Object(annotations));
    map.insert("metadata".into(), Value::Object(new_meta));
    Some((obj, status))
}

/// What should become of a mirror: the wrapper asking for it and the policies (still
/// selecting its WEC) it serves; `None` when nothing asks for it.
fn wanted(sh: &Shared, m: &MirrorRef) -> Option<(Arc<UpsyncedObject>, Vec<String>)> {
    let keys = lock(&sh.by_mirror).get(m).cloned().unwrap_or_default();
    let selected = read(&sh.selected);
    keys.iter().find_map(|(ns, name)| {
        let w = sh.wrappers.get(ns, name)?;
        if w.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let still = selected.get(&w.spec.cluster)?;
        let policies: Vec<String> = w
            .spec
            .policies
            .iter()
            .filter(|p| still.contains(*p))
            .cloned()
            .collect();
        (!policies.is_empty()).then_some((w, policies))
    })
}

/// Records (or clears) a problem writing a mirror, requeueing the affected policies' status.
fn set_error(sh: &Shared, m: &MirrorRef, error: Option<(Vec<String>, String)>) {
    let mut errors = lock(&sh.write_errors);
    let old = match error {
        Some(e) => {
            if errors.get(m) == Some(&e) {
                return;
            }
            for p in &e.0 {
                sh.queue.add(Work::Status(p.clone()));
            }
            errors.insert(m.clone(), e)
        }
        None => errors.remove(m),
    };
    for p in old.map(|o| o.0).unwrap_or_default() {
        sh.queue.add(Work::Status(p));
    }
}

/// A WDS refusal that retrying will not fix (bad request, forbidden, invalid, too large).
fn permanent(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s) if s.code >= 400 && s.code < 500 && s.code != 409 && s.code != 429 => {
            Some(s.message.clone())
        }
        _ => None,
    }
}

/// Brings one mirror in line with its UpsyncedObject.
pub(super) async fn reconcile(sh: &Arc<Shared>, m: &MirrorRef) -> Result<Next, UpsyncError> {
    if !sh.wrappers.is_synced() || !sh.selected_ready.load(Ordering::SeqCst) {
        return Ok(Next::After(Duration::from_millis(50)));
    }
    let Some((wrapper, policies)) = wanted(sh, m) else {
        set_error(sh, m, None);
        if let Some((info, _)) = sh.mirrors.get(m) {
            let api = api_for(sh, &info, &m.namespace);
            match api.delete(&m.name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(api_err(format!("deleting mirror {}", m.name))(e)),
            }
        }
        return Ok(Next::Done);
    };
    let Some((main, status)) = desired_mirror(&wrapper, &policies) else {
        // Not carried (too large): reported from the UpsyncedObject; an earlier mirror stays
        // as it was (as downsync keeps what it delivered when a new version cannot go).
        set_error(sh, m, None);
        return Ok(Next::Done);
    };
    let source = &wrapper.spec.source_ref;
    let gvk = GroupVersionKind::gvk(&source.group, &source.version, &source.kind);
    let info = match sh.mirrors.kind(&gvk).await {
        Ok(Some(info)) => info,
        Ok(None) => return Ok(Next::After(Duration::from_millis(20))),
        Err(message) => {
            set_error(sh, m, Some((policies, message)));
            return Ok(Next::After(Duration::from_secs(10)));
        }
    };
    let mut main = main;
    if !info.status_subresource
        && let Some(s) = &status
    {
        main["status"] = s.clone();
    }
    let live = sh.mirrors.get(m).map(|(_, o)| o);
    let live_value = live.as_ref().and_then(|o| serde_json::to_value(&**o).ok());
    let main_ok = live_value.as_ref().is_some_and(|l| contains(&main, l));
    let status_ok = !info.status_subresource
        || status.as_ref().is_none_or(|s| {
            live_value
                .as_ref()
                .and_then(|l| l.get("status"))
                .is_some_and(|ls| contains(s, ls))
        });
    if main_ok && status_ok {
        set_error(sh, m, None);
        return Ok(Next::Done);
    }
    if info.namespaced && live.is_none() {
        ensure_namespace(sh, &m.namespace).await?;
    }
    let api = api_for(sh, &info, &m.namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    main["apiVersion"] = json!(info.ar.api_version);
    main["kind"] = json!(info.ar.kind);
    let result = async {
        if !main_ok {
            api.patch(&m.name, &params, &Patch::Apply(&main)).await?;
        }
        if info.status_subresource
            && let Some(s) = &status
        {
            let mut body = json!({
                "apiVersion": info.ar.api_version,
                "kind": info.ar.kind,
                "metadata": {"name": m.name},
                "status": s,
            });
            if !m.namespace.is_empty() {
                body["metadata"]["namespace"] = json!(m.namespace);
            }
            api.patch_status(&m.name, &params, &Patch::Apply(&body))
                .await?;
        }
        Ok::<(), kube::Error>(())
    }
    .await;
    match result {
        Ok(()) => {
            set_error(sh, m, None);
            Ok(Next::Done)
        }
        Err(e) => match permanent(&e) {
            Some(message) => {
                set_error(
                    sh,
                    m,
                    Some((
                        policies,
                        format!(
                            "{} {} from {}: the WDS refuses its mirror {}: {message}",
                            source.kind,
                            if source.namespace.is_empty() {
                                source.name.clone()
                            } else {
                                format!("{}/{}", source.namespace, source.name)
                            },
                            wrapper.spec.cluster,
                            m.name
                        ),
                    )),
                );
                Ok(Next::After(Duration::from_secs(30)))
            }
            None => Err(api_err(format!("writing mirror {}", m.name))(e)),
        },
    }
}

fn api_for(sh: &Shared, info: &KindInfo, namespace: &str) -> Api<DynamicObject> {
    if info.namespaced {
        Api::namespaced_with(sh.ctx.wds.clone(), namespace, &info.ar)
    } else {
        Api::all_with(sh.ctx.wds.clone(), &info.ar)
    }
}

/// Creates the mirror's namespace in the WDS if it does not exist (left in place afterwards).
async fn ensure_namespace(sh: &Shared, ns: &str) -> Result<(), UpsyncError> {
    let api: Api<Namespace> = Api::all(sh.ctx.wds.clone());
    if api
        .get_opt(ns)
        .await
        .map_err(api_err(format!("namespace {ns}")))?
        .is_some()
    {
        return Ok(());
    }
    let body: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "annotations": {"upsync.kubestellar.io/created-for-mirrors": "true"}},
    }))
    .map_err(|e| UpsyncError::Api {
        what: format!("namespace {ns}"),
        source: kube::Error::SerdeError(e),
    })?;
    match api.create(&PostParams::default(), &body).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(api_err(format!("creating namespace {ns}"))(e)),
    }
}

/// Finds mirrors left from before a restart (of kinds nothing currently asks for), so that
/// those whose source went are deleted.
pub(super) async fn sweep(sh: &Arc<Shared>) -> Result<Next, UpsyncError> {
    if !sh.wrappers.is_synced() || !sh.selected_ready.load(Ordering::SeqCst) {
        return Ok(Next::After(Duration::from_millis(50)));
    }
    let discovery = Discovery::new(sh.ctx.wds.clone())
        .run()
        .await
        .map_err(api_err("WDS discovery"))?;
    let mut found: Vec<(GroupVersionKind, KindInfo)> = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) || !caps.supports_operation(verbs::WATCH) {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(sh.ctx.wds.clone(), &ar);
            let lp = ListParams::default().labels(UPSYNC_MIRROR).limit(1);
            match api.list_metadata(&lp).await {
                Ok(list) if !list.items.is_empty() => {
                    let gvk = GroupVersionKind::gvk(&ar.group, &ar.version, &ar.kind);
                    found.push((
                        gvk,
                        KindInfo {
                            namespaced: caps.scope == Scope::Namespaced,
                            status_subresource: caps
                                .subresources
                                .iter()
                                .any(|(s, _)| s.plural == "status"),
                            ar,
                        },
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(resource = %ar.plural, error = %e, "listing upsync mirrors failed")
                }
            }
        }
    }
    // Watching a kind queues each of its mirrors once listed.
    for (gvk, info) in found {
        sh.mirrors.watch(gvk, info);
    }
    Ok(Next::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn wrapper(cluster: &str, object: Value) -> UpsyncedObject {
        serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1",
            "kind": "UpsyncedObject",
            "metadata": {"name": "w", "namespace": cluster},
            "spec": {
                "sourceRef": {"group": "", "version": "v1", "resource": "configmaps", "kind": "ConfigMap",
                    "namespace": "ns", "name": "report"},
                "cluster": cluster,
                "policies": ["p1", "p2"],
                "object": object,
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_mirror_is_renamed_labelled_and_stripped_of_server_fields() {
        let w = wrapper(
            "cluster1",
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "report", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                    "creationTimestamp": "2024-01-01T00:00:00Z", "ownerReferences": [{"name": "o"}],
                    "finalizers": ["f"], "labels": {"app": "x"},
                    "annotations": {"a": "b", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                "data": {"k": "v"},
                "status": {"phase": "Done"},
            }),
        );
        let (main, status) = desired_mirror(&w, &["p1".to_string(), "p2".to_string()]).unwrap();
        let name = super::super::names::mirror_name("cluster1", "report");
        assert_eq!(
            main,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "name": name, "namespace": "ns",
                    "labels": {"app": "x", UPSYNC_MIRROR: "cluster1", UPSYNC_POLICY: "p1"},
                    "annotations": {"a": "b", UPSYNC_POLICIES: "p1,p2",
                        UPSYNC_ORIGIN_CLUSTER: "cluster1", UPSYNC_ORIGIN_NAME: "report"},
                },
                "data": {"k": "v"},
            })
        );
        assert_eq!(status, Some(json!({"phase": "Done"})));
        let other = desired_mirror(
            &wrapper("cluster2", w.spec.object.clone().unwrap()),
            &["p1".into()],
        )
        .unwrap();
        assert_ne!(other.0["metadata"]["name"], main["metadata"]["name"]);
    }

    #[test]
    fn nothing_to_mirror_without_an_object_and_long_policy_names_skip_the_label() {
        let mut w = wrapper("cluster1", json!({"metadata": {"name": "report"}}));
        let long = "p".repeat(70);
        let (main, _) = desired_mirror(&w, std::slice::from_ref(&long)).unwrap();
        assert!(main["metadata"]["labels"].get(UPSYNC_POLICY).is_none());
        assert_eq!(
            main["metadata"]["annotations"][UPSYNC_POLICIES],
            json!(long)
        );
        w.spec.object = None;
        assert!(desired_mirror(&w, &["p1".into()]).is_none());
    }
}
