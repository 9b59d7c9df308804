//! Running a space: bind, serve HTTP/1.1 and HTTP/2, start its controllers, write its
//! kubeconfig once it answers, stop cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::kubeconfig::{self, KubeconfigEntry};
use crate::objects::WriteOptions;
use crate::space::{Space, SpaceConfig};
use crate::store::StoreError;

/// Errors starting a space.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write {path}: {source}")]
    Kubeconfig {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A built-in namespace could not be created.
    #[error("cannot create the built-in namespace {0}: {1}")]
    Bootstrap(String, String),
}

/// How long requests in flight may take to finish at shutdown before their connections are
/// cut (watches never finish by themselves).
const GRACE: Duration = Duration::from_secs(2);

/// A space that is serving.
pub struct RunningSpace {
    /// The space.
    pub space: Arc<Space>,
    /// The address it listens on.
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

    /// Stops serving: lets requests in flight finish for a moment, cuts what remains
    /// (watches), and stops the controllers. When it returns, nothing of the space runs any
    /// more; dropping the last handle of the space then closes its store.
    pub async fn stop(mut self) {
        for c in &self.controllers {
            c.abort();
        }
        for c in self.controllers.drain(..) {
            let _ = c.await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
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
    let server = tokio::spawn(serve(listener, router, rx, space.config.name.clone()));
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

/// Accepts connections (HTTP/1.1 and HTTP/2, by what the client speaks) until `stop`; then
/// lets each connection finish its requests for [`GRACE`] and cuts the rest.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut stop: oneshot::Receiver<()>,
    name: String,
) {
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let (stopping_tx, stopping) = watch::channel(false);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(space = %name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (builder, svc, mut stopping) =
                    (builder.clone(), TowerToHyperService::new(router.clone()), stopping.clone());
                conns.spawn(async move {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopping.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    if tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::debug!(space = %name, connections = conns.len(), "connections cut at shutdown");
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
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
