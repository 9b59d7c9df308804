//! Crash safety of the embedded space server: a `kubestellar space serve` child takes
//! concurrent creates, updates and deletes, is killed with SIGKILL at a random moment, and
//! restarts on the same data directory. Every write that got a 2xx must be there (creates and
//! updates; acknowledged deletes gone), and resourceVersions must keep growing. Several rounds.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const ROUNDS: usize = 4;
const WRITERS: usize = 16;

/// What the clients were told succeeded.
#[derive(Default, Clone)]
struct Acked {
    /// Objects whose create (or a later update) was acknowledged, and not deleted since.
    present: BTreeSet<String>,
    /// Objects whose delete was acknowledged.
    deleted: BTreeSet<String>,
    /// Per counter object, the highest acknowledged value.
    counters: BTreeMap<String, u64>,
    /// The highest acknowledged resourceVersion.
    max_rv: u64,
}

fn random_below(n: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() % n
}

/// Starts `kubestellar space serve` and returns it with its URL once it serves.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubestellar"))
        .args([
            "space",
            "serve",
            "--name",
            "t",
            "--listen",
            "127.0.0.1:0",
            // Crash safety, not security, is under test: plain HTTP keeps the client simple.
            "--insecure",
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubestellar runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    // "space t serving at http://127.0.0.1:PORT (kubeconfig: ...)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

async fn client(url: &str) -> kube::Client {
    let cfg = kube::Config::new(url.parse().expect("url"));
    kube::Client::try_from(cfg).expect("client")
}

fn rv_of(cm: &ConfigMap) -> u64 {
    cm.metadata
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}

/// One writer: creates objects, bumps its counter object, deletes every third object it made.
async fn writer(api: Api<ConfigMap>, round: usize, id: usize, acked: Arc<Mutex<Acked>>) {
    let counter = format!("counter-{id}");
    for i in 0u64.. {
        let name = format!("r{round}-w{id}-{i}");
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": name}, "data": {"i": i.to_string()}}),
        )
        .expect("cm");
        let Ok(created) = api.create(&PostParams::default(), &cm).await else {
            return;
        };
        {
            let mut a = acked.lock().expect("lock");
            a.present.insert(name.clone());
            a.max_rv = a.max_rv.max(rv_of(&created));
        }
        let n = i + 1 + 1_000 * round as u64;
        let patch = json!({"metadata": {"name": counter}, "data": {"n": n.to_string()}});
        let Ok(updated) = api
            .patch(
                &counter,
                &PatchParams::apply("crash-test").force(),
                &Patch::Apply(patch),
            )
            .await
        else {
            return;
        };
        {
            let mut a = acked.lock().expect("lock");
            a.counters.insert(counter.clone(), n);
            a.present.insert(counter.clone());
            a.max_rv = a.max_rv.max(rv_of(&updated));
        }
        if i % 3 == 2 {
            let victim = format!("r{round}-w{id}-{}", i - 1);
            // Until the delete is acknowledged, the object may or may not be there.
            acked.lock().expect("lock").present.remove(&victim);
            if api.delete(&victim, &DeleteParams::default()).await.is_err() {
                return;
            }
            acked.lock().expect("lock").deleted.insert(victim);
        }
    }
}

/// Checks that everything acknowledged survived; returns the list's resourceVersion.
async fn verify(api: &Api<ConfigMap>, acked: &Acked, round: usize) -> u64 {
    let list = api
        .list(&ListParams::default())
        .await
        .expect("list after restart");
    let rv: u64 = list
        .metadata
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("list RV");
    let live: BTreeMap<String, ConfigMap> = list
        .items
        .into_iter()
        .map(|c| (c.metadata.name.clone().unwrap_or_default(), c))
        .collect();
    for name in &acked.present {
        assert!(
            live.contains_key(name),
            "round {round}: acknowledged {name} was lost"
        );
    }
    for name in &acked.deleted {
        assert!(
            !live.contains_key(name),
            "round {round}: acknowledged delete of {name} was lost"
        );
    }
    for (name, n) in &acked.counters {
        let got: u64 = live[name]
            .data
            .as_ref()
            .and_then(|d| d.get("n"))
            .and_then(|v| v.parse().ok())
            .expect("n");
        assert!(
            got >= *n,
            "round {round}: {name} went back from {n} to {got}"
        );
    }
    assert!(
        rv >= acked.max_rv,
        "round {round}: list RV {rv} below acknowledged {}",
        acked.max_rv
    );
    rv
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let (mut child, url) = serve(dir.path());
        rt.block_on(async {
            let api: Api<ConfigMap> = Api::namespaced(client(&url).await, "default");
            if round > 0 {
                let a = acked.lock().expect("lock").clone();
                verify(&api, &a, round).await;
            }
            // Versions continue upward after the restart.
            let probe: ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": format!("probe-{round}")}}))
                    .expect("cm");
            let probe = api
                .create(&PostParams::default(), &probe)
                .await
                .expect("probe create");
            {
                let mut a = acked.lock().expect("lock");
                assert!(
                    rv_of(&probe) > a.max_rv,
                    "round {round}: RV {} not above {}",
                    rv_of(&probe),
                    a.max_rv
                );
                a.present.insert(format!("probe-{round}"));
                a.max_rv = rv_of(&probe);
            }
            let tasks: Vec<_> = (0..WRITERS)
                .map(|id| tokio::spawn(writer(api.clone(), round, id, acked.clone())))
                .collect();
            // Kill at a random moment while the writers are busy.
            tokio::time::sleep(Duration::from_millis(300 + random_below(1200))).await;
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            for t in tasks {
                tokio::time::timeout(Duration::from_secs(30), t)
                    .await
                    .expect("writer stops")
                    .expect("writer task");
            }
        });
        let a = acked.lock().expect("lock");
        assert!(
            a.present.len() + a.deleted.len() > total_acked,
            "round {round} acknowledged some writes"
        );
        total_acked = a.present.len() + a.deleted.len();
    }
    // The last restart.
    let (mut child, url) = serve(dir.path());
    rt.block_on(async {
        let api: Api<ConfigMap> = Api::namespaced(client(&url).await, "default");
        let a = acked.lock().expect("lock").clone();
        verify(&api, &a, ROUNDS).await;
    });
    let _ = child.kill();
    let _ = child.wait();
}
