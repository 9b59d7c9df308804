//! `LoadedPlugin`: a linked, described plugin, ready to call. Each call runs in a fresh
//! instance (default) or in one of a small pool of warm instances (`Limits::warm_instances`);
//! [`super::instances`] provides them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kubestellar_plugin_sdk::check::{self, Identity};
use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store};

use super::bindings::{summarizer, transformer};
use super::cache::CacheOutcome;
use super::instances::{Bound, Instances, Pre};
use super::store::{self, State};
use super::{
    ClusterContext, ConfigProblem, Limits, PluginError, PluginInfo, PluginKind, PreparedCluster,
    Report, Scope, Summary, Transformed, convert,
};
use crate::secrets::SecretValues;

/// How long loading took and whether the precompiled cache was used.
#[derive(Debug, Clone)]
pub struct LoadStats {
    /// Cache hit, miss, corrupt entry or no cache.
    pub cache: CacheOutcome,
    /// Compiling, or reading the precompiled artifact.
    pub compile: Duration,
    /// Type inspection and `instantiate_pre` (import checking).
    pub link: Duration,
    /// Everything, `describe()` included.
    pub total: Duration,
}

/// What [`super::PluginRuntime::load_named`] hands over.
pub(super) struct Parts {
    pub engine: Engine,
    pub pre: InstancePre<State>,
    pub world: PluginKind,
    pub label: String,
    pub named: bool,
    pub digest: String,
    pub size: usize,
    pub exports: Vec<String>,
    pub functions: Vec<String>,
    pub imports: Vec<String>,
    pub limits: Limits,
    pub stats: LoadStats,
    pub started: Instant,
}

/// A loaded plugin. Thread-safe; calls are synchronous (use `spawn_blocking` from async code).
pub struct LoadedPlugin {
    instances: Arc<Instances>,
    name: Arc<str>,
    info: PluginInfo,
    world: PluginKind,
    digest: String,
    size: usize,
    exports: Vec<String>,
    functions: Vec<String>,
    imports: Vec<String>,
    limits: Limits,
    stats: LoadStats,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("info", &self.info)
            .field("digest", &self.digest)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Binds the world, calls `describe()` and checks that it agrees with the world.
    pub(super) fn new(parts: Parts) -> Result<Self, PluginError> {
        let Parts {
            engine,
            pre,
            world,
            label,
            named,
            digest,
            size,
            exports,
            functions,
            imports,
            limits,
            mut stats,
            started,
        } = parts;
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            plugin: label.clone(),
            expected: world.world().to_owned(),
            found: format!(
                "exports that do not match it: {}",
                store::one_line(&format!("{e:#}"))
            ),
        };
        let pre = match world {
            PluginKind::Transformer => {
                Pre::Transformer(transformer::TransformerPre::new(pre).map_err(wrong)?)
            }
            PluginKind::Summarizer => {
                Pre::Summarizer(summarizer::SummarizerPre::new(pre).map_err(wrong)?)
            }
        };
        let name: Arc<str> = Arc::from(label.as_str());
        let mut plugin = LoadedPlugin {
            instances: Instances::new(engine, pre, name.clone(), limits),
            name,
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                kind: world,
                scope: Scope::PerObject,
                config_schema: None,
            },
            world,
            digest,
            size,
            exports,
            functions,
            imports,
            limits,
            stats: stats.clone(),
        };
        let info = plugin.call(&SecretValues::default(), |store, bound| {
            let wit = match bound {
                Bound::Transformer(t) => t.kubestellar_plugin_plugin().call_describe(store)?,
                Bound::Summarizer(s) => s.kubestellar_plugin_plugin().call_describe(store)?,
            };
            Ok(Ok(convert::info_from_wit(wit)))
        })?;
        if info.kind != world {
            return Err(PluginError::WrongWorld {
                plugin: label,
                expected: world.world().to_owned(),
                found: format!("describe() declaring a {}", info.kind),
            });
        }
        if !named {
            plugin.name =
                Arc::from(format!("{} (sha256:{})", info.name, &plugin.digest[..12]).as_str());
            plugin.instances.rename(plugin.name.clone());
        }
        plugin.instances.prepare();
        plugin.info = info;
        stats.total = started.elapsed();
        plugin.stats = stats;
        Ok(plugin)
    }

    /// What `describe()` returned.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The name used in error messages (the source it was loaded from, or describe's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lower-case hex sha256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The world the component implements.
    pub fn world(&self) -> PluginKind {
        self.world
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Names the component exports (interfaces and functions).
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// Exported functions, as `interface#function`.
    pub fn exported_functions(&self) -> &[String] {
        &self.functions
    }

    /// Names the component imports (WASI and host interfaces).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// How loading went.
    pub fn load_stats(&self) -> &LoadStats {
        &self.stats
    }

    /// Warm instances currently idle in the pool.
    pub fn idle_instances(&self) -> usize {
        self.instances.idle()
    }

    /// Whether a fresh instance is prepared for the next call (fresh-instance plugins: it is
    /// made in the background after each call).
    pub fn fresh_instance_ready(&self) -> bool {
        self.instances.spare_ready()
    }

    /// Checks a configuration (JSON text): it must parse, and the plugin must accept it.
    pub fn validate_config(&self, config: &str) -> Result<(), PluginError> {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(config) {
            return Err(PluginError::InvalidConfig {
                plugin: self.name.to_string(),
                problems: vec![ConfigProblem::new("", format!("not valid JSON: {e}"))],
            });
        }
        let problems = self.call(&SecretValues::default(), |store, bound| {
            let wit = match bound {
                Bound::Transformer(t) => t
                    .kubestellar_plugin_plugin()
                    .call_validate_config(store, config)?,
                Bound::Summarizer(s) => s
                    .kubestellar_plugin_plugin()
                    .call_validate_config(store, config)?,
            };
            Ok(Ok(wit
                .into_iter()
                .map(convert::problem_from_wit)
                .collect::<Vec<_>>()))
        })?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PluginError::InvalidConfig {
                plugin: self.name.to_string(),
                problems,
            })
        }
    }

    /// Transforms `object` (JSON) for `cluster`. Per-object plugins get no cluster context.
    /// The output must be a JSON object with the input's apiVersion, kind, name and namespace.
    pub fn transform(
        &self,
        object: &str,
        cluster: Option<&ClusterContext>,
        config: &str,
    ) -> Result<Transformed, PluginError> {
        let cluster = cluster
            .filter(|_| self.info.scope == Scope::PerCluster)
            .map(PreparedCluster::new);
        let identity = Identity::of_json(object);
        self.transform_known(object, identity.as_ref(), cluster.as_ref(), config)
    }

    /// [`Self::transform`] for a caller that knows the object's identity (what
    /// `Identity::of_json(object)` returns, e.g. from the object it serialized) and has the
    /// cluster context prepared, which spares reading the one and converting the other on
    /// every call.
    pub fn transform_known(
        &self,
        object: &str,
        identity: Option<&Identity>,
        cluster: Option<&PreparedCluster>,
        config: &str,
    ) -> Result<Transformed, PluginError> {
        self.expect(PluginKind::Transformer)?;
        let per_cluster = self.info.scope == Scope::PerCluster;
        let cluster = cluster.filter(|_| per_cluster).map(|c| &c.0);
        self.call(
            &SecretValues::of_identified(object, identity),
            |store, bound| {
                let Bound::Transformer(t) = bound else {
                    return Ok(Err(self.wrong_world(PluginKind::Transformer)));
                };
                Ok(
                    match t
                        .kubestellar_plugin_transform()
                        .call_transform(store, object, cluster, config)?
                    {
                        Ok(out) => match check::keeps_identity(identity, &out.object) {
                            Ok(()) => Ok(Transformed {
                                object: out.object,
                                used_cluster: per_cluster && out.used_cluster,
                            }),
                            Err(reason) => Err(PluginError::InvalidOutput {
                                plugin: self.name.to_string(),
                                reason,
                            }),
                        },
                        Err(e) => Err(self.reported(e.message)),
                    },
                )
            },
        )
    }

    /// Summarizes what the WECs reported about `object` (JSON).
    pub fn summarize(
        &self,
        object: &str,
        reports: &[Report],
        config: &str,
    ) -> Result<Summary, PluginError> {
        self.expect(PluginKind::Summarizer)?;
        let reports: Vec<_> = reports.iter().map(convert::report_to_wit).collect();
        self.call(&SecretValues::of_json(object), |store, bound| {
            let Bound::Summarizer(s) = bound else {
                return Ok(Err(self.wrong_world(PluginKind::Summarizer)));
            };
            Ok(
                match s
                    .kubestellar_plugin_summarize()
                    .call_summarize(store, object, &reports, config)?
                {
                    Ok(out) => {
                        let summary = convert::summary_from_wit(out);
                        match check::summary(&summary) {
                            Ok(()) => Ok(summary),
                            Err(reason) => Err(PluginError::InvalidOutput {
                                plugin: self.name.to_string(),
                                reason,
                            }),
                        }
                    }
                    Err(e) => Err(self.reported(e.message)),
                },
            )
        })
    }

    fn expect(&self, kind: PluginKind) -> Result<(), PluginError> {
        if self.world == kind {
            Ok(())
        } else {
            Err(self.wrong_world(kind))
        }
    }

    fn wrong_world(&self, expected: PluginKind) -> PluginError {
        PluginError::WrongWorld {
            plugin: self.name.to_string(),
            expected: expected.world().to_owned(),
            found: format!("the {} world", self.world.world()),
        }
    }

    fn reported(&self, message: String) -> PluginError {
        PluginError::PluginReported {
            plugin: self.name.to_string(),
            message: store::one_line(&message),
        }
    }

    /// Runs `f` on an instance. The outer `Err` is a wasm-level failure (trap, deadline, memory);
    /// the inner one a contract-level failure. Either way the instance is discarded: a trapped
    /// instance cannot be entered again, and one that misbehaved is not trusted again.
    /// `secrets`: the values of a Secret the plugin is handed, redacted from its log lines and
    /// from the error (crate::secrets).
    fn call<R>(
        &self,
        secrets: &SecretValues,
        f: impl FnOnce(&mut Store<State>, &Bound) -> wasmtime::Result<Result<R, PluginError>>,
    ) -> Result<R, PluginError> {
        let mut inst = self.instances.take()?;
        let before = inst.sandbox.output.contents().len();
        inst.sandbox.store.data_mut().log.redact(secrets.clone());
        let result = f(&mut inst.sandbox.store, &inst.bound);
        inst.calls += 1;
        match result {
            Ok(Ok(r)) => {
                self.instances.give_back(inst);
                Ok(r)
            }
            Ok(Err(e)) => {
                self.instances.discard(inst);
                Err(e.redacted(secrets))
            }
            Err(e) => {
                let stderr = store::output_since(&inst.sandbox.output, before);
                self.instances.discard(inst);
                let err = store::classify(&e, &self.name, &self.limits, stderr);
                let detail = format!("{e:?}");
                tracing::debug!(
                    plugin = &*self.name,
                    "plugin call failed: {}",
                    secrets.redact(&detail)
                );
                Err(err.redacted(secrets))
            }
        }
    }
}
