//! `kubestellar up --wecs N` as a user runs it (the real binary, a process of its own): time
//! until it says it is up, time until the first Deployment bound to every WEC is in every WEC
//! (seen through a watch on each WEC, as kubectl would), then memory and CPU after a period
//! of idling; then `kubestellar down`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube::runtime::watcher;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::stats::usage;
use super::workload::{self, Kind};
use super::{BenchConfig, BenchError, Report};

/// Targets (issue #6): ready within 30 s, idle below 1 GiB.
const READY_S: f64 = 30.0;
const IDLE_MIB: f64 = 1024.0;

pub(super) async fn run(
    cfg: &BenchConfig,
    dir: &Path,
    report: &mut Report,
) -> Result<(), BenchError> {
    let exe = cfg
        .exe
        .clone()
        .ok_or_else(|| BenchError::Setup("the up scenario needs the kubestellar binary".into()))?;
    let n = cfg.k();
    let up_dir = dir.join("up");
    report.param("WECs", n);
    report.param("idle", format!("{}s", cfg.duration.as_secs_f64()));
    if let Some(cache) = cfg.plugin_cache.as_ref().filter(|c| c.is_dir()) {
        // A warm start: the plugins `up` would compile are there already.
        copy_dir(cache, &up_dir.join("plugin-cache"))
            .map_err(|e| BenchError::Setup(format!("copying the plugin cache: {e}")))?;
    }
    let log = std::fs::File::create(dir.join("up.log"))
        .map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&exe)
        .args(["up", "--wecs", &n.to_string(), "--dir"])
        .arg(&up_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot run {}: {e}", exe.display())))?;
    let pid = child.id().unwrap_or_default();
    let result = measure(cfg, &up_dir, &mut child, started, pid, n, report).await;
    let down = tokio::process::Command::new(&exe)
        .args(["down", "--dir"])
        .arg(&up_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(30), down).await;
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    cfg: &BenchConfig,
    up_dir: &Path,
    child: &mut tokio::process::Child,
    started: Instant,
    pid: u32,
    n: usize,
    report: &mut Report,
) -> Result<(), BenchError> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Setup("no stdout from kubestellar up".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(cfg.timeout, async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.starts_with("KubeStellar is up") {
                return Some(started.elapsed());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| BenchError::Setup("kubestellar up did not come up (see up.log)".into()))?;
    // Keep reading its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    report.below(
        "ready (until it says it is up)",
        ready.as_secs_f64(),
        "s",
        READY_S,
    );
    if let Some(u) = usage(pid) {
        report.add("RSS when ready", u.rss_mib, "MiB");
        report.add("CPU until ready", u.cpu_seconds, "s");
    }

    // The first delivery, watched in every WEC.
    let kubeconfig = up_dir.join("kubeconfig");
    let client = |ctx: String| {
        let kc = kubeconfig.clone();
        async move {
            crate::clients::client(Some(&kc), Some(&ctx))
                .await
                .map_err(|e| BenchError::Setup(format!("client for {ctx}: {e}")))
        }
    };
    let wds = client("wds1".into()).await?;
    let run = "first";
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Option<Instant>)>();
    let mut watches = Vec::new();
    for i in 1..=n {
        let wec = client(format!("cluster{i}")).await?;
        let tx = tx.clone();
        watches.push(
            tokio::spawn(async move {
                let api: Api<Deployment> = Api::namespaced(wec, run);
                let cfg = watcher::Config::default().fields("metadata.name=first");
                let mut stream = watcher::watcher(api, cfg).boxed();
                while let Some(ev) = stream.next().await {
                    match ev {
                        Ok(watcher::Event::InitDone) => {
                            let _ = tx.send((i, None));
                        }
                        Ok(watcher::Event::Apply(_)) | Ok(watcher::Event::InitApply(_)) => {
                            let _ = tx.send((i, Some(Instant::now())));
                            return;
                        }
                        _ => {}
                    }
                }
            })
            .abort_handle(),
        );
    }
    drop(tx);
    let mut watching = 0;
    while watching < n {
        match tokio::time::timeout(cfg.timeout, rx.recv()).await {
            Ok(Some((_, None))) => watching += 1,
            Ok(Some((i, Some(_)))) => {
                return Err(BenchError::Setup(format!(
                    "cluster{i} had a Deployment first/first already"
                )));
            }
            _ => {
                return Err(BenchError::Setup(
                    "watches on the WECs did not start".into(),
                ));
            }
        }
    }
    let t0 = Instant::now();
    workload::apply(&wds, &workload::namespace(run, run, run)).await?;
    workload::apply(
        &wds,
        &workload::object(run, run, Kind::Deployment, run, "first", 0),
    )
    .await?;
    workload::apply_policy(&wds, &workload::policy(run, run, None, false)).await?;
    let since_ready = started.elapsed();
    let mut arrived = 0;
    let mut first = None;
    let mut last = t0;
    while arrived < n {
        match tokio::time::timeout(cfg.timeout, rx.recv()).await {
            Ok(Some((_, Some(at)))) => {
                arrived += 1;
                first.get_or_insert(at);
                last = last.max(at);
            }
            Ok(Some(_)) => {}
            _ => {
                for w in &watches {
                    w.abort();
                }
                return Err(BenchError::Setup(format!(
                    "first delivery: {arrived} of {n} WECs after {:?}",
                    cfg.timeout
                )));
            }
        }
    }
    report.add(
        "first delivery: in the first WEC",
        (first.unwrap_or(t0) - t0).as_secs_f64() * 1e3,
        "ms",
    );
    report.add(
        "first delivery: in every WEC",
        (last - t0).as_secs_f64() * 1e3,
        "ms",
    );
    report.param(
        "first delivery started after up began",
        format!("{:.1}s", since_ready.as_secs_f64()),
    );

    // Idle.
    let before = usage(pid).unwrap_or_default();
    tokio::time::sleep(cfg.duration).await;
    let after = usage(pid).ok_or_else(|| {
        BenchError::Setup("kubestellar up exited while idling (see up.log)".into())
    })?;
    report.below("RSS after idling", after.rss_mib, "MiB", IDLE_MIB);
    report.add("peak RSS", after.peak_rss_mib, "MiB");
    report.add(
        "CPU while idle (share of one core)",
        100.0 * (after.cpu_seconds - before.cpu_seconds) / cfg.duration.as_secs_f64().max(1e-9),
        "%",
    );
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
    if let Some(t) = threads {
        report.add("threads", t, "");
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue; // a file being written
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
