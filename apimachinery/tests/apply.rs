//! Server-side apply and managedFields over the fixture excerpt of kube's OpenAPI: ownership,
//! pruning, conflicts with kube's exact messages, list types, kubectl's client-side to
//! server-side migration, and the managedFields JSON kube writes.

mod apply_fixtures;

use apply_fixtures::{
    configmap_schema, container_names, deployment_schema, image_of, web_manifest,
};
use kubestellar_apimachinery::apply::{
    ApplyError, ApplyOptions, LAST_APPLIED_ANNOTATION, UpdateOptions, apply, fields_of,
    manager_from_user_agent, record_update,
};
use kubestellar_apimachinery::fieldset::FieldSet;
use serde_json::{Value, json};

const T1: &str = "2026-11-01T10:00:00Z";
const T2: &str = "2026-11-01T10:05:00Z";
const T3: &str = "2026-11-01T10:10:00Z";

fn opts(manager: &str, now: &str) -> ApplyOptions {
    ApplyOptions {
        manager: manager.into(),
        force: false,
        api_version: "apps/v1".into(),
        subresource: None,
        now: now.into(),
    }
}

fn forced(manager: &str, now: &str) -> ApplyOptions {
    ApplyOptions {
        force: true,
        ..opts(manager, now)
    }
}

fn upd(manager: &str, now: &str) -> UpdateOptions {
    UpdateOptions {
        manager: manager.into(),
        api_version: "apps/v1".into(),
        subresource: None,
        now: now.into(),
    }
}

fn ssa(live: Option<&Value>, config: &Value, o: &ApplyOptions) -> Value {
    apply(live, config, o, &deployment_schema()).expect("apply succeeds")
}

fn conflict(live: &Value, config: &Value, o: &ApplyOptions) -> ApplyError {
    apply(Some(live), config, o, &deployment_schema()).expect_err("apply conflicts")
}

/// The managedFields entries of `obj` for `manager`.
fn entries<'a>(obj: &'a Value, manager: &str) -> Vec<&'a Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|e| e["manager"] == manager).collect())
        .unwrap_or_default()
}

fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
    let found = entries(obj, manager);
    assert_eq!(found.len(), 1, "one entry for {manager} in {obj}");
    found[0]
}

fn owned(obj: &Value, manager: &str) -> FieldSet {
    FieldSet::from_fields_v1(&entry(obj, manager)["fieldsV1"]).expect("valid fieldsV1")
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    out
}

/// A client-side `kubectl apply` create: the manifest with its last-applied annotation,
/// recorded as an update by `kubectl-client-side-apply`.
fn csa_create(manifest: &Value) -> Value {
    let mut obj = manifest.clone();
    obj["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: format!("{}\n", serde_json::to_string(manifest).expect("serializes"))});
    record_update(
        None,
        &mut obj,
        &upd("kubectl-client-side-apply", T1),
        &deployment_schema(),
    );
    obj
}

#[test]
fn create_by_apply_returns_the_config_with_an_apply_entry() {
    let manifest = web_manifest(1, "nginx:1.27");
    let got = ssa(None, &manifest, &opts("kubectl", T1));
    assert_eq!(without_managed_fields(&got), manifest);
    assert_eq!(
        got["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                        }}}
                    }
                }
            }
        }])
    );
}

#[test]
fn identical_reapply_returns_the_live_object_unchanged() {
    let manifest = web_manifest(1, "nginx:1.27");
    let live = ssa(None, &manifest, &opts("kubectl", T1));
    assert_eq!(ssa(Some(&live), &manifest, &opts("kubectl", T2)), live);
    // A changed apply bumps the time.
    let changed = ssa(
        Some(&live),
        &web_manifest(2, "nginx:1.27"),
        &opts("kubectl", T2),
    );
    assert_eq!(changed["spec"]["replicas"], 2);
    assert_eq!(entry(&changed, "kubectl")["time"], T2);
}

#[test]
fn a_second_applier_of_identical_values_co_owns_without_changing_the_object() {
    let manifest = web_manifest(1, "nginx:1.27");
    let live = ssa(None, &manifest, &opts("kubectl", T1));
    let got = ssa(Some(&live), &manifest, &opts("other", T2));
    assert_eq!(without_managed_fields(&got), without_managed_fields(&live));
    assert_eq!(owned(&got, "other"), owned(&got, "kubectl"));
    // kube stamps an applier's entry only when its apply changed the object.
    assert!(entry(&got, "other").get("time").is_none());
}

#[test]
fn fields_an_applier_stops_applying_are_removed() {
    let mut manifest = web_manifest(2, "nginx:1.27");
    manifest["metadata"]["labels"]["tier"] = json!("fe");
    manifest["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["-v"]);
    let live = ssa(None, &manifest, &opts("kubectl", T1));
    let mut smaller = web_manifest(2, "nginx:1.27");
    if let Some(spec) = smaller["spec"].as_object_mut() {
        spec.remove("replicas");
    }
    let got = ssa(Some(&live), &smaller, &opts("kubectl", T2));
    assert!(got["spec"].get("replicas").is_none());
    assert_eq!(got["metadata"]["labels"], json!({"app": "web"}));
    assert!(
        got["spec"]["template"]["spec"]["containers"][0]
            .get("args")
            .is_none()
    );
    assert_eq!(image_of(&got, "nginx").as_deref(), Some("nginx:1.27"));
}

#[test]
fn fields_another_manager_also_owns_are_kept() {
    let a = web_manifest(2, "nginx:1.27");
    let live = ssa(None, &a, &opts("a", T1));
    let b = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2}});
    let live = ssa(Some(&live), &b, &opts("b", T2));
    let mut a2 = a.clone();
    if let Some(spec) = a2["spec"].as_object_mut() {
        spec.remove("replicas");
    }
    let got = ssa(Some(&live), &a2, &opts("a", T3));
    assert_eq!(got["spec"]["replicas"], 2);
    assert!(owned(&got, "b").has(&[field("spec"), field("replicas")]));
    assert!(!owned(&got, "a").has(&[field("spec"), field("replicas")]));
}

fn field(name: &str) -> kubestellar_apimachinery::fieldset::PathElement {
    kubestellar_apimachinery::fieldset::PathElement::Field(name.into())
}

#[test]
fn conflict_with_an_updater_has_kubes_message_and_causes() {
    let live = csa_create(&web_manifest(1, "nginx:1.27"));
    let err = conflict(&live, &web_manifest(3, "nginx:1.27"), &opts("ssa", T2));
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    assert_eq!(err.status_code(), 409);
    assert_eq!(
        err.causes(),
        vec![
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"})
        ]
    );
    let status = err.to_status();
    assert_eq!(
        (
            status["kind"].as_str(),
            status["reason"].as_str(),
            status["code"].as_u64()
        ),
        (Some("Status"), Some("Conflict"), Some(409))
    );
    assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");
}

#[test]
fn several_conflicts_are_grouped_by_sorted_manager() {
    let live = csa_create(&web_manifest(1, "nginx:1.27"));
    let team = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "fe"}}});
    let live = ssa(Some(&live), &team, &opts("team", T2));
    let mut mine = web_manifest(3, "nginx:1.28");
    mine["metadata"]["labels"]["tier"] = json!("be");
    let err = conflict(&live, &mine, &opts("ssa", T3));
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
         - .spec.replicas\n\
         - .spec.template.spec.containers[name=\"nginx\"].image\n\
         conflicts with \"team\":\n\
         - .metadata.labels.tier"
    );
    let fields: Vec<Value> = err.causes().iter().map(|c| c["field"].clone()).collect();
    assert_eq!(
        fields,
        vec![
            json!(".spec.replicas"),
            json!(".spec.template.spec.containers[name=\"nginx\"].image"),
            json!(".metadata.labels.tier")
        ]
    );
}

#[test]
fn force_moves_ownership_to_the_applier() {
    let live = csa_create(&web_manifest(1, "nginx:1.27"));
    let got = ssa(
        Some(&live),
        &web_manifest(3, "nginx:1.27"),
        &forced("ssa", T2),
    );
    assert_eq!(got["spec"]["replicas"], 3);
    let replicas = [field("spec"), field("replicas")];
    assert!(owned(&got, "ssa").has(&replicas));
    assert!(!owned(&got, "kubectl-client-side-apply").has(&replicas));
    // The client-side manager keeps what was not taken.
    assert!(owned(&got, "kubectl-client-side-apply").has(&[
        field("metadata"),
        field("labels"),
        field("app")
    ]));
}

fn containers_config(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": containers}}}})
}

#[test]
fn map_lists_merge_by_key_across_appliers() {
    let live = ssa(None, &web_manifest(1, "nginx:1.27"), &opts("a", T1));
    let sidecar = containers_config(json!([{"name": "sidecar", "image": "busybox"}]));
    let live = ssa(Some(&live), &sidecar, &opts("b", T2));
    assert_eq!(container_names(&live), vec!["nginx", "sidecar"]);
    // a re-applies: nothing of b's is touched.
    let again = ssa(Some(&live), &web_manifest(1, "nginx:1.27"), &opts("a", T3));
    assert_eq!(
        without_managed_fields(&again),
        without_managed_fields(&live)
    );
    // b stops applying its container: it goes, a's stays.
    let got = ssa(Some(&live), &containers_config(json!([])), &opts("b", T3));
    assert_eq!(container_names(&got), vec!["nginx"]);
    // A container the config names first comes first among the shared ones.
    let both = containers_config(
        json!([{"name": "sidecar", "image": "busybox:2"}, {"name": "nginx", "image": "nginx:1.27"}]),
    );
    let got = ssa(Some(&live), &both, &forced("c", T3));
    assert_eq!(container_names(&got), vec!["sidecar", "nginx"]);
    assert_eq!(image_of(&got, "sidecar").as_deref(), Some("busybox:2"));
}

#[test]
fn set_lists_union_and_prune_per_applier() {
    let cm = |finalizers: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "finalizers": finalizers}})
    };
    let live = ssa(None, &cm(json!(["a.io/x"])), &opts("a", T1));
    let live = ssa(Some(&live), &cm(json!(["b.io/y"])), &opts("b", T2));
    assert_eq!(live["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
    assert_eq!(
        entry(&live, "b")["fieldsV1"],
        json!({"f:metadata": {"f:finalizers": {"v:\"b.io/y\"": {}}}})
    );
    let got = ssa(Some(&live), &cm(json!([])), &opts("a", T3));
    assert_eq!(got["metadata"]["finalizers"], json!(["b.io/y"]));
}

#[test]
fn atomic_lists_and_maps_are_owned_whole() {
    let mut a = web_manifest(1, "nginx:1.27");
    a["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["1", "2"]);
    let live = ssa(None, &a, &opts("a", T1));
    let args = |v: Value| containers_config(json!([{"name": "nginx", "args": v}]));
    let err = conflict(&live, &args(json!(["3"])), &opts("b", T2));
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.template.spec.containers[name=\"nginx\"].args"
    );
    let got = ssa(Some(&live), &args(json!(["3"])), &forced("b", T2));
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["3"])
    );
    // The selector is an atomic map: another value conflicts on the map itself.
    let sel = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web", "x": "y"}}}});
    let err = conflict(&live, &sel, &opts("b", T2));
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.selector"
    );
}

#[test]
fn an_update_takes_fields_from_appliers() {
    let live = ssa(None, &web_manifest(1, "nginx:1.27"), &opts("kubectl", T1));
    let mut new = live.clone();
    new["spec"]["replicas"] = json!(5);
    record_update(
        Some(&live),
        &mut new,
        &upd("kubectl-edit", T2),
        &deployment_schema(),
    );
    assert_eq!(
        entry(&new, "kubectl-edit")["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert_eq!(entry(&new, "kubectl-edit")["time"], T2);
    assert!(!owned(&new, "kubectl").has(&[field("spec"), field("replicas")]));
    // Entries are ordered Apply first.
    assert_eq!(new["metadata"]["managedFields"][0]["operation"], "Apply");
    // Re-applying the old value now conflicts with the updater.
    let err = conflict(&new, &web_manifest(1, "nginx:1.27"), &opts("kubectl", T3));
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn kubectl_client_side_to_server_side_flow() {
    let manifest = web_manifest(1, "nginx:1.27");
    let live = csa_create(&manifest);
    // `kubectl apply --server-side` of the same manifest: no conflicts, annotation kept.
    let live2 = ssa(Some(&live), &manifest, &opts("kubectl", T2));
    assert_eq!(
        without_managed_fields(&live2),
        without_managed_fields(&live)
    );
    assert_eq!(entry(&live2, "kubectl")["operation"], "Apply");
    // kubectl then applies only the annotation as `kubectl-last-applied`.
    let annotation = live2["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].clone();
    let only_annotation = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": {LAST_APPLIED_ANNOTATION: annotation}}});
    let live3 = ssa(
        Some(&live2),
        &only_annotation,
        &opts("kubectl-last-applied", T2),
    );
    assert_eq!(
        entry(&live3, "kubectl-last-applied")["fieldsV1"],
        json!({"f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}})
    );
    // A changed manifest: replicas is owned by the client-side manager, but still has its
    // last-applied value, so kubectl may take it; the annotation follows the new manifest.
    let manifest2 = web_manifest(3, "nginx:1.28");
    let live4 = ssa(Some(&live3), &manifest2, &opts("kubectl", T3));
    assert_eq!(live4["spec"]["replicas"], 3);
    assert_eq!(image_of(&live4, "nginx").as_deref(), Some("nginx:1.28"));
    assert_eq!(
        live4["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        json!(format!(
            "{}\n",
            serde_json::to_string(&manifest2).expect("serializes")
        ))
    );
    assert!(owned(&live4, "kubectl").has(&[field("spec"), field("replicas")]));
    // Any other manager still conflicts.
    let err = conflict(&live4, &web_manifest(4, "nginx:1.28"), &opts("other", T3));
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
}

#[test]
fn kubectl_may_not_take_fields_changed_since_its_last_client_side_apply() {
    let live = csa_create(&web_manifest(1, "nginx:1.27"));
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(
        Some(&live),
        &mut scaled,
        &upd("kubectl-scale", T2),
        &deployment_schema(),
    );
    let err = conflict(
        &scaled,
        &web_manifest(3, "nginx:1.27"),
        &opts("kubectl", T3),
    );
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn objects_without_managed_fields_are_attributed_before_the_first_apply() {
    let live = web_manifest(1, "nginx:1.27");
    let err = conflict(&live, &web_manifest(2, "nginx:1.27"), &opts("kubectl", T1));
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let got = ssa(
        Some(&live),
        &web_manifest(1, "nginx:1.27"),
        &opts("ssa", T1),
    );
    assert_eq!(entry(&got, "before-first-apply")["operation"], "Update");
}

#[rstest::rstest]
#[case::missing_key(
    containers_config(json!([{"name": "a", "ports": [{"name": "http"}]}])),
    "failed to create typed patch object: .spec.template.spec.containers[name=\"a\"].ports: element 0: associative list with keys has an element that omits key field \"containerPort\" (and doesn't have default value)"
)]
#[case::duplicate_key(
    containers_config(json!([{"name": "a"}, {"name": "a"}])),
    "failed to create typed patch object: .spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
)]
#[case::managed_fields_set(json!({"metadata": {"name": "web", "managedFields": []}}), "metadata.managedFields must be nil")]
#[case::not_an_object(json!([1]), "the applied configuration is not a JSON object")]
fn invalid_configurations(#[case] config: Value, #[case] message: &str) {
    let err =
        apply(None, &config, &opts("kubectl", T1), &deployment_schema()).expect_err("rejected");
    assert_eq!(err.to_string(), message);
    assert!(matches!(err.status_code(), 400 | 500));
}

#[test]
fn record_update_of_a_create_matches_kubectl_create() {
    // What `kubectl create deployment d1 --image=nginx` stores after defaulting.
    let mut obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d1", "namespace": "default", "labels": {"app": "d1"}},
        "spec": {
            "progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "d1"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": "d1"}},
                "spec": {
                    "containers": [{"image": "nginx", "imagePullPolicy": "Always", "name": "nginx", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30
                }
            }
        }
    });
    record_update(
        None,
        &mut obj,
        &upd("kubectl-create", T1),
        &deployment_schema(),
    );
    assert_eq!(
        obj["metadata"]["managedFields"],
        json!([{"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1", "fieldsV1": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {},
                "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:imagePullPolicy": {},
                            "f:name": {}, "f:resources": {}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                        "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                        "f:terminationGracePeriodSeconds": {}
                    }
                }
            }
        }}])
    );
}

/// The managedFields of /work/shared/bench/deployment.json (kube's shape).
fn bench_managed_fields() -> Value {
    json!([
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-01T10:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-01T10:00:05Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:availableReplicas": {}, "f:conditions": {}, "f:readyReplicas": {}, "f:replicas": {}}},
         "subresource": "status"}
    ])
}

#[test]
fn managed_fields_round_trip_in_kubes_shape() {
    let mut old = web_manifest(1, "nginx:1.27");
    old["metadata"]["managedFields"] = bench_managed_fields();
    old["status"] =
        json!({"availableReplicas": 1, "conditions": [], "readyReplicas": 1, "replicas": 1});
    let mut new = old.clone();
    new["metadata"]["labels"]["tier"] = json!("frontend");
    record_update(
        Some(&old),
        &mut new,
        &upd("kubectl-label", "2026-11-01T10:01:00Z"),
        &deployment_schema(),
    );
    let got = new["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let bench = bench_managed_fields();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], bench[0]);
    assert_eq!(got[1], bench[1]);
    assert_eq!(
        got[2],
        json!({"manager": "kubectl-label", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-01T10:01:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:tier": {}}}}})
    );
    // A no-op write leaves managedFields as they were.
    let mut same = new.clone();
    record_update(
        Some(&new),
        &mut same,
        &upd("kubectl-label", T3),
        &deployment_schema(),
    );
    assert_eq!(same, new);
}

#[test]
fn status_writes_are_a_separate_subresource_entry() {
    let live = ssa(None, &web_manifest(1, "nginx:1.27"), &opts("kubectl", T1));
    let mut new = live.clone();
    new["status"] = json!({"readyReplicas": 1, "replicas": 1});
    // managedFields sent on a subresource write are ignored.
    new["metadata"]["managedFields"] = json!([]);
    let o = UpdateOptions {
        subresource: Some("status".into()),
        ..upd("kube-controller-manager", T2)
    };
    record_update(Some(&live), &mut new, &o, &deployment_schema());
    let e = entry(&new, "kube-controller-manager");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {".": {}, "f:readyReplicas": {}, "f:replicas": {}}})
    );
    assert_eq!(
        entry(&new, "kubectl")["fieldsV1"],
        entry(&live, "kubectl")["fieldsV1"]
    );
    // Applying to the status subresource is its own applier.
    let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "status": {"readyReplicas": 2}});
    let o = ApplyOptions {
        subresource: Some("status".into()),
        force: true,
        ..opts("ctrl", T3)
    };
    let got = apply(Some(&new), &cfg, &o, &deployment_schema()).expect("applies");
    assert_eq!(entry(&got, "ctrl")["subresource"], "status");
    assert_eq!(got["status"]["readyReplicas"], 2);
    // A controller re-applying the same status (kube-rs `Patch::Apply` with force) is a no-op.
    let again = ApplyOptions {
        now: "2026-11-01T11:00:00Z".into(),
        ..o
    };
    assert_eq!(
        apply(Some(&got), &cfg, &again, &deployment_schema()).expect("applies"),
        got
    );
}

#[test]
fn managed_fields_can_be_reset_or_replaced_by_the_writer() {
    let live = ssa(None, &web_manifest(1, "nginx:1.27"), &opts("kubectl", T1));
    // `[{}]` clears them, and an untracked object stays untracked.
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    record_update(
        Some(&live),
        &mut reset,
        &upd("kubectl-patch", T2),
        &deployment_schema(),
    );
    assert!(reset["metadata"].get("managedFields").is_none());
    let mut next = reset.clone();
    next["spec"]["replicas"] = json!(2);
    record_update(
        Some(&reset),
        &mut next,
        &upd("kubectl-patch", T3),
        &deployment_schema(),
    );
    assert!(next["metadata"].get("managedFields").is_none());
    // A JSON patch that rewrites managedFields (kubectl's CSA->SSA migration) is kept as sent.
    let mut migrated = live.clone();
    migrated["metadata"]["managedFields"][0]["manager"] = json!("renamed");
    record_update(
        Some(&live),
        &mut migrated,
        &upd("kubectl", T2),
        &deployment_schema(),
    );
    assert_eq!(
        entry(&migrated, "renamed")["fieldsV1"],
        entry(&live, "kubectl")["fieldsV1"]
    );
    // Garbage sent by a client falls back to the live object's.
    let mut garbage = live.clone();
    garbage["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Nope"}]);
    record_update(
        Some(&live),
        &mut garbage,
        &upd("kubectl", T2),
        &deployment_schema(),
    );
    assert_eq!(garbage, live);
}

#[test]
fn fields_of_a_configmap() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}},
        "data": {"k": "v", "e": ""}, "immutable": false});
    assert_eq!(
        fields_of(&cm, &configmap_schema()).to_fields_v1(),
        json!({"f:apiVersion": {}, "f:data": {"f:e": {}, "f:k": {}}, "f:immutable": {}, "f:kind": {},
            "f:metadata": {"f:labels": {"f:a": {}}, "f:name": {}}})
    );
}

#[test]
fn embedded_builtin_schemas_give_the_same_ownership() {
    use kubestellar_apimachinery::builtin::schema_for;
    let deploy = schema_for("apps", "v1", "Deployment").expect("built-in Deployment");
    let manifest = web_manifest(1, "nginx:1.27");
    let with_builtin = apply(None, &manifest, &opts("kubectl", T1), &deploy).expect("applies");
    let with_fixture = ssa(None, &manifest, &opts("kubectl", T1));
    assert_eq!(with_builtin, with_fixture);

    let svc = schema_for("", "v1", "Service").expect("built-in Service");
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let o = ApplyOptions {
        api_version: "v1".into(),
        ..opts("kubectl", T1)
    };
    let got = apply(None, &service, &o, &svc).expect("applies");
    assert_eq!(
        entry(&got, "kubectl")["fieldsV1"],
        json!({"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}, "f:selector": {}}})
    );
    // Another applier adding a port merges by (port, protocol); a different selector conflicts
    // because Service selectors are atomic maps.
    let more = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
        "spec": {"ports": [{"port": 443, "protocol": "TCP"}]}});
    let got = apply(
        Some(&got),
        &more,
        &ApplyOptions {
            manager: "other".into(),
            ..o.clone()
        },
        &svc,
    )
    .expect("applies");
    assert_eq!(
        got["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8080}, {"port": 443, "protocol": "TCP"}])
    );
    let sel = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
        "spec": {"selector": {"app": "web", "tier": "fe"}}});
    let err = apply(
        Some(&got),
        &sel,
        &ApplyOptions {
            manager: "other".into(),
            ..o
        },
        &svc,
    )
    .expect_err("conflicts");
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.selector"
    );
}

#[test]
fn managers_derived_from_user_agents() {
    assert_eq!(
        manager_from_user_agent("kubectl/v1.33.0 (linux/amd64) kubernetes/abc"),
        "kubectl"
    );
    assert_eq!(manager_from_user_agent(""), "");
    assert_eq!(manager_from_user_agent("a\u{7}b/1"), "ab");
    assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
}
