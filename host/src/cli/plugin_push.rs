//! `kubestellar plugin push`: publish a plugin to an OCI registry as a Wasm OCI artifact, after
//! checking that it loads, and print a WasmPlugin pinned to its sha256.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use super::plugin::CacheArgs;
use crate::controller::fetch::{self, FetchConfig};
use crate::plugins::Limits;

/// Pushes FILE to REFERENCE (`oci://host[:port]/repository:tag`) and prints a WasmPlugin
/// manifest that references it (pipe it to `kubectl apply -f -`).
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The component (.wasm).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to publish: `oci://host[:port]/repository:tag`. Registries on a loopback address
    /// are spoken to over plain HTTP, all others over HTTPS.
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// Name of the printed WasmPlugin (default: the name the plugin's describe() gives).
    #[arg(long)]
    pub name: Option<String>,
    /// Registry user name (the password is read from $KUBESTELLAR_REGISTRY_PASSWORD).
    #[arg(long)]
    pub username: Option<String>,
    /// Extra trusted CA certificate for the registry (PEM file).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl PushArgs {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let Some(reference) = self.reference.strip_prefix("oci://") else {
            bail!(
                "{} is not an OCI reference: expected oci://host[:port]/repository:tag",
                self.reference
            );
        };
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("cannot read plugin {}", self.file.display()))?;
        // Refuse what would not load in the controller: not a component, wrong world, bad imports.
        let runtime = self.cache.runtime()?;
        let loaded = runtime
            .load_named(
                Some(&self.file.display().to_string()),
                &bytes,
                None,
                Limits::default(),
            )
            .with_context(|| format!("{} is not a usable plugin", self.file.display()))?;
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| loaded.info().name.clone());
        crate::inventory::check_name(&name).map_err(|_| {
            anyhow::anyhow!("invalid plugin name {name:?}: use a lowercase RFC 1123 label")
        })?;
        let auth = match &self.username {
            Some(user) => {
                let password = std::env::var("KUBESTELLAR_REGISTRY_PASSWORD")
                    .context("--username needs the password in $KUBESTELLAR_REGISTRY_PASSWORD")?;
                Some((user.clone(), password))
            }
            None => None,
        };
        let mut cfg = FetchConfig::default();
        if let Some(ca) = &self.ca_file {
            cfg.extra_roots_pem
                .push(std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?);
        }
        let info = loaded.info();
        let component = json!({
            "target": format!("kubestellar:plugin/{}@0.1.0", loaded.world().world()),
            "name": info.name,
            "version": info.version,
            "exports": loaded.exports(),
            "imports": loaded.imports(),
        });
        let size = bytes.len();
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let pushed = rt
            .block_on(fetch::push(&cfg, reference, bytes, component, auth))
            .with_context(|| format!("cannot push to {}", self.reference))?;
        eprintln!(
            "pushed {} ({} {} {}, sha256 {}, {size} bytes)",
            self.reference,
            loaded.world().world(),
            info.name,
            info.version,
            pushed.sha256
        );
        let manifest = json!({
            "apiVersion": "control.kubestellar.io/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": name},
            "spec": {"source": self.reference, "sha256": pushed.sha256},
        });
        print!(
            "{}",
            serde_yaml_ng::to_string(&manifest).context("cannot render YAML")?
        );
        Ok(())
    }
}
