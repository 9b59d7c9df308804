//! Plugin runtime costs on the built-in plugins, printed as a table:
//!
//! * transform-default per call on `deployment.json` (the spec's 3.5 KB Deployment): warm
//!   instance vs fresh instance through the host, vs the same logic called natively;
//! * cold start (load = compile or read the precompiled cache, link, describe), without and with
//!   the precompiled cache;
//! * summarize-default, SUM over 1,000 reports, same three ways.
//!
//! Modes are interleaved call by call, so the VM's speed drift hits them equally.
//!
//! `cargo bench -p kubestellar --bench plugins --features native-baseline` (without the feature
//! the native rows are left out). `PLUGIN_BENCH_CALLS=N` changes the number of calls.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kubestellar::plugins::{
    ClusterContext, Limits, PluginRuntime, Report, RuntimeConfig, Timestamp, builtin,
};

/// The spec's benchmark object (`shared/bench/deployment.json`, copied into the plugin's tests).
const DEPLOYMENT: &str = include_str!("../../plugins/transform-default/tests/data/deployment.json");

const SUM_CONFIG: &str = r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"returned.status.availableReplicas"}]}"#;

const WDS_OBJECT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"nginx","namespace":"nginx"},"spec":{"replicas":1}}"#;

type Call<'a> = Box<dyn FnMut() -> Result<(), String> + 'a>;

fn main() {
    if let Err(e) = run() {
        eprintln!("plugin bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let calls: usize = std::env::var("PLUGIN_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let e = |e: kubestellar::plugins::PluginError| e.to_string();
    let transform_bytes = builtin::bytes(builtin::TRANSFORM_DEFAULT).map_err(e)?;
    let summarize_bytes = builtin::bytes(builtin::SUMMARIZE_DEFAULT).map_err(e)?;

    println!("# plugin runtime benchmark ({calls} calls per mode, interleaved)\n");
    println!("{:<48} {:>10} {:>10} {:>10}", "case", "p50", "p99", "mean");

    // Cold start.
    let plain = PluginRuntime::new(RuntimeConfig::default()).map_err(e)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cached = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    for (name, bytes) in [
        ("transform-default", transform_bytes),
        ("summarize-default", summarize_bytes),
    ] {
        let mut no_cache = Vec::new();
        for _ in 0..5 {
            let p = plain.load(bytes, None, Limits::default()).map_err(e)?;
            no_cache.push(p.load_stats().total);
        }
        row(&format!("{name}: load, no cache (compile)"), &mut no_cache);
        PluginRuntime::new(cached.clone())
            .map_err(e)?
            .load(bytes, None, Limits::default())
            .map_err(e)?;
        let mut hit = Vec::new();
        for _ in 0..5 {
            let rt = PluginRuntime::new(cached.clone()).map_err(e)?;
            let p = rt.load(bytes, None, Limits::default()).map_err(e)?;
            if !matches!(
                p.load_stats().cache,
                kubestellar::plugins::cache::CacheOutcome::Hit
            ) {
                return Err(format!(
                    "expected a cache hit, got {:?}",
                    p.load_stats().cache
                ));
            }
            hit.push(p.load_stats().total);
        }
        row(&format!("{name}: load, precompiled cache hit"), &mut hit);
    }

    // transform-default per call.
    let cluster = ClusterContext::named("cluster1")
        .with_label("region", "east")
        .with_label("name", "cluster1");
    let warm_limits = Limits {
        warm_instances: 1,
        max_calls_per_instance: u32::MAX,
        ..Limits::default()
    };
    let t_warm = plain.load(transform_bytes, None, warm_limits).map_err(e)?;
    let t_fresh = plain
        .load(transform_bytes, None, Limits::default())
        .map_err(e)?;
    let mut modes: Vec<(&str, Call<'_>)> = vec![
        (
            "transform-default: warm instance",
            Box::new(|| {
                t_warm
                    .transform(black_box(DEPLOYMENT), Some(&cluster), "{}")
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "transform-default: fresh instance",
            Box::new(|| {
                t_fresh
                    .transform(black_box(DEPLOYMENT), Some(&cluster), "{}")
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
        ),
    ];
    #[cfg(feature = "native-baseline")]
    modes.push((
        "transform-default: native (no wasm)",
        Box::new(|| {
            use kubestellar_plugin_sdk::Transformer;
            transform_default::TransformDefault::transform(
                black_box(DEPLOYMENT),
                Some(&cluster),
                "{}",
            )
            .map(drop)
            .map_err(|e| e.message)
        }),
    ));
    interleave(&mut modes, calls)?;

    // summarize-default, SUM over 1,000 reports.
    let reports = reports(1000);
    let s_warm = plain.load(summarize_bytes, None, warm_limits).map_err(e)?;
    let s_fresh = plain
        .load(summarize_bytes, None, Limits::default())
        .map_err(e)?;
    let expected = s_fresh
        .summarize(WDS_OBJECT, &reports, SUM_CONFIG)
        .map_err(e)?;
    println!(
        "  (SUM over 1000 reports = {:?})",
        expected.rows.first().map(|r| &r.columns)
    );
    let mut modes: Vec<(&str, Call<'_>)> = vec![
        (
            "summarize-default SUM/1000: warm instance",
            Box::new(|| {
                s_warm
                    .summarize(black_box(WDS_OBJECT), &reports, SUM_CONFIG)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
        ),
        (
            "summarize-default SUM/1000: fresh instance",
            Box::new(|| {
                s_fresh
                    .summarize(black_box(WDS_OBJECT), &reports, SUM_CONFIG)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
        ),
    ];
    #[cfg(feature = "native-baseline")]
    modes.push((
        "summarize-default SUM/1000: native",
        Box::new(|| {
            use kubestellar_plugin_sdk::Summarizer;
            summarize_default::SummarizeDefault::summarize(
                black_box(WDS_OBJECT),
                &reports,
                SUM_CONFIG,
            )
            .map(drop)
            .map_err(|e| e.message)
        }),
    ));
    interleave(&mut modes, (calls / 5).max(10))?;
    #[cfg(not(feature = "native-baseline"))]
    println!("\n(native rows need --features native-baseline)");
    Ok(())
}

/// Calls every mode once per round, `rounds` times (after one warm-up round), and prints a row each.
fn interleave(modes: &mut [(&str, Call<'_>)], rounds: usize) -> Result<(), String> {
    let mut samples: Vec<Vec<Duration>> =
        modes.iter().map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..=rounds {
        for (i, (name, call)) in modes.iter_mut().enumerate() {
            let t = Instant::now();
            call().map_err(|e| format!("{name}: {e}"))?;
            if round > 0 {
                samples[i].push(t.elapsed());
            }
        }
    }
    for ((name, _), s) in modes.iter().zip(samples.iter_mut()) {
        row(name, s);
    }
    Ok(())
}

fn row(name: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<48} {:>10} {:>10} {:>10}",
        fmt(at(0.5)),
        fmt(at(0.99)),
        fmt(mean)
    );
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

/// 1,000 WECs' Deployment statuses, as in the summarize-default native benchmark.
fn reports(n: usize) -> Vec<Report> {
    (0..n)
        .map(|i| Report {
            cluster: ClusterContext::named(format!("cluster{i:04}")),
            status: Some(format!(
                r#"{{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":{},"conditions":[{{"type":"Available","status":"True","lastUpdateTime":"2024-05-01T10:00:00Z","lastTransitionTime":"2024-05-01T10:00:00Z","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."}}]}}"#,
                i % 3
            )),
            last_update: Some(Timestamp { seconds: 1_700_000_000 + i as i64, nanoseconds: 0 }),
        })
        .collect()
}
