//! What a Binding's delivery reads: the selected objects (from the WDS, only when their
//! resourceVersion is new), the destinations' contexts, and what was delivered before.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use serde_json::Value;

use super::render::Destination;
use super::{Shared, TransportError, api_err};
use crate::api::labels::CUSTOMIZATION_PROPERTIES_NS;
use crate::api::{Binding, ManifestWork};
use crate::binding::resolve::Gvr;
use crate::plugins::Identity as ObjectIdentity;

/// An object read from the WDS.
#[derive(Debug)]
pub(super) struct Source {
    pub resource_version: String,
    pub uid: String,
    pub json: Arc<String>,
    /// What a transform must keep, taken from the decoded object.
    pub identity: Arc<ObjectIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ObjKey {
    pub gvr: Gvr,
    pub namespace: String,
    pub name: String,
}

/// One selected object.
pub(super) struct Wanted {
    pub key: ObjKey,
    pub resource_version: String,
    pub create_only: bool,
}

impl Wanted {
    /// `group/version/resource(namespace/name)`, as upstream prints object identifiers.
    pub(super) fn display(&self) -> String {
        let g = &self.key.gvr;
        let gv = if g.group.is_empty() {
            g.version.clone()
        } else {
            format!("{}/{}", g.group, g.version)
        };
        if self.key.namespace.is_empty() {
            format!("{gv}/{}({})", g.resource, self.key.name)
        } else {
            format!(
                "{gv}/{}({}/{})",
                g.resource, self.key.namespace, self.key.name
            )
        }
    }
}

/// The objects a Binding selects, cluster-scoped first, in the Binding's order.
pub(super) fn wanted_objects(b: &Binding) -> Vec<Wanted> {
    let w = &b.spec.workload;
    let cluster = w.cluster_scope.iter().map(|c| Wanted {
        key: ObjKey {
            gvr: Gvr::new(&c.group, &c.version, &c.resource),
            namespace: String::new(),
            name: c.name.clone(),
        },
        resource_version: c.resource_version.clone(),
        create_only: c.modulation.create_only,
    });
    let namespaced = w.namespace_scope.iter().map(|c| Wanted {
        key: ObjKey {
            gvr: Gvr::new(&c.group, &c.version, &c.resource),
            namespace: c.namespace.clone(),
            name: c.name.clone(),
        },
        resource_version: c.resource_version.clone(),
        create_only: c.modulation.create_only,
    });
    cluster.chain(namespaced).collect()
}

/// The destination's context: its ManagedCluster's labels and annotations and its properties.
pub(super) fn destination(sh: &Shared, cluster: &str) -> Destination {
    let mc = sh.clusters.get("", cluster);
    let mut properties = BTreeMap::new();
    if let Some(cm) = sh.properties.get(CUSTOMIZATION_PROPERTIES_NS, cluster) {
        for (k, v) in cm.binary_data.iter().flatten() {
            properties.insert(k.clone(), String::from_utf8_lossy(&v.0).into_owned());
        }
        for (k, v) in cm.data.iter().flatten() {
            properties.insert(k.clone(), v.clone());
        }
    }
    Destination::new(
        cluster,
        mc.as_ref().and_then(|m| m.metadata.labels.as_ref()),
        mc.as_ref().and_then(|m| m.metadata.annotations.as_ref()),
        properties,
    )
}

/// Reads the objects whose resourceVersion is not the one last read; `None`: not found.
pub(super) async fn fetch(
    sh: &Shared,
    wanted: &[Wanted],
    cache: &mut HashMap<ObjKey, Arc<Source>>,
) -> Result<Vec<Option<Arc<Source>>>, TransportError> {
    let todo: Vec<usize> = (0..wanted.len())
        .filter(|i| {
            cache
                .get(&wanted[*i].key)
                .is_none_or(|s| s.resource_version != wanted[*i].resource_version)
        })
        .collect();
    let client = sh.ctx.wds.clone();
    let got: Vec<(usize, Result<Option<Source>, kube::Error>)> = futures::stream::iter(todo)
        .map(|i| {
            let client = client.clone();
            let key = wanted[i].key.clone();
            async move { (i, get(client, &key).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    sh.observer
        .inner
        .fetched
        .fetch_add(got.len(), Ordering::Relaxed);
    let mut fresh: HashMap<usize, Option<Arc<Source>>> = HashMap::new();
    for (i, r) in got {
        let s = r.map_err(api_err(format!("reading {}", wanted[i].display())))?;
        fresh.insert(i, s.map(Arc::new));
    }
    let mut out = Vec::with_capacity(wanted.len());
    let mut next = HashMap::new();
    for (i, w) in wanted.iter().enumerate() {
        let s = match fresh.remove(&i) {
            Some(s) => s,
            None => cache.get(&w.key).cloned(),
        };
        if let Some(s) = &s {
            next.insert(w.key.clone(), s.clone());
        }
        out.push(s);
    }
    *cache = next;
    Ok(out)
}

async fn get(client: kube::Client, key: &ObjKey) -> Result<Option<Source>, kube::Error> {
    let g = &key.gvr;
    let ar = ApiResource {
        group: g.group.clone(),
        version: g.version.clone(),
        api_version: if g.group.is_empty() {
            g.version.clone()
        } else {
            format!("{}/{}", g.group, g.version)
        },
        kind: String::new(),
        plural: g.resource.clone(),
    };
    let api: Api<DynamicObject> = if key.namespace.is_empty() {
        Api::all_with(client, &ar)
    } else {
        Api::namespaced_with(client, &key.namespace, &ar)
    };
    let Some(obj) = api.get_opt(&key.name).await? else {
        return Ok(None);
    };
    let json = serde_json::to_string(&obj).map_err(kube::Error::SerdeError)?;
    let types = obj.types.as_ref();
    let identity = ObjectIdentity::new(
        types.map(|t| t.api_version.as_str()),
        types.map(|t| t.kind.as_str()),
        obj.metadata.name.as_deref(),
        obj.metadata.namespace.as_deref(),
    );
    Ok(Some(Source {
        resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
        uid: obj.metadata.uid.clone().unwrap_or_default(),
        json: Arc::new(json),
        identity: Arc::new(identity),
    }))
}

/// Identity of a manifest inside a ManifestWork: (group, kind, namespace, name).
pub(super) type Identity = (String, String, String, String);

/// Manifests delivered before, by (WEC, identity).
pub(super) type Previous = HashMap<(String, Identity), Arc<Value>>;

/// A manifest's (group, kind, namespace, name).
pub(super) fn manifest_identity(m: &Value) -> Identity {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = s(m.get("apiVersion"));
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    let meta = m.get("metadata");
    (
        group,
        s(m.get("kind")),
        s(meta.and_then(|m| m.get("namespace"))),
        s(meta.and_then(|m| m.get("name"))),
    )
}

/// The manifests the ManifestWorks of a Binding hold, by (namespace, identity).
pub(super) fn previous_manifests(mine: &[Arc<ManifestWork>]) -> Previous {
    let mut out = HashMap::new();
    for mw in mine
        .iter()
        .filter(|m| m.metadata.deletion_timestamp.is_none())
    {
        let ns = mw.metadata.namespace.clone().unwrap_or_default();
        for m in &mw.spec.workload.manifests {
            out.insert((ns.clone(), manifest_identity(m)), m.clone());
        }
    }
    out
}
