//! The environment of the delivery tests: a WDS, an ITS and simulated WECs (upstream's e2e
//! setup: `cluster1`/`cluster2` labelled `location-group=edge`, `name=<wec>`, a region, and a
//! `clusterURL` property), each WEC with its agent, and the controllers of the WDS (WasmPlugin
//! registry, binding and transport controllers) which tests can stop and restart.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a subset; tests panic to fail.

use std::sync::Arc;
use std::time::Duration;

use kubestellar::agent::{Agent, AgentConfig};
use kubestellar::controller::{self, ControllerConfig, Ctx};
use kubestellar::inventory::{self, Registration};
use kubestellar::system::WecSpec;
use kubestellar::{binding, transport};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::support::{Kubectl, Spaces, eventually};

/// How long tests wait for convergence.
pub const T: Duration = Duration::from_secs(30);

/// Spaces, agents and a restartable controller.
pub struct Env {
    pub spaces: Spaces,
    pub wecs: Vec<String>,
    pub cfg: ControllerConfig,
    pub ctx: Option<Arc<Ctx>>,
    pub binding: binding::Observer,
    pub transport: transport::Observer,
    controller: Option<tokio::task::JoinHandle<()>>,
    agents: Vec<oneshot::Sender<()>>,
}

impl Env {
    /// `n` WECs (`cluster1`..), controller config adjusted by `adjust`, controller running.
    pub fn new(n: usize, adjust: impl FnOnce(&mut ControllerConfig)) -> Env {
        // RUST_LOG=kubestellar=debug shows what the controllers do.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let wecs: Vec<String> = (1..=n).map(|i| format!("cluster{i}")).collect();
        let mut names = vec!["wds1", "its1"];
        names.extend(wecs.iter().map(String::as_str));
        let simulated: Vec<&str> = wecs.iter().map(String::as_str).collect();
        let spaces = Spaces::start(&names, &simulated);
        let its = spaces.client("its1");
        for w in &wecs {
            let spec = WecSpec::named(w);
            let reg = Registration {
                name: spec.name,
                labels: spec.labels,
                properties: spec.properties,
            };
            spaces
                .rt
                .block_on(inventory::register(&its, &reg))
                .expect("register");
        }
        let mut agents = Vec::new();
        for w in &wecs {
            let wec = spaces.client(w);
            let (tx, rx) = oneshot::channel::<()>();
            let agent = Agent::new(AgentConfig::new(w), its.clone(), wec);
            spaces.rt.spawn(agent.run(async {
                let _ = rx.await;
            }));
            agents.push(tx);
        }
        let mut cfg = ControllerConfig::new("wds1");
        adjust(&mut cfg);
        let mut env = Env {
            spaces,
            wecs,
            cfg,
            ctx: None,
            binding: binding::Observer::default(),
            transport: transport::Observer::default(),
            controller: None,
            agents,
        };
        env.start_controller();
        env
    }

    /// Starts the controller of the WDS (as a process start would: prepare, then run).
    pub fn start_controller(&mut self) {
        let wds = self.spaces.client("wds1");
        let its = self.spaces.client("its1");
        let ctx = self
            .spaces
            .rt
            .block_on(controller::prepare(self.cfg.clone(), wds, its))
            .expect("prepare");
        self.binding = binding::Observer::default();
        self.transport = transport::Observer::default();
        let (b, t) = (self.binding.clone(), self.transport.clone());
        let c = ctx.clone();
        self.controller = Some(self.spaces.rt.spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            tasks.spawn(c.plugins.clone().run());
            tasks.spawn(binding::run_observed(c.clone(), b));
            tasks.spawn(transport::run_observed(c.clone(), t));
            while tasks.join_next().await.is_some() {}
        }));
        self.ctx = Some(ctx);
    }

    /// Kills the controller (all its tasks) at once.
    pub fn kill_controller(&mut self) {
        if let Some(h) = self.controller.take() {
            h.abort();
            let _ = self.spaces.rt.block_on(h);
        }
        self.ctx = None;
    }

    /// kubectl on the WDS.
    pub fn wds(&self) -> Kubectl {
        self.spaces.kubectl("wds1")
    }

    /// kubectl on the ITS.
    pub fn its(&self) -> Kubectl {
        self.spaces.kubectl("its1")
    }

    /// kubectl on WEC `name`.
    pub fn wec(&self, name: &str) -> Kubectl {
        self.spaces.kubectl(name)
    }

    /// Number of objects `kind` in `namespace` of WEC `wec` (0 when the namespace is missing).
    pub fn count(&self, wec: &str, kind: &str, namespace: &str) -> usize {
        let (ok, out, _) = self
            .wec(wec)
            .run(&["get", kind, "-n", namespace, "-o", "json"], None);
        if !ok {
            return 0;
        }
        serde_json::from_str::<Value>(&out)
            .ok()
            .and_then(|v| v["items"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// Waits until WEC `wec` holds exactly `n` objects `kind` in `namespace`.
    pub fn wait_count(&self, wec: &str, kind: &str, namespace: &str, n: usize) {
        eventually(T, &format!("{n} {kind} in {wec}/{namespace}"), || {
            (self.count(wec, kind, namespace) == n).then_some(())
        });
    }

    /// An object of a space as JSON, if it exists.
    pub fn get(k: &Kubectl, args: &[&str]) -> Option<Value> {
        let mut a: Vec<&str> = vec!["get"];
        a.extend(args);
        a.extend(["-o", "json"]);
        let (ok, out, _) = k.run(&a, None);
        if ok {
            serde_json::from_str(&out).ok()
        } else {
            None
        }
    }

    /// Waits until the ITS stops changing (nothing written for `quiet`), returning its
    /// resourceVersion.
    pub fn settle(&self, space: &str, quiet: Duration) -> u64 {
        let mut last = self.spaces.rv(space);
        let start = std::time::Instant::now();
        loop {
            std::thread::sleep(quiet);
            let now = self.spaces.rv(space);
            if now == last {
                return now;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{space} never settles"
            );
            last = now;
        }
    }

    /// Applies YAML to the WDS.
    pub fn apply(&self, yaml: &str) {
        self.wds().apply(yaml);
    }

    /// The upstream e2e workload: Namespace `nginx` and Deployment `nginx/nginx`, labelled
    /// `app.kubernetes.io/name=nginx`, the Deployment also `test.kubestellar.io/test-label=here`.
    pub fn nginx(&self) {
        self.apply(NGINX);
    }

    /// BindingPolicy `name` selecting `location-group=edge` WECs and objects labelled
    /// `app.kubernetes.io/name=nginx`.
    pub fn nginx_policy(&self, name: &str) {
        self.apply(&format!(
            r#"apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata:
  name: {name}
spec:
  clusterSelectors:
  - matchLabels: {{location-group: edge}}
  downsync:
  - objectSelectors:
    - matchLabels: {{app.kubernetes.io/name: nginx}}
"#
        ));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.kill_controller();
        for a in self.agents.drain(..) {
            let _ = a.send(());
        }
    }
}

/// See [`Env::nginx`].
pub const NGINX: &str = r#"apiVersion: v1
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
  labels:
    app.kubernetes.io/name: nginx
    test.kubestellar.io/test-label: here
spec:
  replicas: 1
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: public.ecr.aws/nginx/nginx:latest
        ports:
        - containerPort: 80
"#;

/// A Deployment `name` in `namespace` with `labels` (YAML flow map body, e.g. `a: b, c: d`).
pub fn deployment(namespace: &str, name: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: "{name}"
  namespace: {namespace}
  labels: {{{labels}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: "{name}"}}
  template:
    metadata:
      labels: {{app: "{name}"}}
    spec:
      containers:
      - name: c
        image: nginx:1.27
"#
    )
}
