//! The shared state of one running space: its store, its resource catalogue, its settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::registry::Registry;
use crate::security::{Auth, ClientCredential, Security, SecurityError};
use crate::store::{Store, StoreConfig, StoreError};

/// Errors opening a space.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The CA, certificates or token file could not be loaded or created.
    #[error(transparent)]
    Security(#[from] SecurityError),
}

/// Settings of one space.
#[derive(Clone, Debug)]
pub struct SpaceConfig {
    /// The space's name (kubeconfig context and cluster name).
    pub name: String,
    /// Where the store (when embedded), the kubeconfig, the PKI and the tokens live.
    pub data_dir: PathBuf,
    /// Where the objects live: the embedded store under `data_dir`, or etcd.
    pub store: StoreConfig,
    /// Watch events kept per resource for watches that resume from a resourceVersion.
    pub watch_history: usize,
    /// Run the workload simulator (for simulated WECs).
    pub simulator: bool,
    /// How the workload simulator behaves when it runs.
    pub simulator_config: crate::simulator::SimulatorConfig,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// The Kubernetes minor version reported by `/version`.
    pub kube_minor: u32,
    /// How often an idle watch that allows bookmarks gets one.
    pub bookmark_interval: std::time::Duration,
    /// Answer aggregated discovery (`apidiscovery.k8s.io`) when asked; off, clients fall back
    /// to the legacy per-group-version documents.
    pub aggregated_discovery: bool,
    /// Plain HTTP for anyone, or HTTPS with authentication and RBAC. `new` picks
    /// [`Security::Insecure`]; `kubestellar space serve` picks secure unless `--insecure`.
    pub security: Security,
    /// Names and addresses the serving certificate must cover besides 127.0.0.1, ::1,
    /// localhost and the listen address.
    pub tls_sans: Vec<String>,
    /// The shortest `expirationSeconds` a TokenRequest may ask for: ten minutes, as
    /// kube-apiserver; tests lower it to watch tokens expire.
    pub token_min_expiration: std::time::Duration,
}

impl SpaceConfig {
    /// Defaults for a space named `name` storing in `data_dir`.
    pub fn new(name: impl Into<String>, data_dir: impl Into<PathBuf>) -> SpaceConfig {
        SpaceConfig {
            name: name.into(),
            data_dir: data_dir.into(),
            store: StoreConfig::Embedded,
            watch_history: 1000,
            simulator: false,
            simulator_config: crate::simulator::SimulatorConfig::default(),
            max_body_bytes: 3 * 1024 * 1024,
            kube_minor: 33,
            aggregated_discovery: true,
            bookmark_interval: std::time::Duration::from_secs(15),
            security: Security::Insecure,
            tls_sans: Vec::new(),
            token_min_expiration: std::time::Duration::from_secs(
                crate::security::bound::MIN_EXPIRATION_SECONDS,
            ),
        }
    }
}

/// One space: store + catalogue + settings. Shared as `Arc<Space>`.
pub struct Space {
    /// Its settings.
    pub config: SpaceConfig,
    /// Every object.
    pub store: Store,
    /// What it serves.
    pub registry: Registry,
    /// When it started.
    pub started: Instant,
    /// Request counters.
    pub metrics: crate::metrics::Metrics,
    /// Snapshots of lists being paged.
    pub continuations: crate::objects::continuation::Continuations,
    /// CA, tokens and authorizer; `None` for an insecure space.
    pub auth: Option<Auth>,
    /// Taken by a write that allocates Service addresses, from allocation to commit.
    pub(crate) service_writes: tokio::sync::Mutex<()>,
}

impl Space {
    /// Opens the space's store and rebuilds its catalogue from stored CRDs; for a secure
    /// space also loads (or creates, at first start) its CA, admin certificate and tokens.
    pub fn open(config: SpaceConfig) -> Result<Arc<Space>, OpenError> {
        let auth = match config.security {
            Security::Insecure => None,
            Security::Secure => Some(Auth::open(&config.name, &config.data_dir)?),
        };
        let store = match &config.store {
            StoreConfig::Embedded => {
                Store::open(&config.data_dir.join("store"), config.watch_history)?
            }
            StoreConfig::Etcd(e) => {
                // The data directory still holds the kubeconfig.
                std::fs::create_dir_all(&config.data_dir).map_err(|err| {
                    StoreError::Open(format!("{}: {err}", config.data_dir.display()))
                })?;
                Store::open_etcd(e, &e.prefix_for(&config.name), config.watch_history)?
            }
        };
        let space = Arc::new(Space {
            config,
            store,
            registry: Registry::new(),
            started: Instant::now(),
            metrics: crate::metrics::Metrics::default(),
            continuations: Default::default(),
            auth,
            service_writes: Default::default(),
        });
        space.refresh_crds();
        Ok(space)
    }

    /// Re-reads every stored CRD into the catalogue.
    pub fn refresh_crds(&self) {
        let gr = crate::registry::GroupResource {
            group: "apiextensions.k8s.io".into(),
            resource: "customresourcedefinitions".into(),
        };
        let crds: Vec<serde_json::Value> = self
            .store
            .list(&gr, None, None, 0, &|_| true)
            .items
            .iter()
            .map(|o| o.value())
            .collect();
        self.registry
            .set_crds(crds.iter().filter(|c| crate::crd::is_established(c)));
    }

    /// Creates a bearer token for `user` in `groups` (persisted in `DIR/tokens.csv`, valid
    /// from now on and after restarts). What it may do is up to the RBAC bindings of `user`,
    /// its groups, and `system:authenticated`.
    pub fn issue_token(&self, user: &str, groups: &[String]) -> Result<String, SecurityError> {
        self.auth
            .as_ref()
            .ok_or(SecurityError::Insecure)?
            .tokens
            .issue(user, groups)
    }

    /// Issues a client certificate (CN = `user`, O = `groups`) signed by the space CA; it is
    /// not stored.
    pub fn issue_client_certificate(
        &self,
        user: &str,
        groups: &[String],
    ) -> Result<ClientCredential, SecurityError> {
        self.auth
            .as_ref()
            .ok_or(SecurityError::Insecure)?
            .pki
            .issue_client(user, groups)
    }

    /// The CA certificate (PEM) clients must trust; `None` for an insecure space.
    pub fn ca_pem(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.pki.ca_pem())
    }
}
