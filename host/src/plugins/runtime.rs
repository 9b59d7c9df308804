//! `PluginRuntime`: loads components (verify digest, compile or read the precompiled cache,
//! link, `describe`) into [`LoadedPlugin`]s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};

use super::bindings::names;
use super::cache::{CacheOutcome, ComponentCache};
use super::host::HostLogData;
use super::loaded::{LoadStats, LoadedPlugin, Parts};
use super::store::State;
use super::{PluginError, PluginKind, bindings, builtin, engine};

/// Per-plugin limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Wall-clock deadline per call (and for instantiating, timed separately: fresh instances
    /// are usually made before their call, off the caller's path).
    pub timeout: Duration,
    /// Cap on the plugin's linear memory (at most [`engine::MAX_MEMORY_BYTES`]).
    pub memory_bytes: u64,
    /// Idle instances kept for reuse; 0 means a fresh instance for every call.
    pub warm_instances: usize,
    /// A warm instance is thrown away after this many calls.
    pub max_calls_per_instance: u32,
}

impl Limits {
    /// The limits built-in plugins run under by default: as [`Limits::default`], but with up to
    /// [`BUILTIN_WARM_INSTANCES`] warm instances. Instantiating costs about as much as a
    /// transform-default call, and the built-ins keep no state between calls (what persists in
    /// a warm instance is its heap and lazily built tables), so their output is the same either
    /// way; an instance is still recycled after `max_calls_per_instance` calls or any error.
    pub fn builtin() -> Self {
        Limits {
            warm_instances: BUILTIN_WARM_INSTANCES,
            ..Limits::default()
        }
    }

    /// The memory cap actually applied (clamped to the engine's per-memory maximum).
    pub fn effective_memory_bytes(&self) -> u64 {
        self.memory_bytes.min(engine::MAX_MEMORY_BYTES)
    }
}

impl Default for Limits {
    /// 1 s, 128 MiB, fresh instance per call, 1000 calls per warm instance.
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(1),
            memory_bytes: 128 << 20,
            warm_instances: 0,
            max_calls_per_instance: 1000,
        }
    }
}

/// Idle warm instances kept per built-in plugin by [`Limits::builtin`] (calls beyond that many
/// at once get fresh instances).
pub const BUILTIN_WARM_INSTANCES: usize = 4;

/// How a [`PluginRuntime`] is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where precompiled components are kept; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Limits for built-in plugins ([`Limits::builtin`] by default).
    pub builtin_limits: Limits,
}

impl Default for RuntimeConfig {
    /// No cache, [`Limits::builtin`] for the built-ins.
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            builtin_limits: Limits::builtin(),
        }
    }
}

/// Loads plugins; cheap to share (`Arc`) and thread-safe.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<State>,
    cache: Option<ComponentCache>,
    builtin_limits: Limits,
    builtins: Mutex<HashMap<&'static str, Arc<LoadedPlugin>>>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
    /// A runtime on the process-wide engine.
    pub fn new(config: RuntimeConfig) -> Result<Self, PluginError> {
        let engine = engine::shared()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("cannot link WASI: {e}")))?;
        bindings::host::add_to_linker::<State, HostLogData>(&mut linker, |s| &mut s.log)
            .map_err(|e| PluginError::Runtime(format!("cannot link the host interface: {e}")))?;
        let cache = match config.cache_dir {
            Some(dir) => Some(ComponentCache::new(&dir).map_err(|e| {
                PluginError::Runtime(format!(
                    "cannot create plugin cache directory {}: {e}",
                    dir.display()
                ))
            })?),
            None => None,
        };
        Ok(PluginRuntime {
            engine,
            linker,
            cache,
            builtin_limits: config.builtin_limits,
            builtins: Mutex::new(HashMap::new()),
        })
    }

    /// Loads a component, naming it after its digest in errors until `describe()` names it.
    pub fn load(
        &self,
        bytes: &[u8],
        expected_sha256: Option<&str>,
        limits: Limits,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_named(None, bytes, expected_sha256, limits)
    }

    /// Loads a component; `source` (a path, URL or `builtin:` name) names it in every error.
    ///
    /// Steps: check the digest, check it is a component, compile it or take it from the cache,
    /// link it (which rejects imports the host does not provide), bind the world it exports,
    /// call `describe()` and check it agrees with the world.
    pub fn load_named(
        &self,
        source: Option<&str>,
        bytes: &[u8],
        expected_sha256: Option<&str>,
        limits: Limits,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let started = Instant::now();
        let digest = hex::encode(Sha256::digest(bytes));
        self.load_digested(source, bytes, digest, expected_sha256, limits, started)
    }

    /// [`Self::load_named`] with the digest of `bytes` already known.
    fn load_digested(
        &self,
        source: Option<&str>,
        bytes: &[u8],
        digest: String,
        expected_sha256: Option<&str>,
        limits: Limits,
        started: Instant,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let label = source.map_or_else(|| format!("sha256:{}", &digest[..12]), str::to_owned);
        if let Some(expected) = expected_sha256 {
            let want = normalize_digest(expected);
            if want != digest {
                return Err(PluginError::DigestMismatch {
                    plugin: label,
                    expected: want,
                    actual: digest,
                });
            }
        }
        check_header(bytes, &label)?;

        let compile_started = Instant::now();
        let compile = || {
            Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile {
                plugin: label.clone(),
                message: super::store::one_line(&format!("{e:#}")),
            })
        };
        let (component, cache) = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &digest, compile)?,
            None => (compile()?, CacheOutcome::Disabled),
        };
        let compile_time = compile_started.elapsed();

        let link_started = Instant::now();
        let ty = component.component_type();
        let mut exports = Vec::new();
        let mut functions = Vec::new();
        for (name, item) in ty.exports(&self.engine) {
            exports.push(name.to_owned());
            match item.ty {
                ComponentItem::ComponentInstance(inst) => {
                    functions.extend(
                        inst.exports(&self.engine)
                            .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
                            .map(|(f, _)| format!("{name}#{f}")),
                    );
                }
                ComponentItem::ComponentFunc(_) => functions.push(name.to_owned()),
                _ => {}
            }
        }
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        // Imports first: a component the host cannot link is unusable whatever it exports.
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Link {
                plugin: label.clone(),
                message: super::store::one_line(&format!("{e:#}")),
            })?;
        let world = world_of(&exports, &label)?;
        let link_time = link_started.elapsed();

        let stats = LoadStats {
            cache,
            compile: compile_time,
            link: link_time,
            total: Duration::ZERO,
        };
        let plugin = LoadedPlugin::new(Parts {
            engine: self.engine.clone(),
            pre,
            world,
            label,
            named: source.is_some(),
            digest,
            size: bytes.len(),
            exports,
            functions,
            imports,
            limits,
            stats,
            started,
        })?;
        Ok(Arc::new(plugin))
    }

    /// A built-in plugin (`transform-default` or `summarize-default`, with or without the
    /// `builtin:` prefix), loaded once per runtime with the configured builtin limits.
    pub fn builtin(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        let bytes = builtin::bytes(name)?;
        let short = name.strip_prefix(builtin::PREFIX).unwrap_or(name);
        let Some(key) = builtin::NAMES.into_iter().find(|n| *n == short) else {
            return Err(PluginError::UnknownBuiltin {
                name: name.to_owned(),
                reason: "unknown name".to_owned(),
            });
        };
        let mut loaded = self.builtins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = loaded.get(key) {
            return Ok(p.clone());
        }
        let started = Instant::now();
        let plugin = self.load_digested(
            Some(&format!("{}{key}", builtin::PREFIX)),
            bytes,
            builtin::digest(key, bytes),
            None,
            self.builtin_limits,
            started,
        )?;
        loaded.insert(key, plugin.clone());
        Ok(plugin)
    }

    /// The precompiled-component cache, if configured.
    pub fn cache(&self) -> Option<&ComponentCache> {
        self.cache.as_ref()
    }
}

/// Accepts `abc…`, `sha256:abc…` and upper case.
fn normalize_digest(d: &str) -> String {
    let d = d.trim();
    d.strip_prefix("sha256:").unwrap_or(d).to_ascii_lowercase()
}

/// Rejects non-wasm bytes and core modules before handing them to the compiler.
fn check_header(bytes: &[u8], label: &str) -> Result<(), PluginError> {
    let reason = match bytes.get(..8) {
        _ if bytes.is_empty() => Some("the file is empty".to_owned()),
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Some(
            "it is a core WebAssembly module; build for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
                .to_owned(),
        ),
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => None,
        Some([0, b'a', b's', b'm', ..]) => Some("unsupported WebAssembly binary version".to_owned()),
        // Text format is accepted for hand-written test components.
        _ if looks_like_wat(bytes) => None,
        _ => Some("the file does not start with the WebAssembly magic number".to_owned()),
    };
    match reason {
        Some(reason) => Err(PluginError::NotAComponent {
            plugin: label.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn looks_like_wat(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        let s = s.trim_start();
        s.starts_with("(component") || s.starts_with(";;")
    })
}

/// Which world a component implements, from its export names.
fn world_of(exports: &[String], label: &str) -> Result<PluginKind, PluginError> {
    let has = |n: &str| exports.iter().any(|e| e == n);
    let wrong = |found: String| PluginError::WrongWorld {
        plugin: label.to_owned(),
        expected: "transformer or summarizer".to_owned(),
        found,
    };
    if !has(names::PLUGIN) {
        return Err(wrong(format!(
            "a component that does not export {} (exports: {})",
            names::PLUGIN,
            list(exports)
        )));
    }
    match (has(names::TRANSFORM), has(names::SUMMARIZE)) {
        (true, false) => Ok(PluginKind::Transformer),
        (false, true) => Ok(PluginKind::Summarizer),
        (true, true) => Err(wrong(
            "a component exporting both transform and summarize".to_owned(),
        )),
        (false, false) => Err(wrong(format!(
            "a component exporting neither transform nor summarize (exports: {})",
            list(exports)
        ))),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_normalized() {
        assert_eq!(normalize_digest(" sha256:ABCdef "), "abcdef");
        assert_eq!(normalize_digest("abc"), "abc");
    }

    #[test]
    fn headers_are_checked() {
        let err = |b: &[u8]| check_header(b, "f").err().map(|e| e.to_string());
        assert_eq!(
            err(b""),
            Some("plugin f: not a WebAssembly component: the file is empty".into())
        );
        assert!(err(b"\0asm\x01\0\0\0").is_some_and(|e| e.contains("core WebAssembly module")));
        assert!(err(b"hello world").is_some_and(|e| e.contains("magic number")));
        assert_eq!(err(b"\0asm\x0d\0\x01\0"), None);
        assert_eq!(err(b"(component)"), None);
    }

    #[test]
    fn world_is_read_from_exports() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(
            world_of(&s(&[names::PLUGIN, names::TRANSFORM]), "x"),
            Ok(PluginKind::Transformer)
        ));
        assert!(matches!(
            world_of(&s(&[names::PLUGIN, names::SUMMARIZE]), "x"),
            Ok(PluginKind::Summarizer)
        ));
        let e = world_of(&s(&["wasi:cli/run@0.2.0"]), "x")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "plugin x: expected the transformer or summarizer world, found a component that does not export kubestellar:plugin/plugin@0.1.0 (exports: wasi:cli/run@0.2.0)"
            )
        );
    }
}
