//! `kubestellar plugin new`: scaffolds a plugin project (Rust, Python or JavaScript) that builds
//! with `kubestellar plugin build` and has a passing native test.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::plugin_build::{Language, MANIFEST, Manifest, PLUGIN_WIT};

/// Which world the new plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Rewrites objects on their way to a WEC.
    Transformer,
    /// Summarizes the status WECs report.
    Summarizer,
}

impl Kind {
    fn world(self) -> &'static str {
        match self {
            Kind::Transformer => "transformer",
            Kind::Summarizer => "summarizer",
        }
    }
}

/// Creates directory NAME with a plugin project.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name (a lowercase RFC 1123 label); also the directory created.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The language.
    #[arg(long, value_enum)]
    pub lang: Language,
    /// What the plugin does.
    #[arg(long, value_enum, default_value_t = Kind::Transformer)]
    pub kind: Kind,
    /// Create the project in this directory instead of ./NAME.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Rust: path of the kubestellar-plugin-sdk crate (default: this build's source tree).
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

mod files {
    pub const PY_SDK: &str = include_str!("../../../sdk/python/kubestellar_plugin.py");
    pub const PY_TESTING: &str = include_str!("../../../sdk/python/kubestellar_testing.py");
    pub const PY_TRANSFORMER: &str = include_str!("../../../sdk/python/template/transformer.py");
    pub const PY_TRANSFORMER_TEST: &str =
        include_str!("../../../sdk/python/template/test_transformer.py");
    pub const PY_SUMMARIZER: &str = include_str!("../../../sdk/python/template/summarizer.py");
    pub const PY_SUMMARIZER_TEST: &str =
        include_str!("../../../sdk/python/template/test_summarizer.py");
    pub const JS_SDK: &str = include_str!("../../../sdk/js/lib/kubestellar.js");
    pub const JS_REGISTER: &str = include_str!("../../../sdk/js/testing/register.mjs");
    pub const JS_HOOKS: &str = include_str!("../../../sdk/js/testing/hooks.mjs");
    pub const JS_HOST: &str = include_str!("../../../sdk/js/testing/host.mjs");
    pub const JS_TESTING: &str = include_str!("../../../sdk/js/testing/index.mjs");
    pub const JS_TRANSFORMER: &str = include_str!("../../../sdk/js/template/transformer.js");
    pub const JS_TRANSFORMER_TEST: &str =
        include_str!("../../../sdk/js/template/transformer.test.js");
    pub const JS_SUMMARIZER: &str = include_str!("../../../sdk/js/template/summarizer.js");
    pub const JS_SUMMARIZER_TEST: &str =
        include_str!("../../../sdk/js/template/summarizer.test.js");
    pub const JS_PACKAGE: &str = include_str!("../../../sdk/js/package.json");
}

const RUST_TRANSFORMER: &str = r##"//! {{name}}: a KubeStellar transformer plugin.
//!
//! Build: `kubestellar plugin build`. Test: `cargo test`.

use kubestellar_plugin_sdk::serde_json::Value;
use kubestellar_plugin_sdk::{
    ClusterContext, Plugin, PluginError, PluginInfo, PluginKind, Scope, Transformed, Transformer,
    json,
};

/// The plugin.
pub struct Main;

impl Plugin for Main {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "{{name}}".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Transformer,
            scope: Scope::PerCluster,
            config_schema: None,
        }
    }
}

impl Transformer for Main {
    fn transform(
        object: &str,
        cluster: Option<&ClusterContext>,
        _config: &str,
    ) -> Result<Transformed, PluginError> {
        let mut obj = json::parse_object(object, "object")?;
        let Some(cluster) = cluster else {
            return Ok(Transformed { object: object.to_owned(), used_cluster: false });
        };
        let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
        meta["labels"]["example.com/cluster"] = Value::String(cluster.name.clone());
        Ok(Transformed { object: json::to_text(&obj)?, used_cluster: true })
    }
}

kubestellar_plugin_sdk::export_transformer!(Main);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_the_cluster_name() {
        let obj = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n","labels":{}}}"#;
        let out = Main::transform(obj, Some(&ClusterContext::named("cluster1")), "{}");
        let out = out.map_err(|e| e.message);
        assert!(out.as_ref().is_ok_and(|o| o.used_cluster), "{out:?}");
        let text = out.map(|o| o.object).unwrap_or_default();
        assert_eq!(kubestellar_plugin_sdk::check::transformed_object(obj, &text), Ok(()));
        assert!(text.contains(r#""example.com/cluster":"cluster1""#), "{text}");
    }
}
"##;

const RUST_SUMMARIZER: &str = r##"//! {{name}}: a KubeStellar summarizer plugin.
//!
//! Build: `kubestellar plugin build`. Test: `cargo test`.

use kubestellar_plugin_sdk::serde_json::Value;
use kubestellar_plugin_sdk::{
    CellValue, Plugin, PluginError, PluginInfo, PluginKind, Report, Row, Scope, Summarizer,
    Summary, json,
};

/// The plugin.
pub struct Main;

impl Plugin for Main {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "{{name}}".into(),
            version: "0.1.0".into(),
            kind: PluginKind::Summarizer,
            scope: Scope::PerObject,
            config_schema: None,
        }
    }
}

impl Summarizer for Main {
    fn summarize(_object: &str, reports: &[Report], _config: &str) -> Result<Summary, PluginError> {
        let mut rows = Vec::new();
        for r in reports {
            let ready = match &r.status {
                None => CellValue::Null,
                Some(s) => CellValue::from_json(
                    json::parse_object(s, "status")?.get("readyReplicas").unwrap_or(&Value::from(0)),
                ),
            };
            rows.push(Row { columns: vec![CellValue::String(r.cluster.name.clone()), ready] });
        }
        Ok(Summary {
            column_names: vec!["cluster".into(), "readyReplicas".into()],
            rows,
            ..Summary::default()
        })
    }
}

kubestellar_plugin_sdk::export_summarizer!(Main);

#[cfg(test)]
mod tests {
    use super::*;
    use kubestellar_plugin_sdk::ClusterContext;

    #[test]
    fn one_row_per_wec() {
        let reports = [
            Report { cluster: ClusterContext::named("cluster1"), status: Some(r#"{"readyReplicas":2}"#.into()), last_update: None },
            Report { cluster: ClusterContext::named("cluster2"), status: None, last_update: None },
        ];
        let s = Main::summarize("{}", &reports, "{}").map_err(|e| e.message);
        let rows = s.map(|s| s.rows.into_iter().map(|r| r.columns).collect::<Vec<_>>());
        assert_eq!(rows, Ok(vec![
            vec![CellValue::String("cluster1".into()), CellValue::Number("2".into())],
            vec![CellValue::String("cluster2".into()), CellValue::Null],
        ]));
    }
}
"##;

impl NewArgs {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        crate::inventory::check_name(&self.name).map_err(|_| {
            anyhow::anyhow!(
                "invalid plugin name {:?}: use a lowercase RFC 1123 label",
                self.name
            )
        })?;
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.name));
        if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
            bail!("{} exists and is not empty", dir.display());
        }
        let files = self.files()?;
        for (path, content) in &files {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, content)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let (test, setup) = match self.lang {
            Language::Rust => ("cargo test", ""),
            Language::Python => (
                "python3 -m unittest",
                "pip install componentize-py==0.25.1\n  ",
            ),
            Language::Js => ("npm test", "npm install\n  "),
        };
        println!(
            "created {} ({:?} {}). Next:\n  cd {}\n  {setup}{test}\n  kubestellar plugin build\n  kubestellar plugin inspect {}.wasm",
            dir.display(),
            self.lang,
            self.kind.world(),
            dir.display(),
            self.name
        );
        Ok(())
    }

    /// The project's files, relative to its directory.
    pub fn files(&self) -> anyhow::Result<Vec<(PathBuf, String)>> {
        let name = &self.name;
        let fill = |t: &str| t.replace("{{name}}", name);
        let world = self.kind.world().to_owned();
        let manifest = |source: Option<&str>| Manifest {
            name: name.clone(),
            language: self.lang,
            world: world.clone(),
            source: source.map(str::to_owned),
            output: None,
            wit: None,
            paths: Vec::new(),
            engine: None,
        };
        let transformer = self.kind == Kind::Transformer;
        let mut out: Vec<(PathBuf, String)> = Vec::new();
        let mut add = |p: &str, c: String| out.push((PathBuf::from(p), c));
        let m = match self.lang {
            Language::Rust => {
                let sdk = match &self.sdk {
                    Some(p) => p.clone(),
                    None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/rust"),
                };
                let sdk = std::fs::canonicalize(&sdk).with_context(|| {
                    format!(
                        "the Rust SDK is not at {}: pass --sdk PATH (a checkout's sdk/rust)",
                        sdk.display()
                    )
                })?;
                add(
                    "Cargo.toml",
                    format!(
                        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                         [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
                         [dependencies]\nkubestellar-plugin-sdk = {{ path = {sdk} }}\n\n\
                         # Small, fast components.\n[profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = \"debuginfo\"\n\n\
                         # A project of its own, even inside another workspace.\n[workspace]\n",
                        sdk = serde_json::to_string(&sdk.display().to_string())?
                    ),
                );
                add(
                    "src/lib.rs",
                    fill(if transformer {
                        RUST_TRANSFORMER
                    } else {
                        RUST_SUMMARIZER
                    }),
                );
                add(".gitignore", "/target\n*.wasm\n".into());
                manifest(None)
            }
            Language::Python => {
                let (app, test) = if transformer {
                    (files::PY_TRANSFORMER, files::PY_TRANSFORMER_TEST)
                } else {
                    (files::PY_SUMMARIZER, files::PY_SUMMARIZER_TEST)
                };
                add("app.py", fill(app));
                add(&format!("test_{world}.py"), test.to_owned());
                // A plain module, not a package: `python3 -m unittest` discovery imports every package
                // before the tests have generated the bindings it needs.
                add("kubestellar_plugin.py", files::PY_SDK.to_owned());
                add("kubestellar_testing.py", files::PY_TESTING.to_owned());
                add(".gitignore", ".bindings/\n__pycache__/\n*.wasm\n".into());
                manifest(Some("app.py"))
            }
            Language::Js => {
                let (src, test) = if transformer {
                    (files::JS_TRANSFORMER, files::JS_TRANSFORMER_TEST)
                } else {
                    (files::JS_SUMMARIZER, files::JS_SUMMARIZER_TEST)
                };
                add("plugin.js", fill(src));
                add("plugin.test.js", test.to_owned());
                add("lib/kubestellar.js", files::JS_SDK.to_owned());
                add("testing/register.mjs", files::JS_REGISTER.to_owned());
                add("testing/hooks.mjs", files::JS_HOOKS.to_owned());
                add("testing/host.mjs", files::JS_HOST.to_owned());
                add("testing/index.mjs", files::JS_TESTING.to_owned());
                add("package.json", js_package(name)?);
                add(".gitignore", "node_modules/\nbuild/\n*.wasm\n".into());
                manifest(Some("plugin.js"))
            }
        };
        if self.lang != Language::Rust {
            out.push((PathBuf::from("wit/plugin.wit"), PLUGIN_WIT.to_owned()));
        }
        out.push((
            PathBuf::from(MANIFEST),
            format!("{}\n", serde_json::to_string_pretty(&m)?),
        ));
        Ok(out)
    }
}

/// The project's package.json: the SDK's pinned toolchain, plus test and build scripts.
fn js_package(name: &str) -> anyhow::Result<String> {
    let sdk: serde_json::Value =
        serde_json::from_str(files::JS_PACKAGE).context("the SDK's package.json")?;
    let pkg = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "private": true,
        "type": "module",
        "scripts": {
            "test": "node --import ./testing/register.mjs --test",
            "build": "kubestellar plugin build",
        },
        "devDependencies": sdk["devDependencies"],
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&pkg)?))
}
