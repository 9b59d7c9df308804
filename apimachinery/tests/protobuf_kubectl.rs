//! Real request bodies: each `fixtures/protobuf/<case>.pb` is what kubectl 1.33 POSTed (protobuf)
//! and `<case>.json` what kubectl 1.31 POSTed (JSON) for the same command, recorded against a
//! stand-in server (see `fixtures/protobuf/README.md`). Decoding the first must give the second.

use std::path::PathBuf;

use rstest::rstest;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/protobuf")
        .join(name)
}

#[rstest]
#[case::namespace("namespace")]
#[case::configmap_with_binary_data("configmap")]
#[case::secret("secret")]
#[case::deployment_zero_replicas("deployment")]
#[case::deployment_two_containers("deployment3")]
#[case::service_clusterip("service")]
#[case::service_nodeport("service-nodeport")]
#[case::serviceaccount("serviceaccount")]
#[case::job("job")]
#[case::cronjob("cronjob")]
#[case::role("role")]
#[case::rolebinding("rolebinding")]
#[case::clusterrole("clusterrole")]
#[case::clusterrolebinding("clusterrolebinding")]
#[case::ingress("ingress")]
#[case::pdb_percent("pdb")]
#[case::pdb_int("pdb-int")]
#[case::quota("quota")]
#[case::priorityclass_zero_value("priorityclass")]
#[case::self_subject_access_review("canI")]
fn kubectl_protobuf_body_decodes_to_its_json_body(#[case] name: &str) {
    let pb = std::fs::read(fixture(&format!("{name}.pb"))).expect("protobuf fixture");
    let json = std::fs::read(fixture(&format!("{name}.json"))).expect("JSON fixture");
    let want: Value = serde_json::from_slice(&json).expect("fixture is JSON");
    let got = kubestellar_apimachinery::protobuf::decode(&pb).expect("decodes");
    assert_eq!(
        got,
        want,
        "{name}:\n got {}\nwant {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );
}
