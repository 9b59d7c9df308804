//! `kubestellar bench <scenario>`: scale and latency benchmarks of the whole system (see
//! `crate::bench` and `docs/performance.md`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::bench::{self, BenchConfig, Mode, Scenario};

/// Benchmark subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One Deployment to K WECs: create, update, status round trip, delete latency.
    Propagation(BenchArgs),
    /// N objects to K WECs: time to convergence, deliveries/s, writes, memory, CPU.
    Throughput(BenchArgs),
    /// Updates at a fixed rate: latency distribution and backlog.
    Churn(BenchArgs),
    /// Restart the controller over a converged system: time to ready, writes issued.
    Restart(BenchArgs),
    /// The throughput run with transform-default only, then with a user plugin per object.
    Plugins(BenchArgs),
    /// `kubestellar up --wecs N`: time to ready, first delivery, idle memory and CPU.
    Up(BenchArgs),
    /// N ManifestWorks written straight to one WEC's mailbox: objects/s, agent memory and CPU.
    Agent(BenchArgs),
    /// Run agents for many WECs in one process (used by split mode).
    #[command(hide = true)]
    Agents(AgentsArgs),
}

/// Options of every scenario (defaults: the documented full-size run).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Numbers of WECs, comma-separated (propagation runs each; others use the first).
    #[arg(long, value_delimiter = ',')]
    pub wecs: Vec<usize>,
    /// Objects delivered (throughput, churn, restart, plugins, agent).
    #[arg(long)]
    pub objects: Option<usize>,
    /// Repetitions per number of WECs (propagation).
    #[arg(long)]
    pub reps: Option<usize>,
    /// Updates per second (churn).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of updates (churn) or of idling (up).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Longest wait for anything, in seconds.
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Run the controller and the agents in processes of their own (memory and CPU apart).
    #[arg(long, value_enum, default_value = "in-process")]
    pub mode: Mode,
    /// State directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The user plugin of the plugins scenario (default: examples/plugins/cluster-labels.wasm).
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// A tiny run (what the smoke tests do): 2 WECs, 12 objects, 3 repetitions.
    #[arg(long)]
    pub smoke: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `kubestellar bench agents`
#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// Kubeconfig with a context per space.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Context of the ITS.
    #[arg(long)]
    pub its: String,
    /// The WECs (contexts of the same names).
    pub wecs: Vec<String>,
}

impl BenchCommand {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        let (scenario, args) = match self {
            BenchCommand::Propagation(a) => (Scenario::Propagation, a),
            BenchCommand::Throughput(a) => (Scenario::Throughput, a),
            BenchCommand::Churn(a) => (Scenario::Churn, a),
            BenchCommand::Restart(a) => (Scenario::Restart, a),
            BenchCommand::Plugins(a) => (Scenario::Plugins, a),
            BenchCommand::Up(a) => (Scenario::Up, a),
            BenchCommand::Agent(a) => (Scenario::Agent, a),
            BenchCommand::Agents(a) => return a.run(),
        };
        let mut cfg = if args.smoke {
            BenchConfig::smoke(scenario)
        } else {
            BenchConfig::new(scenario)
        };
        if !args.wecs.is_empty() {
            cfg.wecs = args.wecs;
        }
        let secs = Duration::from_secs_f64;
        cfg.objects = args.objects.unwrap_or(cfg.objects);
        cfg.reps = args.reps.unwrap_or(cfg.reps);
        cfg.rate = args.rate.unwrap_or(cfg.rate);
        cfg.duration = args.duration.map(secs).unwrap_or(cfg.duration);
        cfg.timeout = args.timeout.map(secs).unwrap_or(cfg.timeout);
        cfg.mode = args.mode;
        cfg.dir = args.dir;
        cfg.plugin = args.plugin.unwrap_or(cfg.plugin);
        cfg.exe = Some(std::env::current_exe().context("cannot find the kubestellar binary")?);
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let report = rt
            .block_on(bench::run(&cfg))
            .with_context(|| format!("benchmark {} failed", scenario.name()))?;
        println!("{report}");
        if let Some(path) = args.json {
            let json = serde_json::to_vec_pretty(&report)?;
            std::fs::write(&path, json)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        // Plugin compilations may still run on blocking threads; do not wait for them.
        rt.shutdown_timeout(Duration::from_secs(2));
        Ok(())
    }
}

impl AgentsArgs {
    /// Runs the agents until Ctrl-C / SIGTERM.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(bench::env::run_agents(
            &self.kubeconfig,
            &self.its,
            &self.wecs,
            crate::cli::shutdown_signal(),
        ))?;
        Ok(())
    }
}
