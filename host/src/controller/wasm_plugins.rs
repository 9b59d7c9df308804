//! WasmPlugin objects of the WDS, resolved, verified and loaded.
//!
//! For each WasmPlugin the registry fetches the module named by `spec.source` (`builtin:<name>`,
//! `file:///path`, `https://...` or `oci://host[:port]/repository:tag|@sha256:...`, the remote
//! ones through [`super::fetch`] and pinned by a required `spec.sha256`) or `spec.configMapRef`
//! (a ConfigMap or Secret of the WDS, as written by `kubestellar plugin install`). It checks
//! `spec.sha256` when given, loads the module with `spec.limits`, and writes the outcome to the
//! WasmPlugin's status (`Ready`, digest, size, kind, scope, version). A module is loaded again
//! only when the WasmPlugin's spec changes (so a module updated in place needs a new
//! `spec.sha256`, which `plugin install` writes); one that could not be fetched is fetched again
//! with a backoff (5 s, doubling up to 5 min). A failure concerns only its own WasmPlugin.
//! Dependents (the transport and status controllers) [`get`](WasmPluginRegistry::get) plugins
//! by name and [`subscribe`](WasmPluginRegistry::subscribe) to hear which ones changed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use tokio::sync::{broadcast, watch};

use crate::api::conditions::{Condition, set_condition};
use crate::api::wasm_plugin::PluginLimits;
use crate::api::{WasmPlugin, WasmPluginSpec, WasmPluginStatus};
use crate::binding::mirror::Mirror;
use crate::binding::queue::{Next, Queue};
use crate::controller::fetch::{FetchConfig, FetchError, Fetcher};
use crate::plugins::{Limits, LoadedPlugin, PluginError, PluginRuntime, builtin};

/// Field manager of WasmPlugin status writes.
pub const FIELD_MANAGER: &str = "kubestellar-wasmplugins";

/// The condition reporting whether a plugin is usable.
pub const READY: &str = "Ready";

/// Why a WasmPlugin is not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    /// Condition reason (`InvalidSpec`, `FetchFailed`, `DigestMismatch`, `ModuleTooLarge`,
    /// `NotAWasmArtifact`, `LoadFailed`).
    pub reason: &'static str,
    /// One line for the user.
    pub message: String,
}

impl LoadFailure {
    fn new(reason: &'static str, message: impl Into<String>) -> LoadFailure {
        LoadFailure {
            reason,
            message: message.into(),
        }
    }
}

struct Entry {
    /// The spec it was loaded from.
    spec: WasmPluginSpec,
    result: Result<Arc<LoadedPlugin>, LoadFailure>,
    /// Failed fetches in a row for this spec (for the retry backoff).
    failures: u32,
}

struct Inner {
    wds: kube::Client,
    runtime: Arc<PluginRuntime>,
    fetcher: Result<Fetcher, FetchError>,
    loaded: RwLock<HashMap<String, Entry>>,
    changes: broadcast::Sender<String>,
    synced: watch::Sender<bool>,
}

/// Loaded WasmPlugins by name. Cheap to clone.
#[derive(Clone)]
pub struct WasmPluginRegistry {
    inner: Arc<Inner>,
}

impl WasmPluginRegistry {
    /// A registry for the WasmPlugins of a WDS; remote modules are cached next to the runtime's
    /// precompiled components (`<cache>/modules`).
    pub fn new(wds: kube::Client, runtime: Arc<PluginRuntime>) -> WasmPluginRegistry {
        let cfg = FetchConfig {
            cache_dir: runtime.cache().map(|c| c.dir().join("modules")),
            ..FetchConfig::default()
        };
        WasmPluginRegistry::with_fetcher(wds, runtime, Fetcher::new(cfg))
    }

    /// A registry fetching remote modules with `fetcher` (or reporting why it cannot).
    pub fn with_fetcher(
        wds: kube::Client,
        runtime: Arc<PluginRuntime>,
        fetcher: Result<Fetcher, FetchError>,
    ) -> WasmPluginRegistry {
        let (changes, _) = broadcast::channel(1024);
        let (synced, _) = watch::channel(false);
        WasmPluginRegistry {
            inner: Arc::new(Inner {
                wds,
                runtime,
                fetcher,
                loaded: RwLock::default(),
                changes,
                synced,
            }),
        }
    }

    /// The loaded plugin called `name`, or why it is not usable.
    pub fn get(&self, name: &str) -> Result<Arc<LoadedPlugin>, String> {
        let loaded = self.inner.loaded.read().unwrap_or_else(|e| e.into_inner());
        match loaded.get(name) {
            Some(Entry { result: Ok(p), .. }) => Ok(p.clone()),
            Some(Entry { result: Err(f), .. }) => {
                Err(format!("WasmPlugin {name} is not ready: {}", f.message))
            }
            None if self.is_synced() => Err(format!("WasmPlugin {name} not found")),
            None => Err(format!("WasmPlugin {name} is not loaded yet")),
        }
    }

    /// Names of plugins as they are (re)loaded, changed or removed. A lagging receiver should
    /// treat every plugin as changed.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.changes.subscribe()
    }

    /// True once every WasmPlugin that existed at startup has been processed.
    pub fn is_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// Waits until [`is_synced`](Self::is_synced).
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Watches WasmPlugins until aborted.
    pub async fn run(self) {
        let queue: Arc<Queue<String>> = Queue::new(Duration::from_millis(5));
        let q = queue.clone();
        let mirror = Mirror::start(
            Api::<WasmPlugin>::all(self.inner.wds.clone()),
            watcher::Config::default(),
            "WasmPlugin",
            Arc::new(move |old: Option<&WasmPlugin>, new: Option<&WasmPlugin>| {
                if let Some(p) = new.or(old) {
                    q.add(p.name_any());
                }
            }),
        );
        mirror.wait_synced().await;
        for wp in mirror.list() {
            match self.reconcile(&mirror, &wp.name_any()).await {
                Ok(Next::After(d)) => queue.add_after(wp.name_any(), d),
                Ok(Next::Done) => {}
                Err(e) => {
                    tracing::warn!(plugin = %wp.name_any(), error = %e, "WasmPlugin status not written; retrying");
                    queue.add(wp.name_any());
                }
            }
        }
        self.inner.synced.send_replace(true);
        let this = self.clone();
        queue
            .run("wasmplugins", 2, move |name: String| {
                let (this, mirror) = (this.clone(), mirror.clone());
                async move { this.reconcile(&mirror, &name).await }
            })
            .await;
    }

    async fn reconcile(
        &self,
        mirror: &Mirror<WasmPlugin>,
        name: &str,
    ) -> Result<Next, kube::Error> {
        let Some(wp) = mirror.get("", name) else {
            let removed = self
                .inner
                .loaded
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
            if removed.is_some() {
                let _ = self.inner.changes.send(name.to_string());
            }
            return Ok(Next::Done);
        };
        let (current, failures) = {
            let loaded = self.inner.loaded.read().unwrap_or_else(|e| e.into_inner());
            let same = loaded.get(name).filter(|e| e.spec == wp.spec);
            (
                same
                    // A module that could not be fetched may appear later (a ConfigMap created
                    // after its WasmPlugin, a registry coming up): fetch again rather than keep
                    // the failure.
                    .filter(|e| !matches!(&e.result, Err(f) if retried(f)))
                    .map(|e| e.result.clone()),
                same.map_or(0, |e| e.failures),
            )
        };
        let mut failures_now = 0;
        let result = match current {
            Some(r) => r,
            None => {
                let result = load(
                    &self.inner.runtime,
                    &self.inner.fetcher,
                    &self.inner.wds,
                    &wp.spec,
                )
                .await;
                if matches!(&result, Err(f) if retried(f)) {
                    failures_now = failures.saturating_add(1);
                }
                match &result {
                    Ok(p) => {
                        tracing::info!(plugin = name, digest = p.digest(), "loaded WasmPlugin")
                    }
                    Err(f) => {
                        tracing::warn!(plugin = name, reason = f.reason, error = %f.message, "WasmPlugin not loaded")
                    }
                }
                self.inner
                    .loaded
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(
                        name.to_string(),
                        Entry {
                            spec: wp.spec.clone(),
                            result: result.clone(),
                            failures: failures_now,
                        },
                    );
                let _ = self.inner.changes.send(name.to_string());
                result
            }
        };
        let status = desired_status(&wp, &result);
        if wp.status.as_ref() != Some(&status) {
            let body = serde_json::json!({
                "apiVersion": "control.kubestellar.io/v1alpha1",
                "kind": "WasmPlugin",
                "metadata": {"name": name},
                "status": status,
            });
            let api: Api<WasmPlugin> = Api::all(self.inner.wds.clone());
            match api
                .patch_status(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(match &result {
            Err(f) if retried(f) => Next::After(retry_after(failures_now.max(1))),
            _ => Next::Done,
        })
    }
}

/// How long before fetching a module again after it could not be fetched (the first time).
const FETCH_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between two fetches of a module that keeps failing.
const FETCH_RETRY_MAX: Duration = Duration::from_secs(300);

/// Failures that may go away without a spec change: the module may appear or be re-published.
fn retried(f: &LoadFailure) -> bool {
    matches!(f.reason, "FetchFailed" | "NotAWasmArtifact")
}

/// Backoff after `failures` failed fetches in a row: 5 s, 10 s, 20 s, ... up to 5 min.
fn retry_after(failures: u32) -> Duration {
    FETCH_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(FETCH_RETRY_MAX)
}

/// The status a WasmPlugin should have after a load attempt.
fn desired_status(
    wp: &WasmPlugin,
    result: &Result<Arc<LoadedPlugin>, LoadFailure>,
) -> WasmPluginStatus {
    let mut conditions = wp
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut status = WasmPluginStatus {
        observed_generation: wp.metadata.generation.unwrap_or_default(),
        ..Default::default()
    };
    match result {
        Ok(p) => {
            let info = p.info();
            set_condition(
                &mut conditions,
                Condition::new(
                    READY,
                    true,
                    "Loaded",
                    format!(
                        "{} {} {} ({})",
                        info.kind, info.name, info.version, info.scope
                    ),
                ),
            );
            status.digest = Some(format!("sha256:{}", p.digest()));
            status.size = Some(i64::try_from(p.size()).unwrap_or(i64::MAX));
            status.kind = Some(info.kind.to_string());
            status.scope = Some(info.scope.to_string());
            status.version = Some(info.version.clone());
            status.plugin_name = Some(info.name.clone());
        }
        Err(f) => {
            set_condition(
                &mut conditions,
                Condition::new(READY, false, f.reason, f.message.clone()),
            );
            status.errors = vec![f.message.clone()];
        }
    }
    for c in &mut conditions {
        c.observed_generation = None;
    }
    status.conditions = conditions;
    status
}

/// The runtime limits for `spec.limits` (defaults as documented in the CRD: 1000 ms, 64 MiB,
/// a fresh instance per call, 1000 calls per warm instance).
pub fn limits(l: &PluginLimits) -> Limits {
    Limits {
        timeout: Duration::from_millis(l.timeout_milliseconds.unwrap_or(1000)),
        memory_bytes: l.memory_mebibytes.unwrap_or(64).saturating_mul(1 << 20),
        warm_instances: l.warm_instances.unwrap_or(0) as usize,
        max_calls_per_instance: l.max_calls_per_instance.unwrap_or(1000),
    }
}

/// Fetches and loads the module a WasmPlugin names.
pub async fn load(
    runtime: &Arc<PluginRuntime>,
    fetcher: &Result<Fetcher, FetchError>,
    wds: &kube::Client,
    spec: &WasmPluginSpec,
) -> Result<Arc<LoadedPlugin>, LoadFailure> {
    if let Some(r) = &spec.config_map_ref {
        if spec.source.is_some() {
            return Err(LoadFailure::new(
                "InvalidSpec",
                "give either spec.source or spec.configMapRef, not both",
            ));
        }
        let label = format!(
            "{}/{}/{}[{}]",
            r.kind.as_deref().unwrap_or("ConfigMap").to_lowercase(),
            r.namespace,
            r.name,
            r.key
        );
        let bytes = fetch_from_object(wds, r).await?;
        return finish_load(runtime, label, bytes, spec).await;
    }
    let Some(source) = spec.source.clone() else {
        return Err(LoadFailure::new("InvalidSpec", "spec.source is required"));
    };
    let bytes: Vec<u8> = if let Some(name) = source.strip_prefix(builtin::PREFIX) {
        builtin::bytes(name)
            .map_err(|e| LoadFailure::new("FetchFailed", e.to_string()))?
            .to_vec()
    } else if let Some(path) = source.strip_prefix("file://") {
        tokio::fs::read(path)
            .await
            .map_err(|e| LoadFailure::new("FetchFailed", format!("cannot read {path}: {e}")))?
    } else if source.starts_with("https://")
        || source.starts_with("http://")
        || source.starts_with("oci://")
    {
        let Some(sha256) = spec.sha256.as_deref() else {
            return Err(LoadFailure::new(
                "InvalidSpec",
                format!("spec.sha256 is required for the remote source {source}"),
            ));
        };
        let fetcher = fetcher
            .as_ref()
            .map_err(|e| LoadFailure::new("FetchFailed", e.to_string()))?;
        fetcher
            .fetch(&source, sha256)
            .await
            .map_err(|e| LoadFailure::new(e.reason(), e.to_string()))?
    } else {
        return Err(LoadFailure::new(
            "InvalidSpec",
            format!(
                "unsupported source {source:?}: expected builtin:<name>, file:///path, https://... or oci://..."
            ),
        ));
    };
    finish_load(runtime, source, bytes, spec).await
}

/// Verifies and loads module bytes (off the async threads: compiling can take seconds).
async fn finish_load(
    runtime: &Arc<PluginRuntime>,
    source: String,
    bytes: Vec<u8>,
    spec: &WasmPluginSpec,
) -> Result<Arc<LoadedPlugin>, LoadFailure> {
    let runtime = runtime.clone();
    let sha = spec.sha256.clone();
    let limits = limits(&spec.limits);
    let loaded = tokio::task::spawn_blocking(move || {
        runtime.load_named(Some(&source), &bytes, sha.as_deref(), limits)
    })
    .await
    .map_err(|e| LoadFailure::new("LoadFailed", format!("loading was interrupted: {e}")))?;
    loaded.map_err(|e| match e {
        PluginError::DigestMismatch { .. } => LoadFailure::new("DigestMismatch", e.to_string()),
        e => LoadFailure::new("LoadFailed", e.to_string()),
    })
}

/// Reads a module from a ConfigMap (`binaryData`, or `data` for text) or a Secret of the WDS.
async fn fetch_from_object(
    wds: &kube::Client,
    r: &crate::api::wasm_plugin::ModuleRef,
) -> Result<Vec<u8>, LoadFailure> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let what = format!(
        "{} {}/{}",
        r.kind.as_deref().unwrap_or("ConfigMap"),
        r.namespace,
        r.name
    );
    let missing = |detail: &str| LoadFailure::new("FetchFailed", format!("{what}: {detail}"));
    match r.kind.as_deref().unwrap_or("ConfigMap") {
        "Secret" => {
            let api: Api<Secret> = Api::namespaced(wds.clone(), &r.namespace);
            let s = api
                .get_opt(&r.name)
                .await
                .map_err(|e| missing(&e.to_string()))?
                .ok_or_else(|| missing("not found"))?;
            s.data
                .and_then(|d| d.get(&r.key).map(|b| b.0.clone()))
                .ok_or_else(|| missing(&format!("has no key {:?} in data", r.key)))
        }
        _ => {
            let api: Api<ConfigMap> = Api::namespaced(wds.clone(), &r.namespace);
            let cm = api
                .get_opt(&r.name)
                .await
                .map_err(|e| missing(&e.to_string()))?
                .ok_or_else(|| missing("not found"))?;
            if let Some(b) = cm.binary_data.as_ref().and_then(|d| d.get(&r.key)) {
                return Ok(b.0.clone());
            }
            cm.data
                .and_then(|d| d.get(&r.key).map(|s| s.clone().into_bytes()))
                .ok_or_else(|| missing(&format!("has no key {:?} in binaryData or data", r.key)))
        }
    }
}
