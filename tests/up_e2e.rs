//! End to end, as a new user would: `kubestellar up` (the real binary, as a process), the
//! README's worked example with the real kubectl, results checked in the WECs and the WDS; then
//! SIGTERM, `up` again on the same directory, and the state is still there and converged.

#[path = "../host/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Kubectl, eventually};

const T: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kubestellar() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubestellar"));
    // `plugin install` keeps what it compiles in the default cache: this test's, not the user's.
    c.current_dir(repo())
        .env_remove("KUBESTELLAR_PLUGIN_CACHE")
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("up-e2e-cache"),
        );
    c
}

/// A running `kubestellar up`, killed when dropped unless it already exited: a failing test
/// must not leave it running (it would hold the test's output open).
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Up {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Up {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Starts `kubestellar up` and waits until it says it is up.
fn up(dir: &Path) -> Up {
    let mut child = Up(kubestellar()
        .args(["up", "--dir"])
        .arg(dir)
        .args(["--wecs", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubestellar up starts"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.starts_with("KubeStellar is up") => break,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("kubestellar up exited before it was ready: {e}"),
        }
        assert!(start.elapsed() < T, "kubestellar up not ready within {T:?}");
    }
    assert!(
        dir.join("kubeconfig").exists(),
        "the kubeconfig is written once ready"
    );
    child
}

fn sigterm(child: &mut Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "SIGTERM delivered");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(
                status.success(),
                "kubestellar up stops cleanly on SIGTERM: {status}"
            );
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "kubestellar up did not stop within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn example(name: &str) -> String {
    repo()
        .join("examples/nginx")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn resource_versions(k: &Kubectl, kind: &str) -> String {
    k.ok(&["get", kind, "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion} {end}"])
}

#[test]
fn quickstart_as_a_new_user() {
    // The example plugin, built as the README's quickstart builds it.
    let status = Command::new(repo().join("scripts/build-examples"))
        .status()
        .expect("build-examples runs");
    assert!(status.success(), "scripts/build-examples");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = up(dir.path());
    let kc = dir.path().join("kubeconfig");
    let wds = Kubectl::new(33, &kc).context("wds1");
    let its = Kubectl::new(33, &kc).context("its1");
    let c1 = Kubectl::new(33, &kc).context("cluster1");
    let c2 = Kubectl::new(33, &kc).context("cluster2");
    let contexts = wds.ok(&["config", "get-contexts", "-o", "name"]);
    for ctx in ["wds1", "its1", "cluster1", "cluster2"] {
        assert!(
            contexts.lines().any(|l| l == ctx),
            "context {ctx} in {contexts}"
        );
    }

    // The WECs as OCM shows them: accepted, joined and available once their agents beat.
    eventually(T, "ManagedClusters joined and available", || {
        let table = its.ok(&["get", "managedclusters", "--no-headers"]);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        (rows.len() == 2
            && rows
                .iter()
                .all(|r| r.get(1..4) == Some(&["true", "True", "True"][..])))
        .then_some(())
    });

    // The upstream scenario: namespace + deployment + BindingPolicy -> both WECs.
    wds.ok(&[
        "apply",
        "-f",
        &example("namespace.yaml"),
        "-f",
        &example("deployment.yaml"),
    ]);
    wds.ok(&["apply", "-f", &example("bindingpolicy.yaml")]);
    for wec in [&c1, &c2] {
        eventually(T, "nginx delivered", || {
            wec.jsonpath(
                &["get", "deploy", "nginx", "-n", "nginx"],
                "{.metadata.name}",
            )
        });
    }

    // A CustomTransform with a plugin: per-cluster labels, and upstream's remove.
    let out = kubestellar()
        .args([
            "plugin",
            "install",
            "examples/plugins/cluster-labels.wasm",
            "--name",
            "cluster-labels",
            "--context",
            "wds1",
            "--kubeconfig",
        ])
        .arg(&kc)
        .output()
        .expect("plugin install runs");
    assert!(
        out.status.success(),
        "plugin install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wds.ok(&["apply", "-f", &example("customtransform.yaml")]);
    for (wec, region) in [(&c1, "east"), (&c2, "west")] {
        eventually(T, "per-cluster label from the plugin", || {
            wec.jsonpath(
                &["get", "deploy", "nginx", "-n", "nginx"],
                "{.metadata.labels.example\\.kubestellar\\.io/region}",
            )
            .filter(|r| r == region)
        });
        let labels = wec.ok(&[
            "get",
            "deploy",
            "nginx",
            "-n",
            "nginx",
            "-o",
            "jsonpath={.metadata.labels}",
        ]);
        assert!(
            !labels.contains("test.kubestellar.io/test-label"),
            "removed by the CustomTransform: {labels}"
        );
    }

    // Status back: CombinedStatus from two StatusCollectors.
    wds.ok(&[
        "apply",
        "-f",
        &example("statuscollector.yaml"),
        "-f",
        &example("bindingpolicy-status.yaml"),
    ]);
    eventually(T, "sum of available replicas = 2", || {
        wds.jsonpath(
            &["get", "combinedstatuses", "-n", "nginx"],
            "{.items[0].results[?(@.name==\"sum-available-replicas\")].rows[0].columns[0].float}",
        )
        .filter(|s| s == "2")
    });
    eventually(T, "one row per WEC", || {
        wds.jsonpath(
            &["get", "combinedstatuses", "-n", "nginx"],
            "{.items[0].results[?(@.name==\"ready-per-wec\")].rows[*].columns[0].string}",
        )
        .filter(|s| s.contains("cluster1") && s.contains("cluster2"))
    });
    eventually(T, "BindingPolicy Ready", || {
        wds.jsonpath(
            &["get", "bindingpolicy", "nginx"],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        )
        .filter(|s| s == "True")
    });
    let status = kubestellar()
        .args(["status", "--dir"])
        .arg(dir.path())
        .output()
        .expect("status runs");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("cluster1") && text.contains("healthy") && text.contains("nginx"),
        "{text}"
    );
    // Spaces are listed at the URLs kubectl uses: HTTPS by default.
    let wds_url = std::fs::read_to_string(dir.path().join("kubeconfig"))
        .expect("kubeconfig")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server: "))
        .find(|url| text.contains(&format!("WDS  {url}")))
        .map(str::to_owned);
    assert!(wds_url.is_some_and(|u| u.starts_with("https://")), "{text}");

    // Restart on the same directory: same contexts, same state, nothing rewritten.
    let mw_before = resource_versions(&its, "manifestworks");
    sigterm(&mut child);
    let mut child = up(dir.path());
    eventually(T, "WDS back with its objects", || {
        wds.jsonpath(&["get", "bindingpolicy", "nginx"], "{.metadata.name}")
    });
    for (wec, region) in [(&c1, "east"), (&c2, "west")] {
        let r = wec.jsonpath(
            &["get", "deploy", "nginx", "-n", "nginx"],
            "{.metadata.labels.example\\.kubestellar\\.io/region}",
        );
        assert_eq!(
            r.as_deref(),
            Some(region),
            "still delivered and customized after restart"
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        resource_versions(&its, "manifestworks"),
        mw_before,
        "a restart rewrites no unchanged ManifestWork"
    );
    eventually(T, "CombinedStatus still right", || {
        wds.jsonpath(
            &["get", "combinedstatuses", "-n", "nginx"],
            "{.items[0].results[?(@.name==\"sum-available-replicas\")].rows[0].columns[0].float}",
        )
        .filter(|s| s == "2")
    });
    let down = kubestellar()
        .args(["down", "--dir"])
        .arg(dir.path())
        .status()
        .expect("down runs");
    assert!(down.success(), "kubestellar down");
    let status = child.wait().expect("up exits");
    assert!(status.success(), "up exits cleanly after down: {status}");
}
