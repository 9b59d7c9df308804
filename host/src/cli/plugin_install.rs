//! `kubestellar plugin install`: put a plugin into a WDS (a ConfigMap holding the module and a
//! WasmPlugin pinned to its sha256), after checking that it loads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use super::plugin::CacheArgs;
use crate::plugins::Limits;

/// Key of the module in the ConfigMap.
pub const MODULE_KEY: &str = "plugin.wasm";
/// ConfigMaps are capped at 1 MiB by Kubernetes (etcd's request limit).
const MAX_CONFIGMAP_BYTES: usize = 1024 * 1024 - 16 * 1024;
const MANAGER: &str = "kubestellar-plugin-install";

/// Stores FILE in a ConfigMap of the WDS and creates (or updates) a WasmPlugin named NAME
/// pinned to its sha256, so CustomTransforms and StatusCollectors can reference NAME.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The component (.wasm).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// WasmPlugin name (default: the name the plugin's describe() gives).
    #[arg(long)]
    pub name: Option<String>,
    /// Kubeconfig of the WDS (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the WDS.
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace of the ConfigMap holding the module.
    #[arg(long, default_value = "kubestellar-plugins")]
    pub namespace: String,
    /// Wall-clock deadline per call, in milliseconds (WasmPlugin spec.limits).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Memory cap per instance, in MiB.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Warm instances kept between calls (0: a fresh instance per call).
    #[arg(long)]
    pub warm_instances: Option<u32>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl InstallArgs {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("cannot read plugin {}", self.file.display()))?;
        if bytes.len() > MAX_CONFIGMAP_BYTES {
            bail!(
                "{} is {} bytes: too large for a ConfigMap (at most {MAX_CONFIGMAP_BYTES}); publish it over https or in an OCI registry and reference it with spec.source and spec.sha256",
                self.file.display(),
                bytes.len()
            );
        }
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
        let digest = loaded.digest().to_string();
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async {
            let wds = crate::clients::client(self.kubeconfig.as_deref(), self.context.as_deref()).await?;
            let params = PatchParams::apply(MANAGER).force();
            let ns: Api<Namespace> = Api::all(wds.clone());
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}});
            ns.patch(&self.namespace, &params, &Patch::Apply(&body)).await.with_context(|| format!("namespace {}", self.namespace))?;
            let cms: Api<ConfigMap> = Api::namespaced(wds.clone(), &self.namespace);
            let body = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": self.namespace, "labels": {"kubestellar.io/plugin": name}},
                "binaryData": {MODULE_KEY: base64::engine::general_purpose::STANDARD.encode(&bytes)},
            });
            cms.patch(&name, &params, &Patch::Apply(&body)).await.with_context(|| format!("ConfigMap {}/{name}", self.namespace))?;
            let mut limits = BTreeMap::new();
            if let Some(t) = self.timeout_ms {
                limits.insert("timeoutMilliseconds", json!(t));
            }
            if let Some(m) = self.memory_mib {
                limits.insert("memoryMebibytes", json!(m));
            }
            if let Some(w) = self.warm_instances {
                limits.insert("warmInstances", json!(w));
            }
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(crate::api::CONTROL_GROUP, crate::api::CONTROL_VERSION, "WasmPlugin"),
                "wasmplugins",
            );
            let wps: Api<DynamicObject> = Api::all_with(wds.clone(), &ar);
            let body = json!({
                "apiVersion": "control.kubestellar.io/v1alpha1",
                "kind": "WasmPlugin",
                "metadata": {"name": name},
                "spec": {
                    "configMapRef": {"kind": "ConfigMap", "namespace": self.namespace, "name": name, "key": MODULE_KEY},
                    "sha256": digest,
                    "limits": limits,
                },
            });
            wps.patch(&name, &params, &Patch::Apply(&body)).await.with_context(|| format!("WasmPlugin {name} (are the KubeStellar CRDs installed in this space?)"))?;
            println!(
                "wasmplugin/{name} installed: {} {}, sha256 {digest}, {} bytes (module in configmap {}/{name})",
                loaded.world().world(),
                loaded.info().version,
                bytes.len(),
                self.namespace
            );
            Ok(())
        })
    }
}
