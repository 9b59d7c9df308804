//! Every benchmark scenario of `kubestellar bench`, smoke-sized (2 WECs, a dozen objects, a
//! few repetitions), so the driver cannot rot: each run must complete and report the figures
//! its scenario promises, with plausible values.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests panic to fail.

use std::time::Duration;

use kubestellar::bench::{self, BenchConfig, Mode, Report, Scenario};

fn run(cfg: BenchConfig) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = BenchConfig {
        dir: Some(dir.path().to_path_buf()),
        exe: Some(env!("CARGO_BIN_EXE_kubestellar").into()),
        // Compiled once for all smoke runs (debug builds compile plugins slowly).
        plugin_cache: Some(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-plugin-cache"),
        ),
        ..cfg
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let report = rt.block_on(bench::run(&cfg)).expect("benchmark runs");
    rt.shutdown_timeout(Duration::from_secs(2));
    println!("{report}");
    report
}

fn value(r: &Report, name: &str) -> f64 {
    r.value(name)
        .unwrap_or_else(|| panic!("no figure {name:?} in\n{r}"))
}

#[test]
fn propagation() {
    let r = run(BenchConfig::smoke(Scenario::Propagation));
    for step in ["create", "update", "status round trip", "delete"] {
        let p50 = value(&r, &format!("{step}, K=2 p50"));
        let max = value(&r, &format!("{step}, K=2 max"));
        assert!(
            p50 > 0.0 && p50 <= max && max < 30_000.0,
            "{step}: {p50} {max}"
        );
    }
    // The round trip includes the simulator's 200 ms ready delay.
    assert!(value(&r, "status round trip, K=2 p50") >= 150.0);
    assert!(value(&r, "status return (WEC -> WDS), K=2 p50") >= 0.0);
}

#[test]
fn throughput() {
    let r = run(BenchConfig::smoke(Scenario::Throughput));
    let delivered = value(&r, "delivered (every object in every WEC)");
    let converged = value(&r, "converged (all spaces quiet)");
    assert!(
        delivered > 0.0 && delivered <= converged,
        "{delivered} {converged}"
    );
    assert!(value(&r, "deliveries") > 0.0);
    // 12 objects and their namespace, one ManifestWork each per WEC, plus a WorkStatus each.
    assert!(value(&r, "objects in the ITS") >= 2.0 * 13.0 * 2.0);
    assert!(value(&r, "changes committed in the WECs") >= 26.0);
    assert!(value(&r, "peak RSS, whole system (one process)") > 0.0);
}

#[test]
fn churn() {
    let r = run(BenchConfig::smoke(Scenario::Churn));
    assert_eq!(value(&r, "updates sent"), 10.0);
    let p50 = value(&r, "update latency p50");
    assert!(p50 > 0.0 && p50 <= value(&r, "update latency max"));
    assert!(value(&r, "backlog max (sampled every second)") <= 10.0);
}

#[test]
fn restart() {
    let r = run(BenchConfig::smoke(Scenario::Restart));
    assert!(value(&r, "restart: time until a new object is delivered") > 0.0);
    assert_eq!(
        value(&r, "restart: changes committed (all spaces)"),
        0.0,
        "{r}"
    );
}

#[test]
fn restart_split() {
    let r = run(BenchConfig {
        mode: Mode::Split,
        ..BenchConfig::smoke(Scenario::Restart)
    });
    assert_eq!(
        value(&r, "restart: changes committed (all spaces)"),
        0.0,
        "{r}"
    );
    assert!(value(&r, "peak RSS, controller") > 1.0);
    assert!(value(&r, "peak RSS, agents") > 1.0);
}

#[test]
fn plugins() {
    // The scenario's user plugin is the cluster-labels example, built from source.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new(repo.join("scripts/build-examples"))
        .current_dir(&repo)
        .status()
        .expect("scripts/build-examples runs");
    assert!(status.success(), "scripts/build-examples");
    let r = run(BenchConfig::smoke(Scenario::Plugins));
    for run in ["transform-default only", "with a user plugin"] {
        assert!(value(&r, &format!("{run}: delivered (every object in every WEC)")) > 0.0);
    }
    assert!(value(&r, "converged, with plugin / without") > 0.0);
}

#[test]
fn up() {
    let r = run(BenchConfig::smoke(Scenario::Up));
    assert!(value(&r, "ready (until it says it is up)") > 0.0);
    let first = value(&r, "first delivery: in the first WEC");
    assert!(first > 0.0 && first <= value(&r, "first delivery: in every WEC"));
    assert!(value(&r, "RSS after idling") > 1.0);
}

/// The agent scenario's figures, whatever the mode: every object and ManifestWork got there.
fn check_agent(r: &Report) {
    // 12 objects in one namespace, each in a ManifestWork of its own.
    let mws = value(r, "ManifestWorks written");
    assert_eq!(mws, 13.0, "{r}");
    assert_eq!(
        value(r, "objects in the WEC (namespaces included)"),
        mws,
        "{r}"
    );
    let delivered = value(r, "delivered (every object in the WEC)");
    let applied = value(r, "applied (every ManifestWork Applied=True)");
    assert!(
        delivered > 0.0
            && delivered <= applied
            && applied <= value(r, "converged (all spaces quiet)"),
        "{r}"
    );
    assert!(value(r, "objects applied per second") > 0.0, "{r}");
    assert!(value(r, "ManifestWorks Applied per second") > 0.0, "{r}");
    // At least one apply per object in the WEC, a status write per ManifestWork in the ITS.
    assert!(value(r, "write requests to the WEC") >= mws, "{r}");
    assert!(
        value(
            r,
            "write requests to the ITS by the agent (heartbeats included)"
        ) >= mws,
        "{r}"
    );
}

#[test]
fn agent() {
    let r = run(BenchConfig::smoke(Scenario::Agent));
    check_agent(&r);
    assert!(value(&r, "peak RSS, whole system (one process)") > 1.0);
}

#[test]
fn agent_split() {
    let r = run(BenchConfig {
        mode: Mode::Split,
        ..BenchConfig::smoke(Scenario::Agent)
    });
    check_agent(&r);
    let peak = value(&r, "peak RSS, agents");
    assert!(
        peak > 1.0 && peak >= value(&r, "RSS before the writes, agent"),
        "{r}"
    );
    assert!(value(&r, "CPU, agents") > 0.0, "{r}");
    assert!(r.value("peak RSS, controller").is_none(), "{r}");
}
