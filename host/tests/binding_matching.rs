//! The binding controller against a real WDS: upstream's TestMatching (random objects, random
//! policies, create/delete thrash; the Binding must list exactly the matching objects),
//! TestCRDHandling (watches follow served CRD versions), the BindingPolicy validation cases
//! (kubectl against the CRD schema), and the status errors the CRD cannot express.

mod delivery_env;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use delivery_env::{Env, T};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kubestellar::binding::resolve::Gvr;
use serde_json::{Value, json};
use support::eventually;

/// SplitMix64: a seeded generator, so a failing round can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn subset<T: Clone>(&mut self, items: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max.min(items.len()));
        let mut out: Vec<T> = Vec::new();
        let mut idx: Vec<usize> = (0..items.len()).collect();
        for _ in 0..n {
            let i = self.below(idx.len());
            out.push(items[idx.remove(i)].clone());
        }
        out
    }
}

/// The kinds TestMatching uses.
struct Kind {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
}

const KINDS: [Kind; 5] = [
    Kind {
        group: "",
        version: "v1",
        resource: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
    },
    Kind {
        group: "networking.k8s.io",
        version: "v1",
        resource: "networkpolicies",
        kind: "NetworkPolicy",
        namespaced: true,
    },
    Kind {
        group: "autoscaling",
        version: "v2",
        resource: "horizontalpodautoscalers",
        kind: "HorizontalPodAutoscaler",
        namespaced: true,
    },
    Kind {
        group: "",
        version: "v1",
        resource: "namespaces",
        kind: "Namespace",
        namespaced: false,
    },
];
const NAMESPACES: [&str; 3] = ["ns1", "ns2", "ns3"];
const KEYS: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 3] = ["x", "y", "z"];

fn ar(k: &Kind) -> ApiResource {
    ApiResource {
        group: k.group.into(),
        version: k.version.into(),
        api_version: if k.group.is_empty() {
            k.version.into()
        } else {
            format!("{}/{}", k.group, k.version)
        },
        kind: k.kind.into(),
        plural: k.resource.into(),
    }
}

fn random_labels(rng: &mut Rng) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for k in KEYS {
        if rng.chance(50) {
            out.insert(k.to_string(), rng.pick(&VALUES).to_string());
        }
    }
    out
}

fn object(rng: &mut Rng, k: &Kind, n: usize) -> (Option<String>, Value) {
    let name = format!("{}-{n}", &k.resource[..4]);
    let ns = k.namespaced.then(|| rng.pick(&NAMESPACES).to_string());
    let mut o = json!({
        "apiVersion": ar(k).api_version, "kind": k.kind,
        "metadata": {"name": name, "labels": random_labels(rng)},
    });
    if let Some(ns) = &ns {
        o["metadata"]["namespace"] = json!(ns);
    }
    match k.kind {
        "ConfigMap" => o["data"] = json!({"n": n.to_string()}),
        "ClusterRole" => {
            o["rules"] = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
        }
        "NetworkPolicy" => o["spec"] = json!({"podSelector": {}}),
        _ => {
            o["spec"] = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}, "maxReplicas": 3});
        }
    }
    (ns, o)
}

/// A random label selector of the shapes upstream's test generates.
fn random_selector(rng: &mut Rng) -> Value {
    if rng.chance(10) {
        return json!({});
    }
    let key = *rng.pick(&KEYS);
    if rng.chance(50) {
        return json!({"matchLabels": {key: rng.pick(&VALUES)}});
    }
    let expr = match rng.below(4) {
        0 => json!({"key": key, "operator": "In", "values": rng.subset(&VALUES, 2)}),
        1 => json!({"key": key, "operator": "NotIn", "values": rng.subset(&VALUES, 2)}),
        2 => json!({"key": key, "operator": "Exists"}),
        _ => json!({"key": key, "operator": "DoesNotExist"}),
    };
    json!({"matchExpressions": [expr]})
}

fn random_clause(rng: &mut Rng, names: &[String]) -> Value {
    let mut c = json!({});
    let k = rng.pick(&KINDS);
    if rng.chance(25) {
        c["apiGroup"] = json!(k.group);
    }
    let resources: Vec<&str> = KINDS.iter().map(|k| k.resource).collect();
    c["resources"] = json!(if rng.chance(50) {
        vec![k.resource]
    } else {
        rng.subset(&resources, 3)
    });
    if rng.chance(30) {
        let mut ns: Vec<&str> = rng.subset(&NAMESPACES, 2);
        if rng.chance(30) {
            ns = vec!["*"];
        }
        c["namespaces"] = json!(ns);
    }
    if rng.chance(25) {
        c["namespaceSelectors"] = json!(
            (0..1 + rng.below(2))
                .map(|_| random_selector(rng))
                .collect::<Vec<_>>()
        );
    }
    if rng.chance(20) {
        c["objectNames"] = json!(if rng.chance(20) {
            vec!["*".to_string()]
        } else {
            rng.subset(names, 3)
        });
    }
    if rng.chance(60) {
        c["objectSelectors"] = json!(
            (0..1 + rng.below(2))
                .map(|_| random_selector(rng))
                .collect::<Vec<_>>()
        );
    }
    c
}

/// Reference semantics of a selector, written independently of the controller's.
fn selects(sel: &Value, labels: &BTreeMap<String, String>) -> bool {
    let ml = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let me = sel["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let v = labels.get(key).map(String::as_str);
            match e["operator"].as_str() {
                Some("In") => v.is_some_and(|v| values.contains(&v)),
                Some("NotIn") => v.is_none_or(|v| !values.contains(&v)),
                Some("Exists") => v.is_some(),
                _ => v.is_none(),
            }
        });
    ml && me
}

struct Live {
    group: String,
    resource: String,
    namespace: String,
    name: String,
    rv: String,
    labels: BTreeMap<String, String>,
}

fn clause_matches(
    c: &Value,
    o: &Live,
    ns_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> bool {
    let listed = |field: &str, v: &str| {
        c[field]
            .as_array()
            .is_none_or(|l| l.is_empty() || l.iter().any(|x| x == "*" || x == v))
    };
    if c.get("apiGroup").is_some_and(|g| g != o.group.as_str()) {
        return false;
    }
    if !listed("resources", &o.resource)
        || !listed("namespaces", &o.namespace)
        || !listed("objectNames", &o.name)
    {
        return false;
    }
    if let Some(sels) = c["objectSelectors"].as_array().filter(|s| !s.is_empty())
        && !sels.iter().any(|s| selects(s, &o.labels))
    {
        return false;
    }
    if let Some(sels) = c["namespaceSelectors"].as_array().filter(|s| !s.is_empty()) {
        let empty = |s: &Value| {
            s.as_object().is_none_or(|m| {
                m.values().all(|v| {
                    v.as_object().is_some_and(|o| o.is_empty())
                        || v.as_array().is_some_and(|a| a.is_empty())
                })
            })
        };
        if !sels.iter().any(empty) {
            return match ns_labels.get(&o.namespace) {
                None => false,
                Some(l) => sels.iter().any(|s| selects(s, l)),
            };
        }
    }
    true
}

fn live_objects(env: &Env) -> Vec<Live> {
    let client = env.spaces.client("wds1");
    let mut out = Vec::new();
    for k in &KINDS {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar(k));
        let list = env
            .spaces
            .rt
            .block_on(api.list(&ListParams::default()))
            .expect("list");
        for o in list.items {
            out.push(Live {
                group: k.group.into(),
                resource: k.resource.into(),
                namespace: o.metadata.namespace.clone().unwrap_or_default(),
                name: o.metadata.name.clone().unwrap_or_default(),
                rv: o.metadata.resource_version.clone().unwrap_or_default(),
                labels: o.metadata.labels.clone().unwrap_or_default(),
            });
        }
    }
    out
}

type Entry = (String, String, String, String, String);

fn binding_workload(b: &Value) -> BTreeSet<Entry> {
    let w = &b["spec"]["workload"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut out = BTreeSet::new();
    for e in w["clusterScope"].as_array().into_iter().flatten() {
        out.insert((
            s(&e["group"]),
            s(&e["resource"]),
            String::new(),
            s(&e["name"]),
            s(&e["resourceVersion"]),
        ));
    }
    for e in w["namespaceScope"].as_array().into_iter().flatten() {
        out.insert((
            s(&e["group"]),
            s(&e["resource"]),
            s(&e["namespace"]),
            s(&e["name"]),
            s(&e["resourceVersion"]),
        ));
    }
    out
}

/// Upstream's TestMatching with CONTROLLER_TEST_NUM_OBJECTS=360, seed 42, 10 rounds.
#[test]
fn matching_random_objects() {
    let env = Env::new(1, |_| {});
    let client = env.spaces.client("wds1");
    let rt = &env.spaces.rt;
    let mut rng = Rng(42);
    let apply = PatchParams::apply("matching-test").force();
    // Namespaces with random labels (they are objects too, and namespaceSelectors read them).
    let ns_api: Api<DynamicObject> = Api::all_with(client.clone(), &ar(&KINDS[4]));
    for ns in NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": random_labels(&mut rng)}});
        rt.block_on(ns_api.patch(ns, &apply, &Patch::Apply(&body)))
            .expect("namespace");
    }
    let mut next = 0usize;
    let mut names: Vec<String> = Vec::new();
    let mut create = |rng: &mut Rng, names: &mut Vec<String>| {
        let k = &KINDS[rng.below(4)];
        next += 1;
        let (ns, o) = object(rng, k, next);
        let api: Api<DynamicObject> = match &ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar(k)),
            None => Api::all_with(client.clone(), &ar(k)),
        };
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        rt.block_on(api.patch(&name, &apply, &Patch::Apply(&o)))
            .expect("create");
        names.push(name);
    };
    for _ in 0..360 {
        create(&mut rng, &mut names);
    }
    let policies: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource {
            group: "control.kubestellar.io".into(),
            version: "v1alpha1".into(),
            api_version: "control.kubestellar.io/v1alpha1".into(),
            kind: "BindingPolicy".into(),
            plural: "bindingpolicies".into(),
        },
    );
    let mut slowest = Duration::ZERO;
    for round in 0..10 {
        // Thrash, change the policy, thrash again.
        let thrash = |rng: &mut Rng,
                      names: &mut Vec<String>,
                      create: &mut dyn FnMut(&mut Rng, &mut Vec<String>)| {
            for _ in 0..1 + rng.below(15) {
                if rng.chance(50) {
                    create(rng, names);
                } else {
                    let victims: Vec<Live> = live_objects(&env)
                        .into_iter()
                        .filter(|o| o.resource != "namespaces")
                        .collect();
                    let v = &victims[rng.below(victims.len())];
                    let k = KINDS
                        .iter()
                        .find(|k| k.resource == v.resource)
                        .expect("kind");
                    let api: Api<DynamicObject> = if v.namespace.is_empty() {
                        Api::all_with(client.clone(), &ar(k))
                    } else {
                        Api::namespaced_with(client.clone(), &v.namespace, &ar(k))
                    };
                    let _ = rt.block_on(api.delete(&v.name, &DeleteParams::default()));
                }
            }
        };
        thrash(&mut rng, &mut names, &mut create);
        let clauses: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| random_clause(&mut rng, &names))
            .collect();
        let body = json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "BindingPolicy",
            "metadata": {"name": "matching-tester"},
            "spec": {"downsync": clauses},
        });
        rt.block_on(policies.patch("matching-tester", &apply, &Patch::Apply(&body)))
            .expect("policy");
        thrash(&mut rng, &mut names, &mut create);
        let changed = Instant::now();

        let mut bound = 0;
        eventually(
            Duration::from_secs(60),
            &format!("round {round}: Binding matches {clauses:?}"),
            || {
                let live = live_objects(&env);
                let ns_labels: BTreeMap<String, BTreeMap<String, String>> = live
                    .iter()
                    .filter(|o| o.resource == "namespaces")
                    .map(|o| (o.name.clone(), o.labels.clone()))
                    .collect();
                let expected: BTreeSet<Entry> = live
                    .iter()
                    .filter(|o| clauses.iter().any(|c| clause_matches(c, o, &ns_labels)))
                    .map(|o| {
                        (
                            o.group.clone(),
                            o.resource.clone(),
                            o.namespace.clone(),
                            o.name.clone(),
                            o.rv.clone(),
                        )
                    })
                    .collect();
                let got = Env::get(&env.wds(), &["binding", "matching-tester"])
                    .map(|b| binding_workload(&b))
                    .unwrap_or_default();
                bound = got.len();
                (got == expected).then_some(())
            },
        );
        slowest = slowest.max(changed.elapsed());
        println!(
            "round {round}: {bound} objects bound, converged after {:?}",
            changed.elapsed()
        );
        let b = Env::get(&env.wds(), &["binding", "matching-tester"]).expect("binding");
        assert!(
            b["spec"]["destinations"]
                .as_array()
                .is_none_or(|d| d.is_empty()),
            "no clusterSelectors: no destinations"
        );
    }
    println!("slowest round: {slowest:?}");
}

/// Upstream's TestCRDHandling: a CRD with two served versions (and one not served) adds exactly
/// two watches, which go away with the CRD; its objects are bound once, at the preferred
/// version.
#[test]
fn crd_versions_are_watched() {
    let env = Env::new(1, |_| {});
    let before = eventually(T, "initial watches", || {
        Some(env.binding.watched()).filter(|w| !w.is_empty())
    });
    assert!(before.contains(&Gvr::new("apps", "v1", "deployments")));
    assert!(!before.iter().any(|g| g.resource == "events"
        || g.resource == "nodes"
        || g.group == "coordination.k8s.io"));
    assert!(!before.iter().any(|g| g.group == "control.kubestellar.io"));
    let schema =
        "schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}";
    env.apply(&format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: cr1s.synthetic-crd.com
spec:
  group: synthetic-crd.com
  names: {{kind: CR1, plural: cr1s, singular: cr1, listKind: CR1List}}
  scope: Namespaced
  versions:
  - {{name: v1alpha1, served: true, storage: true, {schema}}}
  - {{name: v2alpha1, served: true, storage: false, {schema}}}
  - {{name: v3beta1, served: false, storage: false, {schema}}}
"#
    ));
    let with = eventually(T, "two more watches", || {
        Some(env.binding.watched()).filter(|w| w.len() == before.len() + 2)
    });
    assert!(with.contains(&Gvr::new("synthetic-crd.com", "v1alpha1", "cr1s")));
    assert!(with.contains(&Gvr::new("synthetic-crd.com", "v2alpha1", "cr1s")));
    assert!(!with.contains(&Gvr::new("synthetic-crd.com", "v3beta1", "cr1s")));

    env.apply(
        r#"apiVersion: synthetic-crd.com/v1alpha1
kind: CR1
metadata: {name: one, namespace: default, labels: {pick: me}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: crs}
spec:
  downsync:
  - apiGroup: synthetic-crd.com
"#,
    );
    let entries = eventually(T, "the CR bound once", || {
        let b = Env::get(&env.wds(), &["binding", "crs"])?;
        let e = b["spec"]["workload"]["namespaceScope"].as_array()?.clone();
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["version"], "v2alpha1", "the preferred version");

    env.wds().ok(&["delete", "crd", "cr1s.synthetic-crd.com"]);
    eventually(T, "watches back to the start", || {
        (env.binding.watched() == before).then_some(())
    });
    eventually(T, "the CR unbound", || {
        let b = Env::get(&env.wds(), &["binding", "crs"])?;
        b["spec"]["workload"]["namespaceScope"]
            .as_array()
            .is_none_or(|e| e.is_empty())
            .then_some(())
    });
}

/// `--api-groups`: only the listed groups (plus the always-allowed ones) are watched.
#[test]
fn api_groups_restrict_watches() {
    let env = Env::new(1, |c| c.api_groups = vec!["apps".into()]);
    let watched = eventually(T, "watches", || {
        Some(env.binding.watched()).filter(|w| !w.is_empty())
    });
    let groups: BTreeSet<&str> = watched.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(
        groups,
        BTreeSet::from(["apiextensions.k8s.io", "apps"]),
        "{watched:?}"
    );
}

fn bp(spec: &str) -> String {
    format!(
        "apiVersion: control.kubestellar.io/v1alpha1\nkind: BindingPolicy\nmetadata:\n  name: v\nspec:\n{spec}"
    )
}

/// TestBindingPolicyValidation and TestBindingPolicyAdditionalValidations, with kubectl: the
/// CRD schema (strict fields, anyOf, cluster selector patterns) accepts and rejects exactly
/// upstream's cases.
#[test]
fn validation() {
    let env = Env::new(1, |_| {});
    let cases: [(&str, bool); 12] = [
        ("  junk: 1\n", false),
        ("  downsync:\n  - junq: true\n", false),
        ("  downsync:\n  - createOnly: true\n", false),
        (
            "  downsync:\n  - statusCollection:\n      statusCollectors: [phred]\n",
            false,
        ),
        ("  downsync:\n  - resources: [\"*\"]\n", true),
        (
            "  clusterSelectors:\n  - matchLabels: {name: \"edgeplatform-test-wec1, edgeplatform-test-wec2\"}\n",
            false,
        ),
        (
            "  clusterSelectors:\n  - matchLabels: {sub.do-main.test/0.9-5_Xy: This-is_1.test}\n",
            true,
        ),
        (
            "  clusterSelectors:\n  - matchExpressions: [{key: -model, operator: In, values: [a]}]\n",
            false,
        ),
        (
            "  clusterSelectors:\n  - matchExpressions: [{key: -kubestellar.io/model, operator: In, values: [a]}]\n",
            false,
        ),
        (
            "  clusterSelectors:\n  - matchExpressions: [{key: model, operator: OutOf, values: [a]}]\n",
            false,
        ),
        (
            "  clusterSelectors:\n  - matchExpressions: [{key: model, operator: In, values: [\"H100,A100\"]}]\n",
            false,
        ),
        (
            "  clusterSelectors:\n  - matchExpressions: [{key: available.nvidia.models/EST_26-Apr.2024, operator: Exists}]\n",
            true,
        ),
    ];
    for minor in [27, 33] {
        let k = support::Kubectl::new(minor, &env.spaces.get("wds1").kubeconfig);
        for (spec, ok) in &cases {
            let yaml = bp(spec);
            let (accepted, out, err) = k.run(&["create", "-f", "-"], Some(&yaml));
            assert_eq!(
                accepted, *ok,
                "kubectl 1.{minor} create\n{yaml}\n{out}{err}"
            );
            if accepted {
                k.ok(&["delete", "bindingpolicy", "v"]);
            } else {
                assert!(
                    err.contains("Invalid")
                        || err.contains("unknown field")
                        || err.contains("invalid"),
                    "{err}"
                );
            }
        }
    }
}

/// What the CRD cannot express ends on the policy's status: invalid object selectors, and a
/// singleton request over several WECs (upstream's message).
#[test]
fn status_errors() {
    let env = Env::new(2, |_| {});
    let wds = env.wds();
    env.nginx();
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: bad-selector}
spec:
  downsync:
  - objectSelectors:
    - matchExpressions: [{key: app, operator: OutOf, values: [a]}]
  - resources: [namespaces]
    objectNames: [nginx]
"#,
    );
    let errors = eventually(T, "selector error", || {
        let p = Env::get(&wds, &["bindingpolicy", "bad-selector"])?;
        let e: Vec<String> = serde_json::from_value(p["status"]["errors"].clone()).ok()?;
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(
        errors,
        ["spec.downsync[0].objectSelectors[0]: \"OutOf\" is not a valid label selector operator"]
    );
    // The valid clause still binds.
    eventually(T, "namespace bound", || {
        let b = Env::get(&wds, &["binding", "bad-selector"])?;
        (b["spec"]["workload"]["clusterScope"].as_array()?.len() == 1).then_some(())
    });

    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: singleton}
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - resources: [deployments]
    objectNames: [nginx]
    wantSingletonReportedState: true
"#,
    );
    let want = r#"Singleton reported status return is requested but some objects have the wrong number of associated WECs, for example: [{"ObjectID":{"GVK":{"Group":"apps","Version":"v1","Kind":"Deployment"},"Resource":"deployments","ObjectName":{"Namespace":"nginx","Name":"nginx"}},"NumWECs":2}]"#;
    eventually(T, "singleton error", || {
        let p = Env::get(&wds, &["bindingpolicy", "singleton"])?;
        (p["status"]["errors"] == json!([want])).then_some(())
    });
    wds.ok(&[
        "patch",
        "bindingpolicy",
        "singleton",
        "--type=merge",
        "-p",
        r#"{"spec":{"clusterSelectors":[{"matchLabels":{"name":"cluster1"}}]}}"#,
    ]);
    eventually(T, "singleton error cleared", || {
        let p = Env::get(&wds, &["bindingpolicy", "singleton"])?;
        (p["status"].get("errors").is_none_or(Value::is_null)
            && p["status"]["observedGeneration"] == 2)
            .then_some(())
    });
}

/// namespaceSelectors follow the live labels of the namespaces.
#[test]
fn namespace_labels_are_live() {
    let env = Env::new(1, |_| {});
    let wds = env.wds();
    wds.ok(&["create", "namespace", "shop"]);
    wds.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "shop",
        "--from-literal=k=v",
    ]);
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: prod}
spec:
  downsync:
  - resources: [configmaps]
    objectNames: [cfg]
    namespaceSelectors:
    - matchLabels: {env: prod}
"#,
    );
    let bound = |n: usize| {
        eventually(T, &format!("{n} bound"), || {
            let b = Env::get(&wds, &["binding", "prod"])?;
            (b["spec"]["workload"]["namespaceScope"]
                .as_array()
                .map_or(0, Vec::len)
                == n)
                .then_some(())
        })
    };
    bound(0);
    wds.ok(&["label", "namespace", "shop", "env=prod"]);
    bound(1);
    wds.ok(&["label", "namespace", "shop", "env-"]);
    bound(0);
}
