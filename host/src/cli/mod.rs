//! Command-line interface: one module per subcommand, each a clap struct with `run`.

use clap::{Parser, Subcommand};

mod agent;
mod bench;
mod controller;
mod get_syncing;
mod leader_elect;
mod plugin;
mod plugin_build;
mod plugin_install;
mod plugin_new;
mod plugin_push;
pub(crate) mod register;
mod space;
mod up;

/// KubeStellar with WebAssembly customization plugins.
#[derive(Debug, Parser)]
#[command(name = "kubestellar", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,kubestellar=debug`); defaults to
    /// `$RUST_LOG`, else `warn` for interactive commands and `info` for servers.
    #[arg(long, global = true)]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run or manage an embedded Kubernetes-compatible space server.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// Run the pull agent of one WEC: apply its ManifestWorks from the ITS, report status back.
    Agent(agent::AgentArgs),
    /// Register a WEC in an ITS (ManagedCluster, mailbox namespace, customization properties).
    Register(register::RegisterArgs),
    /// Remove a WEC from an ITS.
    Unregister(register::UnregisterArgs),
    /// Run the controllers of one WDS (BindingPolicy -> WECs, status back).
    Controller(controller::ControllerArgs),
    /// Run the whole system on this machine: ITS, WDS, simulated WECs, agents, controllers.
    Up(up::UpArgs),
    /// Stop the `kubestellar up` running in a directory.
    Down(up::DownArgs),
    /// Show the spaces, WECs, BindingPolicies and plugins of a `kubestellar up` directory.
    Status(up::StatusArgs),
    /// List (or watch) every object of one kind in transit through an ITS, downsynced or upsynced.
    GetSyncing(get_syncing::GetSyncingArgs),
    /// Inspect, run, summarize with and benchmark a customization plugin (WASM component).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Scale and latency benchmarks of the whole system (docs/performance.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    /// Runs the selected subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Space(c) => c.run(),
            Command::Agent(c) => c.run(),
            Command::Register(c) => c.run(),
            Command::Unregister(c) => c.run(),
            Command::Controller(c) => c.run(),
            Command::Up(c) => c.run(),
            Command::Down(c) => c.run(),
            Command::Status(c) => c.run(),
            Command::GetSyncing(c) => c.run(),
            Command::Plugin(c) => c.run(),
            Command::Bench(c) => c.run(),
        }
    }
}

impl Cli {
    /// Interactive commands log only warnings by default, so that their own output stays
    /// readable; servers log at info.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Up(_)
            | Command::Status(_)
            | Command::Down(_)
            | Command::Register(_)
            | Command::Unregister(_)
            | Command::Bench(_)
            | Command::GetSyncing(_) => "warn",
            _ => "info",
        }
    }
}

/// Sets up logging to stderr: `level`, else `$RUST_LOG`, else `default`.
pub fn init_tracing(level: Option<&str>, default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
