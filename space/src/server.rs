//! Running a space: bind, serve HTTP/1.1 and HTTP/2, start its controllers, write its
//! kubeconfig once it answers, stop cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::kubeconfig::{self, KubeconfigEntry};
use crate::objects::WriteOptions;
use crate::space::{Space, SpaceConfig};
use crate::store::StoreError;

/// Errors starting a space.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the built-in namespace {0}: {1}")]
    Bootstrap(String, String),
}

/// A space that is serving.
pub struct RunningSpace {
    pub space: Arc<Space>,
    pub addr: SocketAddr,
    /// `DIR/kubeconfig`
    pub kubeconfig: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    controllers: Vec<JoinHandle<()>>,
}

impl RunningSpace {
    /// `http://ADDR`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for open connections to finish (watches are cut).
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        for c in self.controllers.drain(..) {
            c.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            // Long watches would hold graceful shutdown open: give requests a moment, then cut.
            if tokio::time::timeout(std::time::Duration::from_secs(2), s)
                .await
                .is_err()
            {
                tracing::debug!(space = %self.space.config.name, "connections cut at shutdown");
            }
        }
    }
}

impl Drop for RunningSpace {
    fn drop(&mut self) {
        for c in self.controllers.drain(..) {
            c.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

/// Opens the space's store, binds `listen`, starts serving and the space's controllers, makes
/// sure the built-in namespaces exist, and writes `DIR/kubeconfig`.
pub async fn start(config: SpaceConfig, listen: SocketAddr) -> Result<RunningSpace, ServeError> {
    let space = tokio::task::spawn_blocking(move || Space::open(config))
        .await
        .map_err(|e| ServeError::Store(StoreError::Open(e.to_string())))??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: listen,
        source,
    })?;
    bootstrap(&space).await?;
    let (tx, rx) = oneshot::channel::<()>();
    let router = crate::handlers::router(space.clone());
    let name = space.config.name.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(space = %name, error = %e, "server stopped");
        }
    });
    let mut controllers = vec![tokio::spawn(crate::lifecycle::run(space.clone()))];
    if space.config.simulator {
        controllers.push(tokio::spawn(crate::simulator::run(space.clone())));
    }
    let kubeconfig = space.config.data_dir.join("kubeconfig");
    kubeconfig::write(
        &kubeconfig,
        &[KubeconfigEntry {
            name: space.config.name.clone(),
            server: format!("http://{addr}"),
        }],
    )
    .map_err(|source| ServeError::Kubeconfig {
        path: kubeconfig.clone(),
        source,
    })?;
    tracing::info!(space = %space.config.name, %addr, "space serving");
    Ok(RunningSpace {
        space,
        addr,
        kubeconfig,
        shutdown: Some(tx),
        server: Some(server),
        controllers,
    })
}

/// The namespaces every cluster has.
async fn bootstrap(space: &Arc<Space>) -> Result<(), ServeError> {
    let Some(r) = space.registry.catalog().get("", "v1", "namespaces") else {
        return Err(ServeError::Bootstrap(
            "*".into(),
            "namespaces are not served".into(),
        ));
    };
    let opts = WriteOptions {
        field_manager: Some("space-bootstrap".into()),
        ..WriteOptions::default()
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if space.get_object(&r, "", ns).is_ok() {
            continue;
        }
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match space.create(&r, "", body, &opts).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(ServeError::Bootstrap(ns.into(), e.message)),
        }
    }
    Ok(())
}
