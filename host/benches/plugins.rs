//! Plugin runtime costs on the built-in plugins, printed as a table, then checked against the
//! targets of issue #3:
//!
//! * transform-default per call on `deployment.json` (the spec's 2.6 KB Deployment): warm
//!   instance vs fresh instance through the host, vs the same logic called natively
//!   (targets: warm <= 2x native, fresh <= 4x native, p50 ratios of the same run);
//! * cold start (load = compile or map the precompiled cache, link, describe), without and with
//!   the precompiled cache (target: a cache hit < 5 ms per plugin);
//! * summarize-default, SUM over 1,000 reports, warm, fresh and native (target: < 5 ms).
//!
//! Modes are interleaved call by call, so the VM's speed drift hits them equally.
//!
//! `cargo bench -p kubestellar --bench plugins --features native-baseline` (without the feature
//! the native rows and the ratios are left out). Environment:
//! * `PLUGIN_BENCH_CALLS=N`: calls per mode (default 1000; summarize runs N/5 rounds);
//! * `PLUGIN_BENCH_ONLY=cold,transform,summarize`: run only these sections (e.g. to profile);
//! * `PLUGIN_BENCH_MODES=warm,fresh,native`: call only the modes whose names contain one of
//!   these (e.g. to profile the warm path alone);
//! * `PLUGIN_BENCH_CLUSTER_LABELS=N|none`: the transform destination has N labels instead of
//!   the default two, or no cluster context at all (what lowering the context costs per call);
//! * `PLUGIN_BENCH_TRANSFORM_WASM=path`, `PLUGIN_BENCH_SUMMARIZE_WASM=path`: measure another
//!   build of a plugin than the embedded one (e.g. a different optimization level).

use std::hint::black_box;
use std::time::{Duration, Instant};

use kubestellar::plugins::cache::CacheOutcome;
use kubestellar::plugins::{
    ClusterContext, Identity, Limits, LoadedPlugin, PluginRuntime, PreparedCluster, Report,
    RuntimeConfig, Timestamp, builtin, engine,
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

/// p50 of each measured case, by name, for the verdicts at the end.
#[derive(Default)]
struct Results(Vec<(String, Duration)>);

impl Results {
    fn get(&self, name: &str) -> Option<Duration> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, d)| *d)
    }
}

fn run() -> Result<(), String> {
    let calls: usize = std::env::var("PLUGIN_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let only = std::env::var("PLUGIN_BENCH_ONLY").unwrap_or_default();
    let section = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);
    let e = |e: kubestellar::plugins::PluginError| e.to_string();
    let transform_bytes = plugin_bytes("PLUGIN_BENCH_TRANSFORM_WASM", builtin::TRANSFORM_DEFAULT)?;
    let summarize_bytes = plugin_bytes("PLUGIN_BENCH_SUMMARIZE_WASM", builtin::SUMMARIZE_DEFAULT)?;
    let mut results = Results::default();

    println!("# plugin runtime benchmark ({calls} calls per mode, interleaved)\n");
    let t = Instant::now();
    engine::shared().map_err(e)?;
    println!(
        "engine + epoch ticker, once per process: {}\n",
        fmt(t.elapsed())
    );
    println!("{:<48} {:>10} {:>10} {:>10}", "case", "p50", "p99", "mean");
    let plain = PluginRuntime::new(RuntimeConfig::default()).map_err(e)?;
    // Per-call rows load through the precompiled cache, as the host does; the code is then
    // mapped from a file, so `perf` can name the guest's functions.
    let cache_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cached = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(cache_dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .map_err(e)?;

    if section("cold") {
        cold_starts(
            &plain,
            &[
                ("transform-default", &transform_bytes),
                ("summarize-default", &summarize_bytes),
            ],
            &mut results,
        )?;
    }

    if section("transform") {
        let cluster = bench_cluster()?;
        let cluster = cluster.as_ref();
        // Converted once per destination, as the transport does.
        let prepared = cluster.map(PreparedCluster::new);
        let t_warm = cached.load(&transform_bytes, None, warm()).map_err(e)?;
        let t_fresh = cached
            .load(&transform_bytes, None, Limits::default())
            .map_err(e)?;
        // The host's callers know the object's identity from the object they serialized
        // (`Identity::new` from its typed fields in the transport); here it is taken from the
        // decoded object on every call, so its cost is counted.
        let decoded: serde_json::Value =
            serde_json::from_str(DEPLOYMENT).map_err(|e| e.to_string())?;
        // Fresh calls, and those whose instance was made before the call (off its path).
        let fresh_calls = std::cell::Cell::new((0usize, 0usize));
        let transform = |p: &LoadedPlugin| -> Result<(), String> {
            let identity = Identity::of_value(black_box(&decoded));
            p.transform_known(
                black_box(DEPLOYMENT),
                identity.as_ref(),
                prepared.as_ref(),
                "{}",
            )
            .map(drop)
            .map_err(|e| e.to_string())
        };
        let mut modes: Vec<(&str, Call<'_>)> = vec![
            (
                "transform-default: warm instance",
                Box::new(|| transform(&t_warm)),
            ),
            (
                "transform-default: fresh instance",
                Box::new(|| {
                    let (calls, hits) = fresh_calls.get();
                    fresh_calls.set((
                        calls + 1,
                        hits + usize::from(t_fresh.fresh_instance_ready()),
                    ));
                    transform(&t_fresh)
                }),
            ),
        ];
        #[cfg(feature = "native-baseline")]
        modes.push((
            "transform-default: native (no wasm)",
            Box::new(|| {
                use kubestellar_plugin_sdk::Transformer;
                transform_default::TransformDefault::transform(black_box(DEPLOYMENT), cluster, "{}")
                    .map(drop)
                    .map_err(|e| e.message)
            }),
        ));
        interleave(&mut modes, calls, &mut results)?;
        drop(modes);
        let (fresh, prepared) = fresh_calls.get();
        if fresh > 0 {
            println!(
                "  (fresh calls that found their instance prepared in the background: {prepared} of {fresh})"
            );
        }
    }

    if section("summarize") {
        let reports = reports(1000);
        let s_warm = cached.load(&summarize_bytes, None, warm()).map_err(e)?;
        let s_fresh = cached
            .load(&summarize_bytes, None, Limits::default())
            .map_err(e)?;
        let expected = s_fresh
            .summarize(WDS_OBJECT, &reports, SUM_CONFIG)
            .map_err(e)?;
        println!(
            "  (SUM over 1000 reports = {:?})",
            expected.rows.first().map(|r| &r.columns)
        );
        let summarize = |p: &LoadedPlugin| -> Result<(), String> {
            p.summarize(black_box(WDS_OBJECT), &reports, SUM_CONFIG)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        let mut modes: Vec<(&str, Call<'_>)> = vec![
            (
                "summarize-default SUM/1000: warm instance",
                Box::new(|| summarize(&s_warm)),
            ),
            (
                "summarize-default SUM/1000: fresh instance",
                Box::new(|| summarize(&s_fresh)),
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
        interleave(&mut modes, (calls / 5).max(10), &mut results)?;
    }
    #[cfg(not(feature = "native-baseline"))]
    println!("\n(native rows and ratios need --features native-baseline)");
    verdicts(&results);
    Ok(())
}

/// The transform destination: `cluster1` with labels `region` and `name`, or as
/// `PLUGIN_BENCH_CLUSTER_LABELS` says.
fn bench_cluster() -> Result<Option<ClusterContext>, String> {
    let cluster = ClusterContext::named("cluster1");
    match std::env::var("PLUGIN_BENCH_CLUSTER_LABELS").ok().as_deref() {
        None | Some("") => Ok(Some(
            cluster
                .with_label("region", "east")
                .with_label("name", "cluster1"),
        )),
        Some("none") => {
            println!("  (no cluster context)");
            Ok(None)
        }
        Some(n) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("PLUGIN_BENCH_CLUSTER_LABELS={n}: not a number or `none`"))?;
            println!("  (cluster context with {n} labels)");
            Ok(Some((0..n).fold(cluster, |c, i| {
                c.with_label(format!("example.com/label-{i}"), format!("value-{i}"))
            })))
        }
    }
}

/// Limits with one warm instance that is never recycled.
fn warm() -> Limits {
    Limits {
        warm_instances: 1,
        max_calls_per_instance: u32::MAX,
        ..Limits::default()
    }
}

/// The embedded plugin, or the file named by `var`.
fn plugin_bytes(var: &str, name: &str) -> Result<Vec<u8>, String> {
    match std::env::var_os(var) {
        Some(path) => {
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("{}: {e}", std::path::Path::new(&path).display()))?;
            println!("({name}: {} bytes from {})", bytes.len(), path.display());
            Ok(bytes)
        }
        None => builtin::bytes(name)
            .map(<[u8]>::to_vec)
            .map_err(|e| e.to_string()),
    }
}

/// Loads each plugin 5 times without a cache, then 5 times from a primed cache, each time in a
/// new runtime (as a restarted host would), and prints where a cache hit spends its time.
fn cold_starts(
    plain: &PluginRuntime,
    plugins: &[(&str, &[u8])],
    results: &mut Results,
) -> Result<(), String> {
    let e = |e: kubestellar::plugins::PluginError| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cached = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    for (name, bytes) in plugins {
        println!("  ({name}: {} KB)", bytes.len() / 1000);
        let mut no_cache = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            plain.load(bytes, None, Limits::default()).map_err(e)?;
            no_cache.push(t.elapsed());
        }
        let label = format!("{name}: load, no cache (compile)");
        results.0.push((label.clone(), row(&label, &mut no_cache)));
        PluginRuntime::new(cached.clone())
            .map_err(e)?
            .load(bytes, None, Limits::default())
            .map_err(e)?;
        let (mut hit, mut read, mut link) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            let rt = PluginRuntime::new(cached.clone()).map_err(e)?;
            let t = Instant::now();
            let p = rt.load(bytes, None, Limits::default()).map_err(e)?;
            hit.push(t.elapsed());
            let stats = p.load_stats();
            if stats.cache != CacheOutcome::Hit {
                return Err(format!("expected a cache hit, got {:?}", stats.cache));
            }
            read.push(stats.compile);
            link.push(stats.link);
        }
        let label = format!("{name}: load, precompiled cache hit");
        results.0.push((label.clone(), row(&label, &mut hit)));
        row("    of which: map the cached artifact", &mut read);
        row("    of which: type check + instantiate_pre", &mut link);
    }
    Ok(())
}

/// Calls every mode once per round, `rounds` times (after one warm-up round), and prints a row each.
fn interleave(
    modes: &mut [(&str, Call<'_>)],
    rounds: usize,
    results: &mut Results,
) -> Result<(), String> {
    // Modes left out by PLUGIN_BENCH_MODES (to profile one) are not called.
    let wanted = std::env::var("PLUGIN_BENCH_MODES").unwrap_or_default();
    let run: Vec<bool> = modes
        .iter()
        .map(|(name, _)| wanted.is_empty() || wanted.split(',').any(|w| name.contains(w.trim())))
        .collect();
    let mut samples: Vec<Vec<Duration>> =
        modes.iter().map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..=rounds {
        for (i, (name, call)) in modes.iter_mut().enumerate() {
            if !run[i] {
                continue;
            }
            let t = Instant::now();
            call().map_err(|e| format!("{name}: {e}"))?;
            if round > 0 {
                samples[i].push(t.elapsed());
            }
        }
    }
    for (((name, _), s), _) in modes
        .iter()
        .zip(samples.iter_mut())
        .zip(&run)
        .filter(|(_, r)| **r)
    {
        results.0.push((name.to_string(), row(name, s)));
    }
    Ok(())
}

/// Prints the targets of issue #3 and whether this run met them.
fn verdicts(r: &Results) {
    println!("\n# targets (issue #3), p50 of this run");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let native = r.get("transform-default: native (no wasm)");
    for (mode, limit) in [("warm instance", 2.0), ("fresh instance", 4.0)] {
        let name = format!("transform-default: {mode}");
        match (r.get(&name), native) {
            (Some(wasm), Some(native)) => {
                let ratio = wasm.as_secs_f64() / native.as_secs_f64();
                println!(
                    "transform-default {mode:<15} {:>9} / native {:>9} = {ratio:>4.2}x  (target <= {limit}x): {}",
                    fmt(wasm),
                    fmt(native),
                    verdict(ratio <= limit)
                );
            }
            _ => println!("transform-default {mode}: not measured"),
        }
    }
    let five_ms = Duration::from_millis(5);
    for name in [
        "transform-default: load, precompiled cache hit",
        "summarize-default: load, precompiled cache hit",
        "summarize-default SUM/1000: warm instance",
        "summarize-default SUM/1000: fresh instance",
    ] {
        match r.get(name) {
            Some(d) => println!(
                "{name:<48} {:>9}  (target < 5 ms): {}",
                fmt(d),
                verdict(d < five_ms)
            ),
            None => println!("{name}: not measured"),
        }
    }
}

/// Prints a row and returns the p50.
fn row(name: &str, samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<48} {:>10} {:>10} {:>10}",
        fmt(at(0.5)),
        fmt(at(0.99)),
        fmt(mean)
    );
    at(0.5)
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
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
