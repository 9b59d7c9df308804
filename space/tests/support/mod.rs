//! Test support: a space served on a loopback port from its own runtime thread, and real
//! kubectl binaries run against it with a fresh cache directory.
//!
//! Compiled into the `etcd_kubectl` test (which includes the kubectl check files), every
//! [`TestSpace`] is instead two space servers on one fresh etcd; the checks talk to one of
//! them, alternately the first and the second started.

#![allow(dead_code)]

pub mod etcd;
pub mod http;
pub mod manifests;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kubestellar_space::{RunningSpace, SpaceConfig};

/// A space serving on 127.0.0.1 until dropped.
pub struct TestSpace {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub kubeconfig: PathBuf,
    rt: Option<tokio::runtime::Runtime>,
    running: Option<RunningSpace>,
    /// The other replica, when the space runs on etcd.
    peer: Option<RunningSpace>,
    peer_dir: Option<tempfile::TempDir>,
    etcd: Option<etcd::Etcd>,
}

/// True in the test that runs the kubectl checks against spaces on etcd.
pub const ON_ETCD: bool = matches!(env!("CARGO_CRATE_NAME").as_bytes(), b"etcd_kubectl");

/// Which replica the next etcd-backed [`TestSpace`] serves its checks from.
static NEXT_PRIMARY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl TestSpace {
    /// Starts a fresh space.
    pub fn start() -> TestSpace {
        Self::start_with(|_| {})
    }

    /// Starts a fresh space after adjusting its configuration.
    pub fn start_with(f: impl FnOnce(&mut SpaceConfig)) -> TestSpace {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = SpaceConfig::new("test", dir.path());
        f(&mut cfg);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let start = |cfg: SpaceConfig| {
            rt.block_on(kubestellar_space::start(
                cfg,
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("space starts")
        };
        if !ON_ETCD {
            let running = start(cfg);
            return TestSpace {
                url: running.url(),
                kubeconfig: running.kubeconfig.clone(),
                dir,
                rt: Some(rt),
                running: Some(running),
                peer: None,
                peer_dir: None,
                etcd: None,
            };
        }
        let etcd = etcd::Etcd::start();
        cfg.store = etcd.store("/test");
        let peer_dir = tempfile::tempdir().expect("tempdir");
        let mut peer_cfg = cfg.clone();
        peer_cfg.data_dir = peer_dir.path().to_path_buf();
        // The second replica shares the first one's CA and tokens, as replicas must.
        let primary_first = NEXT_PRIMARY
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            .is_multiple_of(2);
        let (running, peer) = if primary_first {
            let r = start(cfg);
            copy_identity(dir.path(), peer_dir.path());
            (r, start(peer_cfg))
        } else {
            let p = start(peer_cfg);
            copy_identity(peer_dir.path(), dir.path());
            (start(cfg), p)
        };
        TestSpace {
            url: running.url(),
            kubeconfig: running.kubeconfig.clone(),
            dir,
            rt: Some(rt),
            running: Some(running),
            peer: Some(peer),
            peer_dir: Some(peer_dir),
            etcd: Some(etcd),
        }
    }

    /// The other replica, when the space runs on etcd.
    pub fn peer(&self) -> Option<&RunningSpace> {
        self.peer.as_ref()
    }

    /// The running space.
    pub fn running(&self) -> &RunningSpace {
        self.running.as_ref().expect("running")
    }

    /// Runs a future on the space's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().expect("runtime").block_on(f)
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        self.running().addr.to_string()
    }

    /// A raw HTTP request to the space.
    pub fn request<'a>(&self, addr: &'a str, method: &'a str, path: &'a str) -> http::Request<'a> {
        http::Request::new(addr, method, path)
    }

    /// How many requests with this verb (LIST, WATCH, APPLY, ...) got this status code.
    pub fn requests(&self, verb: &str, code: u16) -> u64 {
        let text = self.running().space.metrics.render();
        let label = format!("space_apiserver_requests_total{{verb=\"{verb}\",code=\"{code}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&label))
            .map(|n| n.trim().parse().expect("counter"))
            .unwrap_or(0)
    }

    /// `space_apiserver_watches_active`: watch streams open now.
    pub fn watches_active(&self) -> i64 {
        let text = self.running().space.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix("space_apiserver_watches_active "))
            .map(|n| n.trim().parse().expect("gauge"))
            .expect("space_apiserver_watches_active in /metrics")
    }

    /// A kube-rs client for the space (built from its kubeconfig).
    pub fn kube_client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        self.block_on(async {
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .expect("kube config");
            kube::Client::try_from(cfg).expect("kube client")
        })
    }

    /// kubectl of a given minor version, with its own cache directory.
    pub fn kubectl(&self, minor: u32) -> Kubectl {
        Kubectl {
            bin: PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}")),
            kubeconfig: self.kubeconfig.clone(),
            cache: tempfile::tempdir().expect("cache dir"),
        }
    }
}

impl Drop for TestSpace {
    fn drop(&mut self) {
        if let (Some(rt), Some(r)) = (self.rt.take(), self.running.take()) {
            rt.block_on(r.stop());
            if let Some(p) = self.peer.take() {
                rt.block_on(p.stop());
            }
            rt.shutdown_background();
        }
    }
}

/// Copies a space's CA and tokens (`pki/`, `tokens.csv`) to another data directory.
fn copy_identity(from: &Path, to: &Path) {
    let pki = from.join("pki");
    if pki.is_dir() {
        std::fs::create_dir_all(to.join("pki")).expect("pki dir");
        for e in std::fs::read_dir(&pki).expect("pki") {
            let e = e.expect("pki entry");
            std::fs::copy(e.path(), to.join("pki").join(e.file_name())).expect("copy pki");
        }
    }
    if from.join("tokens.csv").exists() {
        std::fs::copy(from.join("tokens.csv"), to.join("tokens.csv")).expect("copy tokens");
    }
}

/// A kubectl binary bound to one space.
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: tempfile::TempDir,
}

/// What a kubectl run printed.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        assert!(
            self.bin.exists(),
            "{} is missing: this test needs the real kubectl",
            self.bin.display()
        );
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.cache.path())
            .arg("--cache-dir")
            .arg(self.cache.path().join("cache"))
            .args(args);
        c
    }

    /// Runs kubectl and returns what it printed.
    pub fn run(&self, args: &[&str]) -> Out {
        to_out(self.command(args).output().expect("kubectl runs"))
    }

    /// Runs kubectl with `input` on stdin (for `-f -`).
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Out {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        to_out(child.wait_with_output().expect("kubectl finishes"))
    }

    /// Runs kubectl and fails the test unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    /// Like `ok`, with stdin.
    pub fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let o = self.run_stdin(args, input);
        assert!(
            o.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    /// Applies a manifest given as text (`kubectl apply -f - ARGS`); returns stdout.
    pub fn apply(&self, manifest: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.ok_stdin(&args, manifest)
    }

    /// Like `run_stdin`, expecting failure; returns stderr.
    pub fn fails_stdin(&self, args: &[&str], input: &str) -> String {
        let o = self.run_stdin(args, input);
        assert!(
            !o.ok,
            "kubectl {args:?} unexpectedly succeeded:\n{}",
            o.stdout
        );
        o.stderr
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.ok,
            "kubectl {args:?} unexpectedly succeeded:\n{}",
            o.stdout
        );
        o.stderr
    }

    /// Spawns kubectl in the background (for `-w`, `wait`, `delete` that blocks).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs")
    }
}

fn to_out(o: Output) -> Out {
    Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The kubectl versions every check runs with: 1.31 sends JSON bodies, 1.33 protobuf.
pub const KUBECTLS: [u32; 2] = [31, 33];

/// The whitespace-separated cells of the line of `table` whose first cell is `first`.
pub fn row(table: &str, first: &str) -> Option<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|cells| cells.first().is_some_and(|c| c == first))
}

/// Sorted non-empty lines.
pub fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Polls `f` until it returns `Some` or `secs` pass.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Writes a file into a directory and returns its path as a string.
pub fn write_file(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write file");
    p.to_string_lossy().into_owned()
}
