//! CustomTransform status: `observedGeneration`; `errors` for bad `remove` queries (upstream's
//! texts), unusable or misconfigured plugins, and plugin failures seen while rendering;
//! `warnings` when several CustomTransforms name the same GroupResource.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::render::config_text;
use super::{FIELD_MANAGER, Shared, TransportError, api_err, lock, ready};
use crate::api::{CustomTransform, CustomTransformStatus};
use crate::binding::queue::Next;
use crate::plugins::{LoadedPlugin, PluginError, PluginKind};

/// Most plugin failures listed in a CustomTransform's status.
const MAX_RUNTIME_ERRORS: usize = 20;

/// A plugin reference: WasmPlugin name, the plugin (or why not), its configuration.
type StepRef = (String, Result<Arc<LoadedPlugin>, String>, String);

/// Problems with the `remove` queries, per upstream (`Error in spec.remove[i]: ...`,
/// `Invalid spec.remove[i]: it identifies the whole object`), as transform-default finds them.
fn remove_errors(default: &LoadedPlugin, remove: &[String]) -> Vec<String> {
    match default.validate_config(&json!({ "remove": remove }).to_string()) {
        Ok(()) => Vec::new(),
        Err(PluginError::InvalidConfig { problems, .. }) => {
            problems.into_iter().map(|p| p.message).collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

/// Problems with the plugin references: unknown or unloaded WasmPlugins, summarizers, rejected
/// configurations.
fn plugin_errors(steps: &[StepRef]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (name, plugin, config)) in steps.iter().enumerate() {
        match plugin {
            Err(e) => out.push(format!("spec.plugins[{i}]: {e}")),
            Ok(p) if p.world() != PluginKind::Transformer => out.push(format!(
                "spec.plugins[{i}]: WasmPlugin {name} is a {}, not a transformer",
                p.world()
            )),
            Ok(p) => {
                if let Err(e) = p.validate_config(config) {
                    out.push(format!("spec.plugins[{i}]: {e}"));
                }
            }
        }
    }
    out
}

/// Recomputes and writes one CustomTransform's status when it differs.
pub(super) async fn reconcile(sh: &Arc<Shared>, name: &str) -> Result<Next, TransportError> {
    if !ready(sh) {
        return Ok(Next::After(Duration::from_millis(25)));
    }
    let Some(ct) = sh.transforms.get("", name) else {
        lock(&sh.ct_errors).remove(name);
        return Ok(Next::Done);
    };
    if ct.metadata.deletion_timestamp.is_some() {
        return Ok(Next::Done);
    }
    let steps: Vec<StepRef> = ct
        .spec
        .plugins
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                sh.ctx.plugins.get(&p.name),
                config_text(p.config.as_ref()),
            )
        })
        .collect();
    let default = sh.default.clone();
    let remove = ct.spec.remove.clone();
    let mut errors = tokio::task::spawn_blocking(move || {
        let mut errors = match &default {
            Ok(d) => remove_errors(d, &remove),
            Err(e) => vec![e.clone()],
        };
        errors.extend(plugin_errors(&steps));
        errors
    })
    .await
    .map_err(|e| TransportError::Join(e.to_string()))?;
    let mut runtime: Vec<String> = lock(&sh.ct_errors)
        .get(name)
        .map(|per_binding| per_binding.values().flatten().cloned().collect())
        .unwrap_or_default();
    runtime.sort();
    runtime.dedup();
    let more = runtime.len().saturating_sub(MAX_RUNTIME_ERRORS);
    runtime.truncate(MAX_RUNTIME_ERRORS);
    errors.extend(runtime);
    if more > 0 {
        errors.push(format!("... and {more} more plugin failures"));
    }

    let mut siblings: Vec<String> = sh
        .transforms
        .filter(|o| {
            o.metadata.deletion_timestamp.is_none()
                && o.spec.api_group == ct.spec.api_group
                && o.spec.resource == ct.spec.resource
        })
        .iter()
        .map(|o| o.name_any())
        .collect();
    siblings.sort();
    let warnings = if siblings.len() > 1 {
        vec![format!(
            "multiple CustomTransform objects specify the same GroupResource; their names are [{}]",
            siblings.join(" ")
        )]
    } else {
        Vec::new()
    };
    let desired = CustomTransformStatus {
        observed_generation: ct.metadata.generation.unwrap_or_default(),
        errors,
        warnings,
    };
    if ct.status.as_ref() == Some(&desired) {
        return Ok(Next::Done);
    }
    let body = json!({
        "apiVersion": "control.kubestellar.io/v1alpha1",
        "kind": "CustomTransform",
        "metadata": {"name": name},
        "status": desired,
    });
    let api: Api<CustomTransform> = Api::all(sh.ctx.wds.clone());
    match api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(_) => Ok(Next::Done),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Next::Done),
        Err(e) => Err(api_err(format!("status of CustomTransform {name}"))(e)),
    }
}
