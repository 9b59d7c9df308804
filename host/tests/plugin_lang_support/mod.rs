//! Shared by the plugin language and distribution tests: builds the example plugins with their
//! real toolchains (`kubestellar plugin build`: componentize-py, jco, cargo), keeps precompiled
//! components in one cache under `target/` (compiling a Python component takes 7-14 s), and
//! starts the embedded system with that cache seeded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a subset; tests panic to fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use kubestellar::plugins::{Limits, LoadedPlugin, PluginRuntime, RuntimeConfig};
use kubestellar::system::{System, SystemConfig};
use sha2::{Digest, Sha256};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `kubestellar` binary.
pub fn kubestellar() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubestellar"));
    // The shared test cache, not the user's: the examples are compiled there once.
    c.current_dir(repo())
        .env("KUBESTELLAR_PLUGIN_CACHE", cache_dir());
    c
}

/// Runs `kubestellar ARGS`, failing the test with its output unless it succeeds; returns stdout.
pub fn kubestellar_ok(args: &[&str]) -> String {
    let out = kubestellar().args(args).output().expect("kubestellar runs");
    assert!(
        out.status.success(),
        "kubestellar {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `examples/plugins/<dir>` with `kubestellar plugin build` (once per test binary) into
/// `target/plugin-examples/<dir>.wasm`. A missing toolchain fails the test, naming it.
pub fn example(dir: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(dir) {
        return p.clone();
    }
    let out = repo()
        .join("target/plugin-examples")
        .join(format!("{dir}.wasm"));
    let project = repo().join("examples/plugins").join(dir);
    kubestellar_ok(&[
        "plugin",
        "build",
        project.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    built.insert(dir.to_string(), out.clone());
    out
}

/// Hex sha256 of a file.
pub fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Precompiled components shared by every test (and every run: the key includes the module's
/// digest and the engine, so stale entries are never used).
pub fn cache_dir() -> PathBuf {
    repo().join("target/plugin-test-cache")
}

/// A runtime using the shared precompile cache.
pub fn cached_runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(cache_dir()),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// Loads a component through the shared cache (compiling it the first time).
pub fn load(path: &Path, limits: Limits) -> std::sync::Arc<LoadedPlugin> {
    let bytes = std::fs::read(path).unwrap();
    cached_runtime()
        .load_named(Some(&path.display().to_string()), &bytes, None, limits)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies the shared precompiled components into a system directory's plugin cache, so the
/// controller loads them in milliseconds instead of compiling them again.
pub fn seed_cache(system_dir: &Path) {
    let dest = system_dir.join("plugin-cache");
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(cache_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            std::fs::copy(&path, dest.join(entry.file_name())).unwrap();
        }
    }
}

/// The embedded system (what `kubestellar up` runs) with two WECs, in a runtime of its own.
pub struct Running {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub system: Option<System>,
    pub kubeconfig: PathBuf,
}

impl Running {
    /// Starts the system with the shared precompiled plugins seeded.
    pub fn start() -> Running {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        seed_cache(dir.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let system = rt
            .block_on(System::start(SystemConfig::new(dir.path(), 2), &|_| {}))
            .expect("system starts");
        let kubeconfig = system.kubeconfig.clone();
        Running {
            dir,
            rt,
            system: Some(system),
            kubeconfig,
        }
    }

    /// kubectl 1.33 on a context of the system.
    pub fn kubectl(&self, context: &str) -> crate::support::Kubectl {
        crate::support::Kubectl::new(33, &self.kubeconfig).context(context)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.system.take() {
            self.rt.block_on(s.stop());
        }
    }
}

/// A JSON object of a space, if it exists.
pub fn get(k: &crate::support::Kubectl, args: &[&str]) -> Option<serde_json::Value> {
    let mut a: Vec<&str> = vec!["get"];
    a.extend(args);
    a.extend(["-o", "json"]);
    let (ok, out, _) = k.run(&a, None);
    if ok {
        serde_json::from_str(&out).ok()
    } else {
        None
    }
}

/// The Ready condition of a WasmPlugin: (status, reason, message).
pub fn ready(wds: &crate::support::Kubectl, name: &str) -> Option<(String, String, String)> {
    let wp = get(wds, &["wasmplugin", name])?;
    let c = wp["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
        c["message"].as_str()?.to_string(),
    ))
}

/// Waits until WasmPlugin `name` has Ready with `reason`; returns the message.
pub fn wait_ready_reason(wds: &crate::support::Kubectl, name: &str, reason: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let seen = ready(wds, name);
        match seen {
            Some((_, r, message)) if r == reason => return message,
            _ => assert!(
                start.elapsed() < std::time::Duration::from_secs(90),
                "timed out after 90 s waiting for WasmPlugin {name} with Ready reason {reason}; \
                 last seen (status, reason, message): {seen:?}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
