//! Several WDSes share one ITS (upstream 1.14): each transport controller owns only the
//! ManifestWorks labelled with its WDS name, even when both WDSes use the same BindingPolicy
//! names, so removing one WDS's policy leaves the other's deliveries untouched.

mod support;

use std::time::Duration;

use kube::api::{Api, ListParams};
use kubestellar::agent::{Agent, AgentConfig};
use kubestellar::api::ManifestWork;
use kubestellar::controller::{self, ControllerConfig};
use kubestellar::inventory::{self, Registration};
use kubestellar::system::WecSpec;
use support::{Spaces, consistently, eventually};

const T: Duration = Duration::from_secs(30);

fn deployment_and_policy(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: shared, labels: {{app: demo}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shared
  labels: {{app: demo}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: c
        image: nginx:1.27
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {{name: demo}}
spec:
  clusterSelectors: [{{}}]
  downsync:
  - objectSelectors:
    - matchLabels: {{app: demo}}
"#
    )
}

/// `wds` name -> resourceVersions of its ManifestWorks.
fn works_of(spaces: &Spaces, wds: &str) -> Vec<(String, String)> {
    let api: Api<ManifestWork> = Api::all(spaces.client("its1"));
    let list = spaces
        .rt
        .block_on(api.list(
            &ListParams::default().labels(&format!("transport.kubestellar.io/originWdsName={wds}")),
        ))
        .expect("list");
    let mut out: Vec<(String, String)> = list
        .items
        .into_iter()
        .map(|m| {
            (
                m.metadata.name.unwrap_or_default(),
                m.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn two_wdses_share_one_its() {
    let spaces = Spaces::start(&["wds1", "wds2", "its1", "cluster1"], &["cluster1"]);
    let its = spaces.client("its1");
    let spec = WecSpec::named("cluster1");
    let reg = Registration {
        name: spec.name,
        labels: spec.labels,
        properties: spec.properties,
    };
    spaces
        .rt
        .block_on(inventory::register(&its, &reg))
        .expect("register");
    spaces.rt.spawn(
        Agent::new(
            AgentConfig::new("cluster1"),
            its.clone(),
            spaces.client("cluster1"),
        )
        .run(std::future::pending::<()>()),
    );
    for wds in ["wds1", "wds2"] {
        let ctx = spaces
            .rt
            .block_on(controller::prepare(
                ControllerConfig::new(wds),
                spaces.client(wds),
                its.clone(),
            ))
            .expect("prepare");
        spaces.rt.spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            tasks.spawn(ctx.plugins.clone().run());
            tasks.spawn(kubestellar::binding::run(ctx.clone()));
            tasks.spawn(kubestellar::transport::run(ctx));
            while tasks.join_next().await.is_some() {}
        });
    }
    spaces
        .kubectl("wds1")
        .apply(&deployment_and_policy("from-wds1"));
    spaces
        .kubectl("wds2")
        .apply(&deployment_and_policy("from-wds2"));
    let wec = spaces.kubectl("cluster1");
    for d in ["from-wds1", "from-wds2"] {
        eventually(T, d, || {
            wec.jsonpath(&["get", "deploy", d, "-n", "shared"], "{.metadata.name}")
        });
    }
    // Each WDS wrote its own Namespace and Deployment ManifestWorks.
    eventually(T, "two ManifestWorks per WDS", || {
        (works_of(&spaces, "wds1").len() == 2 && works_of(&spaces, "wds2").len() == 2).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let wds1_works = works_of(&spaces, "wds1");

    spaces
        .kubectl("wds2")
        .ok(&["delete", "bindingpolicy", "demo"]);
    eventually(T, "wds2's deployment removed", || {
        wec.jsonpath(
            &["get", "deploy", "from-wds2", "-n", "shared"],
            "{.metadata.name}",
        )
        .is_none()
        .then_some(())
    });
    eventually(T, "wds2's ManifestWorks gone", || {
        works_of(&spaces, "wds2").is_empty().then_some(())
    });
    consistently(Duration::from_secs(1), "wds1's delivery untouched", || {
        works_of(&spaces, "wds1") == wds1_works
            && wec
                .jsonpath(
                    &["get", "deploy", "from-wds1", "-n", "shared"],
                    "{.metadata.name}",
                )
                .is_some()
    });
    // The shared namespace stays: wds1 still delivers it.
    assert!(
        wec.jsonpath(&["get", "ns", "shared"], "{.metadata.name}")
            .is_some()
    );
}
