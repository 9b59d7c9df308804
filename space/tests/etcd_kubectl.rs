//! The kubectl acceptance checks (the `kubectl_*` test files, included unchanged) run against
//! spaces stored in etcd: in this test binary every `TestSpace` is two space servers sharing a
//! fresh etcd (Debian's `/usr/bin/etcd`), and each check talks to one of them, alternately the
//! first and the second started (see `support::ON_ETCD`).

// Each included check file declares its own `mod support;`, as it does in its own binary.
#![allow(clippy::duplicate_mod)]

#[path = "kubectl_crd.rs"]
mod kubectl_crd;
#[path = "kubectl_create_apply.rs"]
mod kubectl_create_apply;
#[path = "kubectl_discovery.rs"]
mod kubectl_discovery;
#[path = "kubectl_get.rs"]
mod kubectl_get;
#[path = "kubectl_lifecycle.rs"]
mod kubectl_lifecycle;
#[path = "kubectl_patch.rs"]
mod kubectl_patch;

mod support;

/// In this binary a `TestSpace` really is two replicas on etcd, the second following the first.
#[test]
fn the_checks_run_on_two_replicas_sharing_etcd() {
    let s = support::TestSpace::start();
    let peer = s.peer().expect("a second replica").addr.to_string();
    s.kubectl(33)
        .ok(&["create", "configmap", "probe", "--from-literal=a=b"]);
    let seen = support::eventually(10, || {
        let r = support::http::Request::new(
            &peer,
            "GET",
            "/api/v1/namespaces/default/configmaps/probe",
        )
        .send();
        (r.status == 200).then(|| r.json())
    })
    .expect("the other replica serves what kubectl wrote");
    assert_eq!(seen["data"]["a"], "b");
}
