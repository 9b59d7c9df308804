//! `kubestellar register` / `unregister`: the WEC inventory in an ITS.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::inventory::{self, Registration};

/// Registers a WEC: creates or updates its ManagedCluster, mailbox namespace and
/// customization-properties ConfigMap in the ITS, then prints how to run its agent.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The WEC's name.
    pub name: String,
    /// Kubeconfig of the ITS (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub its_kubeconfig: Option<PathBuf>,
    /// Context of the ITS in that kubeconfig.
    #[arg(long)]
    pub its_context: Option<String>,
    /// A label of the WEC (repeatable), e.g. `-l location-group=edge`.
    #[arg(short = 'l', long = "label", value_parser = parse_pair)]
    pub labels: Vec<(String, String)>,
    /// A customization property of the WEC (repeatable), e.g. `--property clusterURL=https://...`.
    #[arg(long = "property", value_parser = parse_pair)]
    pub properties: Vec<(String, String)>,
    /// Container image for the printed in-cluster agent manifest.
    #[arg(long, default_value = "ghcr.io/kubestellar/kubestellar-wasm:latest")]
    pub image: String,
}

/// Removes a WEC from the ITS inventory.
#[derive(Debug, Args)]
pub struct UnregisterArgs {
    /// The WEC's name.
    pub name: String,
    /// Kubeconfig of the ITS.
    #[arg(long)]
    pub its_kubeconfig: Option<PathBuf>,
    /// Context of the ITS in that kubeconfig.
    #[arg(long)]
    pub its_context: Option<String>,
    /// Remove even if the WEC's agent has not cleaned up (objects stay in the WEC).
    #[arg(long)]
    pub force: bool,
}

/// `key=value`
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

impl RegisterArgs {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async {
            let its =
                crate::clients::client(self.its_kubeconfig.as_deref(), self.its_context.as_deref())
                    .await?;
            let reg = Registration {
                name: self.name.clone(),
                labels: self.labels.iter().cloned().collect::<BTreeMap<_, _>>(),
                properties: self.properties.iter().cloned().collect::<BTreeMap<_, _>>(),
            };
            inventory::register(&its, &reg)
                .await
                .with_context(|| format!("cannot register WEC {}", self.name))?;
            let mut cmd = format!("kubestellar agent --cluster {}", self.name);
            if let Some(k) = &self.its_kubeconfig {
                cmd.push_str(&format!(" --its-kubeconfig {}", k.display()));
            }
            if let Some(c) = &self.its_context {
                cmd.push_str(&format!(" --its-context {c}"));
            }
            cmd.push_str(" --wec-kubeconfig <WEC kubeconfig> [--wec-context <context>]");
            println!("WEC {} registered.", self.name);
            println!("Run its agent where it can reach both the ITS and the WEC:\n  {cmd}");
            println!(
                "Or, inside the WEC, apply:\n---\n{}",
                inventory::agent_manifest(&self.name, &self.image)
            );
            Ok(())
        })
    }
}

impl UnregisterArgs {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async {
            let its =
                crate::clients::client(self.its_kubeconfig.as_deref(), self.its_context.as_deref())
                    .await?;
            inventory::unregister(&its, &self.name, self.force)
                .await
                .with_context(|| format!("cannot unregister WEC {}", self.name))?;
            println!("WEC {} unregistered.", self.name);
            Ok(())
        })
    }
}
