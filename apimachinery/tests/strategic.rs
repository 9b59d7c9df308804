//! Strategic merge patch against real kubectl: every case of `apply_fixtures/strategic_oracle.json`
//! was applied to `strategic_base.json` by `kubectl patch --local` (upstream's strategicpatch
//! with the Go structs' patch metadata); our result over the fixture schema must be identical,
//! errors included. Plus the traces of the spec and behaviours kubectl cannot show.

mod apply_fixtures;

use apply_fixtures::{container_names, deployment_schema, image_of, web_manifest};
use kubestellar_apimachinery::schema::{Schema, compile_openapi_v3};
use kubestellar_apimachinery::strategic::{PatchError, json_merge_patch, strategic_merge_patch};
use rstest::rstest;
use serde_json::{Value, json};

fn oracle() -> Value {
    serde_json::from_str(include_str!("apply_fixtures/strategic_oracle.json"))
        .expect("oracle is JSON")
}

fn base() -> Value {
    serde_json::from_str(include_str!("apply_fixtures/strategic_base.json")).expect("base is JSON")
}

#[rstest]
#[case::csa_apply("csa_apply")]
#[case::set_image("set_image")]
#[case::rollout_restart("rollout_restart")]
#[case::default_patch("default_patch")]
#[case::new_container_is_prepended("new_container")]
#[case::delete_item("delete_item")]
#[case::replace_list("replace_list")]
#[case::replace_map("replace_map")]
#[case::delete_map("delete_map")]
#[case::null_deletes("null_delete")]
#[case::retain_keys("retain_keys")]
#[case::delete_from_primitive_list("delete_primitive")]
#[case::primitive_union("union_primitive")]
#[case::atomic_lists_replaced("replace_atomic")]
#[case::port_added_by_container_port("port_add")]
#[case::nested_set_element_order("env_order")]
#[case::reorder_only("reorder")]
#[case::retain_keys_in_list_item("volume_retain")]
#[case::csa_delete_container("csa_delete_container")]
#[case::primitive_order_and_delete("primitive_order")]
fn matches_kubectl(#[case] name: &str) {
    let oracle = oracle();
    let case = &oracle[name];
    let got = strategic_merge_patch(&base(), &case["patch"], &deployment_schema())
        .expect("patch applies");
    assert_eq!(got, case["result"], "case {name}");
}

#[rstest]
#[case::no_merge_key("err_no_key", 500)]
#[case::merge_directive_in_list("err_merge_in_list", 500)]
#[case::merge_directive_in_map("err_map_merge", 500)]
#[case::set_element_order_mismatch("err_order", 500)]
#[case::retain_keys_missing_field("err_retain", 400)]
#[case::mixed_list_elements("err_list_of_lists", 500)]
#[case::set_element_order_not_a_list("err_order_not_list", 500)]
fn errors_match_kubectl(#[case] name: &str, #[case] status: u16) {
    let oracle = oracle();
    let case = &oracle[name];
    let err = strategic_merge_patch(&base(), &case["patch"], &deployment_schema())
        .expect_err("patch fails");
    let want = case["error"]
        .as_str()
        .and_then(|e| e.strip_prefix("error: "))
        .expect("oracle error text");
    assert_eq!(err.to_string().trim_end(), want, "case {name}");
    assert_eq!(err.status_code(), status, "case {name}");
}

#[test]
fn kubectl_apply_trace_keeps_one_container_with_the_new_image() {
    // The PATCH body of `kubectl apply -f d2.yaml` in the spec's trace.
    let mut live = web_manifest(1, "nginx:1.26");
    live["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}\n"});
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"x\":1}\n"}},
        "spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"image": "nginx:1.27", "name": "nginx"}]
        }}}
    });
    let got = strategic_merge_patch(&live, &patch, &deployment_schema()).expect("applies");
    assert_eq!(container_names(&got), vec!["nginx"]);
    assert_eq!(image_of(&got, "nginx").as_deref(), Some("nginx:1.27"));
    assert_eq!(got["spec"]["replicas"], 3);
    // Fields the patch does not mention survive (server defaults, ports).
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80}])
    );
    assert_eq!(
        got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{\"x\":1}\n"
    );
    assert!(
        got.pointer("/spec/template/spec/$setElementOrder~1containers")
            .is_none()
    );
}

#[test]
fn rollout_restart_sets_the_template_annotation_only() {
    let live = web_manifest(2, "nginx:1.27");
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z"}}}}});
    let got = strategic_merge_patch(&live, &patch, &deployment_schema()).expect("applies");
    assert_eq!(
        got["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2026-11-01T10:00:00Z"
    );
    assert_eq!(
        got["spec"]["template"]["metadata"]["labels"],
        json!({"app": "web"})
    );
    let mut back = got.clone();
    if let Some(m) = back["spec"]["template"]["metadata"].as_object_mut() {
        m.remove("annotations");
    }
    assert_eq!(back, live);
}

#[test]
fn identical_patch_is_a_no_op() {
    let live = web_manifest(2, "nginx:1.27");
    let patch = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}});
    assert_eq!(
        strategic_merge_patch(&live, &patch, &deployment_schema()).expect("applies"),
        live
    );
}

#[test]
fn values_the_patch_introduces_are_normalized() {
    let live = web_manifest(1, "nginx");
    let patch = json!({
        "metadata": {"annotations": {"a": "1", "gone": null}},
        "spec": {"template": {"spec": {"containers": [{"name": "new", "image": "x", "command": null,
            "$setElementOrder/env": [{"name": "E"}], "env": [{"name": "E", "value": "1", "valueFrom": null}]}]}}}
    });
    let got = strategic_merge_patch(&live, &patch, &deployment_schema()).expect("applies");
    assert_eq!(got["metadata"]["annotations"], json!({"a": "1"}));
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0],
        json!({"name": "new", "image": "x", "env": [{"name": "E", "value": "1"}]})
    );
}

#[test]
fn service_ports_merge_by_port() {
    let schema = apply_fixtures::service_schema();
    let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}});
    let patch = json!({"spec": {"selector": {"tier": "fe"}, "ports": [{"port": 443, "targetPort": "https"}, {"port": 80, "name": "http"}]}});
    let got = strategic_merge_patch(&live, &patch, &schema).expect("applies");
    assert_eq!(
        got["spec"]["ports"],
        json!([{"port": 443, "targetPort": "https"}, {"port": 80, "protocol": "TCP", "targetPort": 8080, "name": "http"}])
    );
    // Maps merge even when SSA treats them as atomic: strategic merge only knows patch strategies.
    assert_eq!(got["spec"]["selector"], json!({"app": "web", "tier": "fe"}));
}

fn crd_like_schema() -> Schema {
    compile_openapi_v3(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}
    }}))
    .expect("compiles")
}

#[test]
fn fields_without_schema_behave_like_json_merge_patch() {
    let live = json!({"spec": {"size": 1, "tags": ["a", "b"], "free": {"x": {"y": 1, "z": 2}, "l": [1, 2]}},
        "unknown": {"k": "v", "drop": true}});
    let patch = json!({"spec": {"tags": ["c"], "free": {"x": {"z": null, "w": 3}, "l": [3]}}, "unknown": {"drop": null, "n": 1}});
    let got = strategic_merge_patch(&live, &patch, &crd_like_schema()).expect("applies");
    let want = json_merge_patch(&live, &patch);
    assert_eq!(got, want);
    assert_eq!(
        got["spec"]["free"],
        json!({"x": {"y": 1, "w": 3}, "l": [3]})
    );
}

#[rstest]
#[case::unknown_directive(json!({"spec": {"$foo": 1}}), "unknown strategic merge patch directive \"$foo\"", 400)]
#[case::retain_keys_not_a_list(json!({"spec": {"$retainKeys": "size"}}), "invalid patch format of retainKeys", 400)]
#[case::bad_delete_list_key(json!({"spec": {"$deleteFromPrimitiveListtags": ["a"]}}), "invalid patch format of primitive list", 400)]
#[case::bad_order_key(json!({"spec": {"$setElementOrdertags": ["a"]}}), "invalid patch format of setElementOrder list", 400)]
#[case::bad_map_directive(json!({"spec": {"$patch": "explode"}}), "unknown patch type: explode in map: map[$patch:explode]", 500)]
fn malformed_directives(#[case] patch: Value, #[case] message: &str, #[case] status: u16) {
    let live = json!({"spec": {"size": 1, "tags": ["a"]}});
    let err = strategic_merge_patch(&live, &patch, &crd_like_schema()).expect_err("fails");
    assert_eq!(err.to_string(), message);
    assert_eq!(err.status_code(), status);
}

#[test]
fn list_of_lists_is_rejected_with_422() {
    let err = strategic_merge_patch(
        &json!({"metadata": {}}),
        &json!({"metadata": {"finalizers": [["a"]]}}),
        &deployment_schema(),
    )
    .expect_err("fails");
    assert_eq!(err, PatchError::NoListOfLists);
    assert_eq!(err.status_code(), 422);
}

#[test]
fn non_objects_are_bad_documents() {
    let err = strategic_merge_patch(&json!([]), &json!({}), &Schema::any()).expect_err("fails");
    assert_eq!(
        (err.to_string().as_str(), err.status_code()),
        ("invalid JSON document", 400)
    );
    assert!(strategic_merge_patch(&json!({}), &json!("x"), &Schema::any()).is_err());
}

#[test]
fn json_merge_patch_follows_rfc_7386_examples() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (original, patch, want) in cases {
        assert_eq!(
            json_merge_patch(&original, &patch),
            want,
            "{original} + {patch}"
        );
    }
}

#[test]
fn kubectl_oracle_holds_with_the_embedded_builtin_schemas() {
    let schema = kubestellar_apimachinery::builtin::schema_for("apps", "v1", "Deployment")
        .expect("built-in Deployment");
    let oracle = oracle();
    let cases = oracle.as_object().expect("oracle is an object");
    for (name, case) in cases {
        let got = strategic_merge_patch(&base(), &case["patch"], &schema);
        match (got, case.get("result"), case["error"].as_str()) {
            (Ok(got), Some(want), _) => assert_eq!(&got, want, "case {name}"),
            (Err(err), None, Some(want)) => assert_eq!(
                Some(err.to_string().trim_end()),
                want.strip_prefix("error: "),
                "case {name}"
            ),
            (got, _, _) => panic!("case {name}: unexpected {got:?}"),
        }
    }
}
