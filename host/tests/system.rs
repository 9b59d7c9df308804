//! The embedded system (what `kubestellar up` runs): starts, writes its kubeconfig with one
//! context per space, registers the WECs with upstream's labels, and resumes on restart.

mod support;

use kubestellar::system::{System, SystemConfig};
use support::Kubectl;

#[test]
fn starts_and_resumes_with_the_same_ports_and_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let system = rt
        .block_on(System::start(SystemConfig::new(dir.path(), 2), &|_| {}))
        .expect("system starts");
    let kc = system.kubeconfig.clone();
    let urls: Vec<String> = system.spaces().map(|(_, s)| s.url()).collect();
    let k = Kubectl::new(33, &kc);
    let contexts = k.ok(&["config", "get-contexts", "-o", "name"]);
    for ctx in ["wds1", "its1", "cluster1", "cluster2"] {
        assert!(contexts.lines().any(|l| l == ctx), "{ctx} in {contexts}");
    }
    let its = Kubectl::new(33, &kc).context("its1");
    let labels = its.ok(&[
        "get",
        "managedcluster",
        "cluster1",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(
        labels.contains("\"region\":\"east\"") && labels.contains("\"location-group\":\"edge\""),
        "{labels}"
    );
    let url = its.ok(&[
        "get",
        "cm",
        "cluster2",
        "-n",
        "customization-properties",
        "-o",
        "jsonpath={.data.clusterURL}",
    ]);
    assert_eq!(url, "https://my.clusters/2002-cdef");
    let wds = Kubectl::new(33, &kc).context("wds1");
    wds.ok(&["create", "configmap", "kept", "--from-literal=a=b"]);
    let crds = wds.ok(&["get", "crd", "-o", "name"]);
    assert!(
        crds.contains("bindingpolicies.control.kubestellar.io")
            && crds.contains("wasmplugins.control.kubestellar.io"),
        "{crds}"
    );
    rt.block_on(system.stop());

    // Again on the same directory: same ports, same objects.
    let system = rt
        .block_on(System::start(SystemConfig::new(dir.path(), 2), &|_| {}))
        .expect("system restarts");
    let again: Vec<String> = system.spaces().map(|(_, s)| s.url()).collect();
    assert_eq!(urls, again, "spaces keep their ports");
    assert_eq!(
        wds.ok(&["get", "configmap", "kept", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    rt.block_on(system.stop());
}
