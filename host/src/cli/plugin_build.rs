//! `kubestellar plugin build`: builds the plugin project in a directory with the toolchain of
//! its language (described by its `kubestellar-plugin.json`), then loads the result to check
//! that it is a usable plugin of the declared world.
//!
//! * Rust: `cargo build --release --target wasm32-wasip2`, without debug info.
//! * Python: `componentize-py -d WIT -w WORLD componentize -p DIR ... MODULE -o OUT`.
//! * JavaScript: bundled with rolldown (so helper modules outside the project can be imported),
//!   then `jco componentize --backend qjs` (QuickJS, the default engine) or componentize-js
//!   (`"engine": "starlingmonkey"`), with no WASI features.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::plugins::{Limits, PluginRuntime, RuntimeConfig};

/// The file describing a plugin project.
pub const MANIFEST: &str = "kubestellar-plugin.json";

/// The WIT contract this binary speaks, written into new projects and JavaScript builds.
pub const PLUGIN_WIT: &str = include_str!("../../../wit/plugin.wit");

/// `kubestellar-plugin.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name (also the default output file name).
    pub name: String,
    /// `rust`, `python` or `js`.
    pub language: Language,
    /// `transformer` or `summarizer`.
    pub world: String,
    /// Entry file (`app.py`, `plugin.js`); unused for Rust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where the component goes (default `NAME.wasm`), relative to the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Directory of the WIT contract (default `wit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wit: Option<String>,
    /// Python: extra directories searched for modules (e.g. a shared SDK checkout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// JavaScript: `quickjs` (default) or `starlingmonkey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// A plugin project's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust with the kubestellar-plugin-sdk crate.
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with jco / componentize-js.
    Js,
}

impl Manifest {
    /// Reads `DIR/kubestellar-plugin.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (create a project with `kubestellar plugin new`)",
                path.display()
            )
        })?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid plugin manifest", path.display()))?;
        if m.world != "transformer" && m.world != "summarizer" {
            bail!(
                "{}: world must be transformer or summarizer, not {:?}",
                path.display(),
                m.world
            );
        }
        Ok(m)
    }

    /// The output path.
    pub fn output(&self, dir: &Path) -> PathBuf {
        dir.join(
            self.output
                .clone()
                .unwrap_or_else(|| format!("{}.wasm", self.name)),
        )
    }
}

/// Builds the plugin project in DIR (default: the current directory).
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project directory (holding kubestellar-plugin.json).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Write the component here instead of the manifest's output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl BuildArgs {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let dir = std::path::absolute(&self.dir)
            .with_context(|| format!("bad directory {}", self.dir.display()))?;
        let m = Manifest::read(&dir)?;
        let output = match &self.output {
            Some(o) => std::path::absolute(o).context("bad output path")?,
            None => m.output(&dir),
        };
        let started = Instant::now();
        build(&dir, &m, &output)?;
        // Load it as the controller would: a component, of the declared world, linkable.
        let bytes = std::fs::read(&output)
            .with_context(|| format!("the build wrote no {}", output.display()))?;
        let runtime = PluginRuntime::new(RuntimeConfig::default())?;
        let p = runtime
            .load_named(
                Some(&output.display().to_string()),
                &bytes,
                None,
                Limits::default(),
            )
            .with_context(|| {
                format!("{} was built but is not a usable plugin", output.display())
            })?;
        if p.world().world() != m.world {
            bail!(
                "{} implements the {} world, but {MANIFEST} declares {}",
                output.display(),
                p.world().world(),
                m.world
            );
        }
        println!(
            "built {} ({} {} {}, {} bytes, sha256 {}) in {:.1} s",
            output.display(),
            p.world().world(),
            p.info().name,
            p.info().version,
            p.size(),
            p.digest(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Builds project `dir` described by `m` into `output`.
pub fn build(dir: &Path, m: &Manifest, output: &Path) -> anyhow::Result<()> {
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let wit = dir.join(m.wit.as_deref().unwrap_or("wit"));
    match m.language {
        Language::Rust => build_rust(dir, output),
        Language::Python => build_python(dir, m, &wit, output),
        Language::Js => build_js(dir, m, &wit, output),
    }
}

/// Runs `cmd`, failing with its name and output when it fails or cannot start.
fn run(mut cmd: Command, what: &str, hint: &str) -> anyhow::Result<std::process::Output> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what}: {hint}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn build_rust(dir: &Path, output: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format",
            "json-render-diagnostics",
            // A plugin is shipped, not debugged: without debug info it is 10-20 times smaller
            // (and fits a ConfigMap), whatever the project's release profile says.
            "--config",
            "profile.release.debug=false",
            "--config",
            "profile.release.strip=\"debuginfo\"",
        ])
        // Flags of an enclosing cargo invocation are for the host, not for wasm32.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    let out = run(
        cmd,
        "cargo build --target wasm32-wasip2",
        "is Rust installed? (rustup target add wasm32-wasip2)",
    )?;
    // The artifact path, from cargo's own messages (wherever the target directory is).
    let mut wasm = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let manifest_dir = msg["manifest_path"]
            .as_str()
            .and_then(|p| Path::new(p).parent().map(Path::to_path_buf));
        let is_cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        let ours = manifest_dir
            .is_some_and(|d| std::fs::canonicalize(d).ok() == std::fs::canonicalize(dir).ok());
        if msg["reason"] == "compiler-artifact" && is_cdylib && ours {
            wasm = msg["filenames"].as_array().and_then(|f| {
                f.iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"))
                    .map(PathBuf::from)
            });
        }
    }
    let Some(wasm) = wasm else {
        bail!(
            "cargo built no cdylib in {}: set [lib] crate-type = [\"cdylib\"]",
            dir.display()
        );
    };
    std::fs::copy(&wasm, output)
        .with_context(|| format!("cannot copy {} to {}", wasm.display(), output.display()))?;
    Ok(())
}

fn build_python(dir: &Path, m: &Manifest, wit: &Path, output: &Path) -> anyhow::Result<()> {
    let source = m.source.as_deref().unwrap_or("app.py");
    let module = source.strip_suffix(".py").unwrap_or(source);
    let exe =
        std::env::var_os("KUBESTELLAR_COMPONENTIZE_PY").unwrap_or_else(|| "componentize-py".into());
    let mut cmd = Command::new(exe);
    cmd.current_dir(dir)
        .arg("-d")
        .arg(wit)
        .args(["-w", &m.world, "componentize", "-p", "."]);
    for p in &m.paths {
        cmd.arg("-p").arg(dir.join(p));
    }
    cmd.arg(module).arg("-o").arg(output);
    run(
        cmd,
        "componentize-py",
        "install it with `pip install componentize-py==0.25.1`",
    )?;
    Ok(())
}

/// Where jco, rolldown and componentize-js are: the project's `node_modules`, then
/// `$KUBESTELLAR_JS_SDK/node_modules`, then this source tree's `sdk/js/node_modules`.
fn node_modules(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut candidates = vec![dir.join("node_modules")];
    if let Some(sdk) = std::env::var_os("KUBESTELLAR_JS_SDK") {
        candidates.push(PathBuf::from(sdk).join("node_modules"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/js/node_modules"));
    candidates
        .into_iter()
        .find(|c| c.join(".bin/jco").exists())
        .with_context(|| {
            format!(
                "jco is not installed: run `npm install` in {} (or `npm ci` in the SDK's sdk/js and set KUBESTELLAR_JS_SDK)",
                dir.display()
            )
        })
}

fn build_js(dir: &Path, m: &Manifest, wit: &Path, output: &Path) -> anyhow::Result<()> {
    let modules = node_modules(dir)?;
    let source = m.source.as_deref().unwrap_or("plugin.js");
    // Everything the build makes stays in DIR/build: the engines only read modules and WIT
    // under the directory of the entry file.
    let build = dir.join("build");
    let build_wit = build.join("wit");
    std::fs::create_dir_all(&build_wit)
        .with_context(|| format!("cannot create {}", build_wit.display()))?;
    for entry in std::fs::read_dir(wit).with_context(|| format!("cannot read {}", wit.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wit")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, build_wit.join(name))?;
        }
    }
    let mut bundle = Command::new(modules.join(".bin/rolldown"));
    bundle
        .current_dir(dir)
        .arg(source)
        .args([
            "--file",
            "build/bundle.js",
            "--format",
            "esm",
            "--platform",
            "neutral",
        ])
        .args(["--external", "kubestellar:plugin/host@0.1.0"]);
    run(bundle, "rolldown (bundling)", "run `npm install`")?;
    match m.engine.as_deref().unwrap_or("quickjs") {
        "quickjs" => {
            let mut cmd = Command::new(modules.join(".bin/jco"));
            cmd.current_dir(&build)
                .args(["componentize", "bundle.js", "-w", "wit", "-n", &m.world])
                .args([
                    "--backend",
                    "qjs",
                    "--backend-qjs-stub-wasi",
                    "--backend-qjs-disable-async",
                ])
                .arg("-o")
                .arg(output);
            run(cmd, "jco componentize", "run `npm install`")?;
        }
        "starlingmonkey" => {
            // The jco CLI cannot drive this engine; componentize-js' API can.
            let api = modules.join("@bytecodealliance/componentize-js/src/componentize.js");
            let script = format!(
                "import {{ componentize }} from {api};\n\
                 import {{ writeFile }} from 'node:fs/promises';\n\
                 const {{ component }} = await componentize({{ sourcePath: 'bundle.js', witPath: 'wit', worldName: {world}, \
                 disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'] }});\n\
                 await writeFile({out}, component);\n",
                api = serde_json::to_string(&api.display().to_string())?,
                world = serde_json::to_string(&m.world)?,
                out = serde_json::to_string(&output.display().to_string())?,
            );
            let mut cmd = Command::new("node");
            cmd.current_dir(&build)
                .args(["--input-type=module", "-e", &script]);
            run(cmd, "componentize-js", "is Node.js installed?")?;
        }
        other => bail!("unknown JavaScript engine {other:?}: use quickjs or starlingmonkey"),
    }
    Ok(())
}
