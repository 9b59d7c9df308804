//! Scale and latency benchmarks of the whole system (`kubestellar bench <scenario>`): each
//! scenario starts the embedded system ([`env`]), drives it through the real API with a kube
//! client ([`workload`]), watches what happens through an in-process [`probe`] on every space's
//! commit stream, and reports figures ([`Report`]) against the project's targets.
//!
//! Scenarios (see `docs/performance.md` for the method and the latest results):
//! * [`Scenario::Propagation`]: one Deployment to K WECs: create, update, status round trip
//!   and delete latency, p50/p99 over repetitions, for each K;
//! * [`Scenario::Throughput`]: N objects (Deployments, ConfigMaps, Services) to K WECs: time
//!   to convergence, deliveries/s, writes, peak memory and CPU time;
//! * [`Scenario::Churn`]: steady updates at a fixed rate: latency distribution and backlog;
//! * [`Scenario::Restart`]: the controller restarted over a converged system: time until it
//!   delivers again and the writes it issues;
//! * [`Scenario::Plugins`]: the throughput run with transform-default only, then with a user
//!   plugin on every object;
//! * [`Scenario::Up`]: `kubestellar up --wecs N` as a user runs it: time to ready, first
//!   delivery, idle memory and CPU;
//! * [`Scenario::Agent`]: N ManifestWorks written straight into one WEC's mailbox (no
//!   controller): objects applied per second, agent memory and CPU, writes.

mod agent;
mod churn;
pub mod env;
pub mod probe;
mod propagation;
mod report;
mod restart;
pub mod stats;
mod throughput;
mod up;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

pub use report::{Figure, Report};

/// Which benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Propagation,
    Throughput,
    Churn,
    Restart,
    Plugins,
    Up,
    Agent,
}

impl Scenario {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Propagation => "propagation",
            Scenario::Throughput => "throughput",
            Scenario::Churn => "churn",
            Scenario::Restart => "restart",
            Scenario::Plugins => "plugins",
            Scenario::Up => "up",
            Scenario::Agent => "agent",
        }
    }
}

/// Where the controller and the agents run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Everything in this process, as `kubestellar up` runs it.
    InProcess,
    /// The controller and the agents in processes of their own (memory and CPU apart).
    Split,
}

/// Settings of one benchmark run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub scenario: Scenario,
    /// State directory (default: a fresh one under the system's temporary directory, removed
    /// afterwards).
    pub dir: Option<PathBuf>,
    pub mode: Mode,
    /// The `kubestellar` binary (split mode, `up`).
    pub exe: Option<PathBuf>,
    /// Numbers of WECs (propagation runs each; the others use the first).
    pub wecs: Vec<usize>,
    /// Objects delivered (throughput, churn, restart, plugins, agent).
    pub objects: usize,
    /// Repetitions per K (propagation).
    pub reps: usize,
    /// Updates per second (churn).
    pub rate: f64,
    /// How long updates go on (churn); how long to stay idle (up).
    pub duration: Duration,
    /// Longest wait for anything.
    pub timeout: Duration,
    /// No change for this long means the system has settled.
    pub quiet: Duration,
    /// The user plugin of the plugins scenario (a transformer component).
    pub plugin: PathBuf,
    /// Directory of precompiled plugins shared between runs (default: a fresh one per run,
    /// so every run pays for compiling the built-in plugins once, as a first start does).
    pub plugin_cache: Option<PathBuf>,
}

impl BenchConfig {
    /// The documented full-size run of `scenario`.
    pub fn new(scenario: Scenario) -> BenchConfig {
        let (wecs, objects, duration) = match scenario {
            Scenario::Propagation => (vec![2, 10, 100], 0, Duration::ZERO),
            Scenario::Churn => (vec![100], 300, Duration::from_secs(60)),
            Scenario::Up => (vec![100], 0, Duration::from_secs(30)),
            Scenario::Agent => (vec![1], 1000, Duration::ZERO),
            Scenario::Throughput | Scenario::Restart | Scenario::Plugins => {
                (vec![100], 1000, Duration::ZERO)
            }
        };
        BenchConfig {
            scenario,
            dir: None,
            mode: Mode::InProcess,
            exe: None,
            wecs,
            objects,
            reps: 100,
            rate: 20.0,
            duration,
            timeout: Duration::from_secs(900),
            quiet: Duration::from_secs(2),
            plugin: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/plugins/cluster-labels.wasm"
            )),
            plugin_cache: None,
        }
    }

    /// A run of a few seconds (the smoke tests): tiny N, K and repetitions.
    pub fn smoke(scenario: Scenario) -> BenchConfig {
        BenchConfig {
            wecs: vec![2],
            objects: 12,
            reps: 3,
            rate: 10.0,
            duration: Duration::from_secs(1),
            timeout: Duration::from_secs(60),
            quiet: Duration::from_millis(500),
            ..BenchConfig::new(scenario)
        }
    }

    fn k(&self) -> usize {
        self.wecs.first().copied().unwrap_or(2).max(1)
    }
}

/// Why a benchmark could not run (a missed target is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("starting the system: {0}")]
    System(Box<crate::system::SystemError>),
    #[error("{0}")]
    Setup(String),
    #[error("API call: {0}")]
    Api(#[from] kube::Error),
    #[error(transparent)]
    Timeout(#[from] probe::Timeout),
}

impl From<crate::system::SystemError> for BenchError {
    fn from(e: crate::system::SystemError) -> Self {
        BenchError::System(Box::new(e)) // boxed: the error is large, and results carry it
    }
}

/// Runs one benchmark and reports its figures.
pub async fn run(cfg: &BenchConfig) -> Result<Report, BenchError> {
    let run = format!(
        "r{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let (dir, temporary) = match &cfg.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("kubestellar-bench-{run}")),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;
    let mut report = Report::new(cfg);
    let result = match cfg.scenario {
        Scenario::Propagation => propagation::run(cfg, &dir, &run, &mut report).await,
        Scenario::Throughput => throughput::run(cfg, &dir, &run, &mut report).await,
        Scenario::Plugins => throughput::run_plugins(cfg, &dir, &run, &mut report).await,
        Scenario::Churn => churn::run(cfg, &dir, &run, &mut report).await,
        Scenario::Restart => restart::run(cfg, &dir, &run, &mut report).await,
        Scenario::Up => up::run(cfg, &dir, &mut report).await,
        Scenario::Agent => agent::run(cfg, &dir, &run, &mut report).await,
    };
    report.finish();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result.map(|()| report)
}

/// An environment config for a scenario: `wecs` WECs in `dir`.
fn env_config(cfg: &BenchConfig, dir: &std::path::Path, run: &str, wecs: usize) -> env::EnvConfig {
    env::EnvConfig {
        dir: dir.to_path_buf(),
        wecs,
        mode: cfg.mode,
        exe: cfg.exe.clone(),
        run: run.to_string(),
        plugin_cache: cfg
            .plugin_cache
            .clone()
            .unwrap_or_else(|| dir.join("plugin-cache")),
        controller: true,
    }
}
