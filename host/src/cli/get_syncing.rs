//! `kubestellar get-syncing`: every object of one kind in transit through an ITS, downsynced
//! (inside ManifestWorks) or upsynced (inside UpsyncedObjects), across all WEC mailbox
//! namespaces; listed once or watched. The successor of the seed's
//! `kubestellar-list-syncing-objects`.
//!
//! Each object is printed as it travels, with three annotations added:
//! `kubestellar.io/syncing-wec` (the mailbox namespace = WEC), `kubestellar.io/syncing-direction`
//! (`downsync` or `upsync`) and `kubestellar.io/syncing-carrier` (`ManifestWork/<name>` or
//! `UpsyncedObject/<name>`). YAML documents by default, one JSON object per line with `--json`;
//! with `--watch`, each object also gets a top-level `Action` field: `add`, `update` or `delete`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::api::{ManifestWork, UpsyncedObject};

/// Lists (or watches) every object of one kind in transit through an ITS.
#[derive(Debug, Args)]
pub struct GetSyncingArgs {
    /// Kubeconfig of the ITS (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, alias = "kubeconfig")]
    pub its_kubeconfig: Option<PathBuf>,
    /// Context of the ITS in that kubeconfig.
    #[arg(long, alias = "context")]
    pub its_context: Option<String>,
    /// API group of the objects (`""` for the core group).
    #[arg(long)]
    pub api_group: String,
    /// Kind of the objects.
    #[arg(long)]
    pub api_kind: String,
    /// Resource (lowercase plural) of the objects: narrows upsynced objects, whose carrier
    /// records it (downsync carriers name only the kind).
    #[arg(long)]
    pub api_resource: Option<String>,
    /// Version of the objects (default: any).
    #[arg(long)]
    pub api_version: Option<String>,
    /// Keep watching, printing each change with an `Action` field.
    #[arg(long)]
    pub watch: bool,
    /// One JSON object per line instead of YAML documents.
    #[arg(long)]
    pub json: bool,
}

/// Which objects to show.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Resource, if narrowed.
    pub resource: Option<String>,
    /// Version, if narrowed.
    pub version: Option<String>,
}

/// An object in transit: (direction, WEC, carrier, object namespace, object name).
pub type TransitKey = (String, String, String, String, String);

/// A carrier (ManifestWork or UpsyncedObject): (kind, namespace, name).
type CarrierKey = (&'static str, String, String);

fn split_api_version(av: &str) -> (&str, &str) {
    match av.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

fn annotate(mut obj: Value, wec: &str, direction: &str, carrier: &str) -> Value {
    if !obj.is_object() {
        return obj;
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"]
        .get("annotations")
        .is_some_and(Value::is_object)
    {
        obj["metadata"]["annotations"] = json!({});
    }
    let a = &mut obj["metadata"]["annotations"];
    a["kubestellar.io/syncing-wec"] = json!(wec);
    a["kubestellar.io/syncing-direction"] = json!(direction);
    a["kubestellar.io/syncing-carrier"] = json!(carrier);
    obj
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The matching objects a ManifestWork carries down.
pub fn in_manifestwork(mw: &ManifestWork, f: &Filter) -> Vec<(TransitKey, Value)> {
    let wec = mw.metadata.namespace.clone().unwrap_or_default();
    let carrier = format!(
        "ManifestWork/{}",
        mw.metadata.name.as_deref().unwrap_or_default()
    );
    mw.spec
        .workload
        .manifests
        .iter()
        .filter(|m| {
            let (g, v) = split_api_version(
                m.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
            g == f.group
                && m.get("kind").and_then(Value::as_str) == Some(f.kind.as_str())
                && f.version.as_deref().is_none_or(|fv| fv == v)
        })
        .map(|m| {
            let key = (
                "downsync".to_string(),
                wec.clone(),
                carrier.clone(),
                meta_str(m, "namespace").to_string(),
                meta_str(m, "name").to_string(),
            );
            (key, annotate((**m).clone(), &wec, "downsync", &carrier))
        })
        .collect()
}

/// The object an UpsyncedObject carries up, if it matches (and is carried).
pub fn in_upsynced(u: &UpsyncedObject, f: &Filter) -> Vec<(TransitKey, Value)> {
    let s = &u.spec.source_ref;
    let matches = s.group == f.group
        && s.kind == f.kind
        && f.version.as_deref().is_none_or(|v| v == s.version)
        && f.resource.as_deref().is_none_or(|r| r == s.resource);
    let Some(obj) = u.spec.object.as_ref().filter(|_| matches) else {
        return Vec::new();
    };
    let wec = u.metadata.namespace.clone().unwrap_or_default();
    let carrier = format!(
        "UpsyncedObject/{}",
        u.metadata.name.as_deref().unwrap_or_default()
    );
    let key = (
        "upsync".to_string(),
        wec.clone(),
        carrier.clone(),
        s.namespace.clone(),
        s.name.clone(),
    );
    vec![(key, annotate(obj.clone(), &wec, "upsync", &carrier))]
}

/// What changed between two views of one carrier: `(action, object)` in key order.
pub fn diff(
    old: &BTreeMap<TransitKey, Value>,
    new: &BTreeMap<TransitKey, Value>,
) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for (k, v) in old {
        if !new.contains_key(k) {
            out.push(("delete", v.clone()));
        }
    }
    for (k, v) in new {
        match old.get(k) {
            None => out.push(("add", v.clone())),
            Some(o) if o != v => out.push(("update", v.clone())),
            Some(_) => {}
        }
    }
    out
}

/// Renders one object (with an `Action` field when watching).
pub fn render(obj: &Value, action: Option<&str>, as_json: bool) -> String {
    let mut obj = obj.clone();
    if let (Some(a), Some(m)) = (action, obj.as_object_mut()) {
        m.insert("Action".into(), json!(a));
    }
    if as_json {
        format!("{}\n", serde_json::to_string(&obj).unwrap_or_default())
    } else {
        format!(
            "---\n{}",
            serde_yaml_ng::to_string(&obj).unwrap_or_default()
        )
    }
}

/// One change of a carrier, from either watch.
enum Change {
    Apply(CarrierKey, BTreeMap<TransitKey, Value>),
    Delete(CarrierKey),
    /// A (re)list of one carrier kind is complete: carriers of that kind not in it are gone.
    Relisted(&'static str, Vec<(CarrierKey, BTreeMap<TransitKey, Value>)>),
}

fn mw_view(mw: &ManifestWork, f: &Filter) -> (CarrierKey, BTreeMap<TransitKey, Value>) {
    (
        (
            "ManifestWork",
            mw.metadata.namespace.clone().unwrap_or_default(),
            mw.metadata.name.clone().unwrap_or_default(),
        ),
        in_manifestwork(mw, f).into_iter().collect(),
    )
}

fn uo_view(u: &UpsyncedObject, f: &Filter) -> (CarrierKey, BTreeMap<TransitKey, Value>) {
    (
        (
            "UpsyncedObject",
            u.metadata.namespace.clone().unwrap_or_default(),
            u.metadata.name.clone().unwrap_or_default(),
        ),
        in_upsynced(u, f).into_iter().collect(),
    )
}

/// Turns a watch of one carrier kind into changes.
fn changes<K>(
    api: Api<K>,
    kind: &'static str,
    view: impl Fn(&K) -> (CarrierKey, BTreeMap<TransitKey, Value>) + Send + 'static,
) -> impl futures::Stream<Item = anyhow::Result<Change>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut initial = Vec::new();
    watcher::watcher(api, watcher::Config::default()).filter_map(move |ev| {
        let out = match ev {
            Ok(watcher::Event::Init) => {
                initial.clear();
                None
            }
            Ok(watcher::Event::InitApply(o)) => {
                initial.push(view(&o));
                None
            }
            Ok(watcher::Event::InitDone) => {
                Some(Ok(Change::Relisted(kind, std::mem::take(&mut initial))))
            }
            Ok(watcher::Event::Apply(o)) => {
                let (k, v) = view(&o);
                Some(Ok(Change::Apply(k, v)))
            }
            Ok(watcher::Event::Delete(o)) => Some(Ok(Change::Delete(view(&o).0))),
            Err(e) => Some(Err(anyhow::anyhow!("watching {kind}s in the ITS: {e}"))),
        };
        futures::future::ready(out)
    })
}

impl GetSyncingArgs {
    fn filter(&self) -> Filter {
        Filter {
            group: self.api_group.clone(),
            kind: self.api_kind.clone(),
            resource: self.api_resource.clone(),
            version: self.api_version.clone(),
        }
    }

    /// Runs the command (until Ctrl-C when watching).
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async move {
            let its =
                crate::clients::client(self.its_kubeconfig.as_deref(), self.its_context.as_deref())
                    .await
                    .context("ITS client")?;
            let f = self.filter();
            let mws: Api<ManifestWork> = Api::all(its.clone());
            let uos: Api<UpsyncedObject> = Api::all(its.clone());
            let mut out = std::io::stdout().lock();
            if !self.watch {
                let mut all: BTreeMap<TransitKey, Value> = BTreeMap::new();
                let list = mws
                    .list(&ListParams::default())
                    .await
                    .context("listing ManifestWorks in the ITS")?;
                for mw in &list.items {
                    all.extend(in_manifestwork(mw, &f));
                }
                match uos.list(&ListParams::default()).await {
                    Ok(list) => {
                        for u in &list.items {
                            all.extend(in_upsynced(u, &f));
                        }
                    }
                    // An ITS without the UpsyncedObject CRD has nothing upsynced.
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e).context("listing UpsyncedObjects in the ITS"),
                }
                for v in all.values() {
                    out.write_all(render(v, None, self.json).as_bytes())?;
                }
                out.flush()?;
                return Ok(());
            }
            let ff = f.clone();
            let a = changes(mws, "ManifestWork", move |m| mw_view(m, &ff));
            let ff = f.clone();
            let b = changes(uos, "UpsyncedObject", move |u| uo_view(u, &ff));
            let mut stream = futures::stream::select(a.boxed(), b.boxed());
            let mut state: BTreeMap<CarrierKey, BTreeMap<TransitKey, Value>> = BTreeMap::new();
            let empty = BTreeMap::new();
            let shutdown = crate::cli::shutdown_signal();
            tokio::pin!(shutdown);
            loop {
                let change = tokio::select! {
                    _ = &mut shutdown => break,
                    c = stream.next() => match c {
                        Some(c) => c,
                        None => break,
                    },
                };
                let mut lines = Vec::new();
                match change {
                    Ok(Change::Apply(k, v)) => {
                        lines.extend(diff(state.get(&k).unwrap_or(&empty), &v));
                        state.insert(k, v);
                    }
                    Ok(Change::Delete(k)) => {
                        if let Some(old) = state.remove(&k) {
                            lines.extend(diff(&old, &empty));
                        }
                    }
                    Ok(Change::Relisted(kind, items)) => {
                        let listed: BTreeMap<CarrierKey, BTreeMap<TransitKey, Value>> =
                            items.into_iter().collect();
                        let gone: Vec<CarrierKey> = state
                            .keys()
                            .filter(|k| k.0 == kind && !listed.contains_key(*k))
                            .cloned()
                            .collect();
                        for k in gone {
                            if let Some(old) = state.remove(&k) {
                                lines.extend(diff(&old, &empty));
                            }
                        }
                        for (k, v) in listed {
                            lines.extend(diff(state.get(&k).unwrap_or(&empty), &v));
                            state.insert(k, v);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("{e:#}; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
                for (action, v) in lines {
                    out.write_all(render(&v, Some(action), self.json).as_bytes())?;
                }
                out.flush()?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter() -> Filter {
        Filter {
            group: "apps".into(),
            kind: "Deployment".into(),
            ..Default::default()
        }
    }

    fn mw(manifests: Vec<Value>) -> ManifestWork {
        serde_json::from_value(json!({
            "apiVersion": "work.open-cluster-management.io/v1",
            "kind": "ManifestWork",
            "metadata": {"name": "mw1", "namespace": "cluster1"},
            "spec": {"workload": {"manifests": manifests}},
        }))
        .unwrap()
    }

    #[test]
    fn manifestworks_yield_matching_objects_annotated() {
        let m = mw(vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}),
            json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "old"}}),
        ]);
        let got = in_manifestwork(&m, &filter());
        assert_eq!(got.len(), 1);
        let (k, v) = &got[0];
        assert_eq!(k.0, "downsync");
        assert_eq!(k.4, "d");
        assert_eq!(
            v["metadata"]["annotations"]["kubestellar.io/syncing-wec"],
            "cluster1"
        );
        assert_eq!(
            v["metadata"]["annotations"]["kubestellar.io/syncing-carrier"],
            "ManifestWork/mw1"
        );
        let mut f = filter();
        f.version = Some("v2".into());
        assert!(in_manifestwork(&m, &f).is_empty());
        let core = Filter {
            group: String::new(),
            kind: "ConfigMap".into(),
            ..Default::default()
        };
        assert_eq!(in_manifestwork(&m, &core).len(), 1);
    }

    #[test]
    fn upsynced_objects_yield_their_object_when_carried_and_matching() {
        let mut u: UpsyncedObject = serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "UpsyncedObject",
            "metadata": {"name": "u1", "namespace": "cluster2"},
            "spec": {"sourceRef": {"group": "apps", "version": "v1", "resource": "deployments", "kind": "Deployment",
                "namespace": "n", "name": "d"}, "cluster": "cluster2",
                "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}}},
        }))
        .unwrap();
        let got = in_upsynced(&u, &filter());
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].1["metadata"]["annotations"]["kubestellar.io/syncing-direction"],
            "upsync"
        );
        let mut f = filter();
        f.resource = Some("statefulsets".into());
        assert!(in_upsynced(&u, &f).is_empty());
        u.spec.object = None;
        assert!(in_upsynced(&u, &filter()).is_empty());
    }

    #[test]
    fn diffs_say_add_update_delete_and_render_adds_the_action() {
        let k = |n: &str| {
            (
                "downsync".to_string(),
                "c".to_string(),
                "m".to_string(),
                "n".to_string(),
                n.to_string(),
            )
        };
        let old: BTreeMap<TransitKey, Value> =
            [(k("a"), json!({"v": 1})), (k("b"), json!({"v": 1}))].into();
        let new: BTreeMap<TransitKey, Value> =
            [(k("a"), json!({"v": 2})), (k("c"), json!({"v": 1}))].into();
        let d: Vec<&str> = diff(&old, &new).into_iter().map(|(a, _)| a).collect();
        assert_eq!(d, vec!["delete", "update", "add"]);
        assert!(diff(&new, &new).is_empty());
        assert_eq!(
            render(&json!({"v": 1}), Some("add"), true),
            "{\"Action\":\"add\",\"v\":1}\n"
        );
        assert_eq!(render(&json!({"v": 1}), None, false), "---\nv: 1\n");
    }
}
