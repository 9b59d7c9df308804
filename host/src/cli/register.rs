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
    /// Where to write the agent's ITS kubeconfig: the ITS's server and CA with a token of the
    /// agent's own ServiceAccount, which may only use this WEC's mailbox namespace (default:
    /// ./NAME-agent.kubeconfig, mode 0600; not written for a plain-HTTP ITS).
    #[arg(long)]
    pub agent_kubeconfig: Option<PathBuf>,
    /// A label of the WEC (repeatable), e.g. `-l location-group=edge`.
    #[arg(short = 'l', long = "label", value_parser = parse_pair)]
    pub labels: Vec<(String, String)>,
    /// A customization property of the WEC (repeatable), e.g. `--property clusterURL=https://...`.
    #[arg(long = "property", value_parser = parse_pair)]
    pub properties: Vec<(String, String)>,
    /// Container image for the printed in-cluster agent manifest.
    #[arg(long, default_value = inventory::AGENT_IMAGE)]
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
            let its_config = its_kubeconfig_entry(
                self.its_kubeconfig.as_deref(),
                self.its_context.as_deref(),
            )?;
            let mut cmd = format!("kubestellar agent --cluster {}", self.name);
            // The file the in-WEC agent's Secret is made from.
            let mut agent_kubeconfig_shown = "<ITS kubeconfig>".to_string();
            if its_config.1.server.as_deref().is_some_and(|s| s.starts_with("https://")) {
                let token = inventory::agent_token(&its, &self.name)
                    .await
                    .with_context(|| format!("cannot create the agent identity of {}", self.name))?;
                let path = self
                    .agent_kubeconfig
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(format!("{}-agent.kubeconfig", self.name)));
                write_agent_kubeconfig(&path, &self.name, its_config, token.token)?;
                println!(
                    "Agent credential (ServiceAccount {0}/{1}, confined to namespace {0}) written to {2}; it expires {3} (run register again to renew).",
                    self.name,
                    inventory::AGENT_ROLE,
                    path.display(),
                    token.expires
                );
                cmd.push_str(&format!(" --its-kubeconfig {}", path.display()));
                agent_kubeconfig_shown = path.display().to_string();
            } else {
                eprintln!(
                    "warning: the ITS serves plain HTTP without authentication; the agent uses the same kubeconfig as this command"
                );
                if let Some(k) = &self.its_kubeconfig {
                    cmd.push_str(&format!(" --its-kubeconfig {}", k.display()));
                }
                if let Some(c) = &self.its_context {
                    cmd.push_str(&format!(" --its-context {c}"));
                }
            }
            cmd.push_str(" --wec-kubeconfig <WEC kubeconfig> [--wec-context <context>]");
            println!("WEC {} registered.", self.name);
            println!("Run its agent where it can reach both the ITS and the WEC:\n  {cmd}");
            let manifest = inventory::agent_manifest(&self.name, &self.image)?;
            println!(
                "Or, inside the WEC (deploy/agent/ for this WEC), with the agent's ITS kubeconfig in a Secret:\n  kubectl create namespace kubestellar-agent\n  kubectl -n kubestellar-agent create secret generic its-kubeconfig --from-file=kubeconfig={}\napply:\n{manifest}",
                agent_kubeconfig_shown
            );
            Ok(())
        })
    }
}

/// The ITS's context name and cluster entry (server, CA) from the kubeconfig this command used.
fn its_kubeconfig_entry(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<(String, kube::config::Cluster)> {
    use kube::config::Kubeconfig;
    let kc = match path {
        Some(p) => {
            Kubeconfig::read_from(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => Kubeconfig::read()
            .context("cannot read the kubeconfig ($KUBECONFIG or ~/.kube/config)")?,
    };
    let name = context
        .map(str::to_string)
        .or_else(|| kc.current_context.clone())
        .context("the kubeconfig has no current context; pass --its-context")?;
    let cluster = kc
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .with_context(|| format!("no context {name:?} in the kubeconfig"))?;
    let entry = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.cluster.clone())
        .with_context(|| format!("no cluster {cluster:?} in the kubeconfig"))?;
    Ok((name, entry))
}

/// Writes a kubeconfig (mode 0600) for WEC `wec`'s agent: the ITS cluster entry and the token.
fn write_agent_kubeconfig(
    path: &std::path::Path,
    wec: &str,
    (context, cluster): (String, kube::config::Cluster),
    token: String,
) -> anyhow::Result<()> {
    use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
    let user = format!("{wec}-agent");
    let kc = Kubeconfig {
        clusters: vec![NamedCluster {
            name: context.clone(),
            cluster: Some(cluster),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.clone(),
            auth_info: Some(AuthInfo {
                token: Some(token.into()),
                ..AuthInfo::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(Context {
                cluster: context.clone(),
                user: Some(user),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(context),
        ..Kubeconfig::default()
    };
    let text = serde_yaml_ng::to_string(&kc).context("cannot render the agent kubeconfig")?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
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
