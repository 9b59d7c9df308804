//! A first end-to-end look with real kubectl.

mod support;

#[test]
fn kubectl_basics() {
    let s = support::TestSpace::start();
    for minor in [31, 33] {
        let k = s.kubectl(minor);
        let v = k.ok(&["version"]);
        assert!(v.contains("Server Version: v1.33"), "{v}");
        let ns = k.ok(&["get", "ns"]);
        assert!(ns.contains("default") && ns.contains("kube-system"), "{ns}");
        let name = format!("x{minor}");
        k.ok(&["create", "ns", &name]);
        assert_eq!(
            k.ok(&["get", "ns", &name, "-o", "jsonpath={.status.phase}"]),
            "Active"
        );
        k.ok(&[
            "create",
            "configmap",
            "c1",
            "-n",
            &name,
            "--from-literal=a=b",
        ]);
        assert_eq!(
            k.ok(&["get", "cm", "c1", "-n", &name, "-o", "jsonpath={.data.a}"]),
            "b"
        );
        k.ok(&["create", "deployment", "d1", "-n", &name, "--image=nginx"]);
        let res = k.ok(&["api-resources"]);
        assert!(
            res.contains("deployments") && res.contains("customresourcedefinitions"),
            "{res}"
        );
    }
}
