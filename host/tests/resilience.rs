//! Restarting the controller at any time loses nothing and writes nothing twice: killed in the
//! middle of delivering 500 objects to 3 WECs, the restarted controller finishes the job without
//! deleting or rewriting what was already delivered; restarted once more when everything is in
//! place, it writes nothing at all (the spaces' resourceVersions stay put).

mod delivery_env;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use delivery_env::Env;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kubestellar::api::{ManifestWork, WorkStatus};
use serde_json::json;
use support::eventually;

const OBJECTS: usize = 500;
const WECS: usize = 3;
const WAIT: Duration = Duration::from_secs(180);

/// namespace/name -> resourceVersion of the WorkStatuses in the ITS.
fn work_statuses(env: &Env) -> BTreeMap<String, String> {
    let api: Api<WorkStatus> = Api::all(env.spaces.client("its1"));
    let list = env
        .spaces
        .rt
        .block_on(api.list(&ListParams::default()))
        .expect("list WorkStatuses");
    list.items
        .into_iter()
        .map(|w| {
            let meta = w.metadata;
            (
                format!(
                    "{}/{}",
                    meta.namespace.unwrap_or_default(),
                    meta.name.unwrap_or_default()
                ),
                meta.resource_version.unwrap_or_default(),
            )
        })
        .collect()
}

/// name -> (uid, resourceVersion) of the ManifestWorks in the ITS.
fn works(env: &Env) -> BTreeMap<String, (String, String)> {
    let api: Api<ManifestWork> = Api::all(env.spaces.client("its1"));
    let list = env
        .spaces
        .rt
        .block_on(api.list(&ListParams::default()))
        .expect("list ManifestWorks");
    list.items
        .into_iter()
        .map(|m| {
            let meta = m.metadata;
            (
                format!(
                    "{}/{}",
                    meta.namespace.unwrap_or_default(),
                    meta.name.unwrap_or_default()
                ),
                (
                    meta.uid.unwrap_or_default(),
                    meta.resource_version.unwrap_or_default(),
                ),
            )
        })
        .collect()
}

fn configmaps_in(env: &Env, wec: &str) -> usize {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.spaces.client(wec), "load");
    env.spaces
        .rt
        .block_on(api.list(&ListParams::default().labels("load=yes")))
        .map_or(0, |l| l.items.len())
}

/// Waits until the transport controller's counters stop moving (its queue is idle).
fn quiet(env: &Env) {
    let counters = || {
        (
            env.transport.fetched(),
            env.transport.rendered(),
            env.transport.applied(),
            env.transport.deleted(),
        )
    };
    let mut last = counters();
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let now = counters();
        if now == last {
            return;
        }
        last = now;
    }
}

#[test]
fn kill_and_restart_mid_delivery() {
    let mut env = Env::new(WECS, |_| {});
    let client = env.spaces.client("wds1");
    let apply = PatchParams::apply("resilience-test").force();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load", "labels": {"load": "yes"}}});
    env.spaces
        .rt
        .block_on(namespaces.patch("load", &apply, &Patch::Apply(&ns)))
        .expect("namespace");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "load");
    for i in 0..OBJECTS {
        let name = format!("cm-{i:03}");
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "load", "labels": {"load": "yes"}},
            "data": {"index": i.to_string(), "payload": "x".repeat(200)},
        });
        env.spaces
            .rt
            .block_on(cms.patch(&name, &apply, &Patch::Apply(&body)))
            .expect("configmap");
    }
    env.apply(
        r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: load}
spec:
  clusterSelectors: [{}]
  downsync:
  - objectSelectors:
    - matchLabels: {load: "yes"}
"#,
    );
    let total = (OBJECTS + 1) * WECS;

    // Kill the controller part-way.
    let started = Instant::now();
    let at_kill = eventually(WAIT, "some ManifestWorks written", || {
        Some(works(&env)).filter(|w| w.len() >= 300)
    });
    env.kill_controller();
    let at_kill = {
        // Writes in flight when the task died may still land: take the state after the kill.
        std::thread::sleep(Duration::from_millis(300));
        let w = works(&env);
        assert!(w.len() >= at_kill.len());
        w
    };
    assert!(
        at_kill.len() < total,
        "the controller finished before it was killed; nothing was tested"
    );
    println!(
        "killed after {:?} with {}/{total} ManifestWorks written",
        started.elapsed(),
        at_kill.len()
    );

    env.start_controller();
    eventually(WAIT, "every ManifestWork written", || {
        (works(&env).len() == total).then_some(())
    });
    println!(
        "all ManifestWorks written {:?} after the start",
        started.elapsed()
    );
    for w in &env.wecs {
        eventually(WAIT, &format!("{OBJECTS} ConfigMaps in {w}"), || {
            (configmaps_in(&env, w) == OBJECTS).then_some(())
        });
    }
    println!("converged {:?} after the start", started.elapsed());
    quiet(&env);
    let after = works(&env);
    for (name, (uid, _)) in &at_kill {
        assert_eq!(
            after.get(name).map(|(u, _)| u),
            Some(uid),
            "{name} was deleted and recreated"
        );
    }
    assert_eq!(env.transport.deleted(), 0, "nothing was deleted");
    assert_eq!(
        env.transport.applied(),
        total - at_kill.len(),
        "only the missing ManifestWorks were written"
    );
    assert_eq!(
        env.transport.rendered(),
        OBJECTS + 1,
        "each object rendered once for all WECs"
    );

    // Everything in place: another restart writes nothing (the agents' heartbeat Leases aside).
    env.settle("its1", Duration::from_millis(1500));
    let wds_rv = env.spaces.rv("wds1");
    let rvs = works(&env);
    let statuses = work_statuses(&env);
    env.kill_controller();
    env.start_controller();
    eventually(WAIT, "the restarted controller read every object", || {
        (env.transport.fetched() == OBJECTS + 1).then_some(())
    });
    quiet(&env);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((env.transport.applied(), env.transport.deleted()), (0, 0));
    assert_eq!(works(&env), rvs, "no ManifestWork rewritten");
    assert_eq!(
        work_statuses(&env),
        statuses,
        "nothing else changed in the ITS"
    );
    assert_eq!(env.spaces.rv("wds1"), wds_rv, "nothing written to the WDS");
}
