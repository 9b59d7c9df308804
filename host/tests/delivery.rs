//! Delivery end to end, ported from upstream's ginkgo suite
//! (`test/e2e/ginkgo/multiple_cluster_deployment_test.go`, cases 1-13, 17, 18): objects and
//! BindingPolicies written with kubectl into a WDS, results checked with kubectl in the WECs,
//! through real agents and the binding and transport controllers.

mod delivery_env;
mod support;

use std::time::Duration;

use delivery_env::{Env, T, deployment};
use support::{consistently, eventually};

/// Cases 1, 2, 4, 5, 6, 7, 8 in sequence on one environment (as upstream runs them).
#[test]
fn nginx_lifecycle() {
    let env = Env::new(2, |_| {});
    let wds = env.wds();

    // 1: propagates the deployment to the WECs while applying a CustomTransform. (Upstream
    // creates the CustomTransform last; here it comes first because our agent does not yet
    // remove a label that a newer ManifestWork drops (see transform.rs for re-rendering on
    // CustomTransform changes).)
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata:
  name: test
spec:
  apiGroup: apps
  resource: deployments
  remove:
  - $.metadata.labels["test.kubestellar.io/test-label"]
"#,
    );
    env.nginx();
    env.nginx_policy("nginx");
    for w in ["cluster1", "cluster2"] {
        env.wait_count(w, "deployments", "nginx", 1);
        eventually(T, "test label removed", || {
            let labels = env.wec(w).jsonpath(
                &["get", "deploy", "nginx", "-n", "nginx"],
                "{.metadata.labels}",
            )?;
            (!labels.contains("test.kubestellar.io/test-label")
                && labels.contains("app.kubernetes.io/name"))
            .then_some(())
        });
    }
    let binding = Env::get(&wds, &["binding", "nginx"]).expect("Binding nginx");
    assert_eq!(
        binding["metadata"]["ownerReferences"][0]["kind"],
        "BindingPolicy"
    );
    assert_eq!(
        binding["metadata"]["ownerReferences"][0]["controller"],
        true
    );
    assert_eq!(
        binding["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        false
    );
    assert_eq!(
        binding["spec"]["destinations"],
        serde_json::json!([{"clusterId": "cluster1"}, {"clusterId": "cluster2"}])
    );
    eventually(T, "Binding status and finalizer", || {
        let b = Env::get(&wds, &["binding", "nginx"])?;
        (b["status"]["observedGeneration"] == b["metadata"]["generation"]
            && b["metadata"]["finalizers"]
                == serde_json::json!(["transport.kubestellar.io/object-cleanup"]))
        .then_some(())
    });
    // One object per ManifestWork, named <Binding UID>-<WDS>-<object UID>, labelled with the
    // Binding and the WDS.
    let uid = binding["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deploy_uid = wds
        .jsonpath(
            &["get", "deploy", "nginx", "-n", "nginx"],
            "{.metadata.uid}",
        )
        .unwrap_or_default();
    let mw = Env::get(
        &env.its(),
        &[
            "manifestwork",
            &format!("{uid}-wds1-{deploy_uid}"),
            "-n",
            "cluster1",
        ],
    )
    .expect("ManifestWork");
    assert_eq!(
        mw["metadata"]["labels"]["transport.kubestellar.io/originOwnerReferenceBindingKey"],
        "nginx"
    );
    assert_eq!(
        mw["metadata"]["labels"]["transport.kubestellar.io/originWdsName"],
        "wds1"
    );
    assert!(mw["metadata"]["annotations"]["transport.kubestellar.io/originOwnerReferenceBindingGeneration"].is_string());
    assert_eq!(
        mw["spec"]["workload"]["manifests"].as_array().map(Vec::len),
        Some(1)
    );
    let policy = Env::get(&wds, &["bindingpolicy", "nginx"]).expect("policy");
    assert_eq!(
        policy["metadata"]["finalizers"],
        serde_json::json!(["bindingpolicy.kubestellar.io/kscontroller"])
    );
    eventually(T, "policy observedGeneration", || {
        let p = Env::get(&wds, &["bindingpolicy", "nginx"])?;
        (p["status"]["observedGeneration"] == p["metadata"]["generation"]).then_some(())
    });

    // 2: updates flow from the WDS to the WECs.
    wds.ok(&[
        "patch",
        "deploy",
        "nginx",
        "-n",
        "nginx",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    for w in ["cluster1", "cluster2"] {
        eventually(T, "replicas 2", || {
            env.wec(w)
                .jsonpath(
                    &["get", "deploy", "nginx", "-n", "nginx"],
                    "{.spec.replicas}",
                )
                .filter(|r| r == "2")
        });
    }

    // 4: changes to the policy's objectSelectors.
    wds.ok(&[
        "patch",
        "bindingpolicy",
        "nginx",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/downsync/0/objectSelectors/0/matchLabels","value":{"app.kubernetes.io/name":"invalid"}}]"#,
    ]);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    env.wait_count("cluster2", "deployments", "nginx", 0);
    wds.ok(&[
        "patch",
        "bindingpolicy",
        "nginx",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/downsync/0/objectSelectors/0/matchLabels","value":{"app.kubernetes.io/name":"nginx"}}]"#,
    ]);
    env.wait_count("cluster1", "deployments", "nginx", 1);
    env.wait_count("cluster2", "deployments", "nginx", 1);

    // 5: changes to the object's labels.
    wds.ok(&[
        "label",
        "deploy",
        "nginx",
        "-n",
        "nginx",
        "app.kubernetes.io/name=not-me",
        "--overwrite",
    ]);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    env.wait_count("cluster2", "deployments", "nginx", 0);
    wds.ok(&[
        "label",
        "deploy",
        "nginx",
        "-n",
        "nginx",
        "app.kubernetes.io/name=nginx",
        "--overwrite",
    ]);
    env.wait_count("cluster1", "deployments", "nginx", 1);
    env.wait_count("cluster2", "deployments", "nginx", 1);

    // 6: overlapping policies; removing one keeps what the other binds.
    env.nginx_policy("nginx-2");
    eventually(T, "Binding nginx-2 delivered", || {
        let mws = env.its().ok(&[
            "get",
            "manifestworks",
            "-A",
            "-l",
            "transport.kubestellar.io/originOwnerReferenceBindingKey=nginx-2",
            "-o",
            "name",
        ]);
        (mws.lines().count() == 4).then_some(())
    });
    wds.ok(&["delete", "bindingpolicy", "nginx-2"]);
    eventually(T, "nginx-2 ManifestWorks gone", || {
        let mws = env.its().ok(&[
            "get",
            "manifestworks",
            "-A",
            "-l",
            "transport.kubestellar.io/originOwnerReferenceBindingKey=nginx-2",
            "-o",
            "name",
        ]);
        mws.trim().is_empty().then_some(())
    });
    assert!(
        Env::get(&wds, &["binding", "nginx-2"]).is_none(),
        "Binding nginx-2 is gone with its policy"
    );
    consistently(Duration::from_secs(1), "nginx still delivered", || {
        env.count("cluster1", "deployments", "nginx") == 1
            && env.count("cluster2", "deployments", "nginx") == 1
    });

    // 7: deleting the WDS object deletes it from the WECs.
    wds.ok(&["delete", "deploy", "nginx", "-n", "nginx"]);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    env.wait_count("cluster2", "deployments", "nginx", 0);

    // 8: deleting the policy deletes what it delivered.
    env.nginx();
    env.wait_count("cluster1", "deployments", "nginx", 1);
    wds.ok(&["delete", "bindingpolicy", "nginx"]);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    env.wait_count("cluster2", "deployments", "nginx", 0);
    eventually(T, "namespace removed from the WECs", || {
        env.wec("cluster1")
            .jsonpath(&["get", "ns", "nginx"], "{.metadata.name}")
            .is_none()
            .then_some(())
    });
    eventually(T, "no ManifestWorks left", || {
        env.its()
            .ok(&["get", "manifestworks", "-A", "-o", "name"])
            .trim()
            .is_empty()
            .then_some(())
    });
    assert!(Env::get(&wds, &["binding", "nginx"]).is_none());
}

/// Case 3: create-only objects are created in the WECs and never updated.
#[test]
fn create_only() {
    let env = Env::new(2, |_| {});
    let wds = env.wds();
    env.nginx();
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: nginx
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - resources: [namespaces]
    objectSelectors:
    - matchLabels: {app.kubernetes.io/name: nginx}
  - resources: [deployments]
    objectSelectors:
    - matchLabels: {app.kubernetes.io/name: nginx}
    createOnly: true
"#,
    );
    env.wait_count("cluster1", "deployments", "nginx", 1);
    env.wait_count("cluster2", "deployments", "nginx", 1);
    let b = Env::get(&wds, &["binding", "nginx"]).expect("binding");
    let cs = b["spec"]["workload"]["clusterScope"]
        .as_array()
        .expect("clusterScope");
    let ns = b["spec"]["workload"]["namespaceScope"]
        .as_array()
        .expect("namespaceScope");
    assert_eq!((cs.len(), ns.len()), (1, 1));
    assert_ne!(cs[0]["createOnly"], true);
    assert_eq!(ns[0]["createOnly"], true);
    let uid = |w: &str| {
        env.wec(w)
            .jsonpath(
                &["get", "deploy", "nginx", "-n", "nginx"],
                "{.metadata.uid}",
            )
            .unwrap_or_default()
    };
    let uids = (uid("cluster1"), uid("cluster2"));
    wds.ok(&[
        "patch",
        "deploy",
        "nginx",
        "-n",
        "nginx",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    // The new version reaches the ManifestWorks, but the WECs keep the object as created.
    eventually(T, "ManifestWork carries replicas 2", || {
        let out = env.its().ok(&[
            "get",
            "manifestworks",
            "-n",
            "cluster1",
            "-o",
            "jsonpath={.items[*].spec.workload.manifests[*].spec.replicas}",
        ]);
        out.split_whitespace().any(|r| r == "2").then_some(())
    });
    consistently(Duration::from_secs(3), "WECs keep replicas 1", || {
        ["cluster1", "cluster2"].iter().all(|w| {
            env.wec(w)
                .jsonpath(
                    &["get", "deploy", "nginx", "-n", "nginx"],
                    "{.spec.replicas}",
                )
                .as_deref()
                == Some("1")
        })
    });
    env.apply(&deployment(
        "nginx",
        "nginy",
        "app.kubernetes.io/name: nginx",
    ));
    env.apply(&deployment(
        "nginx",
        "enginx",
        "app.kubernetes.io/name: nginx",
    ));
    env.wait_count("cluster1", "deployments", "nginx", 3);
    env.wait_count("cluster2", "deployments", "nginx", 3);
    assert_eq!(
        (uid("cluster1"), uid("cluster2")),
        uids,
        "the original objects were never replaced"
    );
}

/// Cases 11, 12, 13: multi-factor selectors, matchExpressions, names.
#[test]
fn selectors() {
    let env = Env::new(2, |_| {});
    let wds = env.wds();
    wds.ok(&["create", "namespace", "nginx"]);
    // The namespace is not selected: the WECs have it already.
    for w in ["cluster1", "cluster2"] {
        env.wec(w).ok(&["create", "namespace", "nginx"]);
    }
    // 11: both labels needed; cluster selector changes move the object.
    env.apply(&deployment("nginx", "one", "label1: test1"));
    env.apply(&deployment("nginx", "two", "label1: test1, label2: test2"));
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: both-labels
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  downsync:
  - objectSelectors:
    - matchLabels: {label1: test1, label2: test2}
"#,
    );
    env.wait_count("cluster1", "deployments", "nginx", 1);
    consistently(Duration::from_millis(500), "cluster2 empty", || {
        env.count("cluster2", "deployments", "nginx") == 0
    });
    assert!(
        env.wec("cluster1")
            .jsonpath(&["get", "deploy", "two", "-n", "nginx"], "{.metadata.name}")
            .is_some()
    );
    wds.ok(&[
        "patch",
        "bindingpolicy",
        "both-labels",
        "--type=merge",
        "-p",
        r#"{"spec":{"clusterSelectors":[{"matchLabels":{"name":"cluster2"}}]}}"#,
    ]);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    env.wait_count("cluster2", "deployments", "nginx", 1);
    wds.ok(&["delete", "bindingpolicy", "both-labels"]);
    env.wait_count("cluster2", "deployments", "nginx", 0);
    wds.ok(&["delete", "deploy", "one", "two", "-n", "nginx"]);

    // 12: matchLabels OR matchExpressions for clusters; two object selectors.
    for (n, v) in [("one", "A"), ("two", "B"), ("three", "C")] {
        env.apply(&deployment("nginx", n, &format!("label1: {v}")));
    }
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: expressions
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  - matchExpressions:
    - {key: name, operator: In, values: [cluster1, cluster2, cluster3]}
  downsync:
  - objectSelectors:
    - matchLabels: {label1: A}
    - matchLabels: {label1: B}
"#,
    );
    env.wait_count("cluster1", "deployments", "nginx", 2);
    env.wait_count("cluster2", "deployments", "nginx", 2);
    wds.ok(&["delete", "bindingpolicy", "expressions"]);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    env.wait_count("cluster2", "deployments", "nginx", 0);

    // 13: names and labels together.
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: names
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - objectNames: [three]
    objectSelectors:
    - matchLabels: {label1: C}
"#,
    );
    env.wait_count("cluster1", "deployments", "nginx", 1);
    env.wait_count("cluster2", "deployments", "nginx", 1);
    assert!(
        env.wec("cluster2")
            .jsonpath(
                &["get", "deploy", "three", "-n", "nginx"],
                "{.metadata.name}"
            )
            .is_some()
    );
}

/// Cases 17 and 18: a NodePort Service and a Job with generateName start in the WEC.
#[test]
fn services_and_jobs() {
    let env = Env::new(2, |_| {});
    env.nginx();
    env.apply(
        r#"apiVersion: v1
kind: Service
metadata:
  name: hello-service
  namespace: nginx
  labels: {app.kubernetes.io/name: hello-service}
spec:
  type: NodePort
  selector: {app.kubernetes.io/name: hello-service}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: hello-service
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  downsync:
  - objectSelectors:
    - matchLabels: {app.kubernetes.io/name: hello-service}
  - resources: [namespaces]
    objectNames: [nginx]
"#,
    );
    env.wait_count("cluster1", "services", "nginx", 1);
    // The WDS's clusterIP and nodePort were stripped; the WEC allocated its own.
    let out = env
        .its()
        .ok(&["get", "manifestworks", "-n", "cluster1", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    let svc = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|mw| {
            mw["spec"]["workload"]["manifests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|m| m["kind"] == "Service")
        .expect("a ManifestWork with the Service");
    assert!(svc["spec"].get("clusterIP").is_none(), "{svc}");
    assert!(svc["spec"]["ports"][0]["nodePort"].is_null(), "{svc}");
    let wec_port = env
        .wec("cluster1")
        .jsonpath(
            &["get", "svc", "hello-service", "-n", "nginx"],
            "{.spec.ports[0].nodePort}",
        )
        .unwrap_or_default();
    assert!(
        wec_port.parse::<u32>().is_ok_and(|p| p >= 30000),
        "nodePort {wec_port:?}"
    );

    let (ok, out, err) = env.wds().run(
        &["create", "-f", "-"],
        Some(
            r#"apiVersion: batch/v1
kind: Job
metadata:
  generateName: pi-
  namespace: nginx
  labels: {app.kubernetes.io/name: hello-job}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: hello-job}
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
"#,
        ),
    );
    assert!(ok, "{out}{err}");
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: hello-job
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  downsync:
  - objectSelectors:
    - matchLabels: {app.kubernetes.io/name: hello-job}
"#,
    );
    env.wait_count("cluster1", "jobs", "nginx", 1);
    consistently(Duration::from_millis(300), "no job in cluster2", || {
        env.count("cluster2", "jobs", "nginx") == 0
    });
}

/// Case 9 (adapted: our own counts, as we have no status add-on ManifestWork): with
/// max-num-wrapped 2, 10 deployments go in 5 ManifestWorks, which follow the cluster selector
/// and vanish with the policy.
#[test]
fn shards_by_count() {
    let env = Env::new(2, |c| c.max_num_wrapped = 2);
    shards(&env, 5);
}

/// Case 10 (adapted): with a max-size-wrapped that fits one of these deployments but not two,
/// each deployment gets its own ManifestWork.
#[test]
fn shards_by_size() {
    let env = Env::new(2, |c| {
        c.max_num_wrapped = 512_000;
        c.max_size_wrapped = 1000;
    });
    shards(&env, 10);

    // An object larger than a ManifestWork may wrap is an error on the policy, not delivered.
    env.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: big, namespace: nginx, labels: {label1: test1}}
data: {payload: "PAYLOAD"}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: too-big}
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  downsync:
  - resources: [configmaps]
    objectSelectors:
    - matchLabels: {label1: test1}
"#
        .replace("PAYLOAD", &"x".repeat(2000))
        .as_str(),
    );
    let errors = eventually(T, "size error on the policy", || {
        let p = Env::get(&env.wds(), &["bindingpolicy", "too-big"])?;
        let e: Vec<String> = serde_json::from_value(p["status"]["errors"].clone()).ok()?;
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("v1/configmaps(nginx/big) is ")
            && errors[0]
                .ends_with("more than the 1000 bytes a ManifestWork may wrap (max size wrapped)"),
        "{errors:?}"
    );
    assert_eq!(env.count("cluster1", "configmaps", "nginx"), 0);
}

fn shards(env: &Env, expected: usize) {
    let wds = env.wds();
    wds.ok(&["create", "namespace", "nginx"]);
    for w in ["cluster1", "cluster2"] {
        env.wec(w).ok(&["create", "namespace", "nginx"]);
    }
    for i in 1..=10 {
        env.apply(&deployment("nginx", &i.to_string(), "label1: test1"));
    }
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: multipledep
spec:
  clusterSelectors:
  - matchLabels: {name: cluster1}
  downsync:
  - objectSelectors:
    - matchLabels: {label1: test1}
"#,
    );
    let mws = |ns: &str| {
        env.its()
            .ok(&["get", "manifestworks", "-n", ns, "-o", "name"])
            .lines()
            .count()
    };
    env.wait_count("cluster1", "deployments", "nginx", 10);
    eventually(T, "ManifestWorks in cluster1", || {
        (mws("cluster1") == expected).then_some(())
    });
    assert_eq!(mws("cluster2"), 0);
    // Each ManifestWork respects the limits.
    let out = env
        .its()
        .ok(&["get", "manifestworks", "-n", "cluster1", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    for mw in list["items"].as_array().expect("items") {
        let n = mw["spec"]["workload"]["manifests"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(n >= 1 && n <= env.cfg.max_num_wrapped.max(1), "{n} objects");
        let size = serde_json::to_vec(&mw["spec"]["workload"]["manifests"]).map_or(0, |v| v.len());
        assert!(n == 1 || size <= env.cfg.max_size_wrapped, "{size} bytes");
    }
    wds.ok(&[
        "patch",
        "bindingpolicy",
        "multipledep",
        "--type=merge",
        "-p",
        r#"{"spec":{"clusterSelectors":[{"matchLabels":{"name":"cluster2"}}]}}"#,
    ]);
    env.wait_count("cluster2", "deployments", "nginx", 10);
    env.wait_count("cluster1", "deployments", "nginx", 0);
    eventually(T, "ManifestWorks moved", || {
        (mws("cluster1") == 0 && mws("cluster2") == expected).then_some(())
    });
    wds.ok(&["delete", "bindingpolicy", "multipledep"]);
    env.wait_count("cluster2", "deployments", "nginx", 0);
    eventually(T, "ManifestWorks gone", || {
        (mws("cluster2") == 0).then_some(())
    });
}

/// The whole system as `kubestellar up` runs it (status controller included, default plugins
/// declared as WasmPlugins): a policy delivers to both WECs and the plugins report Ready.
#[test]
fn whole_system() {
    use kubestellar::system::{System, SystemConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let system = rt
        .block_on(System::start(SystemConfig::new(dir.path(), 2), &|_| {}))
        .expect("system starts");
    let k = |ctx: &str| support::Kubectl::new(33, &system.kubeconfig).context(ctx);
    k("wds1").apply(delivery_env::NGINX);
    k("wds1").apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: nginx}
spec:
  clusterSelectors:
  - matchLabels: {location-group: edge}
  downsync:
  - objectSelectors:
    - matchLabels: {app.kubernetes.io/name: nginx}
"#,
    );
    for w in ["cluster1", "cluster2"] {
        eventually(T, &format!("nginx in {w}"), || {
            k(w).jsonpath(
                &["get", "deploy", "nginx", "-n", "nginx"],
                "{.metadata.name}",
            )
        });
    }
    for p in ["transform-default", "summarize-default"] {
        eventually(T, &format!("{p} Ready"), || {
            k("wds1")
                .jsonpath(
                    &["get", "wasmplugin", p],
                    "{.status.conditions[?(@.type==\"Ready\")].status}",
                )
                .filter(|s| s == "True")
        });
    }
    eventually(T, "policy status written by both controllers", || {
        let p = Env::get(&k("wds1"), &["bindingpolicy", "nginx"])?;
        (p["status"]["observedGeneration"] == 1 && p["status"]["conditions"].is_array())
            .then_some(())
    });
    // The controllers do not keep writing to each other's objects: the WDS comes to rest.
    let wds_rv = || {
        system
            .space("wds1")
            .map(|s| s.space.store.current_rv())
            .unwrap_or_default()
    };
    let mut last = wds_rv();
    eventually(T, "the WDS at rest", || {
        std::thread::sleep(Duration::from_secs(1));
        let now = wds_rv();
        let still = now == last;
        last = now;
        still.then_some(())
    });
    rt.block_on(system.stop());
}
