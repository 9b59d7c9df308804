//! The whole system in one process (what `kubestellar up` runs, and what end-to-end tests
//! use): an ITS space, WDS spaces with their controllers, simulated WEC spaces (workload
//! simulator on) each with its agent, the WECs registered in the ITS, the default plugins
//! declared. Its state lives in one directory, so starting again on the same directory resumes
//! the same spaces, ports, data and registrations.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubestellar_space::kubeconfig::{self, Credential, KubeconfigContext};
use kubestellar_space::security::Security;
use kubestellar_space::{RunningSpace, SpaceConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

use crate::agent::{Agent, AgentConfig};
use crate::controller::{self, ControllerConfig};
use crate::inventory::{self, Registration};

/// A WEC of the embedded system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WecSpec {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl WecSpec {
    /// `clusterN` with the upstream test environment's labels and properties: every WEC gets
    /// `location-group=edge` and `name=<wec>`; cluster1 and cluster2 also a region and a
    /// `clusterURL` property.
    pub fn numbered(i: usize) -> WecSpec {
        WecSpec::named(&format!("cluster{i}"))
    }

    /// A WEC with the default labels for its name.
    pub fn named(name: &str) -> WecSpec {
        let mut labels = BTreeMap::from([
            ("location-group".to_string(), "edge".to_string()),
            ("name".to_string(), name.to_string()),
        ]);
        let mut properties = BTreeMap::new();
        match name {
            "cluster1" => {
                labels.insert("region".into(), "east".into());
                properties.insert("clusterURL".into(), "https://my.clusters/1001-abcd".into());
            }
            "cluster2" => {
                labels.insert("region".into(), "west".into());
                properties.insert("clusterURL".into(), "https://my.clusters/2002-cdef".into());
            }
            _ => {}
        }
        WecSpec {
            name: name.to_string(),
            labels,
            properties,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct SystemConfig {
    /// The state directory.
    pub dir: PathBuf,
    /// Address the spaces listen on.
    pub host: IpAddr,
    /// Name of the ITS space.
    pub its: String,
    /// Names of the WDS spaces.
    pub wds: Vec<String>,
    /// The WECs.
    pub wecs: Vec<WecSpec>,
    /// Run one agent per WEC in this process (off: they run elsewhere, e.g. `kubestellar agent`).
    pub agents: bool,
    /// Run the controllers of the WDSes in this process (off: the spaces are still prepared
    /// and the default plugins declared; the controllers run elsewhere).
    pub controllers: bool,
    /// Serve plain HTTP without authentication (off: HTTPS with a CA per space, the admin
    /// credential in the kubeconfig, RBAC, and each agent limited to its own mailbox).
    pub insecure: bool,
}

impl SystemConfig {
    /// One ITS (`its1`), one WDS (`wds1`) and `n` WECs (`cluster1`..).
    pub fn new(dir: impl Into<PathBuf>, n: usize) -> SystemConfig {
        SystemConfig {
            dir: dir.into(),
            host: IpAddr::from([127, 0, 0, 1]),
            its: "its1".into(),
            wds: vec!["wds1".into()],
            wecs: (1..=n).map(WecSpec::numbered).collect(),
            agents: true,
            controllers: true,
            insecure: false,
        }
    }
}

/// What `DIR/state.json` records: the spaces of a system directory and their ports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub its: String,
    pub wds: Vec<String>,
    pub wecs: Vec<WecSpec>,
    pub ports: BTreeMap<String, u16>,
}

/// Errors starting the system.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid state file: {source}")]
    State {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("space {name}: {source}")]
    Space {
        name: String,
        source: kubestellar_space::ServeError,
    },
    #[error("client for {name}: {source}")]
    Client {
        name: String,
        source: crate::clients::ClientError,
    },
    #[error("registering WEC {name}: {source}")]
    Register {
        name: String,
        source: inventory::InventoryError,
    },
    #[error("controller of {wds}: {source}")]
    Controller {
        wds: String,
        source: controller::ControllerError,
    },
    #[error("declaring the default plugins in {wds}: {source}")]
    Plugins { wds: String, source: kube::Error },
    #[error("{0}")]
    Invalid(String),
}

/// Progress of [`System::start`], for display.
#[derive(Clone, Debug)]
pub enum Progress {
    Spaces { total: usize },
    SpaceUp { name: String, url: String },
    Registered { wec: String },
    ControllerUp { wds: String },
    Ready,
}

/// The running system.
pub struct System {
    pub dir: PathBuf,
    /// `DIR/kubeconfig`, one context per space.
    pub kubeconfig: PathBuf,
    pub its: String,
    pub wds: Vec<String>,
    pub wecs: Vec<WecSpec>,
    spaces: BTreeMap<String, RunningSpace>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: tokio::task::JoinSet<()>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SystemError + '_ {
    move |source| SystemError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl System {
    /// Starts everything; returns once the controllers run and every agent is started, after
    /// writing `DIR/kubeconfig`.
    pub async fn start(
        cfg: SystemConfig,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<System, SystemError> {
        std::fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir))?;
        let state_path = cfg.dir.join("state.json");
        let mut state = match std::fs::read(&state_path) {
            Ok(bytes) => {
                serde_json::from_slice::<State>(&bytes).map_err(|source| SystemError::State {
                    path: state_path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                return Err(SystemError::Io {
                    path: state_path.clone(),
                    source: e,
                });
            }
        };
        // Resuming keeps what was there and adds what is new.
        if state.its.is_empty() {
            state.its = cfg.its.clone();
        }
        for w in &cfg.wds {
            if !state.wds.contains(w) {
                state.wds.push(w.clone());
            }
        }
        for w in &cfg.wecs {
            match state.wecs.iter_mut().find(|s| s.name == w.name) {
                Some(existing) => *existing = w.clone(),
                None => state.wecs.push(w.clone()),
            }
        }
        let mut names = vec![state.its.clone()];
        names.extend(state.wds.iter().cloned());
        names.extend(state.wecs.iter().map(|w| w.name.clone()));
        for n in &names {
            inventory::check_name(n)
                .map_err(|e| SystemError::Invalid(format!("space name {n:?}: {e}")))?;
        }
        {
            let mut seen = std::collections::BTreeSet::new();
            if let Some(dup) = names.iter().find(|n| !seen.insert(*n)) {
                return Err(SystemError::Invalid(format!(
                    "{dup:?} names two spaces; space names must be unique"
                )));
            }
        }
        progress(Progress::Spaces { total: names.len() });

        // Spaces, all at once (a hundred WECs start in parallel).
        let wec_names: Vec<String> = state.wecs.iter().map(|w| w.name.clone()).collect();
        let starts = names.iter().map(|n| {
            let mut sc = SpaceConfig::new(n.clone(), cfg.dir.join("spaces").join(n));
            sc.simulator = wec_names.contains(n);
            sc.security = if cfg.insecure {
                Security::Insecure
            } else {
                Security::Secure
            };
            let port = state.ports.get(n).copied().unwrap_or(0);
            let addr = SocketAddr::new(cfg.host, port);
            let name = n.clone();
            async move {
                let r = kubestellar_space::start(sc, addr).await;
                (name, r)
            }
        });
        let mut spaces = BTreeMap::new();
        let mut first_error = None;
        for (name, r) in futures::future::join_all(starts).await {
            match r {
                Ok(s) => {
                    progress(Progress::SpaceUp {
                        name: name.clone(),
                        url: s.url(),
                    });
                    state.ports.insert(name.clone(), s.addr.port());
                    spaces.insert(name, s);
                }
                Err(source) => {
                    first_error.get_or_insert(SystemError::Space { name, source });
                }
            }
        }
        if let Some(e) = first_error {
            for (_, s) in spaces {
                s.stop().await;
            }
            return Err(e);
        }
        let state_json = serde_json::to_vec_pretty(&state).unwrap_or_default();
        std::fs::write(&state_path, state_json).map_err(io_err(&state_path))?;

        let mut system = System {
            dir: cfg.dir.clone(),
            kubeconfig: cfg.dir.join("kubeconfig"),
            its: state.its.clone(),
            wds: state.wds.clone(),
            wecs: state.wecs.clone(),
            spaces,
            stops: Vec::new(),
            tasks: tokio::task::JoinSet::new(),
        };
        match system.start_components(&cfg, progress).await {
            Ok(()) => {
                system.write_kubeconfig()?;
                progress(Progress::Ready);
                Ok(system)
            }
            Err(e) => {
                system.stop().await;
                Err(e)
            }
        }
    }

    async fn start_components(
        &mut self,
        cfg: &SystemConfig,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), SystemError> {
        let its = self.client(&self.its.clone()).await?;
        // Register every WEC (bounded parallelism keeps the ITS responsive).
        let regs = self.wecs.iter().map(|w| {
            let its = its.clone();
            let reg = Registration {
                name: w.name.clone(),
                labels: w.labels.clone(),
                properties: w.properties.clone(),
            };
            async move {
                let r = inventory::register(&its, &reg).await;
                (reg.name, r)
            }
        });
        let mut stream = futures::stream::iter(regs).buffer_unordered(16);
        while let Some((name, r)) = stream.next().await {
            r.map_err(|source| SystemError::Register {
                name: name.clone(),
                source,
            })?;
            progress(Progress::Registered { wec: name });
        }
        // One agent per WEC, as a task of this process (same code as `kubestellar agent`).
        for w in self.wecs.clone().into_iter().filter(|_| cfg.agents) {
            let wec = self.client(&w.name).await?;
            let agent_its = self.agent_its_client(&its, &w.name).await?;
            let (tx, rx) = oneshot::channel::<()>();
            let agent = Agent::new(AgentConfig::new(&w.name), agent_its, wec);
            self.tasks.spawn(agent.run(async {
                let _ = rx.await;
            }));
            self.stops.push(tx);
        }
        // One controller per WDS.
        for wds_name in self.wds.clone() {
            let wds = self.client(&wds_name).await?;
            let mut ccfg = ControllerConfig::new(&wds_name);
            ccfg.plugin_cache_dir = Some(cfg.dir.join("plugin-cache"));
            if !cfg.controllers {
                // Someone else runs the controller; the spaces look as they would with it.
                install_crds(&wds, &its)
                    .await
                    .map_err(|source| SystemError::Controller {
                        wds: wds_name.clone(),
                        source,
                    })?;
                declare_default_plugins(&wds)
                    .await
                    .map_err(|source| SystemError::Plugins {
                        wds: wds_name.clone(),
                        source,
                    })?;
                continue;
            }
            let ctx = controller::prepare(ccfg, wds.clone(), its.clone())
                .await
                .map_err(|source| SystemError::Controller {
                    wds: wds_name.clone(),
                    source,
                })?;
            declare_default_plugins(&wds)
                .await
                .map_err(|source| SystemError::Plugins {
                    wds: wds_name.clone(),
                    source,
                })?;
            let (tx, rx) = oneshot::channel::<()>();
            self.tasks.spawn(controller::run(ctx, async {
                let _ = rx.await;
            }));
            self.stops.push(tx);
            progress(Progress::ControllerUp { wds: wds_name });
        }
        Ok(())
    }

    /// A client for one of the spaces.
    pub async fn client(&self, space: &str) -> Result<kube::Client, SystemError> {
        let s = self
            .spaces
            .get(space)
            .ok_or_else(|| SystemError::Invalid(format!("no space {space:?}")))?;
        crate::clients::client(Some(&s.kubeconfig), None)
            .await
            .map_err(|source| SystemError::Client {
                name: space.to_string(),
                source,
            })
    }

    /// The ITS client of WEC `wec`'s agent: in a secure system, an identity of its own that
    /// may only use the WEC's mailbox namespace (granted here with a Role); otherwise the
    /// admin client.
    async fn agent_its_client(
        &self,
        its_admin: &kube::Client,
        wec: &str,
    ) -> Result<kube::Client, SystemError> {
        let its = self
            .spaces
            .get(&self.its)
            .ok_or_else(|| SystemError::Invalid(format!("no space {:?}", self.its)))?;
        if its.space.ca_pem().is_none() {
            return Ok(its_admin.clone());
        }
        let user = inventory::agent_user(wec);
        inventory::grant_agent(its_admin, wec, &inventory::AgentSubject::User(user.clone()))
            .await
            .map_err(|source| SystemError::Register {
                name: wec.to_string(),
                source,
            })?;
        let cert = its
            .space
            .issue_client_certificate(&user, &[inventory::AGENTS_GROUP.to_string()])
            .map_err(|e| SystemError::Invalid(format!("credential of {wec}'s agent: {e}")))?;
        let context = KubeconfigContext {
            name: self.its.clone(),
            user: user.clone(),
            server: its.url(),
            ca_pem: its.space.ca_pem().map(str::to_string),
            credential: Credential::ClientCertificate {
                cert_pem: cert.cert_pem,
                key_pem: cert.key_pem,
            },
        };
        crate::clients::client_for_context(&context)
            .await
            .map_err(|source| SystemError::Client {
                name: format!("{} (as {user})", self.its),
                source,
            })
    }

    /// The running space called `name`.
    pub fn space(&self, name: &str) -> Option<&RunningSpace> {
        self.spaces.get(name)
    }

    /// Every space, by name.
    pub fn spaces(&self) -> impl Iterator<Item = (&String, &RunningSpace)> {
        self.spaces.iter()
    }

    fn write_kubeconfig(&self) -> Result<(), SystemError> {
        // WDS first: it is where users work, so it is the current context.
        let mut order: Vec<&String> = self.wds.iter().collect();
        order.push(&self.its);
        order.extend(self.wecs.iter().map(|w| &w.name));
        let contexts: Vec<KubeconfigContext> = order
            .into_iter()
            .filter_map(|n| self.spaces.get(n).map(RunningSpace::admin_context))
            .collect();
        kubeconfig::write_contexts(&self.kubeconfig, &contexts).map_err(io_err(&self.kubeconfig))
    }

    /// Stops controllers and agents, then the spaces.
    pub async fn stop(mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        let wait = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(std::time::Duration::from_secs(5), wait)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        let stops = std::mem::take(&mut self.spaces)
            .into_values()
            .map(|s| s.stop());
        futures::future::join_all(stops).await;
    }
}

/// What [`controller::prepare`] writes into the spaces: the CRDs of the WDS and the ITS.
async fn install_crds(
    wds: &kube::Client,
    its: &kube::Client,
) -> Result<(), controller::ControllerError> {
    use crate::api::crds::{ITS_CRDS, WDS_CRDS, install};
    install(wds, WDS_CRDS, "kubestellar-controller").await?;
    install(its, ITS_CRDS, "kubestellar-controller").await?;
    Ok(())
}

/// Declares the built-in plugins as WasmPlugin objects, so that they show in
/// `kubectl get wasmplugins` like any other.
async fn declare_default_plugins(wds: &kube::Client) -> Result<(), kube::Error> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            crate::api::CONTROL_GROUP,
            crate::api::CONTROL_VERSION,
            "WasmPlugin",
        ),
        "wasmplugins",
    );
    let api: Api<DynamicObject> = Api::all_with(wds.clone(), &ar);
    for name in ["transform-default", "summarize-default"] {
        let body = json!({
            "apiVersion": "control.kubestellar.io/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": name},
            "spec": {"source": format!("builtin:{name}")},
        });
        api.patch(
            name,
            &PatchParams::apply("kubestellar-up").force(),
            &Patch::Apply(&body),
        )
        .await?;
    }
    Ok(())
}

/// The state of a system directory without starting it (for `kubestellar status`/`down`).
pub fn read_state(dir: &Path) -> Result<State, SystemError> {
    let path = dir.join("state.json");
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    serde_json::from_slice(&bytes).map_err(|source| SystemError::State {
        path: path.clone(),
        source,
    })
}
