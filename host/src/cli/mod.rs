//! Command-line interface: one module per subcommand, each a clap struct with `run`.

use clap::{Parser, Subcommand};

mod plugin;
mod space;

/// KubeStellar with WebAssembly customization plugins.
#[derive(Debug, Parser)]
#[command(name = "kubestellar", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,kubestellar=debug`); defaults to
    /// `$RUST_LOG`, else `info`.
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
    /// Inspect, run, summarize with and benchmark a customization plugin (WASM component).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

impl Cli {
    /// Runs the selected subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Space(c) => c.run(),
            Command::Plugin(c) => c.run(),
        }
    }
}

/// Sets up logging to stderr.
pub fn init_tracing(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
