//! `kubestellar up`, `down` and `status`: the whole system on one machine.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};

use crate::system::{Progress, System, SystemConfig, WecSpec};

/// Starts an ITS, WDS(es), simulated WECs with their agents and the controllers in this
/// process, writes DIR/kubeconfig (contexts: the WDSes, the ITS, every WEC) once all is ready,
/// and runs until Ctrl-C / SIGTERM / `kubestellar down`. Running it again on the same DIR
/// resumes the same spaces, ports, objects and registrations.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// State directory.
    #[arg(long, default_value = ".kubestellar")]
    pub dir: PathBuf,
    /// Number of WECs named cluster1..N (default 2, or 0 when --wec is given).
    #[arg(long)]
    pub wecs: Option<usize>,
    /// A WEC with extra labels, e.g. `--wec edge7:zone=a,tier=gold` (repeatable).
    #[arg(long = "wec", value_parser = parse_wec)]
    pub wec: Vec<WecSpec>,
    /// A WDS name (repeatable; default wds1).
    #[arg(long = "wds")]
    pub wds: Vec<String>,
    /// Address the spaces listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Serve plain HTTP without authentication or authorization (default: HTTPS with a CA per
    /// space, an admin credential in DIR/kubeconfig, RBAC, and each agent confined to its
    /// WEC's mailbox namespace).
    #[arg(long)]
    pub insecure: bool,
}

/// `NAME[:k=v,k=v]`
fn parse_wec(s: &str) -> Result<WecSpec, String> {
    let (name, labels) = match s.split_once(':') {
        Some((n, l)) => (n, l),
        None => (s, ""),
    };
    if name.is_empty() {
        return Err(format!("expected NAME[:k=v,k=v], got {s:?}"));
    }
    let mut spec = WecSpec::named(name);
    for pair in labels.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = crate::cli::register::parse_pair(pair)?;
        spec.labels.insert(k, v);
    }
    Ok(spec)
}

/// Stops the `kubestellar up` running in DIR.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// State directory.
    #[arg(long, default_value = ".kubestellar")]
    pub dir: PathBuf,
}

/// Shows the spaces, WECs, BindingPolicies and plugins of the system in DIR.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// State directory.
    #[arg(long, default_value = ".kubestellar")]
    pub dir: PathBuf,
}

fn pid_file(dir: &Path) -> PathBuf {
    dir.join("up.pid")
}

/// True while the process runs (a zombie waiting for its parent to reap it has exited).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// The pid of a live `up` in DIR, if any.
fn running_pid(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    (alive(pid) && String::from_utf8_lossy(&cmdline).contains("kubestellar")).then_some(pid)
}

impl UpArgs {
    /// Runs until stopped.
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(pid) = running_pid(&self.dir) {
            bail!(
                "kubestellar up is already running in {} (pid {pid}); stop it with: kubestellar down --dir {}",
                self.dir.display(),
                self.dir.display()
            );
        }
        let n = self.wecs.unwrap_or(if self.wec.is_empty() { 2 } else { 0 });
        let mut cfg = SystemConfig::new(&self.dir, n);
        cfg.host = self.host;
        cfg.insecure = self.insecure;
        cfg.wecs.extend(self.wec.iter().cloned());
        if !self.wds.is_empty() {
            cfg.wds = self.wds.clone();
        }
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let result = rt.block_on(async move {
            std::fs::create_dir_all(&self.dir)
                .with_context(|| format!("cannot create {}", self.dir.display()))?;
            std::fs::write(pid_file(&self.dir), std::process::id().to_string())
                .with_context(|| format!("cannot write {}", pid_file(&self.dir).display()))?;
            let started = Instant::now();
            let tty = std::io::stderr().is_terminal();
            let bar = ProgressBar::new(0);
            if tty {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.enable_steady_tick(Duration::from_millis(100));
            } else {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let progress = |p: Progress| match p {
                Progress::Spaces { total } => {
                    bar.set_length(total as u64 * 2);
                    bar.set_message("starting spaces");
                    if !tty {
                        eprintln!("starting {total} spaces");
                    }
                }
                Progress::SpaceUp { name, .. } => {
                    bar.inc(1);
                    bar.set_message(format!("space {name} up"));
                }
                Progress::Registered { wec } => {
                    bar.inc(1);
                    bar.set_message(format!("WEC {wec} registered"));
                }
                Progress::ControllerUp { wds } => {
                    bar.inc(1);
                    bar.set_message(format!("controller of {wds} running"));
                    if !tty {
                        eprintln!("controller of {wds} running");
                    }
                }
                Progress::Ready => bar.finish_and_clear(),
            };
            let system = match System::start(cfg, &progress).await {
                Ok(s) => s,
                Err(e) => {
                    bar.abandon();
                    let _ = std::fs::remove_file(pid_file(&self.dir));
                    return Err(e).context("kubestellar up failed");
                }
            };
            print_what_now(&system, started.elapsed());
            crate::cli::shutdown_signal().await;
            eprintln!("stopping...");
            system.stop().await;
            let _ = std::fs::remove_file(pid_file(&self.dir));
            eprintln!(
                "stopped; start again with: kubestellar up --dir {}",
                self.dir.display()
            );
            Ok(())
        });
        // Plugin compilations run on blocking threads; do not let one delay the exit.
        rt.shutdown_timeout(Duration::from_secs(2));
        result
    }
}

fn print_what_now(system: &System, took: Duration) {
    let kc =
        std::fs::canonicalize(&system.kubeconfig).unwrap_or_else(|_| system.kubeconfig.clone());
    let wds = system.wds.first().cloned().unwrap_or_default();
    let wec = system
        .wecs
        .first()
        .map(|w| w.name.clone())
        .unwrap_or_default();
    println!(
        "KubeStellar is up in {:.1}s: ITS {}, WDS {}, {} WEC(s).",
        took.as_secs_f64(),
        system.its,
        system.wds.join(", "),
        system.wecs.len()
    );
    println!();
    println!("  export KUBECONFIG={}", kc.display());
    println!(
        "  kubectl --context {wds} apply -f examples/nginx/namespace.yaml -f examples/nginx/deployment.yaml"
    );
    println!(
        "  kubectl --context {wds} apply -f examples/nginx/bindingpolicy.yaml   # to every WEC labelled location-group=edge"
    );
    println!("  kubectl --context {wec} get deployments -A          # delivered to the WECs");
    println!("  kubectl --context {wds} get bindingpolicies,combinedstatuses -A");
    println!("  kubestellar status --dir {}", system.dir.display());
    println!();
    println!(
        "Stop with Ctrl-C or: kubestellar down --dir {}",
        system.dir.display()
    );
}

impl DownArgs {
    /// Sends SIGTERM to the `up` of DIR and waits for it to exit.
    pub fn run(self) -> anyhow::Result<()> {
        let Some(pid) = running_pid(&self.dir) else {
            bail!("no kubestellar up is running in {}", self.dir.display());
        };
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("could not signal pid {pid}");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(pid) {
            if Instant::now() > deadline {
                bail!("kubestellar up (pid {pid}) did not stop within 30s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!("stopped kubestellar up in {}", self.dir.display());
        Ok(())
    }
}

impl StatusArgs {
    /// Prints the status.
    pub fn run(self) -> anyhow::Result<()> {
        let crate::system::State {
            its,
            wds,
            wecs,
            ports,
        } = crate::system::read_state(&self.dir).with_context(|| {
            format!(
                "no kubestellar system in {} (run kubestellar up first)",
                self.dir.display()
            )
        })?;
        let kubeconfig = self.dir.join("kubeconfig");
        let up = running_pid(&self.dir);
        println!(
            "System in {}: {}",
            self.dir.display(),
            match up {
                Some(pid) => format!("running (pid {pid})"),
                None => "not running".to_string(),
            }
        );
        let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        rt.block_on(async {
            println!("\nSPACES");
            let mut all = vec![(its.clone(), "ITS")];
            all.extend(wds.iter().map(|w| (w.clone(), "WDS")));
            all.extend(wecs.iter().map(|w| (w.name.clone(), "WEC")));
            // Where kubectl reaches each space (scheme and host as `up` wrote them).
            let servers = server_urls(&kubeconfig);
            for (name, role) in &all {
                let url = servers.get(name).cloned().unwrap_or_else(|| {
                    format!("127.0.0.1:{}", ports.get(name).copied().unwrap_or(0))
                });
                let reachable = match client(&kubeconfig, name).await {
                    Some(c) => c.apiserver_version().await.is_ok(),
                    None => false,
                };
                println!(
                    "  {name:<14} {role:<4} {url:<30} {}",
                    if reachable { "up" } else { "down" }
                );
            }
            let its_client = client(&kubeconfig, &its).await;
            println!("\nWECS");
            for w in &wecs {
                let labels: Vec<String> =
                    w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let health = match &its_client {
                    Some(c) => agent_health(c, &w.name).await,
                    None => "unknown (ITS unreachable)".into(),
                };
                println!(
                    "  {:<14} agent: {:<28} labels: {}",
                    w.name,
                    health,
                    labels.join(",")
                );
            }
            for w in &wds {
                println!("\nWDS {w}");
                let Some(c) = client(&kubeconfig, w).await else {
                    println!("  unreachable");
                    continue;
                };
                print_policies(&c).await;
                print_plugins(&c).await;
            }
        });
        Ok(())
    }
}

/// The server URL of each context of `kubeconfig` (empty when it cannot be read).
fn server_urls(kubeconfig: &Path) -> BTreeMap<String, String> {
    let Ok(config) = kube::config::Kubeconfig::read_from(kubeconfig) else {
        return BTreeMap::new();
    };
    let servers: BTreeMap<&str, &str> = config
        .clusters
        .iter()
        .filter_map(|c| Some((c.name.as_str(), c.cluster.as_ref()?.server.as_deref()?)))
        .collect();
    config
        .contexts
        .iter()
        .filter_map(|c| {
            let server = servers.get(c.context.as_ref()?.cluster.as_str())?;
            Some((c.name.clone(), (*server).to_owned()))
        })
        .collect()
}

async fn client(kubeconfig: &Path, context: &str) -> Option<kube::Client> {
    let c = crate::clients::client(Some(kubeconfig), Some(context))
        .await
        .ok()?;
    // Fail fast when the space is down instead of waiting for the default timeout.
    tokio::time::timeout(Duration::from_secs(2), c.apiserver_version())
        .await
        .ok()?
        .ok()?;
    Some(c)
}

/// Health from the agent's heartbeat Lease in its mailbox namespace.
async fn agent_health(its: &kube::Client, cluster: &str) -> String {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(its.clone(), cluster);
    use crate::cluster_health::AgentHealth;
    match api.get_opt(crate::agent::HEARTBEAT_LEASE).await {
        Ok(lease) => match AgentHealth::of(lease.as_ref(), chrono::Utc::now()) {
            AgentHealth::Healthy(age) => format!("healthy ({age}s ago)"),
            AgentHealth::Stale(age) => format!("stale ({age}s ago)"),
            AgentHealth::Unknown => "unknown".into(),
            AgentHealth::NeverSeen => "never seen".into(),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

fn dyn_api(c: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(crate::api::CONTROL_GROUP, crate::api::CONTROL_VERSION, kind),
        plural,
    );
    Api::all_with(c.clone(), &ar)
}

fn condition(o: &DynamicObject, t: &str) -> String {
    o.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("-")
        .to_string()
}

async fn print_policies(c: &kube::Client) {
    let bps = dyn_api(c, "BindingPolicy", "bindingpolicies")
        .list(&ListParams::default())
        .await;
    let bindings = dyn_api(c, "Binding", "bindings")
        .list(&ListParams::default())
        .await;
    let counts: BTreeMap<String, (usize, usize)> = bindings
        .map(|l| {
            l.items
                .iter()
                .map(|b| {
                    let w = &b.data["spec"]["workload"];
                    let objs = w["clusterScope"].as_array().map_or(0, |a| a.len())
                        + w["namespaceScope"].as_array().map_or(0, |a| a.len());
                    let dests = b.data["spec"]["destinations"]
                        .as_array()
                        .map_or(0, |a| a.len());
                    (b.metadata.name.clone().unwrap_or_default(), (objs, dests))
                })
                .collect()
        })
        .unwrap_or_default();
    match bps {
        Ok(l) if l.items.is_empty() => println!("  no BindingPolicies"),
        Ok(l) => {
            println!(
                "  {:<24} {:<6} {:<7} {:>8} {:>5}",
                "BINDINGPOLICY", "READY", "SYNCED", "OBJECTS", "WECS"
            );
            for bp in &l.items {
                let name = bp.metadata.name.clone().unwrap_or_default();
                let (o, d) = counts.get(&name).copied().unwrap_or((0, 0));
                println!(
                    "  {:<24} {:<6} {:<7} {:>8} {:>5}",
                    name,
                    condition(bp, "Ready"),
                    condition(bp, "Synced"),
                    o,
                    d
                );
            }
        }
        Err(e) => println!("  cannot list BindingPolicies: {e}"),
    }
}

async fn print_plugins(c: &kube::Client) {
    match dyn_api(c, "WasmPlugin", "wasmplugins")
        .list(&ListParams::default())
        .await
    {
        Ok(l) => {
            println!("  {:<24} {:<6} {:<12} SOURCE", "PLUGIN", "READY", "KIND");
            for p in &l.items {
                println!(
                    "  {:<24} {:<6} {:<12} {}",
                    p.metadata.name.clone().unwrap_or_default(),
                    condition(p, "Ready"),
                    p.data["status"]["kind"].as_str().unwrap_or("-"),
                    p.data["spec"]["source"].as_str().unwrap_or("-")
                );
            }
        }
        Err(e) => println!("  cannot list WasmPlugins: {e}"),
    }
}
