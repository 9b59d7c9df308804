//! The embedded system is secure by default: HTTPS with a CA per space, the admin credential in
//! the kubeconfig, RBAC in every space, and each agent working under an identity confined to its
//! WEC's mailbox namespace of the ITS (checked here with that very identity and with kubectl's
//! impersonation).

mod support;

use std::time::Duration;

use kube::api::{Api, ListParams, PostParams};
use kubestellar::api::ManifestWork;
use kubestellar::inventory::{AGENTS_GROUP, agent_user};
use kubestellar_space::kubeconfig::{Credential, KubeconfigContext};
use serde_json::json;
use support::{Kubectl, eventually, start_system};

const T: Duration = Duration::from_secs(30);

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[test]
fn agents_are_confined_to_their_mailbox_and_strangers_are_refused() {
    let (_dir, rt, system) = start_system(2, |_| {});
    let kc = system.kubeconfig.clone();
    let text = std::fs::read_to_string(&kc).expect("kubeconfig");
    assert!(text.contains("https://"), "{text}");
    assert!(text.contains("certificate-authority-data"), "{text}");

    // The admin (kubectl over TLS with the written kubeconfig) can do everything, and delivery
    // works with agents under their confined identities.
    let wds = Kubectl::new(33, &kc).context("wds1");
    let its = Kubectl::new(33, &kc).context("its1");
    let c1 = Kubectl::new(33, &kc).context("cluster1");
    wds.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: sec, namespace: default, labels: {app: sec}}
data: {a: "1"}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: sec}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync: [{objectSelectors: [{matchLabels: {app: sec}}]}]
"#,
    );
    eventually(T, "ConfigMap delivered to cluster1", || {
        c1.jsonpath(&["get", "cm", "sec", "-n", "default"], "{.data.a}")
            .filter(|v| v == "1")
    });
    eventually(T, "WorkStatus reported by cluster1's agent", || {
        its.jsonpath(
            &["get", "workstatuses", "-n", "cluster1", "-o", "name"],
            "{}",
        )
        .filter(|v| !v.is_empty())
    });

    // kubectl auth can-i, impersonating cluster1's agent, answers as RBAC says.
    let can = |args: &[&str]| -> String {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        let user = agent_user("cluster1");
        a.extend_from_slice(&["--as", &user, "--as-group", AGENTS_GROUP]);
        let (_, out, _) = its.run(&a, None);
        out.trim().to_string()
    };
    assert_eq!(can(&["list", "manifestworks", "-n", "cluster1"]), "yes");
    assert_eq!(
        can(&[
            "patch",
            "manifestworks",
            "--subresource=status",
            "-n",
            "cluster1"
        ]),
        "yes"
    );
    assert_eq!(can(&["list", "manifestworks", "-n", "cluster2"]), "no");
    assert_eq!(can(&["create", "manifestworks", "-n", "cluster1"]), "no");
    assert_eq!(can(&["list", "managedclusters"]), "no");
    assert_eq!(can(&["get", "secrets", "-n", "cluster1"]), "no");

    // The agent's own identity (a client certificate from the ITS CA, as the system gives it).
    let its_space = system.space("its1").expect("ITS");
    let cert = its_space
        .space
        .issue_client_certificate(&agent_user("cluster1"), &[AGENTS_GROUP.to_string()])
        .expect("certificate");
    let agent = rt
        .block_on(kubestellar::clients::client_for_context(
            &KubeconfigContext {
                name: "its1".into(),
                user: "agent".into(),
                server: its_space.url(),
                ca_pem: its_space.space.ca_pem().map(str::to_string),
                credential: Credential::ClientCertificate {
                    cert_pem: cert.cert_pem,
                    key_pem: cert.key_pem,
                },
            },
        ))
        .expect("agent client");
    let own: Api<ManifestWork> = Api::namespaced(agent.clone(), "cluster1");
    let listed = rt
        .block_on(own.list(&ListParams::default()))
        .expect("the agent lists its own ManifestWorks");
    assert!(!listed.items.is_empty());
    let other: Api<ManifestWork> = Api::namespaced(agent.clone(), "cluster2");
    let e = rt
        .block_on(other.list(&ListParams::default()))
        .expect_err("cluster2's mailbox is closed to cluster1's agent");
    assert_eq!(status_code(&e), Some(403), "{e}");
    // A ManifestWork written by cluster1's identity into cluster2's namespace is refused.
    let mw: ManifestWork = serde_json::from_value(json!({
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "metadata": {"name": "evil", "namespace": "cluster2"},
        "spec": {"workload": {"manifests": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "evil", "namespace": "default"}}
        ]}},
    }))
    .expect("ManifestWork");
    let e = rt
        .block_on(other.create(&PostParams::default(), &mw))
        .expect_err("no writes into another WEC's mailbox");
    assert_eq!(status_code(&e), Some(403), "{e}");
    let e = rt
        .block_on(own.create(&PostParams::default(), &mw))
        .expect_err("agents do not create ManifestWorks, even in their own mailbox");
    assert!(matches!(status_code(&e), Some(403) | Some(400)), "{e}");

    // The agent's credential means nothing to the WDS (another CA), and a client that
    // presents no credential is refused with 401.
    let wds_space = system.space("wds1").expect("WDS");
    let stranger = |credential: Credential, ca: Option<String>| {
        rt.block_on(kubestellar::clients::client_for_context(
            &KubeconfigContext {
                name: "wds1".into(),
                user: "stranger".into(),
                server: wds_space.url(),
                ca_pem: ca,
                credential,
            },
        ))
        .expect("client")
    };
    let cert = its_space
        .space
        .issue_client_certificate(&agent_user("cluster1"), &[AGENTS_GROUP.to_string()])
        .expect("certificate");
    let with_its_cert = stranger(
        Credential::ClientCertificate {
            cert_pem: cert.cert_pem,
            key_pem: cert.key_pem,
        },
        wds_space.space.ca_pem().map(str::to_string),
    );
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(with_its_cert, "default");
    let e = rt
        .block_on(cms.list(&ListParams::default()))
        .expect_err("an ITS identity has no access to the WDS");
    assert!(
        status_code(&e).is_none_or(|c| c == 401 || c == 403),
        "unexpected answer: {e}"
    );
    let anonymous = stranger(
        Credential::None,
        wds_space.space.ca_pem().map(str::to_string),
    );
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(anonymous, "default");
    let e = rt
        .block_on(cms.list(&ListParams::default()))
        .expect_err("no credential, no access");
    assert_eq!(status_code(&e), Some(401), "{e}");
    // A client that does not trust the space's CA fails closed.
    let untrusting = stranger(Credential::None, None);
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(untrusting, "default");
    let e = rt
        .block_on(cms.list(&ListParams::default()))
        .expect_err("an untrusted server certificate");
    assert!(status_code(&e).is_none(), "TLS should fail first: {e}");

    rt.block_on(system.stop());
}

/// `kubestellar register` against a secure ITS gives the agent a ServiceAccount token confined
/// to its mailbox, in a kubeconfig of its own; an agent process running with only that
/// credential delivers.
#[test]
fn registered_agents_run_with_their_own_confined_token() {
    let (dir, rt, system) = start_system(1, |cfg| cfg.agents = false);
    let kc = system.kubeconfig.clone();
    let bin = env!("CARGO_BIN_EXE_kubestellar");
    let agent_kc = dir.path().join("cluster1-agent.kubeconfig");
    let out = std::process::Command::new(bin)
        .args(["register", "cluster1", "-l", "location-group=edge"])
        .arg("--its-kubeconfig")
        .arg(&kc)
        .args(["--its-context", "its1", "--agent-kubeconfig"])
        .arg(&agent_kc)
        .output()
        .expect("register runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("--its-kubeconfig"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&agent_kc)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&agent_kc).expect("agent kubeconfig");
    assert!(
        text.contains("token:") && !text.contains("client-key-data"),
        "{text}"
    );

    let as_agent = Kubectl::new(33, &agent_kc);
    as_agent.ok(&["get", "manifestworks", "-n", "cluster1"]);
    let (ok, _, err) = as_agent.run(&["get", "manifestworks", "-n", "default"], None);
    assert!(!ok && err.contains("Forbidden"), "{err}");
    let (ok, _, err) = as_agent.run(&["get", "secrets", "-n", "cluster1"], None);
    assert!(!ok && err.contains("Forbidden"), "{err}");
    assert_eq!(
        as_agent
            .run(
                &[
                    "auth",
                    "whoami",
                    "-o",
                    "jsonpath={.status.userInfo.username}"
                ],
                None
            )
            .1,
        "system:serviceaccount:cluster1:kubestellar-agent"
    );

    let mut agent = std::process::Command::new(bin)
        .args(["agent", "--cluster", "cluster1", "--its-kubeconfig"])
        .arg(&agent_kc)
        .arg("--wec-kubeconfig")
        .arg(&kc)
        .args(["--wec-context", "cluster1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agent starts");
    let wds = Kubectl::new(33, &kc).context("wds1");
    let c1 = Kubectl::new(33, &kc).context("cluster1");
    wds.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: reg, namespace: default, labels: {app: reg}}
data: {a: "1"}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: reg}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync: [{objectSelectors: [{matchLabels: {app: reg}}]}]
"#,
    );
    eventually(T, "delivered by the agent with its own token", || {
        c1.jsonpath(&["get", "cm", "reg", "-n", "default"], "{.data.a}")
            .filter(|v| v == "1")
    });
    let _ = agent.kill();
    let _ = agent.wait();
    rt.block_on(system.stop());
}

/// `kubestellar register` against the secure ITS: the agent's kubeconfig carries a year-long
/// token of its own ServiceAccount, and the printed in-WEC manifest is deploy/agent/ with the
/// WEC's name filled in (least privilege as there, no cluster-admin), which a WEC accepts.
#[test]
fn register_prints_deploy_agent_and_a_long_lived_agent_token() {
    let (dir, _rt, system) = start_system(1, |_| {});
    let kc = system.kubeconfig.clone();
    let agent_kc = dir.path().join("edge9-agent.kubeconfig");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubestellar"))
        .args([
            "register",
            "edge9",
            "--its-context",
            "its1",
            "--its-kubeconfig",
        ])
        .arg(&kc)
        .arg("--agent-kubeconfig")
        .arg(&agent_kc)
        .output()
        .expect("kubestellar register runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The token: valid about a year, and it is the agent's identity.
    let expires = stdout
        .split("it expires ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no expiry in: {stdout}"));
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((364..=365).contains(&days), "{days} days: {stdout}");
    let agent = Kubectl::new(33, &agent_kc);
    assert_eq!(
        agent
            .jsonpath(&["auth", "whoami"], "{.status.userInfo.username}")
            .as_deref(),
        Some("system:serviceaccount:edge9:kubestellar-agent")
    );

    // The manifest: deploy/agent/ documents, the WEC's name in the Deployment.
    let manifest = stdout
        .split_once("apply:\n")
        .map(|(_, m)| m.to_string())
        .unwrap_or_else(|| panic!("no manifest in: {stdout}"));
    assert!(!manifest.contains("cluster-admin"), "{manifest}");
    let docs = |text: &str| -> Vec<serde_json::Value> {
        serde_yaml_ng::Deserializer::from_str(text)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .filter(|v: &serde_json::Value| !v.is_null())
            .collect()
    };
    let printed = docs(&manifest);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agent");
    for file in ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"] {
        let text = std::fs::read_to_string(root.join(file)).expect("deploy/agent file");
        for d in docs(&text) {
            assert!(printed.contains(&d), "{file}: {d} not printed as is");
        }
    }
    let deploy = printed
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let args = &deploy["spec"]["template"]["spec"]["containers"][0]["command"];
    assert!(
        args.as_array()
            .is_some_and(|a| a.windows(2).any(|w| w[0] == "--cluster" && w[1] == "edge9")),
        "{args}"
    );
    // As the printed instructions say: the namespace first (for the Secret), then the manifest.
    let wec = Kubectl::new(33, &kc).context("cluster1");
    wec.ok(&["create", "namespace", "kubestellar-agent"]);
    let (ok, o, e) = wec.run(&["apply", "--dry-run=server", "-f", "-"], Some(&manifest));
    assert!(ok, "{o}{e}");
}
