//! Acceptance checks 42-44 with kube-rs 5: the watcher (including recovery from an expired
//! resourceVersion by re-listing), typed API calls, and a `Controller` that owns ConfigMaps and
//! server-side-applies its status without looping.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{CustomResource, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{TestSpace, manifests};

fn cm(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

async fn next_event(
    stream: &mut (
             impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin
         ),
) -> Result<watcher::Event<ConfigMap>, watcher::Error> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a watcher event within 10 s")
        .expect("the watcher stream does not end")
}

fn describe(e: &watcher::Event<ConfigMap>) -> String {
    match e {
        watcher::Event::Init => "Init".into(),
        watcher::Event::InitApply(o) => format!("InitApply {}", o.name_any()),
        watcher::Event::InitDone => "InitDone".into(),
        watcher::Event::Apply(o) => format!("Apply {}", o.name_any()),
        watcher::Event::Delete(o) => format!("Delete {}", o.name_any()),
    }
}

/// Check 42: the watcher's events, and recovery from an expired resourceVersion: an in-stream
/// ERROR 410, then one re-LIST and a new WATCH, never an HTTP 410 on the watch request.
#[test]
fn check_42_watcher_and_expired_resource_version() {
    let s = TestSpace::start_with(|c| c.watch_history = 5);
    let client = s.kube_client();
    s.block_on(async {
        let ns = "watched";
        let nsapi: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        for n in [ns, "noise"] {
            nsapi
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(json!({"metadata": {"name": n}})).expect("ns"),
                )
                .await
                .expect("create ns");
        }
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        api.create(&PostParams::default(), &cm("before"))
            .await
            .expect("create");
        // A short timeout makes the watcher re-watch (from its last seen version) every second.
        let mut stream = watcher(api.clone(), watcher::Config::default().timeout(1)).boxed();
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("InitDone") {
            seen.push(describe(&next_event(&mut stream).await.expect("no error")));
        }
        assert_eq!(seen, ["Init", "InitApply before", "InitDone"]);
        api.create(&PostParams::default(), &cm("live"))
            .await
            .expect("create live");
        assert_eq!(
            describe(&next_event(&mut stream).await.expect("apply")),
            "Apply live"
        );
        api.delete("live", &DeleteParams::default())
            .await
            .expect("delete live");
        assert_eq!(
            describe(&next_event(&mut stream).await.expect("delete")),
            "Delete live"
        );

        // Many changes elsewhere push the watcher's version out of the configmaps history.
        let noise: Api<ConfigMap> = Api::namespaced(client.clone(), "noise");
        for i in 0..20 {
            noise
                .create(&PostParams::default(), &cm(&format!("n{i}")))
                .await
                .expect("noise");
        }
        let (lists, watch_410) = (s.requests("LIST", 200), s.requests("WATCH", 410));
        // The next re-watch (within about a second) starts from an expired version.
        let err = match next_event(&mut stream).await {
            Err(e) => e,
            Ok(e) => panic!("expected the expiry error first, got {}", describe(&e)),
        };
        let text = format!("{err:?}");
        assert!(text.contains("410") && text.contains("Expired"), "{text}");
        // Then a re-list.
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("InitDone") {
            seen.push(describe(&next_event(&mut stream).await.expect("re-list")));
        }
        assert_eq!(seen, ["Init", "InitApply before", "InitDone"]);
        assert_eq!(s.requests("LIST", 200) - lists, 1, "exactly one re-LIST");
        assert_eq!(
            s.requests("WATCH", 410),
            watch_410,
            "a watch request is never answered 410"
        );
        assert_eq!(s.requests("WATCH", 410), 0);
        // And it watches again.
        api.create(&PostParams::default(), &cm("after"))
            .await
            .expect("create after");
        assert_eq!(
            describe(&next_event(&mut stream).await.expect("apply")),
            "Apply after"
        );
    });
}

/// Check 43: apply creates (201), a stale `replace_status` conflicts (409), delete answers 200.
#[test]
fn check_43_typed_api_calls() {
    let s = TestSpace::start();
    let client = s.kube_client();
    s.block_on(async {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(manifests::CRD).expect("CRD YAML");
        crds.create(&PostParams::default(), &crd).await.expect("CRD created");
        let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
        let before = s.requests("APPLY", 201);
        let applied = widgets
            .patch("w9", &PatchParams::apply("kprobe").force(), &Patch::Apply(json!({
                "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w9"}, "spec": {"size": 1}
            })))
            .await
            .expect("apply creates");
        assert_eq!(s.requests("APPLY", 201), before + 1, "created by apply: 201");
        assert_eq!(applied.spec.size, 1);
        assert_eq!(applied.spec.color.as_deref(), Some("blue"), "schema default");
        let managers: Vec<_> = applied.managed_fields().iter().map(|m| (m.manager.clone(), m.operation.clone())).collect();
        assert_eq!(managers, [(Some("kprobe".to_string()), Some("Apply".to_string()))]);
        // The same apply again changes nothing.
        let again = widgets
            .patch("w9", &PatchParams::apply("kprobe").force(), &Patch::Apply(json!({
                "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w9"}, "spec": {"size": 1}
            })))
            .await
            .expect("apply again");
        assert_eq!(again.resource_version(), applied.resource_version());
        // replace_status with a stale resourceVersion.
        widgets.patch("w9", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}))).await.expect("label");
        let mut stale = applied.clone();
        stale.status = Some(WidgetStatus { size: Some(1), observed: Some(1) });
        let err = widgets
            .replace_status("w9", &PostParams::default(), &stale)
            .await
            .expect_err("stale");
        match err {
            kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
            other => panic!("expected a Conflict, got {other:?}"),
        }
        // With the current version it works.
        let mut fresh = widgets.get("w9").await.expect("get");
        fresh.status = Some(WidgetStatus { size: Some(1), observed: Some(1) });
        let out = widgets.replace_status("w9", &PostParams::default(), &fresh).await.expect("replace_status");
        assert_eq!(out.status.and_then(|s| s.size), Some(1));
        let deletes = s.requests("DELETE", 200);
        let gone = widgets.delete("w9", &DeleteParams::default()).await.expect("delete");
        assert!(gone.is_left(), "the deleted object is returned");
        assert_eq!(s.requests("DELETE", 200), deletes + 1);
        assert!(matches!(widgets.get("w9").await, Err(kube::Error::Api(s)) if s.code == 404));
    });
}

/// The test CRD's Rust type.
#[derive(CustomResource, Clone, Debug, Serialize, Deserialize)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    schema = "disabled"
)]
pub struct WidgetSpec {
    size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    color: Option<String>,
}

/// The Widget status.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed: Option<i64>,
}

struct Ctx {
    client: kube::Client,
    reconciles: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    let owner = w.controller_owner_ref(&()).expect("owner ref");
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let child = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-child"), "ownerReferences": [owner]},
        "data": {"owner": name},
    });
    let pp = PatchParams::apply("widget-controller").force();
    cms.patch(&format!("{name}-child"), &pp, &Patch::Apply(child))
        .await?;
    let widgets: Api<Widget> = Api::namespaced(ctx.client.clone(), &ns);
    let status = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
        "status": {"observed": w.meta().generation, "size": w.spec.size},
    });
    widgets
        .patch_status(&name, &pp, &Patch::Apply(status))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Widget>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_secs(1))
}

/// Waits until no reconcile happened for `quiet`; returns the count.
async fn settle(ctx: &Ctx, quiet: Duration) -> usize {
    let mut last = ctx.reconciles.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(quiet).await;
        let now = ctx.reconciles.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Check 44: a Controller owning ConfigMaps reconciles exactly twice per spec change (the
/// second status apply is identical: no resourceVersion bump, no event, no loop).
#[test]
fn check_44_controller_does_not_hot_loop() {
    let s = TestSpace::start();
    let client = s.kube_client();
    s.block_on(async {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(manifests::CRD).expect("CRD YAML");
        crds.create(&PostParams::default(), &crd).await.expect("CRD created");
        let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let ctx = Arc::new(Ctx { client: client.clone(), reconciles: AtomicUsize::new(0) });
        let controller = Controller::new(widgets.clone(), watcher::Config::default())
            .owns(cms.clone(), watcher::Config::default())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {});
        let handle = tokio::spawn(controller);
        widgets
            .create(&PostParams::default(), &serde_json::from_value(json!({
                "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}
            })).expect("widget"))
            .await
            .expect("create widget");
        let quiet = Duration::from_millis(800);
        let initial = settle(&ctx, quiet).await;
        assert!(initial >= 1, "the new widget was reconciled");
        let child = cms.get("w1-child").await.expect("child ConfigMap");
        assert_eq!(child.owner_references()[0].name, "w1");
        for size in [2, 3] {
            let before = ctx.reconciles.load(Ordering::SeqCst);
            let rv_before = widgets.get("w1").await.expect("get").resource_version();
            widgets.patch("w1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": size}}))).await.expect("spec change");
            let after = settle(&ctx, quiet).await;
            assert_eq!(after - before, 2, "exactly 2 reconciles for spec size {size}");
            let w = widgets.get("w1").await.expect("get");
            assert_eq!(w.status.as_ref().and_then(|s| s.size), Some(size));
            assert_eq!(w.status.as_ref().and_then(|s| s.observed), w.meta().generation);
            assert_ne!(w.resource_version(), rv_before);
        }
        handle.abort();
        // Deleting the owner collects the child.
        widgets.delete("w1", &DeleteParams::background()).await.expect("delete widget");
        let mut gone = false;
        for _ in 0..100 {
            if matches!(cms.get("w1-child").await, Err(kube::Error::Api(s)) if s.code == 404) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the owned ConfigMap is garbage-collected");
    });
}
