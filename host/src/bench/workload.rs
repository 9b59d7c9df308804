//! What the benchmarks deliver: a mix of Deployments, ConfigMaps and Services like upstream's
//! cluster-density test, in namespaces of [`PER_NAMESPACE`] objects, all labelled with the run
//! (and a version number, see [`super::probe`]); and the BindingPolicies that select them.

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubestellar_space::registry::GroupResource;
use kubestellar_space::store::ObjectKey;
use serde_json::{Value, json};

use super::probe::{RUN_LABEL, SEQ_LABEL};

/// Objects per namespace.
pub const PER_NAMESPACE: usize = 100;
/// Field manager of the driver's writes.
pub const MANAGER: &str = "kubestellar-bench";
/// Requests the driver keeps in flight while creating objects.
const CONCURRENCY: usize = 16;

/// The kinds of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Namespace,
    Deployment,
    ConfigMap,
    Service,
}

impl Kind {
    /// The kind of the i-th object of a mix: a third of each.
    pub fn of_index(i: usize) -> Kind {
        match i % 3 {
            0 => Kind::Deployment,
            1 => Kind::ConfigMap,
            _ => Kind::Service,
        }
    }

    fn gvk(self) -> (GroupVersionKind, &'static str) {
        match self {
            Kind::Namespace => (GroupVersionKind::gvk("", "v1", "Namespace"), "namespaces"),
            Kind::Deployment => (
                GroupVersionKind::gvk("apps", "v1", "Deployment"),
                "deployments",
            ),
            Kind::ConfigMap => (GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps"),
            Kind::Service => (GroupVersionKind::gvk("", "v1", "Service"), "services"),
        }
    }

    /// Its API resource.
    pub fn api_resource(self) -> ApiResource {
        let (gvk, plural) = self.gvk();
        ApiResource::from_gvk_with_plural(&gvk, plural)
    }

    /// The store key of the object `namespace/name` of this kind.
    pub fn key(self, namespace: &str, name: &str) -> ObjectKey {
        let (gvk, plural) = self.gvk();
        ObjectKey::new(
            &GroupResource {
                group: gvk.group,
                resource: plural.to_string(),
            },
            namespace,
            name,
        )
    }
}

/// One object the driver writes.
#[derive(Clone, Debug)]
pub struct Obj {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub body: Value,
}

impl Obj {
    /// Its store key.
    pub fn key(&self) -> ObjectKey {
        self.kind.key(&self.namespace, &self.name)
    }

    /// An API for its kind and namespace.
    pub fn api(&self, client: &kube::Client) -> Api<DynamicObject> {
        if self.kind == Kind::Namespace {
            Api::all_with(client.clone(), &self.kind.api_resource())
        } else {
            Api::namespaced_with(client.clone(), &self.namespace, &self.kind.api_resource())
        }
    }
}

fn labels(run: &str, group: &str, seq: u32) -> Value {
    json!({RUN_LABEL: run, "bench.kubestellar.io/group": group, SEQ_LABEL: seq.to_string()})
}

/// A namespace of the run.
pub fn namespace(run: &str, group: &str, name: &str) -> Obj {
    Obj {
        kind: Kind::Namespace,
        namespace: String::new(),
        name: name.to_string(),
        body: json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels(run, group, 0)},
        }),
    }
}

/// An object of kind `kind` in version `seq` (the version shows in its content too, so an
/// update changes what the WECs hold).
pub fn object(run: &str, group: &str, kind: Kind, namespace: &str, name: &str, seq: u32) -> Obj {
    let meta = json!({"name": name, "namespace": namespace, "labels": labels(run, group, seq)});
    let body = match kind {
        Kind::Namespace => return self::namespace(run, group, name),
        Kind::Deployment => json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{
                        "name": "app", "image": "registry.k8s.io/pause:3.10",
                        "env": [{"name": "VERSION", "value": seq.to_string()}],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }]},
                },
            },
        }),
        Kind::ConfigMap => json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {"version": seq.to_string(), "payload": "x".repeat(512)},
        }),
        Kind::Service => json!({
            "apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080 + (seq % 100) as i32}],
            },
        }),
    };
    Obj {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        body,
    }
}

/// The mix of `n` objects of group `group`: namespaces first, then the objects.
pub fn mix(run: &str, group: &str, n: usize) -> (Vec<Obj>, Vec<Obj>) {
    let spaces = n.div_ceil(PER_NAMESPACE);
    let namespaces = (0..spaces)
        .map(|s| namespace(run, group, &format!("{group}-{s}")))
        .collect();
    let objects = (0..n)
        .map(|i| {
            let kind = Kind::of_index(i);
            let ns = format!("{group}-{}", i / PER_NAMESPACE);
            object(run, group, kind, &ns, &format!("o{i}"), 0)
        })
        .collect();
    (namespaces, objects)
}

/// Creates (server-side applies) `objs`, a few at once.
pub async fn create_all(client: &kube::Client, objs: &[Obj]) -> Result<(), kube::Error> {
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(objs)
        .map(|o| async move { apply(client, o).await })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Server-side applies one object.
pub async fn apply(client: &kube::Client, o: &Obj) -> Result<(), kube::Error> {
    o.api(client)
        .patch(
            &o.name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&o.body),
        )
        .await
        .map(|_| ())
}

/// Creates one object (POST).
pub async fn create(client: &kube::Client, o: &Obj) -> Result<(), kube::Error> {
    let obj: DynamicObject =
        serde_json::from_value(o.body.clone()).map_err(kube::Error::SerdeError)?;
    o.api(client)
        .create(
            &PostParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            },
            &obj,
        )
        .await
        .map(|_| ())
}

/// A BindingPolicy delivering the objects of `group` to `wecs` WECs (`cluster1..clusterK`; all
/// edge WECs when `None`), asking for their status back when `status` says so.
pub fn policy(run: &str, group: &str, wecs: Option<usize>, status: bool) -> Value {
    let clusters = match wecs {
        None => json!([{"matchLabels": {"location-group": "edge"}}]),
        Some(k) => {
            let names: Vec<String> = (1..=k).map(|i| format!("cluster{i}")).collect();
            json!([{"matchExpressions": [{"key": "name", "operator": "In", "values": names}]}])
        }
    };
    let mut downsync = json!({
        "objectSelectors": [{"matchLabels": {RUN_LABEL: run, "bench.kubestellar.io/group": group}}],
    });
    if status {
        downsync["wantMultiWECReportedState"] = json!(true);
        downsync["wantSingletonReportedState"] = json!(wecs == Some(1));
    }
    json!({
        "apiVersion": "control.kubestellar.io/v1alpha1",
        "kind": "BindingPolicy",
        "metadata": {"name": group},
        "spec": {"clusterSelectors": clusters, "downsync": [downsync]},
    })
}

/// Applies a BindingPolicy (see [`policy`]).
pub async fn apply_policy(client: &kube::Client, body: &Value) -> Result<(), kube::Error> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            crate::api::CONTROL_GROUP,
            crate::api::CONTROL_VERSION,
            "BindingPolicy",
        ),
        "bindingpolicies",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let name = body["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_a_third_of_each_kind_in_namespaces_of_a_hundred() {
        let (ns, objs) = mix("r1", "tp", 250);
        assert_eq!(ns.len(), 3);
        assert_eq!(objs.len(), 250);
        let count = |k| objs.iter().filter(|o| o.kind == k).count();
        assert_eq!(
            (
                count(Kind::Deployment),
                count(Kind::ConfigMap),
                count(Kind::Service)
            ),
            (84, 83, 83)
        );
        assert_eq!(objs[249].namespace, "tp-2");
        assert_eq!(objs[0].body["metadata"]["labels"][RUN_LABEL], "r1");
        assert_eq!(objs[0].body["metadata"]["labels"][SEQ_LABEL], "0");
    }

    #[test]
    fn a_new_version_changes_the_content() {
        for kind in [Kind::Deployment, Kind::ConfigMap, Kind::Service] {
            let a = object("r", "g", kind, "ns", "x", 1);
            let b = object("r", "g", kind, "ns", "x", 2);
            let strip = |o: &Obj| {
                let mut v = o.body.clone();
                v["metadata"]["labels"] = Value::Null;
                v
            };
            assert_ne!(strip(&a), strip(&b), "{kind:?}");
        }
    }

    #[test]
    fn policies_select_the_first_k_wecs_or_all() {
        let p = policy("r", "g", Some(2), true);
        assert_eq!(
            p["spec"]["clusterSelectors"][0]["matchExpressions"][0]["values"],
            json!(["cluster1", "cluster2"])
        );
        assert_eq!(p["spec"]["downsync"][0]["wantMultiWECReportedState"], true);
        let all = policy("r", "g", None, false);
        assert_eq!(
            all["spec"]["clusterSelectors"][0]["matchLabels"]["location-group"],
            "edge"
        );
        assert!(
            all["spec"]["downsync"][0]
                .get("wantMultiWECReportedState")
                .is_none()
        );
    }
}
