//! Test support for host integration tests: embedded spaces on loopback ports, kube clients,
//! and real kubectl against them.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubestellar_space::{RunningSpace, SpaceConfig};

/// A set of spaces served from one runtime, stopped on drop.
pub struct Spaces {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub spaces: Vec<RunningSpace>,
}

impl Spaces {
    /// Starts spaces named `names`; those in `simulated` run the workload simulator.
    pub fn start(names: &[&str], simulated: &[&str]) -> Spaces {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut spaces = Vec::new();
        for n in names {
            let mut cfg = SpaceConfig::new(*n, dir.path().join(n));
            cfg.simulator = simulated.contains(n);
            let running = rt
                .block_on(kubestellar_space::start(
                    cfg,
                    "127.0.0.1:0".parse().expect("addr"),
                ))
                .expect("space starts");
            spaces.push(running);
        }
        Spaces { dir, rt, spaces }
    }

    /// The running space called `name`.
    pub fn get(&self, name: &str) -> &RunningSpace {
        self.spaces
            .iter()
            .find(|s| s.space.config.name == name)
            .expect("known space")
    }

    /// A kube client for a space.
    pub fn client(&self, name: &str) -> kube::Client {
        let kc = self.get(name).kubeconfig.clone();
        self.rt
            .block_on(kubestellar::clients::client(Some(&kc), None))
            .expect("client")
    }

    /// kubectl 1.33 bound to a space.
    pub fn kubectl(&self, name: &str) -> Kubectl {
        Kubectl::new(33, &self.get(name).kubeconfig)
    }

    /// The store's current resourceVersion of a space (counts its writes).
    pub fn rv(&self, name: &str) -> u64 {
        self.get(name).space.store.current_rv()
    }

    /// Watch streams open now in a space (`space_apiserver_watches_active`).
    pub fn watches_active(&self, name: &str) -> i64 {
        let text = self.get(name).space.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix("space_apiserver_watches_active "))
            .and_then(|n| n.trim().parse().ok())
            .expect("space_apiserver_watches_active in /metrics")
    }
}

impl Drop for Spaces {
    fn drop(&mut self) {
        for s in self.spaces.drain(..) {
            self.rt.block_on(s.stop());
        }
    }
}

/// A kubectl binary bound to one kubeconfig (and context).
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
    cache: tempfile::TempDir,
}

impl Kubectl {
    /// kubectl 1.<minor> with a fresh cache.
    pub fn new(minor: u32, kubeconfig: &Path) -> Kubectl {
        let bin = PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"));
        assert!(
            bin.exists(),
            "{} is missing: these tests need the real kubectl",
            bin.display()
        );
        Kubectl {
            bin,
            kubeconfig: kubeconfig.to_path_buf(),
            context: None,
            cache: tempfile::tempdir().expect("cache"),
        }
    }

    /// The same binary on another context.
    pub fn context(mut self, ctx: &str) -> Kubectl {
        self.context = Some(ctx.to_string());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.cache.path())
            .arg("--cache-dir")
            .arg(self.cache.path().join("c"));
        if let Some(ctx) = &self.context {
            c.arg("--context").arg(ctx);
        }
        c.args(args);
        c
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut child = self
            .command(args)
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

    /// Runs kubectl, failing the test if it fails; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// `kubectl apply -f -` with `yaml`.
    pub fn apply(&self, yaml: &str) -> String {
        let (ok, out, err) = self.run(&["apply", "-f", "-"], Some(yaml));
        assert!(ok, "kubectl apply failed:\n{yaml}\n{out}\n{err}");
        out
    }

    /// `kubectl get ... -o jsonpath=...`, or None if it fails (e.g. not found).
    pub fn jsonpath(&self, args: &[&str], path: &str) -> Option<String> {
        let jp = format!("jsonpath={path}");
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["-o", &jp]);
        let (ok, out, _) = self.run(&a, None);
        ok.then_some(out)
    }
}

/// Polls `f` every 50 ms until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Holds for the whole `period` (checked every 100 ms).
pub fn consistently(period: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < period {
        assert!(f(), "{what} stopped holding after {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The two-worker runtime the tests' systems run on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The embedded system (`kubestellar up`'s) with `wecs` WECs in a fresh directory, its
/// configuration adjusted by `tweak`; with the directory and the runtime it runs on.
pub fn start_system(
    wecs: usize,
    tweak: impl FnOnce(&mut kubestellar::system::SystemConfig),
) -> (
    tempfile::TempDir,
    tokio::runtime::Runtime,
    kubestellar::system::System,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let mut cfg = kubestellar::system::SystemConfig::new(dir.path(), wecs);
    tweak(&mut cfg);
    let system = rt
        .block_on(kubestellar::system::System::start(cfg, &|_| {}))
        .expect("system starts");
    (dir, rt, system)
}

/// A plain HTTP GET of `path` on a loopback port: the status code and body, `None` if the
/// connection or the response fails (for the controller's and agent's probe endpoints).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}
