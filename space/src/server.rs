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

use crate::kubeconfig::{self, Credential, KubeconfigContext};
use crate::objects::WriteOptions;
use crate::security::SecurityError;
use crate::security::authn::{self, PeerIdentity};
use crate::space::{OpenError, Space, SpaceConfig};
use crate::store::{StoreConfig, StoreError};

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
    /// The CA, certificates or tokens could not be set up.
    #[error(transparent)]
    Security(#[from] SecurityError),
}

impl From<OpenError> for ServeError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Store(e) => ServeError::Store(e),
            OpenError::Security(e) => ServeError::Security(e),
        }
    }
}

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// `http://ADDR`, or `https://ADDR` for a secure space (an unspecified listen address
    /// is given as the loopback one, which the serving certificate covers).
    pub fn url(&self) -> String {
        if self.space.auth.is_none() {
            return format!("http://{}", self.addr);
        }
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(match a {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("https://{a}")
    }

    /// The kubeconfig context of the space's admin (what `DIR/kubeconfig` holds): the CA and
    /// the admin client certificate for a secure space, nothing for an insecure one.
    pub fn admin_context(&self) -> KubeconfigContext {
        let name = self.space.config.name.clone();
        match &self.space.auth {
            None => KubeconfigContext {
                name,
                server: self.url(),
                ..Default::default()
            },
            Some(a) => KubeconfigContext {
                user: format!("{name}-admin"),
                name,
                server: self.url(),
                ca_pem: Some(a.pki.ca_pem().to_string()),
                credential: Credential::ClientCertificate {
                    cert_pem: a.pki.admin().cert_pem.clone(),
                    key_pem: a.pki.admin().key_pem.clone(),
                },
            },
        }
    }

    /// A kubeconfig context named `context` that reaches this space with `token` (from
    /// [`Space::issue_token`]) and trusts its CA.
    pub fn token_context(&self, context: &str, token: &str) -> KubeconfigContext {
        let mut c = KubeconfigContext::with_token(
            context,
            &self.url(),
            self.space.ca_pem().unwrap_or_default(),
            token,
        );
        if self.space.auth.is_none() {
            c.ca_pem = None;
        }
        c
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
    let tls = match &space.auth {
        None => None,
        Some(auth) => {
            let mut sans = vec![listen.ip().to_string()];
            sans.extend(space.config.tls_sans.iter().cloned());
            let sans: Vec<String> = sans
                .into_iter()
                .filter(|s| {
                    s.parse::<std::net::IpAddr>()
                        .map_or(true, |ip| !ip.is_unspecified())
                })
                .collect();
            Some(crate::security::tls::acceptor(&auth.pki, &sans)?)
        }
    };
    bootstrap(&space).await?;
    let (tx, rx) = oneshot::channel::<()>();
    let router = crate::handlers::router(space.clone());
    let server = tokio::spawn(serve(listener, tls, router, rx, space.config.name.clone()));
    let mut controllers = vec![tokio::spawn(crate::lifecycle::run(space.clone()))];
    if space.config.simulator {
        controllers.push(tokio::spawn(crate::simulator::run(space.clone())));
    }
    if space.config.store != StoreConfig::Embedded {
        // Other replicas create CRDs too: serve them here as soon as they arrive.
        controllers.push(tokio::spawn(follow_crds(space.clone())));
    }
    let kubeconfig = space.config.data_dir.join("kubeconfig");
    let running = RunningSpace {
        space,
        addr,
        kubeconfig,
        shutdown: Some(tx),
        server: Some(server),
        controllers,
    };
    kubeconfig::write_contexts(&running.kubeconfig, &[running.admin_context()]).map_err(
        |source| ServeError::Kubeconfig {
            path: running.kubeconfig.clone(),
            source,
        },
    )?;
    tracing::info!(space = %running.space.config.name, %addr, secure = running.space.auth.is_some(), "space serving");
    Ok(running)
}

/// Accepts connections (HTTP/1.1 and HTTP/2, by what the client speaks; over TLS when `tls`
/// is set) until `stop`; then lets each connection finish its requests for [`GRACE`] and cuts
/// the rest.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
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
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(space = %name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (builder, router, stopping, tls, name) =
                    (builder.clone(), router.clone(), stopping.clone(), tls.clone(), name.clone());
                conns.spawn(async move {
                    let Some(tls) = tls else {
                        let svc = TowerToHyperService::new(router);
                        return connection(builder, TokioIo::new(stream), svc, stopping).await;
                    };
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(space = %name, %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(space = %name, %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    // The verifier accepted the chain: the leaf names the caller.
                    let identity = PeerIdentity(
                        stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|c| authn::from_certificate(c))
                            .map(Arc::new),
                    );
                    let svc = tower::ServiceExt::map_request(
                        router,
                        move |mut req: http::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(identity.clone());
                            req
                        },
                    );
                    connection(builder, TokioIo::new(stream), TowerToHyperService::new(svc), stopping).await;
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

/// Serves one connection until it ends, or gracefully once `stopping` changes.
async fn connection<I, S>(
    builder: hyper_util::server::conn::auto::Builder<TokioExecutor>,
    io: TokioIo<I>,
    svc: TowerToHyperService<S>,
    mut stopping: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Re-reads the served CRDs whenever one changes (whoever changed it).
async fn follow_crds(space: Arc<Space>) {
    let mut events = space.store.subscribe_all();
    space.refresh_crds();
    loop {
        match events.recv().await {
            Ok(ev)
                if ev.key.gr.group == "apiextensions.k8s.io"
                    && ev.key.gr.resource == "customresourcedefinitions" =>
            {
                space.refresh_crds()
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => space.refresh_crds(),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
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
    if space.auth.is_some() {
        // Created when absent only: an operator's later edits stay.
        for (resource, body) in crate::security::rbac::bootstrap_objects() {
            let Some(r) = space
                .registry
                .catalog()
                .get("rbac.authorization.k8s.io", "v1", resource)
            else {
                return Err(ServeError::Bootstrap(resource.into(), "not served".into()));
            };
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if space.get_object(&r, "", &name).is_ok() {
                continue;
            }
            match space.create(&r, "", body, &opts).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(ServeError::Bootstrap(name, e.message)),
            }
        }
    }
    Ok(())
}
