//! The system under test: the embedded system of [`crate::system`] (spaces, registrations,
//! default plugins), with the controller of `wds1` started and stopped by the benchmark, and
//! the agents either in this process (like `kubestellar up`) or, in [`Mode::Split`], the
//! controller and the agents each in a process of their own (`kubestellar controller`, and
//! `kubestellar bench agents` for all agents), so that their memory and CPU time are measured
//! apart from the spaces'.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::oneshot;

use super::probe::Probe;
use super::stats::{Usage, usage};
use super::{BenchError, Mode};
use crate::agent::{Agent, AgentConfig};
use crate::controller::{self, ControllerConfig};
use crate::system::{System, SystemConfig};

/// The WDS of the benchmark system.
pub const WDS: &str = "wds1";
/// Its ITS.
pub const ITS: &str = "its1";

/// What to start.
#[derive(Clone, Debug)]
pub struct EnvConfig {
    pub dir: PathBuf,
    pub wecs: usize,
    pub mode: Mode,
    /// The `kubestellar` binary (for [`Mode::Split`]).
    pub exe: Option<PathBuf>,
    /// The run id (label value of every benchmark object).
    pub run: String,
    /// Where the controller keeps precompiled plugins.
    pub plugin_cache: PathBuf,
    /// Start the controller of the WDS (off: ManifestWorks are written to the ITS directly).
    pub controller: bool,
}

enum Component {
    Task {
        stop: oneshot::Sender<()>,
        handle: tokio::task::JoinHandle<()>,
    },
    Process(tokio::process::Child),
}

impl Component {
    fn pid(&self) -> Option<u32> {
        match self {
            Component::Task { .. } => None,
            Component::Process(c) => c.id(),
        }
    }

    async fn stop(self) {
        match self {
            Component::Task { stop, handle } => {
                let _ = stop.send(());
                let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
            }
            // A kill, not a polite stop: restarting after a crash is the case that matters.
            Component::Process(mut c) => {
                let _ = c.kill().await;
            }
        }
    }
}

/// Memory and CPU of the parts of the system.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usages {
    /// This process: the spaces and the driver, plus (in process) agents and controller.
    pub this: Usage,
    /// The controller process (split mode).
    pub controller: Option<Usage>,
    /// The agents' process (split mode).
    pub agents: Option<Usage>,
}

/// The running system under test.
pub struct Env {
    pub cfg: EnvConfig,
    pub system: Option<System>,
    pub wds: kube::Client,
    pub its: kube::Client,
    pub probe: Probe,
    controller: Option<Component>,
    agents: Option<Component>,
    starts: usize,
}

impl Env {
    /// Starts the spaces (and, in process, the agents), the probe and (if configured) the
    /// controller.
    pub async fn start(cfg: EnvConfig) -> Result<Env, BenchError> {
        if cfg.mode == Mode::Split && cfg.exe.is_none() {
            return Err(BenchError::Setup(
                "split mode needs the kubestellar binary".into(),
            ));
        }
        let mut scfg = SystemConfig::new(&cfg.dir, cfg.wecs);
        scfg.agents = cfg.mode == Mode::InProcess;
        scfg.controllers = false;
        let system = System::start(scfg, &|_| {}).await?;
        let wds = system.client(WDS).await?;
        let its = system.client(ITS).await?;
        let probe = {
            let space = |n: &str| {
                system
                    .space(n)
                    .ok_or_else(|| BenchError::Setup(format!("no space {n}")))
            };
            let wecs = system
                .wecs
                .iter()
                .map(|w| space(&w.name))
                .collect::<Result<Vec<_>, _>>()?;
            Probe::start(&cfg.run, space(WDS)?, space(ITS)?, &wecs)
        };
        let mut env = Env {
            cfg,
            system: Some(system),
            wds,
            its,
            probe,
            controller: None,
            agents: None,
            starts: 0,
        };
        if env.cfg.mode == Mode::Split {
            let mut args: Vec<String> = vec![
                "bench".into(),
                "agents".into(),
                "--kubeconfig".into(),
                env.kubeconfig().display().to_string(),
                "--its".into(),
                ITS.into(),
            ];
            args.extend((1..=env.cfg.wecs).map(|i| format!("cluster{i}")));
            env.agents = Some(env.spawn(&args, "agents")?);
        }
        if env.cfg.controller {
            env.start_controller().await?;
        }
        Ok(env)
    }

    /// `DIR/kubeconfig` (contexts named after the spaces).
    pub fn kubeconfig(&self) -> PathBuf {
        self.cfg.dir.join("kubeconfig")
    }

    fn spawn(&self, args: &[String], log: &str) -> Result<Component, BenchError> {
        let exe = self.cfg.exe.clone().unwrap_or_default();
        let log_path = self.cfg.dir.join(format!("{log}.log"));
        let out = std::fs::File::create(&log_path)
            .map_err(|e| BenchError::Setup(format!("{}: {e}", log_path.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| BenchError::Setup(format!("{}: {e}", log_path.display())))?;
        let child = tokio::process::Command::new(&exe)
            .args(["--log-level", "warn"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Setup(format!("cannot run {}: {e}", exe.display())))?;
        Ok(Component::Process(child))
    }

    /// Starts the controller of the WDS (the CRDs are there already).
    pub async fn start_controller(&mut self) -> Result<(), BenchError> {
        self.starts += 1;
        let cache = self.cfg.plugin_cache.clone();
        let component = match self.cfg.mode {
            Mode::InProcess => {
                let mut ccfg = ControllerConfig::new(WDS);
                ccfg.plugin_cache_dir = Some(cache);
                let ctx = controller::prepare(ccfg, self.wds.clone(), self.its.clone())
                    .await
                    .map_err(|e| BenchError::Setup(format!("controller: {e}")))?;
                let (stop, rx) = oneshot::channel::<()>();
                let handle = tokio::spawn(controller::run(ctx, async {
                    let _ = rx.await;
                }));
                Component::Task { stop, handle }
            }
            Mode::Split => {
                let kc = self.kubeconfig().display().to_string();
                let args: Vec<String> = [
                    "controller",
                    "--wds-kubeconfig",
                    &kc,
                    "--wds-context",
                    WDS,
                    "--its-kubeconfig",
                    &kc,
                    "--its-context",
                    ITS,
                    "--wds-name",
                    WDS,
                    "--plugin-cache",
                    &cache.display().to_string(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                self.spawn(&args, &format!("controller-{}", self.starts))?
            }
        };
        self.controller = Some(component);
        Ok(())
    }

    /// Stops the controller (kills its process in split mode).
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.stop().await;
        }
    }

    /// Memory and CPU time so far.
    pub fn usages(&self) -> Usages {
        let pid = |c: &Option<Component>| c.as_ref().and_then(Component::pid).and_then(usage);
        Usages {
            this: usage(std::process::id()).unwrap_or_default(),
            controller: pid(&self.controller),
            agents: pid(&self.agents),
        }
    }

    /// Write requests (POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION) a space has served.
    pub fn write_requests(&self, space: &str) -> u64 {
        self.system
            .as_ref()
            .and_then(|s| s.space(space))
            .map_or(0, |s| count_writes(&s.space.metrics.render()))
    }

    /// Objects a space holds.
    pub fn objects(&self, space: &str) -> usize {
        let mut n = 0;
        if let Some(s) = self.system.as_ref().and_then(|s| s.space(space)) {
            s.space.store.for_each(&mut |_, _| n += 1);
        }
        n
    }

    /// Stops everything.
    pub async fn stop(mut self) {
        self.stop_controller().await;
        if let Some(a) = self.agents.take() {
            a.stop().await;
        }
        if let Some(s) = self.system.take() {
            s.stop().await;
        }
    }
}

/// Sums the write requests in a space's `/metrics` text.
pub fn count_writes(metrics: &str) -> u64 {
    const WRITES: [&str; 6] = [
        "POST",
        "PUT",
        "PATCH",
        "APPLY",
        "DELETE",
        "DELETECOLLECTION",
    ];
    metrics
        .lines()
        .filter(|l| l.starts_with("space_apiserver_requests_total{"))
        .filter(|l| WRITES.iter().any(|v| l.contains(&format!("verb=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Runs one agent per WEC in this process until `shutdown` (what `kubestellar bench agents`
/// does in split mode).
pub async fn run_agents(
    kubeconfig: &Path,
    its_context: &str,
    wecs: &[String],
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BenchError> {
    let its = crate::clients::client(Some(kubeconfig), Some(its_context))
        .await
        .map_err(|e| BenchError::Setup(format!("ITS client: {e}")))?;
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for w in wecs {
        let wec = crate::clients::client(Some(kubeconfig), Some(w))
            .await
            .map_err(|e| BenchError::Setup(format!("client of {w}: {e}")))?;
        let (tx, rx) = oneshot::channel::<()>();
        let agent = Agent::new(AgentConfig::new(w), its.clone(), wec);
        handles.push(tokio::spawn(agent.run(async {
            let _ = rx.await;
        })));
        stops.push(tx);
    }
    shutdown.await;
    for s in stops {
        let _ = s.send(());
    }
    join_all(handles).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_requests_are_summed_from_metrics() {
        let text = "# HELP space_apiserver_requests API requests\n\
            space_apiserver_requests_total{verb=\"GET\",code=\"200\"} 7\n\
            space_apiserver_requests_total{verb=\"APPLY\",code=\"200\"} 5\n\
            space_apiserver_requests_total{verb=\"PATCH\",code=\"409\"} 2\n\
            space_apiserver_requests_total{verb=\"DELETECOLLECTION\",code=\"200\"} 1\n\
            space_apiserver_requests_total{verb=\"WATCH\",code=\"200\"} 3\n";
        assert_eq!(count_writes(text), 8);
    }
}
