//! The plugin runtime with well-behaved test guests: loading, describing, calling, output
//! checks, fresh vs warm instances, the precompiled cache, load-time rejections.
#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod plugin_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubestellar::plugins::cache::CacheOutcome;
use kubestellar::plugins::{
    CellValue, ClusterContext, Limits, PluginError, PluginKind, PluginRuntime, Report,
    RuntimeConfig, Scope, Timestamp,
};
use plugin_support::{DEPLOYMENT, fixture, json, runtime};
use sha2::{Digest, Sha256};

fn calls_annotation(object: &str) -> String {
    json(object)["metadata"]["annotations"]["echo.test/calls"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn echo_transformer_loads_describes_and_transforms() {
    let bytes = fixture("echo_transformer");
    let rt = runtime();
    let p = rt.load(&bytes, None, Limits::default()).unwrap();
    assert_eq!(p.world(), PluginKind::Transformer);
    assert_eq!(p.info().name, "echo");
    assert_eq!(p.info().version, "1.2.3");
    assert_eq!(p.info().scope, Scope::PerCluster);
    assert_eq!(
        p.info().config_schema.as_deref(),
        Some(r#"{"type":"object"}"#)
    );
    assert_eq!(p.digest(), hex::encode(Sha256::digest(&bytes)));
    assert_eq!(p.size(), bytes.len());
    assert!(
        p.exports()
            .iter()
            .any(|e| e == "kubestellar:plugin/transform@0.1.0"),
        "{:?}",
        p.exports()
    );
    assert!(p.name().starts_with("echo (sha256:"), "{}", p.name());

    let cluster = ClusterContext::named("wec-1")
        .with_label("region", "eu-west")
        .with_property("tier", "gold");
    let out = p.transform(DEPLOYMENT, Some(&cluster), "{}").unwrap();
    assert!(out.used_cluster);
    let v = json(&out.object);
    assert_eq!(v["metadata"]["labels"]["echo.test/cluster"], "wec-1");
    assert_eq!(v["metadata"]["labels"]["echo.test/region"], "eu-west");
    assert_eq!(v["metadata"]["annotations"]["echo.test/tier"], "gold");
    assert_eq!(v["spec"], json(DEPLOYMENT)["spec"]);

    let out = p.transform(DEPLOYMENT, None, "{}").unwrap();
    assert!(!out.used_cluster);
    assert!(
        json(&out.object)["metadata"]["labels"]
            .get("echo.test/cluster")
            .is_none()
    );
}

/// Waits (up to 10 s) until the plugin has a fresh instance prepared in the background.
fn wait_for_prepared_instance(p: &kubestellar::plugins::LoadedPlugin) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !p.fresh_instance_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "no fresh instance was prepared in the background"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn fresh_instances_share_no_state() {
    let p = runtime()
        .load(&fixture("echo_transformer"), None, Limits::default())
        .unwrap();
    for _ in 0..3 {
        let out = p.transform(DEPLOYMENT, None, "{}").unwrap();
        assert_eq!(calls_annotation(&out.object), "1");
    }
    assert_eq!(p.idle_instances(), 0);
    // Instances prepared ahead of the call (off its path) have never been called either.
    for _ in 0..3 {
        wait_for_prepared_instance(&p);
        let out = p.transform(DEPLOYMENT, None, "{}").unwrap();
        assert_eq!(calls_annotation(&out.object), "1");
    }
}

#[test]
fn a_prepared_fresh_instance_gets_the_whole_deadline_for_its_call() {
    let limits = Limits {
        timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    let p = runtime()
        .load(&fixture("echo_transformer"), None, limits)
        .unwrap();
    for _ in 0..3 {
        wait_for_prepared_instance(&p);
        // Longer than the deadline: one counted from when the instance was made would fire.
        std::thread::sleep(Duration::from_millis(120));
        p.transform(DEPLOYMENT, None, "{}").unwrap();
    }
}

#[test]
fn warm_instances_keep_state_and_are_recycled_after_n_calls_or_an_error() {
    let limits = Limits {
        warm_instances: 1,
        max_calls_per_instance: 3,
        ..Limits::default()
    };
    let p = runtime()
        .load(&fixture("echo_transformer"), None, limits)
        .unwrap();
    // describe() at load already used (and returned) the warm instance.
    let seen: Vec<String> = (0..5)
        .map(|_| calls_annotation(&p.transform(DEPLOYMENT, None, "{}").unwrap().object))
        .collect();
    // describe counts as call 1 of the first instance, so it serves two transforms.
    assert_eq!(seen, ["1", "2", "1", "2", "3"]);
    assert_eq!(
        p.idle_instances(),
        0,
        "the instance is retired after its 3rd call"
    );
    assert_eq!(
        calls_annotation(&p.transform(DEPLOYMENT, None, "{}").unwrap().object),
        "1"
    );
    assert_eq!(
        calls_annotation(&p.transform(DEPLOYMENT, None, "{}").unwrap().object),
        "2"
    );
    // An error discards the instance: the next call starts from scratch.
    assert!(p.transform(DEPLOYMENT, None, r#"{"fail":"no"}"#).is_err());
    assert_eq!(
        calls_annotation(&p.transform(DEPLOYMENT, None, "{}").unwrap().object),
        "1"
    );
}

#[test]
fn warm_instance_deadline_is_re_armed_for_every_call() {
    let limits = Limits {
        timeout: Duration::from_millis(50),
        warm_instances: 1,
        ..Limits::default()
    };
    let p = runtime()
        .load(&fixture("echo_transformer"), None, limits)
        .unwrap();
    for _ in 0..3 {
        // Longer than the deadline: a deadline set once at instance creation would fire now.
        std::thread::sleep(Duration::from_millis(120));
        p.transform(DEPLOYMENT, None, "{}").unwrap();
    }
    assert_eq!(p.idle_instances(), 1);
}

#[test]
fn config_is_validated_by_json_syntax_and_by_the_plugin() {
    let p = runtime()
        .load(&fixture("echo_transformer"), None, Limits::default())
        .unwrap();
    p.validate_config("{}").unwrap();
    match p.validate_config(r#"{"reject": 7}"#) {
        Err(PluginError::InvalidConfig { problems, .. }) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].field, "reject");
            assert_eq!(problems[0].message, "rejected: 7");
        }
        other => panic!("{other:?}"),
    }
    let err = p.validate_config("{nope").unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidConfig { problems, .. } if problems[0].field.is_empty()),
        "{err}"
    );
    assert!(err.to_string().starts_with("plugin echo (sha256:"), "{err}");
    assert!(
        err.to_string()
            .contains("invalid configuration: not valid JSON"),
        "{err}"
    );
}

#[test]
fn plugin_reported_errors_keep_the_message_and_name_the_plugin() {
    let rt = runtime();
    let p = rt
        .load_named(
            Some("my-echo.wasm"),
            &fixture("echo_transformer"),
            None,
            Limits::default(),
        )
        .unwrap();
    let err = p
        .transform(DEPLOYMENT, None, r#"{"fail":"the config says no"}"#)
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::PluginReported { message, .. } if message == "the config says no")
    );
    assert_eq!(err.to_string(), "plugin my-echo.wasm: the config says no");
    let err = p.transform("[1,2]", None, "{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin my-echo.wasm: object is not a JSON object but an array"
    );
    // The plugin still works.
    p.transform(DEPLOYMENT, None, "{}").unwrap();
}

#[test]
fn plugin_log_reaches_tracing_with_the_plugin_name() {
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let p = runtime()
        .load_named(
            Some("logger"),
            &fixture("echo_transformer"),
            None,
            Limits::default(),
        )
        .unwrap();
    let cap = Capture::default();
    let writer = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || p.transform(DEPLOYMENT, None, "{}").unwrap());
    let out = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(
        out.contains("INFO") && out.contains("echo call 1") && out.contains("plugin=\"logger\""),
        "{out}"
    );
}

#[test]
fn per_object_plugins_never_see_the_cluster() {
    let p = runtime()
        .load(&fixture("hostile"), None, Limits::default())
        .unwrap();
    assert_eq!(p.info().scope, Scope::PerObject);
    let out = p
        .transform(
            DEPLOYMENT,
            Some(&ClusterContext::named("wec-1")),
            r#"{"mode":"cluster"}"#,
        )
        .unwrap();
    assert_eq!(
        json(&out.object)["metadata"]["annotations"]["hostile.test/result"],
        "cluster=None"
    );
    assert!(!out.used_cluster);
}

#[test]
fn summarizer_summarizes_and_its_shape_is_checked() {
    let p = runtime()
        .load(&fixture("echo_summarizer"), None, Limits::default())
        .unwrap();
    assert_eq!(p.world(), PluginKind::Summarizer);
    let reports = vec![
        Report {
            cluster: ClusterContext::named("a"),
            status: Some(r#"{"readyReplicas":2}"#.into()),
            last_update: Some(Timestamp {
                seconds: 1_700_000_000,
                nanoseconds: 5,
            }),
        },
        Report {
            cluster: ClusterContext::named("b"),
            status: None,
            last_update: None,
        },
        Report {
            cluster: ClusterContext::named("c"),
            status: Some("{bad".into()),
            last_update: None,
        },
    ];
    let s = p.summarize(DEPLOYMENT, &reports, "{}").unwrap();
    assert_eq!(s.column_names, ["cluster", "ready", "updated"]);
    assert_eq!(s.rows.len(), 2);
    assert_eq!(
        s.rows[0].columns,
        [
            CellValue::String("a".into()),
            CellValue::Number("2".into()),
            CellValue::Number("1700000000".into())
        ]
    );
    assert_eq!(
        s.rows[1].columns,
        [
            CellValue::String("b".into()),
            CellValue::Null,
            CellValue::Null
        ]
    );
    assert_eq!(s.row_errors.len(), 1);
    assert_eq!(s.row_errors[0].cluster, "c");

    let err = p
        .summarize(DEPLOYMENT, &reports, r#"{"mode":"ragged"}"#)
        .unwrap_err();
    assert!(matches!(err, PluginError::InvalidOutput { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("row 0 has 2 columns but there are 3 column names"),
        "{err}"
    );

    let err = p.transform(DEPLOYMENT, None, "{}").unwrap_err();
    assert!(
        matches!(&err, PluginError::WrongWorld { expected, .. } if expected == "transformer"),
        "{err}"
    );
    // And the transformer cannot summarize.
    let t = runtime()
        .load(&fixture("echo_transformer"), None, Limits::default())
        .unwrap();
    assert!(matches!(
        t.summarize(DEPLOYMENT, &reports, "{}"),
        Err(PluginError::WrongWorld { .. })
    ));
}

#[test]
fn describe_contradicting_the_world_is_rejected_at_load() {
    let err = runtime()
        .load_named(Some("liar.wasm"), &fixture("liar"), None, Limits::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin liar.wasm: expected the transformer world, found describe() declaring a summarizer"
    );
}

#[test]
fn digest_is_verified_before_anything_else() {
    let bytes = fixture("echo_transformer");
    let digest = hex::encode(Sha256::digest(&bytes));
    let rt = runtime();
    rt.load(
        &bytes,
        Some(&format!("sha256:{}", digest.to_uppercase())),
        Limits::default(),
    )
    .unwrap();
    let wrong = "0".repeat(64);
    match rt.load_named(Some("x.wasm"), &bytes, Some(&wrong), Limits::default()) {
        Err(PluginError::DigestMismatch {
            expected,
            actual,
            plugin,
        }) => {
            assert_eq!(
                (expected.as_str(), actual.as_str(), plugin.as_str()),
                (wrong.as_str(), digest.as_str(), "x.wasm")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_components_are_rejected_with_the_reason() {
    let rt = runtime();
    let err = |b: &[u8]| {
        rt.load_named(Some("f"), b, None, Limits::default())
            .unwrap_err()
    };
    assert!(matches!(
        err(b"MZ\x90\0 not wasm"),
        PluginError::NotAComponent { .. }
    ));
    let e = err(b"\0asm\x01\0\0\0");
    assert!(e.to_string().contains("core WebAssembly module"), "{e}");
    // A truncated component passes the header check and fails to compile.
    let bytes = fixture("echo_transformer");
    assert!(matches!(
        err(&bytes[..bytes.len() / 2]),
        PluginError::Compile { .. }
    ));
}

#[test]
fn components_importing_what_the_host_lacks_are_rejected_at_load() {
    let wat = r#"(component
        (import "evil:net/raw@1.0.0" (instance (export "open" (func (result u32)))))
    )"#;
    let err = runtime()
        .load_named(Some("evil.wat"), wat.as_bytes(), None, Limits::default())
        .unwrap_err();
    assert!(matches!(err, PluginError::Link { .. }), "{err}");
    assert!(err.to_string().contains("evil:net/raw@1.0.0"), "{err}");
}

#[test]
fn components_of_another_world_are_rejected_at_load() {
    let err = runtime()
        .load_named(Some("empty.wat"), b"(component)", None, Limits::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin empty.wat: expected the transformer or summarizer world, found a component that does not export kubestellar:plugin/plugin@0.1.0 (exports: none)"
    );
}

#[test]
fn precompiled_cache_hits_and_survives_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().join("cache")),
        ..RuntimeConfig::default()
    };
    let bytes = fixture("echo_transformer");
    let load = || {
        let rt = PluginRuntime::new(config.clone()).unwrap();
        let p = rt.load(&bytes, None, Limits::default()).unwrap();
        p.transform(DEPLOYMENT, None, "{}").unwrap();
        let entry = rt
            .cache()
            .unwrap()
            .path_for(&kubestellar::plugins::engine::shared().unwrap(), p.digest());
        (p.load_stats().cache.clone(), entry)
    };
    let (first, entry) = load();
    assert_eq!(first, CacheOutcome::Miss);
    assert!(entry.is_file());
    assert_eq!(load().0, CacheOutcome::Hit);

    // The artifact is memory-mapped by the instances of the plugins loaded above, which may still
    // be being dropped on the background thread; changing a mapped file in place is undefined
    // (SIGBUS), and the cache itself only ever replaces files. So damaged contents are put in
    // place as a new file.
    let replace = |contents: &[u8]| {
        let tmp = entry.with_extension("damaged");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, &entry).unwrap();
    };

    // Flip one byte of the artifact: detected, recompiled, replaced.
    let mut data = std::fs::read(&entry).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    replace(&data);
    assert_eq!(load().0, CacheOutcome::Corrupt("checksum mismatch".into()));
    assert_eq!(load().0, CacheOutcome::Hit);

    // Truncated entry.
    replace(b"short");
    assert_eq!(
        load().0,
        CacheOutcome::Corrupt("truncated (5 bytes)".into())
    );
    assert_eq!(load().0, CacheOutcome::Hit);
}

#[test]
fn unknown_builtins_are_named() {
    let err = runtime().builtin("builtin:nope").unwrap_err();
    assert!(matches!(err, PluginError::UnknownBuiltin { .. }));
    assert!(
        err.to_string().contains("builtin:transform-default"),
        "{err}"
    );
}

#[test]
fn one_plugin_serves_many_threads() {
    let limits = Limits {
        warm_instances: 2,
        ..Limits::default()
    };
    let p = runtime()
        .load(&fixture("echo_transformer"), None, limits)
        .unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let c = ClusterContext::named(format!("wec-{i}"));
                    let out = p.transform(DEPLOYMENT, Some(&c), "{}").unwrap();
                    assert_eq!(
                        json(&out.object)["metadata"]["labels"]["echo.test/cluster"],
                        format!("wec-{i}")
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(p.idle_instances() <= 2);
}
