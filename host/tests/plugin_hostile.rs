//! Hostile plugins, in obeyed/violated pairs: each misbehaviour yields its own error within
//! twice the deadline, and afterwards a good plugin (and the hostile one, behaving) still works.
#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod plugin_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubestellar::plugins::{LoadedPlugin, OUTPUT_CAP, PluginError, PluginRuntime};
use plugin_support::{DEPLOYMENT, fixture, json, tight};

struct Setup {
    _rt: PluginRuntime,
    hostile: Arc<LoadedPlugin>,
    good: Arc<LoadedPlugin>,
}

fn setup() -> Setup {
    let rt = plugin_support::runtime();
    let hostile = rt
        .load_named(Some("hostile.wasm"), &fixture("hostile"), None, tight())
        .unwrap();
    let good = rt
        .load(&fixture("echo_transformer"), None, tight())
        .unwrap();
    Setup {
        _rt: rt,
        hostile,
        good,
    }
}

/// Runs `mode`, checks it took less than twice the deadline, then checks the host is healthy.
fn misbehave(s: &Setup, config: &str) -> PluginError {
    let started = Instant::now();
    let result = s.hostile.transform(DEPLOYMENT, None, config);
    let elapsed = started.elapsed();
    let limit = tight().timeout * 2;
    assert!(
        elapsed < limit,
        "{config}: took {elapsed:?}, more than {limit:?}"
    );
    let err = match result {
        Ok(out) => panic!("{config}: expected an error, got {}", out.object),
        Err(e) => e,
    };
    // The host is unharmed: a good plugin works, and so does the hostile one when it behaves.
    s.good
        .transform(DEPLOYMENT, None, "{}")
        .expect("good plugin after a hostile call");
    s.hostile
        .transform(DEPLOYMENT, None, r#"{"mode":"cluster"}"#)
        .expect("hostile plugin behaving");
    err
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"loop"}"#);
    assert!(
        matches!(err, PluginError::Deadline { after, .. } if after == tight().timeout),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin hostile.wasm: deadline of 250ms exceeded"
    );
}

#[test]
fn loop_within_a_longer_deadline_is_still_stopped_but_fast_calls_are_not() {
    // Obeyed: a normal call under the same deadline finishes.
    let s = setup();
    let started = Instant::now();
    s.hostile
        .transform(DEPLOYMENT, None, r#"{"mode":"cluster"}"#)
        .unwrap();
    assert!(started.elapsed() < tight().timeout);
}

#[test]
fn huge_allocation_hits_the_memory_limit() {
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"alloc"}"#);
    assert!(
        matches!(err, PluginError::MemoryLimit { limit_bytes, .. } if limit_bytes == 64 << 20),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin hostile.wasm: memory limit of 67108864 bytes exceeded"
    );
}

#[test]
fn allocation_within_the_limit_succeeds() {
    // Obeyed: the same 1 GiB allocation is refused by the engine-wide 512 MiB cap, so use a
    // raised per-plugin cap only to show the limit is what stops it.
    let rt = plugin_support::runtime();
    let roomy = kubestellar::plugins::Limits {
        memory_bytes: 2 << 30,
        ..tight()
    };
    let p = rt.load(&fixture("hostile"), None, roomy).unwrap();
    let err = p
        .transform(DEPLOYMENT, None, r#"{"mode":"alloc"}"#)
        .unwrap_err();
    // Clamped to the engine maximum (512 MiB), still a clean memory-limit error.
    assert!(
        matches!(err, PluginError::MemoryLimit { limit_bytes, .. } if limit_bytes == 512 << 20),
        "{err}"
    );
}

#[test]
fn panic_is_a_trap_with_its_stderr() {
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"panic"}"#);
    match &err {
        PluginError::Trap {
            message, stderr, ..
        } => {
            assert!(message.contains("unreachable"), "{message}");
            assert!(
                stderr.contains("hostile plugin panicked on purpose"),
                "{stderr}"
            );
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.contains("hostile plugin panicked on purpose"),
        "{text}"
    );
}

#[test]
fn garbage_output_is_invalid_output() {
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"garbage"}"#);
    assert!(matches!(err, PluginError::InvalidOutput { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("plugin hostile.wasm: invalid output: output is not JSON"),
        "{err}"
    );
}

#[test]
fn renaming_the_object_is_invalid_output() {
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"rename"}"#);
    assert_eq!(
        err.to_string(),
        r#"plugin hostile.wasm: invalid output: metadata.name changed from "web" to "hijacked""#
    );
}

#[test]
fn the_host_filesystem_is_invisible() {
    // Violated pair: the file exists for the host ...
    assert!(std::fs::read_to_string("/etc/passwd").is_ok_and(|t| !t.is_empty()));
    // ... but not for the plugin (no preopens).
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"read-file"}"#);
    assert!(matches!(err, PluginError::PluginReported { .. }), "{err}");
    assert!(err.to_string().contains("cannot read /etc/passwd"), "{err}");
}

#[test]
fn environment_and_arguments_are_empty() {
    assert!(
        std::env::var_os("PATH").is_some(),
        "the host has an environment"
    );
    let s = setup();
    let out = s
        .hostile
        .transform(DEPLOYMENT, None, r#"{"mode":"env"}"#)
        .unwrap();
    assert_eq!(
        json(&out.object)["metadata"]["annotations"]["hostile.test/result"],
        "env=[] args=[]"
    );
}

#[test]
fn the_network_is_unreachable() {
    // Violated pair: the host can connect to this listener, the plugin cannot.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let s = setup();
    let err = misbehave(&s, &format!(r#"{{"mode":"socket","port":{port}}}"#));
    assert!(matches!(err, PluginError::PluginReported { .. }), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

#[test]
fn stderr_flood_is_capped() {
    let s = setup();
    let err = misbehave(&s, r#"{"mode":"stderr-flood"}"#);
    match &err {
        PluginError::Trap { stderr, .. } => {
            assert!(stderr.len() <= OUTPUT_CAP, "{} bytes", stderr.len());
            assert!(
                stderr.starts_with("flood line 0\n"),
                "{}",
                &stderr[..40.min(stderr.len())]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().len() < 1000,
        "the one-line message stays short"
    );
}

#[test]
fn log_flood_is_rate_limited() {
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
    let s = setup();
    let cap = Capture::default();
    let writer = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, || {
        s.hostile
            .transform(DEPLOYMENT, None, r#"{"mode":"log-flood"}"#)
            .unwrap()
    });
    assert_eq!(
        json(&out.object)["metadata"]["annotations"]["hostile.test/result"],
        "flooded"
    );
    let logged = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    let lines = logged.lines().filter(|l| l.contains("log flood")).count();
    // 10,000 attempted; the burst (100) plus what refilled during the call got through.
    assert!((100..1000).contains(&lines), "{lines} lines logged");
}

#[test]
fn a_trapped_warm_instance_is_replaced() {
    let rt = plugin_support::runtime();
    let limits = kubestellar::plugins::Limits {
        warm_instances: 1,
        ..tight()
    };
    let p = rt.load(&fixture("hostile"), None, limits).unwrap();
    assert_eq!(p.idle_instances(), 1);
    assert!(matches!(
        p.transform(DEPLOYMENT, None, r#"{"mode":"panic"}"#),
        Err(PluginError::Trap { .. })
    ));
    assert_eq!(p.idle_instances(), 0, "the trapped instance is gone");
    p.transform(DEPLOYMENT, None, r#"{"mode":"cluster"}"#)
        .unwrap();
    assert_eq!(p.idle_instances(), 1);
    assert!(matches!(
        p.transform(DEPLOYMENT, None, r#"{"mode":"loop"}"#),
        Err(PluginError::Deadline { .. })
    ));
    p.transform(DEPLOYMENT, None, r#"{"mode":"cluster"}"#)
        .unwrap();
}

#[test]
fn deadline_is_respected_for_a_range_of_timeouts() {
    let rt = plugin_support::runtime();
    for ms in [30u64, 100, 400] {
        let limits = kubestellar::plugins::Limits {
            timeout: Duration::from_millis(ms),
            ..tight()
        };
        let p = rt.load(&fixture("hostile"), None, limits).unwrap();
        let started = Instant::now();
        let err = p
            .transform(DEPLOYMENT, None, r#"{"mode":"loop"}"#)
            .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, PluginError::Deadline { .. }), "{err}");
        assert!(
            took >= Duration::from_millis(ms),
            "{ms} ms deadline fired after {took:?}"
        );
        assert!(
            took < Duration::from_millis(2 * ms).max(Duration::from_millis(60)),
            "{ms} ms deadline fired after {took:?}"
        );
    }
}
