//! `kubestellar space ...`: run an embedded space server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kubestellar_space::{Security, SpaceConfig, StoreConfig};

/// Space subcommands.
#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// Serve a Kubernetes-compatible API on a durable store until Ctrl-C / SIGTERM.
    ///
    /// Serves HTTPS with a CA of its own (DIR/pki, created at first start), bearer-token
    /// (DIR/tokens.csv) and client-certificate authentication, and RBAC authorization by the
    /// Roles and bindings stored in the space. Writes an admin kubeconfig (CA and an admin
    /// client certificate in group system:masters) to DIR/kubeconfig once the space answers.
    /// Restarting on the same --data-dir restores every object, the CA, certificates and
    /// tokens; resourceVersions continue upward.
    ///
    /// With --store etcd://HOST:PORT the objects live in etcd instead: resourceVersions are
    /// etcd revisions, and several servers started with the same --store, --name (or
    /// --etcd-prefix) and a copy of the same DIR/pki and DIR/tokens.csv serve one space.
    Serve(ServeArgs),
}

/// `kubestellar space serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Name of the space (kubeconfig context and cluster name).
    #[arg(long)]
    pub name: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Directory for the embedded store, the kubeconfig, the CA and the tokens (created if
    /// missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Where the objects live: `embedded` (a database under --data-dir) or
    /// `etcd://HOST:PORT[,HOST:PORT...]` (an etcd v3 cluster over plain HTTP, keys under
    /// --etcd-prefix; watches follow etcd, so writes through any server reach every server).
    #[arg(long, default_value = "embedded", value_name = "STORE")]
    pub store: String,
    /// Key prefix of this space in etcd (default `/kubestellar/<name>`); spaces sharing one
    /// etcd need different prefixes.
    #[arg(long, value_name = "PREFIX")]
    pub etcd_prefix: Option<String>,
    /// Run the workload simulator (the space behaves like a cluster running its workloads).
    #[arg(long)]
    pub simulator: bool,
    /// Watch events kept per resource, for watches that resume from a resourceVersion.
    #[arg(long, default_value_t = 1000)]
    pub watch_history: usize,
    /// Serve plain HTTP with no authentication: anyone who reaches the port may do anything.
    #[arg(long)]
    pub insecure: bool,
    /// Extra DNS name or IP address for the serving certificate (besides 127.0.0.1, ::1,
    /// localhost and the listen address); repeatable.
    #[arg(long = "tls-san", value_name = "NAME")]
    pub tls_sans: Vec<String>,
}

impl SpaceCommand {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            SpaceCommand::Serve(a) => serve(a),
        }
    }
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut config = SpaceConfig::new(&a.name, &a.data_dir);
        config.simulator = a.simulator;
        config.store = StoreConfig::parse(&a.store).context("bad --store")?;
        match (&mut config.store, &a.etcd_prefix) {
            (StoreConfig::Etcd(e), Some(p)) => e.prefix = Some(p.clone()),
            (StoreConfig::Embedded, Some(_)) => {
                anyhow::bail!("--etcd-prefix needs --store etcd://...")
            }
            _ => {}
        }
        config.watch_history = a.watch_history;
        config.security = if a.insecure {
            Security::Insecure
        } else {
            Security::Secure
        };
        config.tls_sans = a.tls_sans.clone();
        let running = kubestellar_space::start(config, a.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot start space {:?} in {}",
                    a.name,
                    a.data_dir.display()
                )
            })?;
        // One line on stdout that scripts can read; logs go to stderr.
        println!(
            "space {} serving at {} (kubeconfig: {})",
            a.name,
            running.url(),
            running.kubeconfig.display()
        );
        crate::cli::shutdown_signal().await;
        tracing::info!(space = %a.name, "stopping");
        running.stop().await;
        Ok(())
    })
}
