//! Shared by the status controller tests: the whole system in-process with the controllers of
//! the WDS under the test's control, so a test can run the status controller alone (Bindings
//! and ManifestWorks written by hand), with the binding and transport controllers (full
//! delivery), or stop and restart it.
//!
//! The ITS, the simulated WECs (`cluster1`..) and their agents come from [`System`] (started
//! without a WDS); the WDS `wds1` is a space of its own whose controllers this module runs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a subset; tests panic to fail.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kubestellar::controller::{self, ControllerConfig, Ctx};
use kubestellar::status::{Stats, StatsSnapshot, StatusController};
use kubestellar::system::{System, SystemConfig};
use kubestellar_space::{RunningSpace, SpaceConfig};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::support::{Kubectl, eventually};

/// How long the tests wait for anything.
pub const T: Duration = Duration::from_secs(60);

/// The upstream e2e setup: Namespace `nginx` and Deployment `nginx/nginx`, both labelled
/// `app.kubernetes.io/name=nginx`.
pub const NGINX: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: nginx
  labels: {app.kubernetes.io/name: nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: nginx
  labels: {app.kubernetes.io/name: nginx, test.kubestellar.io/test-label: here}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: nginx}}
  template:
    metadata: {labels: {app.kubernetes.io/name: nginx}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
"#;

/// A running system whose WDS controllers the test starts and stops.
pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    system: Option<System>,
    wds_space: Option<RunningSpace>,
    pub ctx: Arc<Ctx>,
    /// The system's kubeconfig (contexts `its1`, `cluster1`, ...).
    pub kubeconfig: PathBuf,
    /// The WDS's kubeconfig.
    pub wds_kubeconfig: PathBuf,
    status: Option<(JoinHandle<()>, Arc<Stats>)>,
    others: Vec<JoinHandle<()>>,
}

impl Env {
    /// Starts `wecs` WECs and the WDS; with `delivery`, the binding and transport controllers
    /// run too (otherwise the test writes Bindings and ManifestWorks itself). The WasmPlugin
    /// registry always runs. The status controller is started with [`Env::start_status`].
    pub fn start(wecs: usize, delivery: bool) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let cfg = SystemConfig {
            wds: Vec::new(),
            ..SystemConfig::new(dir.path(), wecs)
        };
        let system = rt
            .block_on(System::start(cfg, &|_| {}))
            .expect("system starts");
        let wds_space = rt
            .block_on(kubestellar_space::start(
                SpaceConfig::new("wds1", dir.path().join("wds1")),
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("WDS starts");
        let wds_kubeconfig = wds_space.kubeconfig.clone();
        let wds = rt
            .block_on(kubestellar::clients::client(Some(&wds_kubeconfig), None))
            .expect("WDS client");
        let its = rt.block_on(system.client("its1")).expect("ITS client");
        let mut ccfg = ControllerConfig::new("wds1");
        ccfg.plugin_cache_dir = Some(dir.path().join("plugin-cache"));
        let ctx = rt
            .block_on(controller::prepare(ccfg, wds, its))
            .expect("controller prepares");
        let mut others = vec![rt.spawn(ctx.plugins.clone().run())];
        if delivery {
            others.push(rt.spawn(kubestellar::binding::run(ctx.clone())));
            others.push(rt.spawn(kubestellar::transport::run(ctx.clone())));
        }
        let kubeconfig = system.kubeconfig.clone();
        Env {
            rt,
            dir,
            system: Some(system),
            wds_space: Some(wds_space),
            ctx,
            kubeconfig,
            wds_kubeconfig,
            status: None,
            others,
        }
    }

    /// Starts the status controller (a fresh one, as after a restart).
    pub fn start_status(&mut self) {
        assert!(
            self.status.is_none(),
            "the status controller is already running"
        );
        let c = StatusController::new(self.ctx.clone());
        let stats = c.stats();
        let h = self.rt.spawn(c.run());
        self.status = Some((h, stats));
    }

    /// Stops the status controller (as a crash would).
    pub fn stop_status(&mut self) {
        if let Some((h, _)) = self.status.take() {
            h.abort();
            let _ = self.rt.block_on(h);
        }
    }

    /// The running status controller's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.status
            .as_ref()
            .map(|(_, s)| s.snapshot())
            .unwrap_or_default()
    }

    /// kubectl on the WDS.
    pub fn wds(&self) -> Kubectl {
        Kubectl::new(33, &self.wds_kubeconfig)
    }

    /// kubectl on the ITS.
    pub fn its(&self) -> Kubectl {
        Kubectl::new(33, &self.kubeconfig).context("its1")
    }

    /// kubectl on a WEC.
    pub fn wec(&self, name: &str) -> Kubectl {
        Kubectl::new(33, &self.kubeconfig).context(name)
    }

    /// The WDS store's resourceVersion (it moves with every write).
    pub fn wds_rv(&self) -> u64 {
        self.wds_space
            .as_ref()
            .map(|s| s.space.store.current_rv())
            .unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_status();
        for h in self.others.drain(..) {
            h.abort();
        }
        if let Some(s) = self.system.take() {
            self.rt.block_on(s.stop());
        }
        if let Some(s) = self.wds_space.take() {
            self.rt.block_on(s.stop());
        }
    }
}

/// `kubectl get ARGS -o json`, parsed; None if kubectl fails (e.g. not found).
pub fn get_json(k: &Kubectl, args: &[&str]) -> Option<Value> {
    let mut a: Vec<&str> = vec!["get"];
    a.extend(args);
    a.extend(["-o", "json"]);
    let (ok, out, _) = k.run(&a, None);
    if !ok {
        return None;
    }
    serde_json::from_str(&out).ok()
}

/// Waits until `kubectl get ARGS -o json` satisfies `pred`; returns the object. On timeout the
/// failure shows the object as last seen.
pub fn wait_for(k: &Kubectl, args: &[&str], what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    let mut last = None;
    loop {
        let v = get_json(k, args);
        if let Some(v) = v.as_ref().filter(|v| pred(v)) {
            return v.clone();
        }
        last = v.or(last);
        if start.elapsed() > T {
            let shown = last
                .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                .unwrap_or_else(|| "nothing".into());
            panic!("timed out after {T:?} waiting for {what}; last seen:\n{shown}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `kubectl get ARGS` fails with NotFound.
pub fn wait_gone(k: &Kubectl, args: &[&str], what: &str) {
    eventually(T, what, || {
        let mut a: Vec<&str> = vec!["get"];
        a.extend(args);
        let (ok, _, err) = k.run(&a, None);
        (!ok && err.contains("NotFound")).then_some(())
    });
}

/// The condition of type `t` of an object.
pub fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

/// The metadata.uid of an object.
pub fn uid(k: &Kubectl, args: &[&str]) -> String {
    let mut a: Vec<&str> = vec!["get"];
    a.extend(args);
    k.ok(&[a, vec!["-o", "jsonpath={.metadata.uid}"]].concat())
}
