//! Builds the built-in plugins (`plugins/transform-default`, `plugins/summarize-default`) for
//! `wasm32-wasip2` with the `wasm-guest` profile, so the host can embed them with
//! `include_bytes!` as `builtin:transform-default` and `builtin:summarize-default`.
//!
//! The nested `cargo build` uses its own `--target-dir` (`target/wasm-guests`): the outer build
//! holds the lock on `target/debug`, and sharing it would deadlock.
//!
//! `KUBESTELLAR_SKIP_GUEST_BUILD=1` skips the nested build (the builtins then fail to load with
//! a clear error at run time); use it only to build the host on a machine without the target.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, env var carrying the .wasm path) for each built-in guest.
const GUESTS: [(&str, &str); 2] = [
    ("transform-default", "KUBESTELLAR_TRANSFORM_DEFAULT_WASM"),
    ("summarize-default", "KUBESTELLAR_SUMMARIZE_DEFAULT_WASM"),
];
const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "wasm-guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());

    for path in [
        "wit",
        "sdk/rust",
        "plugins/transform-default",
        "plugins/summarize-default",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-env-changed=KUBESTELLAR_SKIP_GUEST_BUILD");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    if env::var_os("KUBESTELLAR_SKIP_GUEST_BUILD").is_some_and(|v| v != "0" && !v.is_empty()) {
        println!(
            "cargo:warning=KUBESTELLAR_SKIP_GUEST_BUILD is set: built-in plugins are not embedded"
        );
        skip(&out_dir);
        return;
    }

    if let Err(msg) = check_target() {
        fail(&msg);
    }

    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d).join("wasm-guests"),
        None => root.join("target").join("wasm-guests"),
    };
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // The outer build's flags are for the host target, not for wasm32.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let wasm_of = |package: &str| {
        target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", package.replace('-', "_")))
    };
    let failure = match cmd.status() {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!(
            "building the built-in plugins for {TARGET} failed ({s}); see the cargo output above"
        )),
        Err(e) => Some(format!(
            "cannot run cargo to build the built-in plugins: {e}"
        )),
    };
    if let Some(msg) = failure {
        // Several people edit the plugins while others build the host: a plugin that does not
        // compile right now must not block them, so an earlier build is embedded, loudly. A
        // fresh checkout (CI) has no earlier build and fails here.
        if GUESTS.iter().all(|(package, _)| wasm_of(package).is_file()) {
            println!("cargo:warning={msg}");
            println!(
                "cargo:warning=embedding the PREVIOUS build of the built-in plugins from {}",
                target_dir.display()
            );
        } else {
            fail(&format!(
                "{msg} (set KUBESTELLAR_SKIP_GUEST_BUILD=1 to build the host without them)"
            ));
        }
    }

    for (package, var) in GUESTS {
        let wasm = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", package.replace('-', "_")));
        if !wasm.is_file() {
            fail(&format!(
                "cargo succeeded but {} does not exist",
                wasm.display()
            ));
        }
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}

/// Checks that the rust toolchain has the `wasm32-wasip2` standard library.
fn check_target() -> Result<(), String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let lib = Path::new(&sysroot).join("lib").join("rustlib").join(TARGET);
    if lib.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the {TARGET} target is not installed (no {}); run: rustup target add {TARGET}",
            lib.display()
        ))
    }
}

/// Points the env vars at empty files: `builtin()` reports the plugins as not built.
fn skip(out_dir: &Path) {
    for (package, var) in GUESTS {
        let empty = out_dir.join(format!("{package}.skipped"));
        if let Err(e) = std::fs::write(&empty, b"") {
            fail(&format!("cannot write {}: {e}", empty.display()));
        }
        println!("cargo:rustc-env={var}={}", empty.display());
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    println!("cargo:warning={msg}");
    std::process::exit(1);
}
