//! Shared by the plugin test files: builds the test guests in `tests/fixtures/` for
//! `wasm32-wasip2` (once per test binary) and hands out their bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a subset; tests panic to fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kubestellar::plugins::{Limits, PluginRuntime, RuntimeConfig};

/// A Deployment like the ones users write.
pub const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","labels":{"app":"web"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}},"status":{"replicas":2,"readyReplicas":2}}"#;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Directory holding the built fixture components.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target").join("wasm-fixtures");
        let manifest = root.join("host/tests/fixtures/Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("run cargo to build the test guests");
        assert!(
            out.status.success(),
            "building the test guests failed (is wasm32-wasip2 installed? run: rustup target add wasm32-wasip2):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir.join("wasm32-wasip2").join("release")
    })
}

/// Path of fixture `name` (`echo_transformer`, `echo_summarizer`, `hostile`, `liar`).
pub fn fixture_path(name: &str) -> PathBuf {
    fixtures_dir().join(format!("{name}.wasm"))
}

/// Bytes of fixture `name`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

/// A runtime without a cache.
pub fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).unwrap()
}

/// Limits with a short deadline and a small memory cap, for hostile tests.
pub fn tight() -> Limits {
    Limits {
        timeout: std::time::Duration::from_millis(250),
        memory_bytes: 64 << 20,
        ..Limits::default()
    }
}

/// Parses JSON text.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}
