//! Writes `apimachinery/src/generated/builtin-openapi.json`: the OpenAPI v3 `components.schemas`
//! of the built-in Kubernetes 1.33 kinds, with `x-proto-*` extensions for protobuf decoding.
//! See README.md.

mod defs;
mod docs;
mod gofacts;
mod gvk;
mod openapi;
mod pb;
mod special;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const K8S_PB: &str = "k8s-pb-0.9.0";
const K8S_OPENAPI: &str = "k8s-openapi-0.29.0";
const K8S_OPENAPI_VERSION: &str = "v1_33";

/// The crate's unpacked sources in the local cargo registry.
fn registry_crate(name: &str) -> Result<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let src = home.join("registry").join("src");
    for entry in std::fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))? {
        let dir = entry?.path().join(name);
        if dir.is_dir() {
            return Ok(dir);
        }
    }
    bail!(
        "{name} is not in {}: run `cargo fetch` in the main workspace first",
        src.display()
    )
}

fn main() -> Result<()> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("../src/generated/builtin-openapi.json"));
    let inputs = defs::Inputs {
        pb: pb::read_crate(&registry_crate(K8S_PB)?.join("src"))?,
        oa: openapi::read_version(
            &registry_crate(K8S_OPENAPI)?
                .join("src")
                .join(K8S_OPENAPI_VERSION),
        )?,
        go: gofacts::read(&here.join("go-fields.json"))?,
    };
    eprintln!(
        "read {} protobuf messages, {} k8s-openapi definitions, {} Go structs",
        inputs.pb.len(),
        inputs.oa.len(),
        inputs.go.len()
    );
    let mut b = defs::Builder::new(&inputs);
    b.want_roots();
    b.run()?;
    let s = &b.stats;
    eprintln!("definitions written:           {}", b.out.len());
    eprintln!("JSON names from k8s-openapi:   {}", s.names_from_openapi);
    eprintln!("JSON names from Go facts:      {}", s.names_from_go);
    let kept: Vec<&String> = s
        .names_camel_fallback
        .iter()
        .filter(|n| !s.dropped_not_in_1_33.contains(n))
        .collect();
    eprintln!(
        "JSON names by lowerCamelCase:  {} kept {kept:?} (+{} dropped below)",
        kept.len(),
        s.names_camel_fallback.len() - kept.len()
    );
    eprintln!(
        "k8s-openapi/Go name conflicts: {} {:?}",
        s.name_mismatch_openapi_go.len(),
        s.name_mismatch_openapi_go
    );
    eprintln!(
        "fields dropped (not in 1.33):  {} {:?}",
        s.dropped_not_in_1_33.len(),
        s.dropped_not_in_1_33
    );
    eprintln!(
        "messages without Go facts:     {} {:?}",
        s.no_go_facts.len(),
        s.no_go_facts
    );
    eprintln!("inlined fields:                {:?}", s.inline_fields);
    eprintln!(
        "required (k8s-openapi vs Go):  {} differ {:?}",
        s.required_differs.len(),
        s.required_differs
    );
    eprintln!("list wrappers:                 {:?}", s.list_wrappers);
    if !s.dangling.is_empty() {
        bail!("referenced but unknown definitions: {:?}", s.dangling);
    }
    let doc = json!({ "schemas": Value::Object(b.out.into_iter().collect()) });
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out_path, &text).with_context(|| format!("writing {}", out_path.display()))?;
    eprintln!("wrote {} ({} bytes)", out_path.display(), text.len());
    Ok(())
}
