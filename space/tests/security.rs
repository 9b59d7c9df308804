//! A secure space (issue 9): HTTPS with the space's own CA, bearer-token and client-certificate
//! authentication, RBAC authorization by the Roles and bindings stored in the space, truthful
//! `kubectl auth can-i`; checked with real kubectl 1.31 and 1.33 and kube-rs clients.

mod support;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams};
use kubestellar_space::kubeconfig::{self, Credential, KubeconfigContext};
use kubestellar_space::{Security, SpaceConfig};
use support::{KUBECTLS, Kubectl, TestSpace};

fn secure() -> TestSpace {
    TestSpace::start_with(|c| c.security = Security::Secure)
}

/// kubectl `minor` with its own cache, using the kubeconfig at `kc`.
fn kubectl_with(minor: u32, kc: &Path) -> Kubectl {
    Kubectl {
        bin: PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}")),
        kubeconfig: kc.to_path_buf(),
        cache: tempfile::tempdir().expect("cache dir"),
    }
}

/// Writes a kubeconfig with one context to `DIR/<file>`.
fn write_kubeconfig(ts: &TestSpace, file: &str, ctx: KubeconfigContext) -> PathBuf {
    let p = ts.dir.path().join(file);
    kubeconfig::write_contexts(&p, &[ctx]).expect("write kubeconfig");
    p
}

/// A kubeconfig for a fresh token of `user` in `groups`.
fn token_kubeconfig(ts: &TestSpace, user: &str, groups: &[&str]) -> PathBuf {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let token = ts
        .running()
        .space
        .issue_token(user, &groups)
        .expect("issue token");
    let file = format!("{}.kubeconfig", user.replace(':', "_"));
    write_kubeconfig(ts, &file, ts.running().token_context(user, &token))
}

fn kube_client(ts: &TestSpace, kc: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kc).expect("kubeconfig");
    ts.block_on(async {
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("kube config");
        kube::Client::try_from(cfg).expect("kube client")
    })
}

const ROLE_NS1: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: ns1}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-reads, namespace: ns1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
"#;

fn forbidden(verb: &str, resource: &str, group: &str, ns: &str, name: Option<&str>) -> String {
    let gr = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let subject = match name {
        Some(n) => format!("{gr} \"{n}\""),
        None => gr,
    };
    format!(
        "{subject} is forbidden: User \"bob\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{ns}\""
    )
}

/// What kubectl prints for a 403 on get/list: `Error from server (Forbidden): <message>`.
fn from_server(message: String) -> String {
    format!("Error from server (Forbidden): {message}")
}

#[test]
fn admin_kubeconfig_uses_tls_and_can_do_everything() {
    let ts = secure();
    assert!(ts.url.starts_with("https://127.0.0.1:"), "{}", ts.url);
    let kc = std::fs::read_to_string(&ts.kubeconfig).expect("kubeconfig");
    for field in [
        "server: https://",
        "certificate-authority-data:",
        "client-certificate-data:",
        "client-key-data:",
    ] {
        assert!(kc.contains(field), "kubeconfig lacks {field}:\n{kc}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "kubeconfig",
            "pki/ca.key",
            "pki/server.key",
            "pki/admin.key",
            "tokens.csv",
        ] {
            let mode = std::fs::metadata(ts.dir.path().join(f))
                .expect("file exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f} mode {mode:o}");
        }
    }
    for minor in KUBECTLS {
        let k = ts.kubectl(minor);
        let ns = format!("adm{minor}");
        assert!(k.ok(&["version"]).contains("Server Version: v1.33"));
        assert!(k.ok(&["get", "ns"]).contains("kube-system"));
        assert!(k.ok(&["create", "ns", &ns]).contains("created"));
        k.ok(&["create", "configmap", "c1", "-n", &ns, "--from-literal=a=b"]);
        assert_eq!(
            k.ok(&["get", "cm", "c1", "-n", &ns, "-o", "jsonpath={.data.a}"]),
            "b"
        );
        k.ok(&["create", "deployment", "d1", "--image=nginx", "-n", &ns]);
        k.ok(&["scale", "deploy", "d1", "--replicas=2", "-n", &ns]);
        assert!(k.ok(&["get", "clusterroles"]).contains("cluster-admin"));
        let who = k.ok(&["auth", "whoami"]);
        assert!(
            who.contains("kubestellar-admin") && who.contains("system:masters"),
            "{who}"
        );
        assert_eq!(k.ok(&["auth", "can-i", "*", "*"]).trim(), "yes");
        assert_eq!(
            k.ok(&["auth", "can-i", "delete", "nodes", "--all-namespaces"])
                .trim(),
            "yes"
        );
        assert_eq!(
            k.ok(&["get", "--raw", "/api/v1/namespaces/default"])[..1].to_string(),
            "{"
        );
    }
    let client = ts.kube_client();
    ts.block_on(async {
        let nss: Api<Namespace> = Api::all(client.clone());
        let names: Vec<String> = nss
            .list(&ListParams::default())
            .await
            .expect("admin lists namespaces")
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        assert!(names.contains(&"adm33".to_string()), "{names:?}");
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("from-kube-rs".into());
        cms.create(&PostParams::default(), &cm)
            .await
            .expect("admin creates");
    });
}

#[test]
fn token_user_is_authorized_by_rbac_objects() {
    let ts = secure();
    let admin = ts.kubectl(33);
    admin.ok(&["create", "ns", "ns1"]);
    admin.ok(&["create", "ns", "ns2"]);
    admin.ok(&["create", "cm", "c1", "-n", "ns1", "--from-literal=a=1"]);
    admin.ok(&["create", "cm", "c2", "-n", "ns2", "--from-literal=a=2"]);
    let bob = token_kubeconfig(&ts, "bob", &["dev"]);
    for minor in KUBECTLS {
        let k = kubectl_with(minor, &bob);
        let e = k.fails(&["get", "cm", "-n", "ns1"]);
        assert!(
            e.contains(&from_server(forbidden(
                "list",
                "configmaps",
                "",
                "ns1",
                None
            ))),
            "kubectl 1.{minor}: {e}"
        );
        let e = k.fails(&["get", "cm", "c1", "-n", "ns1"]);
        assert!(
            e.contains(&from_server(forbidden(
                "get",
                "configmaps",
                "",
                "ns1",
                Some("c1")
            ))),
            "kubectl 1.{minor}: {e}"
        );
        let e = k.fails(&["create", "cm", "x", "-n", "ns1"]);
        assert!(
            e.contains(&forbidden("create", "configmaps", "", "ns1", None)),
            "kubectl 1.{minor}: {e}"
        );
        let e = k.fails(&["get", "deploy", "-n", "ns1"]);
        assert!(
            e.contains(&from_server(forbidden(
                "list",
                "deployments",
                "apps",
                "ns1",
                None
            ))),
            "kubectl 1.{minor}: {e}"
        );
        let o = k.run(&["auth", "can-i", "list", "configmaps", "-n", "ns1"]);
        assert!(!o.ok && o.stdout.trim() == "no", "{o:?}");
    }

    admin.apply(ROLE_NS1, &[]);
    for minor in KUBECTLS {
        let k = kubectl_with(minor, &bob);
        let who = k.ok(&["auth", "whoami", "-o", "jsonpath={.status.userInfo}"]);
        assert!(
            who.contains(r#""username":"bob""#)
                && who.contains(r#""dev""#)
                && who.contains("system:authenticated"),
            "{who}"
        );
        let list = k.ok(&["auth", "can-i", "--list", "-n", "ns1"]);
        let row = support::row(&list, "configmaps").unwrap_or_default();
        assert!(row.iter().any(|c| c == "[get"), "{list}");
        assert!(
            k.ok(&["get", "cm", "-n", "ns1", "-o", "name"])
                .contains("configmap/c1")
        );
        assert_eq!(
            k.ok(&["get", "cm", "c1", "-n", "ns1", "-o", "jsonpath={.data.a}"]),
            "1"
        );
        let e = k.fails(&["get", "cm", "-n", "ns2"]);
        assert!(
            e.contains(&from_server(forbidden(
                "list",
                "configmaps",
                "",
                "ns2",
                None
            ))),
            "kubectl 1.{minor}: {e}"
        );
        let e = k.fails(&["create", "cm", "x", "-n", "ns1"]);
        assert!(
            e.contains(&forbidden("create", "configmaps", "", "ns1", None)),
            "{e}"
        );
        for (args, want) in [
            (&["list", "configmaps", "-n", "ns1"][..], "yes"),
            (&["get", "configmaps/c1", "-n", "ns1"][..], "yes"),
            (&["watch", "configmaps", "-n", "ns1"][..], "yes"),
            (&["create", "configmaps", "-n", "ns1"][..], "no"),
            (&["list", "configmaps", "-n", "ns2"][..], "no"),
            (&["list", "secrets", "-n", "ns1"][..], "no"),
            (&["list", "configmaps", "--all-namespaces"][..], "no"),
        ] {
            let mut a = vec!["auth", "can-i"];
            a.extend_from_slice(args);
            let o = k.run(&a);
            assert_eq!(o.stdout.trim(), want, "can-i {args:?}: {o:?}");
            assert_eq!(o.ok, want == "yes", "can-i {args:?} exit status: {o:?}");
        }
    }

    // A group binding with a subresource and resourceNames.
    admin.apply(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: dev-scaler}
rules:
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch, update]
- apiGroups: [apps]
  resources: [deployments]
  resourceNames: [web]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-scales, namespace: ns2}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: dev-scaler}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: dev}
"#,
        &[],
    );
    admin.ok(&["create", "deployment", "web", "--image=nginx", "-n", "ns2"]);
    admin.ok(&[
        "create",
        "deployment",
        "other",
        "--image=nginx",
        "-n",
        "ns2",
    ]);
    let k = kubectl_with(33, &bob);
    assert!(
        k.ok(&["scale", "deploy", "web", "--replicas=3", "-n", "ns2"])
            .contains("scaled")
    );
    let e = k.fails(&["get", "deploy", "other", "-n", "ns2"]);
    assert!(
        e.contains(&forbidden(
            "get",
            "deployments",
            "apps",
            "ns2",
            Some("other")
        )),
        "{e}"
    );
    let e = k.fails(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "ns2",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ]);
    assert!(e.contains("cannot patch resource \"deployments\""), "{e}");
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "patch",
            "deployments",
            "--subresource=scale",
            "-n",
            "ns2"
        ])
        .trim(),
        "yes"
    );

    // kube-rs with the same token: 200 in ns1, 403 with the Kubernetes message in ns2.
    let client = kube_client(&ts, &bob);
    ts.block_on(async {
        let ns1: Api<ConfigMap> = Api::namespaced(client.clone(), "ns1");
        assert_eq!(ns1.list(&ListParams::default()).await.expect("list ns1").items.len(), 1);
        let ns2: Api<ConfigMap> = Api::namespaced(client, "ns2");
        match ns2.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
                assert_eq!(
                    s.message,
                    r#"configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "ns2""#
                );
            }
            other => panic!("want 403, got {other:?}"),
        }
    });
}

#[test]
fn service_account_identities_and_cluster_bindings() {
    let ts = secure();
    let admin = ts.kubectl(33);
    admin.ok(&["create", "ns", "ns1"]);
    admin.ok(&["create", "ns", "ns2"]);
    admin.apply(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: writer, namespace: ns1}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: agent-writes, namespace: ns1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: writer}
subjects:
- {kind: ServiceAccount, name: agent}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ns-reader}
rules:
- {apiGroups: [""], resources: [namespaces], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: sas-read-ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ns-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts:ns1"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: no-such-role}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}
"#,
        &[],
    );
    let sa = token_kubeconfig(&ts, "system:serviceaccount:ns1:agent", &[]);
    let k = kubectl_with(31, &sa);
    assert!(
        k.ok(&["create", "cm", "w", "-n", "ns1"])
            .contains("created")
    );
    assert!(k.ok(&["get", "ns", "-o", "name"]).contains("namespace/ns2"));
    let e = k.fails(&["create", "cm", "w", "-n", "ns2"]);
    assert!(
        e.contains(r#"configmaps is forbidden: User "system:serviceaccount:ns1:agent" cannot create resource "configmaps" in API group "" in the namespace "ns2": RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found"#),
        "{e}"
    );
    let e = k.fails(&["delete", "ns", "ns2"]);
    assert!(
        e.contains(r#"namespaces "ns2" is forbidden: User "system:serviceaccount:ns1:agent" cannot delete resource "namespaces" in API group "" in the namespace "ns2""#),
        "{e}"
    );
    // A service account of another namespace does not match the RoleBinding's subject.
    let other = token_kubeconfig(&ts, "system:serviceaccount:ns2:agent", &[]);
    let k2 = kubectl_with(33, &other);
    assert!(k2.fails(&["get", "cm", "-n", "ns1"]).contains("forbidden"));
    // The binding to a missing ClusterRole applies to everyone: kubectl shows the reason.
    let o = k2.run(&["auth", "can-i", "list", "namespaces"]);
    assert!(!o.ok, "{o:?}");
    assert_eq!(
        o.stdout.trim(),
        r#"no - RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found"#
    );
    assert_eq!(
        k.run(&["auth", "can-i", "list", "namespaces"])
            .stdout
            .trim(),
        "yes"
    );
    // A client certificate issued by the space CA names the user and groups.
    let cred = ts
        .running()
        .space
        .issue_client_certificate("carol", &["system:serviceaccounts:ns1".into()])
        .expect("client cert");
    let carol = write_kubeconfig(
        &ts,
        "carol.kubeconfig",
        KubeconfigContext {
            name: "carol".into(),
            user: "carol".into(),
            server: ts.url.clone(),
            ca_pem: ts.running().space.ca_pem().map(String::from),
            credential: Credential::ClientCertificate {
                cert_pem: cred.cert_pem,
                key_pem: cred.key_pem,
            },
        },
    );
    let kc = kubectl_with(33, &carol);
    assert!(
        kc.ok(&["get", "ns", "-o", "name"])
            .contains("namespace/ns1")
    );
    let e = kc.fails(&["get", "cm", "-n", "ns1"]);
    assert!(
        e.contains(r#"User "carol" cannot list resource "configmaps""#),
        "{e}"
    );
}

#[test]
fn unauthenticated_and_unknown_credentials_get_401() {
    let ts = secure();
    let ca = ts.running().space.ca_pem().expect("ca").to_string();
    let bad = write_kubeconfig(
        &ts,
        "bad-token.kubeconfig",
        KubeconfigContext::with_token("bad", &ts.url, &ca, "not-a-token"),
    );
    let anon = write_kubeconfig(
        &ts,
        "anon.kubeconfig",
        KubeconfigContext {
            name: "anon".into(),
            user: "anon".into(),
            server: ts.url.clone(),
            ca_pem: Some(ca),
            credential: Credential::None,
        },
    );
    // kubectl without any credential prompts for a user name on stdin (client-go's
    // behaviour for an empty user over https), so the anonymous case is checked with kube-rs.
    for minor in KUBECTLS {
        let k = kubectl_with(minor, &bad);
        // kubectl's discovery reads the raw 401, so it prints client-go's generic text for it,
        // as against kube-apiserver; the Status body is checked with kube-rs below.
        let e = k.fails(&["get", "ns"]);
        assert!(
            e.contains("error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
            "kubectl 1.{minor}: {e}"
        );
        // Health and version stay open, as kube-apiserver's public-info-viewer leaves them.
        assert_eq!(k.ok(&["get", "--raw", "/readyz"]), "ok");
        assert!(k.ok(&["get", "--raw", "/version"]).contains("gitVersion"));
    }
    for kc in [&bad, &anon] {
        let client = kube_client(&ts, kc);
        ts.block_on(async {
            let nss: Api<Namespace> = Api::all(client);
            match nss.list(&ListParams::default()).await {
                Err(kube::Error::Api(s)) => {
                    assert_eq!(
                        (s.code, s.reason.as_str(), s.message.as_str()),
                        (401, "Unauthorized", "Unauthorized")
                    );
                }
                other => panic!("want 401, got {other:?}"),
            }
        });
    }
}

#[test]
fn clients_that_do_not_trust_the_ca_fail_closed() {
    let ts = secure();
    let token = ts.running().space.issue_token("bob", &[]).expect("token");
    let mut ctx = ts.running().token_context("bob", &token);
    ctx.ca_pem = None;
    let no_ca = write_kubeconfig(&ts, "no-ca.kubeconfig", ctx);
    for minor in KUBECTLS {
        let e = kubectl_with(minor, &no_ca).fails(&["get", "ns"]);
        assert!(
            e.contains("x509: certificate signed by unknown authority"),
            "kubectl 1.{minor}: {e}"
        );
    }
    let client = kube_client(&ts, &no_ca);
    ts.block_on(async {
        let nss: Api<Namespace> = Api::all(client);
        let e = nss
            .list(&ListParams::default())
            .await
            .expect_err("an untrusted server is refused");
        assert!(!matches!(e, kube::Error::Api(_)), "{e:?}");
    });
    // A client certificate from another space's CA is refused in the handshake.
    let other = secure();
    let mut foreign = other.running().admin_context();
    foreign.server = ts.url.clone();
    foreign.ca_pem = ts.running().space.ca_pem().map(String::from);
    let foreign = write_kubeconfig(&ts, "foreign.kubeconfig", foreign);
    let e = kubectl_with(33, &foreign).fails(&["get", "ns"]);
    assert!(e.contains("tls") || e.contains("certificate"), "{e}");
}

fn start_on(dir: &Path, rt: &tokio::runtime::Runtime) -> kubestellar_space::RunningSpace {
    let mut cfg = SpaceConfig::new("restart", dir);
    cfg.security = Security::Secure;
    rt.block_on(kubestellar_space::start(
        cfg,
        "127.0.0.1:0".parse().expect("addr"),
    ))
    .expect("space starts")
}

#[test]
fn restart_keeps_ca_certificates_and_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let first = start_on(dir.path(), &rt);
    let ca = std::fs::read(dir.path().join("pki/ca.crt")).expect("ca");
    let server_crt = std::fs::read(dir.path().join("pki/server.crt")).expect("server cert");
    let kc1 = std::fs::read_to_string(dir.path().join("kubeconfig")).expect("kubeconfig");
    let token = first
        .space
        .issue_token("bob", &["dev".into()])
        .expect("token");
    rt.block_on(first.stop());

    let second = start_on(dir.path(), &rt);
    assert_eq!(
        std::fs::read(dir.path().join("pki/ca.crt")).expect("ca"),
        ca
    );
    assert_eq!(
        std::fs::read(dir.path().join("pki/server.crt")).expect("server cert"),
        server_crt
    );
    let kc2 = std::fs::read_to_string(dir.path().join("kubeconfig")).expect("kubeconfig");
    let users = |s: &str| s[s.find("users:").expect("users")..].to_string();
    assert_eq!(users(&kc1), users(&kc2), "admin credential is reused");
    let tok_kc = dir.path().join("bob.kubeconfig");
    kubeconfig::write_contexts(&tok_kc, &[second.token_context("bob", &token)]).expect("write");
    let bob = kubectl_with(33, &tok_kc);
    let e = bob.fails(&["get", "cm"]);
    assert!(
        e.contains(r#"User "bob" cannot list resource "configmaps""#),
        "{e}"
    );
    let admin = kubectl_with(31, &dir.path().join("kubeconfig"));
    assert!(
        admin
            .ok(&["get", "clusterrolebindings", "-o", "name"])
            .contains("system:discovery")
    );
    rt.block_on(second.stop());
}

/// A kubeconfig for `token` (what `kubectl create token` printed).
fn bearer_kubeconfig(ts: &TestSpace, file: &str, token: &str) -> PathBuf {
    write_kubeconfig(ts, file, ts.running().token_context("sa", token.trim()))
}

/// Who a kubeconfig authenticates as, or the error.
fn whoami(kc: &Path) -> Result<String, String> {
    let o = kubectl_with(33, kc).run(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    if o.ok {
        Ok(o.stdout.trim().to_string())
    } else {
        Err(o.stderr)
    }
}

#[test]
fn token_requests_expire_and_die_with_their_service_account() {
    // Upstream's bounds by default: at least ten minutes.
    let ts = secure();
    let admin = ts.kubectl(33);
    admin.ok(&["create", "sa", "agent", "-n", "default"]);
    let e = admin.fails(&["create", "token", "agent", "--duration=5m"]);
    assert!(
        e.contains(r#"TokenRequest.authentication.k8s.io "agent" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"#),
        "{e}"
    );
    drop(ts);

    // A space whose minimum is lowered (a test-only setting) shows expiry in seconds.
    let ts = TestSpace::start_with(|c| {
        c.security = Security::Secure;
        c.token_min_expiration = std::time::Duration::from_secs(2);
    });
    let admin = ts.kubectl(33);
    admin.ok(&["create", "ns", "ns1"]);
    admin.ok(&["create", "sa", "agent", "-n", "ns1"]);
    let user = "system:serviceaccount:ns1:agent";

    // No duration asked: one hour, reported as such.
    let answer: serde_json::Value =
        serde_json::from_str(&admin.ok(&["create", "token", "agent", "-n", "ns1", "-o", "json"]))
            .expect("TokenRequest JSON");
    assert_eq!(answer["spec"]["expirationSeconds"], 3600, "{answer}");
    let expires = answer["status"]["expirationTimestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("expirationTimestamp");
    let left = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!((3590..=3601).contains(&left), "{left}");
    let hour = bearer_kubeconfig(
        &ts,
        "hour.kubeconfig",
        answer["status"]["token"].as_str().expect("token"),
    );
    assert_eq!(whoami(&hour).as_deref(), Ok(user));

    // A short token works, then expires: 401.
    let short = bearer_kubeconfig(
        &ts,
        "short.kubeconfig",
        &admin.ok(&["create", "token", "agent", "-n", "ns1", "--duration=3s"]),
    );
    assert_eq!(whoami(&short).as_deref(), Ok(user));
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let e = whoami(&short).expect_err("expired token refused");
    assert!(e.contains("Unauthorized"), "{e}");
    assert_eq!(whoami(&hour).as_deref(), Ok(user));
    let e = admin.fails(&["create", "token", "agent", "-n", "ns1", "--duration=1s"]);
    assert!(
        e.contains("may not specify a duration less than 2 seconds"),
        "{e}"
    );

    // Deleting the ServiceAccount revokes its tokens; re-creating it (a new uid) does not
    // bring them back.
    admin.ok(&["delete", "sa", "agent", "-n", "ns1"]);
    let e = whoami(&hour).expect_err("token of a deleted ServiceAccount refused");
    assert!(e.contains("Unauthorized"), "{e}");
    admin.ok(&["create", "sa", "agent", "-n", "ns1"]);
    let e = whoami(&hour).expect_err("token of the old ServiceAccount refused");
    assert!(e.contains("Unauthorized"), "{e}");
    let fresh = bearer_kubeconfig(
        &ts,
        "fresh.kubeconfig",
        &admin.ok(&["create", "token", "agent", "-n", "ns1"]),
    );
    assert_eq!(whoami(&fresh).as_deref(), Ok(user));
    // A token for a ServiceAccount that does not exist is not issued.
    let e = admin.fails(&["create", "token", "nobody", "-n", "ns1"]);
    assert!(e.contains(r#"serviceaccounts "nobody" not found"#), "{e}");
}
