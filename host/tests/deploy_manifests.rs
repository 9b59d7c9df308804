//! The deployment manifests under `deploy/`: `kubectl apply -k` (server dry run, then for real)
//! against `kubestellar space serve` children for the controller, the agent (WEC side) and the
//! agent's Role (ITS side); and the RBAC they grant, by running the controller and the agent
//! with only those identities (bearer tokens of secure spaces, which enforce RBAC) and checking
//! that a workload is delivered and its status comes back.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Objects of `deploy/`, as kubectl names them.
const CONTROLLER_OBJECTS: &[&str] = &[
    "namespace/kubestellar-system",
    "serviceaccount/kubestellar-controller",
    "clusterrole.rbac.authorization.k8s.io/kubestellar-controller-wds",
    "clusterrole.rbac.authorization.k8s.io/kubestellar-controller-wds-upsync",
    "clusterrole.rbac.authorization.k8s.io/kubestellar-controller-its",
    "clusterrolebinding.rbac.authorization.k8s.io/kubestellar-controller-wds",
    "clusterrolebinding.rbac.authorization.k8s.io/kubestellar-controller-wds-upsync",
    "clusterrolebinding.rbac.authorization.k8s.io/kubestellar-controller-its",
    "role.rbac.authorization.k8s.io/kubestellar-controller-leader-election",
    "rolebinding.rbac.authorization.k8s.io/kubestellar-controller-leader-election",
    "deployment.apps/kubestellar-controller",
];

/// Objects of `deploy/agent/`.
const AGENT_OBJECTS: &[&str] = &[
    "namespace/kubestellar-agent",
    "serviceaccount/kubestellar-agent",
    "clusterrole.rbac.authorization.k8s.io/kubestellar-agent",
    "clusterrolebinding.rbac.authorization.k8s.io/kubestellar-agent",
    "deployment.apps/kubestellar-agent",
];

/// Objects of `deploy/agent/its/`.
const AGENT_ITS_OBJECTS: &[&str] = &["role.rbac.authorization.k8s.io/kubestellar-agent"];

/// The controller's in-cluster identity (the ServiceAccount of `deploy/`).
const CONTROLLER_USER: &str = "system:serviceaccount:kubestellar-system:kubestellar-controller";
/// The agent's in-cluster identity in the WEC (the ServiceAccount of `deploy/agent/`).
const AGENT_WEC_USER: &str = "system:serviceaccount:kubestellar-agent:kubestellar-agent";
/// The identity of the agent's ITS kubeconfig (bound to the Role of `deploy/agent/its/`).
const AGENT_ITS_USER: &str = "kubestellar-agent-cluster1";

fn deploy_dir(sub: &str) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    if !sub.is_empty() {
        p = p.join(sub);
    }
    p.display().to_string()
}

/// A `kubestellar` child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `kubestellar space serve` child with its data directory.
struct Space {
    _proc: Proc,
    dir: tempfile::TempDir,
}

impl Space {
    /// Serves a space; `tokens` are `(token, user, groups)` written to `DIR/tokens.csv` first.
    fn serve(name: &str, insecure: bool, simulator: bool, tokens: &[(&str, &str, &str)]) -> Space {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: String = tokens
            .iter()
            .enumerate()
            .map(|(i, (t, u, g))| format!("{t},{u},uid-{i},\"{g}\"\n"))
            .collect();
        std::fs::write(dir.path().join("tokens.csv"), lines).expect("tokens.csv");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubestellar"));
        cmd.args(["space", "serve", "--name", name, "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path());
        if insecure {
            cmd.arg("--insecure");
        }
        if simulator {
            cmd.arg("--simulator");
        }
        let child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubestellar runs");
        let space = Space {
            _proc: Proc(child),
            dir,
        };
        let kc = space.kubeconfig();
        wait_until(Duration::from_secs(30), "the space's kubeconfig", || {
            kc.exists()
        });
        space
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// kubectl as the space's admin.
    fn admin(&self) -> Kubectl {
        Kubectl {
            kubeconfig: self.kubeconfig(),
            cache: self.dir.path().join("kubectl-cache-admin"),
        }
    }

    /// Writes a kubeconfig for the same server whose only credential is `token`.
    fn token_kubeconfig(&self, file: &str, token: &str) -> Kubectl {
        let path = self.dir.path().join(file);
        std::fs::copy(self.kubeconfig(), &path).expect("copy kubeconfig");
        let k = Kubectl {
            kubeconfig: path,
            cache: self.dir.path().join(format!("kubectl-cache-{file}")),
        };
        let admin_user = k.ok(&[
            "config",
            "view",
            "-o",
            "jsonpath={.contexts[0].context.user}",
        ]);
        let context = k.ok(&["config", "current-context"]);
        k.ok(&["config", "set-credentials", "token", "--token", token]);
        k.ok(&["config", "set-context", context.trim(), "--user", "token"]);
        k.ok(&["config", "unset", &format!("users.{}", admin_user.trim())]);
        k
    }
}

/// kubectl 1.33 on one kubeconfig.
struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// Runs kubectl; returns (success, stdout, stderr).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        assert!(
            Path::new(KUBECTL).exists(),
            "{KUBECTL} is missing: this test needs the real kubectl"
        );
        let mut child = Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("stdin write");
        }
        drop(input);
        let o = child.wait_with_output().expect("kubectl finishes");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Runs kubectl, which must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// `kubectl apply -f -` of `yaml`, which must succeed.
    fn apply(&self, yaml: &str) {
        let (ok, out, err) = self.run(&["apply", "-f", "-"], Some(yaml));
        assert!(ok, "apply failed:\n{out}\n{err}\n{yaml}");
    }

    /// The object as JSON, if it exists.
    fn json(&self, args: &[&str]) -> Option<Value> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let (ok, out, _) = self.run(&a, None);
        if !ok {
            return None;
        }
        serde_json::from_str(&out).ok()
    }
}

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A port free on loopback now (the child binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The value of the sample `series` (name and labels, exactly) in a `/metrics` text.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The probes and ports of a Deployment's container, as `deploy/` sets them.
fn assert_probes(c: &Value) {
    let cmd = c["command"].as_array().expect("command");
    for flag in [
        "--health-probe-bind-address=:8081",
        "--metrics-bind-address=:8080",
    ] {
        assert!(cmd.iter().any(|v| v == flag), "{flag} in {cmd:?}");
    }
    let ports = c["ports"].as_array().expect("ports");
    for (name, port) in [("metrics", 8080), ("probes", 8081)] {
        assert!(
            ports
                .iter()
                .any(|p| p["name"] == name && p["containerPort"] == port),
            "port {name} {port}: {ports:?}"
        );
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "probes");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "probes");
    assert!(c["livenessProbe"]["periodSeconds"].as_i64() >= Some(10));
}

/// `kubectl apply -k DIR --dry-run=server`, then for real; checks that both name exactly
/// `objects` and that the dry run created nothing (namespaced objects are in `namespace`).
fn apply_kustomization(k: &Kubectl, dir: &str, namespace: &str, objects: &[&str]) {
    // The exact set the kustomization builds, so that a file dropped from it fails here.
    let built = k.ok(&["apply", "-k", dir, "--dry-run=client", "-o", "name"]);
    let mut got: Vec<&str> = built
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    got.sort_unstable();
    let mut want = objects.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "objects of {dir}");

    // What exists already (`kubestellar register` creates the agent's Role in a secure ITS):
    // the dry run must not create anything else.
    let existed: Vec<&str> = objects
        .iter()
        .copied()
        .filter(|o| !o.starts_with("namespace/") && k.run(&["get", o, "-n", namespace], None).0)
        .collect();
    let (ok, out, err) = k.run(&["apply", "-k", dir, "--dry-run=server"], None);
    assert!(ok, "apply -k {dir} --dry-run=server failed:\n{out}\n{err}");
    for o in objects {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{o} ")) && l.ends_with("(server dry run)")),
            "server dry run of {dir} does not name {o}:\n{out}"
        );
    }
    for o in objects
        .iter()
        .filter(|o| !o.starts_with("namespace/") && !existed.contains(o))
    {
        let (exists, out, _) = k.run(&["get", o, "-n", namespace], None);
        assert!(!exists, "the dry run of {dir} created {o}:\n{out}");
    }

    let (ok, out, err) = k.run(&["apply", "-k", dir], None);
    assert!(ok, "apply -k {dir} failed:\n{out}\n{err}");
    for o in objects {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{o} "))),
            "apply of {dir} does not name {o}:\n{out}"
        );
    }
}

/// Creates the namespace and the kubeconfig Secrets `deploy/` (or `deploy/agent/`) expects.
fn prepare_namespace(k: &Kubectl, ns: &str, secrets: &[(&str, &Path)]) {
    k.ok(&["create", "namespace", ns]);
    for (name, file) in secrets {
        let from = format!("--from-file=kubeconfig={}", file.display());
        k.ok(&["-n", ns, "create", "secret", "generic", name, &from]);
    }
}

fn register(its: &Space, cluster: &str, labels: &[&str]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubestellar"));
    cmd.args(["register", cluster, "--its-kubeconfig"])
        .arg(its.kubeconfig())
        // Against a secure ITS, register writes the agent's kubeconfig: keep it in the space's
        // temporary directory, not in the source tree.
        .arg("--agent-kubeconfig")
        .arg(its.dir.path().join(format!("{cluster}-agent.kubeconfig")));
    for l in labels {
        cmd.args(["-l", l]);
    }
    let out = cmd.output().expect("kubestellar register runs");
    assert!(
        out.status.success(),
        "register failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kustomizations_apply_against_a_space_server() {
    let space = Space::serve("t", true, false, &[]);
    let k = space.admin();

    // deploy/: the README's steps.
    let kc = space.kubeconfig();
    prepare_namespace(
        &k,
        "kubestellar-system",
        &[("wds-kubeconfig", &kc), ("its-kubeconfig", &kc)],
    );
    apply_kustomization(
        &k,
        &deploy_dir(""),
        "kubestellar-system",
        CONTROLLER_OBJECTS,
    );
    let listed = k.ok(&[
        "get",
        "deploy,sa,clusterrole,clusterrolebinding",
        "-n",
        "kubestellar-system",
        "-o",
        "name",
    ]);
    for o in CONTROLLER_OBJECTS
        .iter()
        .filter(|o| !o.starts_with("namespace/") && !o.starts_with("role"))
    {
        assert!(listed.lines().any(|l| l == *o), "{o} not listed:\n{listed}");
    }
    // The stored Deployment keeps what the manifest says (nothing dropped by the server).
    let d = k
        .json(&[
            "deploy",
            "kubestellar-controller",
            "-n",
            "kubestellar-system",
        ])
        .expect("controller Deployment");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(c["image"], "ghcr.io/kubestellar-wasm/kubestellar:latest");
    assert_eq!(c["command"][1], "controller");
    assert!(
        c["command"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "--leader-elect"))
    );
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(c["resources"]["requests"]["memory"], "128Mi");
    assert_probes(c);
    let vols = &d["spec"]["template"]["spec"]["volumes"];
    assert_eq!(vols[0]["secret"]["secretName"], "wds-kubeconfig");
    assert_eq!(vols[1]["secret"]["secretName"], "its-kubeconfig");
    let role = k
        .json(&[
            "role",
            "kubestellar-controller-leader-election",
            "-n",
            "kube-system",
        ])
        .expect("leader election Role");
    assert_eq!(
        role["rules"][1]["resourceNames"][0],
        "kubestellar-controller-wds1"
    );

    // deploy/agent/ (in the WEC; here the same space).
    prepare_namespace(&k, "kubestellar-agent", &[("its-kubeconfig", &kc)]);
    apply_kustomization(&k, &deploy_dir("agent"), "kubestellar-agent", AGENT_OBJECTS);
    let listed = k.ok(&[
        "get",
        "deploy,sa,clusterrole,clusterrolebinding",
        "-n",
        "kubestellar-agent",
        "-o",
        "name",
    ]);
    for o in AGENT_OBJECTS
        .iter()
        .filter(|o| !o.starts_with("namespace/"))
    {
        assert!(listed.lines().any(|l| l == *o), "{o} not listed:\n{listed}");
    }
    let d = k
        .json(&["deploy", "kubestellar-agent", "-n", "kubestellar-agent"])
        .expect("agent Deployment");
    let cmd = &d["spec"]["template"]["spec"]["containers"][0]["command"];
    assert_eq!(cmd[1], "agent");
    assert_probes(&d["spec"]["template"]["spec"]["containers"][0]);
    assert!(
        cmd.as_array()
            .is_some_and(|a| a.iter().any(|v| v == "--cluster"))
    );

    // deploy/agent/its/ (in the ITS, into the mailbox namespace `register` creates).
    register(&space, "cluster1", &[]);
    apply_kustomization(&k, &deploy_dir("agent/its"), "cluster1", AGENT_ITS_OBJECTS);
    assert!(
        k.json(&["role", "kubestellar-agent", "-n", "cluster1"])
            .is_some()
    );
}

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {app.kubernetes.io/name: demo}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: demo, labels: {app.kubernetes.io/name: demo}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: demo}}
  template:
    metadata: {labels: {app.kubernetes.io/name: demo}}
    spec: {containers: [{name: c, image: "nginx:1.27"}]}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: demo}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync:
  - objectSelectors: [{matchLabels: {app.kubernetes.io/name: demo}}]
    wantSingletonReportedState: true
"#;

/// The controller runs as the ServiceAccount of `deploy/` (one space is both WDS and ITS, the
/// case the ITS binding of `deploy/` is for) and the agent as the ServiceAccount of
/// `deploy/agent/` in a WEC plus the identity bound to the Role of `deploy/agent/its/` in the
/// ITS: the workload is delivered, its singleton status is returned into the WDS, and the
/// controller's identity is refused what the manifests do not grant.
#[test]
fn controller_and_agent_work_with_only_the_manifests_rbac() {
    let hub = Space::serve(
        "hub",
        false,
        false,
        &[
            (
                "controller-token-0123456789",
                CONTROLLER_USER,
                "system:serviceaccounts,system:serviceaccounts:kubestellar-system",
            ),
            ("agent-its-token-0123456789", AGENT_ITS_USER, ""),
        ],
    );
    let wec = Space::serve(
        "wec",
        false,
        true,
        &[(
            "agent-wec-token-0123456789",
            AGENT_WEC_USER,
            "system:serviceaccounts,system:serviceaccounts:kubestellar-agent",
        )],
    );
    let hub_admin = hub.admin();
    let wec_admin = wec.admin();
    let controller = hub.token_kubeconfig("controller.kubeconfig", "controller-token-0123456789");
    let agent_its = hub.token_kubeconfig("agent-its.kubeconfig", "agent-its-token-0123456789");
    let agent_wec = wec.token_kubeconfig("agent-wec.kubeconfig", "agent-wec-token-0123456789");

    prepare_namespace(
        &hub_admin,
        "kubestellar-system",
        &[
            ("wds-kubeconfig", &controller.kubeconfig),
            ("its-kubeconfig", &controller.kubeconfig),
        ],
    );
    apply_kustomization(
        &hub_admin,
        &deploy_dir(""),
        "kubestellar-system",
        CONTROLLER_OBJECTS,
    );
    register(&hub, "cluster1", &["location-group=edge"]);
    apply_kustomization(
        &hub_admin,
        &deploy_dir("agent/its"),
        "cluster1",
        AGENT_ITS_OBJECTS,
    );
    hub_admin.ok(&[
        "-n",
        "cluster1",
        "create",
        "rolebinding",
        // `register` already binds its own ServiceAccount as `kubestellar-agent`.
        "kubestellar-agent-user",
        "--role",
        "kubestellar-agent",
        "--user",
        AGENT_ITS_USER,
    ]);
    prepare_namespace(
        &wec_admin,
        "kubestellar-agent",
        &[("its-kubeconfig", &agent_its.kubeconfig)],
    );
    apply_kustomization(
        &wec_admin,
        &deploy_dir("agent"),
        "kubestellar-agent",
        AGENT_OBJECTS,
    );

    // Least privilege, seen from the identities themselves.
    assert_eq!(
        controller
            .run(
                &["auth", "can-i", "update", "configmaps", "-n", "default"],
                None
            )
            .1
            .trim(),
        "no"
    );
    assert_eq!(
        controller
            .run(
                &["auth", "can-i", "get", "leases/other", "-n", "kube-system"],
                None
            )
            .1
            .trim(),
        "yes",
        "reading is granted everywhere"
    );
    assert_eq!(
        agent_its
            .run(
                &["auth", "can-i", "list", "manifestworks", "-n", "cluster2"],
                None
            )
            .1
            .trim(),
        "no",
        "the agent's ITS identity is confined to its mailbox"
    );

    // The controller serves probes and metrics on two ports, the agent on one.
    let (probes, metrics, agent_port) = (free_port(), free_port(), free_port());
    let _controller = Proc(
        Command::new(env!("CARGO_BIN_EXE_kubestellar"))
            .args(["controller", "--wds-name", "wds1", "--leader-elect"])
            .arg(format!("--health-probe-bind-address=127.0.0.1:{probes}"))
            .arg(format!("--metrics-bind-address=127.0.0.1:{metrics}"))
            .arg("--wds-kubeconfig")
            .arg(&controller.kubeconfig)
            .arg("--its-kubeconfig")
            .arg(&controller.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("controller runs"),
    );
    let _agent = Proc(
        Command::new(env!("CARGO_BIN_EXE_kubestellar"))
            .args(["agent", "--cluster", "cluster1", "--leader-elect"])
            .arg(format!(
                "--health-probe-bind-address=127.0.0.1:{agent_port}"
            ))
            .arg(format!("--metrics-bind-address=127.0.0.1:{agent_port}"))
            .arg("--its-kubeconfig")
            .arg(&agent_its.kubeconfig)
            .arg("--wec-kubeconfig")
            .arg(&agent_wec.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("agent runs"),
    );

    // The controller installs the CRDs itself (create on its own CRDs only): wait for them.
    wait_until(Duration::from_secs(60), "the controller's CRDs", || {
        hub_admin
            .json(&["crd", "bindingpolicies.control.kubestellar.io"])
            .is_some()
    });
    hub_admin.apply(WORKLOAD);

    wait_until(Duration::from_secs(60), "the Deployment in the WEC", || {
        wec_admin.json(&["deploy", "demo", "-n", "demo"]).is_some()
    });
    wait_until(
        Duration::from_secs(60),
        "cluster1 joined and available",
        || {
            hub_admin
                .json(&["managedcluster", "cluster1"])
                .and_then(|mc| mc["status"]["conditions"].as_array().cloned())
                .is_some_and(|cs| {
                    ["ManagedClusterJoined", "ManagedClusterConditionAvailable"]
                        .iter()
                        .all(|t| cs.iter().any(|c| c["type"] == *t && c["status"] == "True"))
                })
        },
    );
    wait_until(
        Duration::from_secs(60),
        "the singleton status in the WDS",
        || {
            hub_admin
                .json(&["deploy", "demo", "-n", "demo"])
                .is_some_and(|d| d["status"]["availableReplicas"] == 1)
        },
    );
    let policy = hub_admin
        .json(&["bindingpolicy", "demo"])
        .expect("BindingPolicy");
    assert_eq!(policy["status"]["observedGeneration"], 1);
    assert!(
        policy["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "the controller's finalizer: {policy}"
    );
    let lease = hub_admin
        .json(&["lease", "kubestellar-controller-wds1", "-n", "kube-system"])
        .expect("the controller's Lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    let lease = hub_admin
        .json(&["lease", "kubestellar-agent-leader", "-n", "cluster1"])
        .expect("the agent's Lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );

    // Probes and metrics of both running processes, after a delivery.
    for (port, checks) in [
        (probes, "[+]controllers ok"),
        (agent_port, "[+]manifestworks ok"),
    ] {
        let (code, body) = support::http_get(port, "/healthz").expect("healthz answers");
        assert_eq!(code, 200, "{body}");
        assert!(body.contains(checks), "{body}");
    }
    for (port, checks) in [
        (
            probes,
            &["[+]wasmplugins-synced ok", "[+]wds-resources-watched ok"][..],
        ),
        (agent_port, &["[+]manifestworks-synced ok"][..]),
    ] {
        let (code, body) = support::http_get(port, "/readyz").expect("readyz answers");
        assert_eq!(code, 200, "{body}");
        for c in checks {
            assert!(body.contains(c), "{c} in {body}");
        }
    }
    assert_eq!(
        support::http_get(probes, "/metrics").map(|r| r.0),
        Some(404),
        "metrics are on their own address"
    );
    let (code, text) = support::http_get(metrics, "/metrics").expect("controller metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(&text, "kubestellar_leader{component=\"controller\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kubestellar_ready{component=\"controller\"}"),
        Some(1.0)
    );
    for series in [
        "kubestellar_transport_manifestworks_applied_total{wds=\"wds1\"}",
        "kubestellar_transport_renders_total{wds=\"wds1\"}",
        "kubestellar_status_reconciles_total{wds=\"wds1\"}",
        "kubestellar_status_writes_total{wds=\"wds1\"}",
        "kubestellar_binding_watched_resources{wds=\"wds1\"}",
    ] {
        assert!(
            sample(&text, series).is_some_and(|v| v >= 1.0),
            "{series} >= 1 in:\n{text}"
        );
    }
    assert!(text.contains("# TYPE kubestellar_transport_manifestworks_applied counter"));
    let (code, text) = support::http_get(agent_port, "/metrics").expect("agent metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(&text, "kubestellar_leader{component=\"agent\"}"),
        Some(1.0),
        "{text}"
    );
    let agent_loop = "{component=\"agent\",loop=\"manifestworks\"}";
    assert!(
        sample(&text, &format!("kubestellar_reconciles_total{agent_loop}"))
            .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            &format!("kubestellar_reconcile_errors_total{agent_loop}")
        )
        .is_some()
    );
    assert!(sample(&text, &format!("kubestellar_workqueue_depth{agent_loop}")).is_some());
    assert!(
        !text.contains("demo"),
        "no object name or content in labels:\n{text}"
    );

    // Withdrawal works with the same rights: deleting the policy removes the delivery.
    hub_admin.ok(&["delete", "bindingpolicy", "demo", "--wait=false"]);
    wait_until(
        Duration::from_secs(60),
        "the Deployment to leave the WEC",
        || wec_admin.json(&["deploy", "demo", "-n", "demo"]).is_none(),
    );
    wait_until(Duration::from_secs(60), "the BindingPolicy to go", || {
        hub_admin.json(&["bindingpolicy", "demo"]).is_none()
    });
}
