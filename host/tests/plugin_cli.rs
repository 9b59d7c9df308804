//! `kubestellar plugin ...` through the real binary: output on success, one-line errors naming
//! the file and exit code 1 on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // In tests a panic is the failure report.

mod plugin_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plugin_support::{DEPLOYMENT, fixture_path, json};
use sha2::{Digest, Sha256};

/// The binary with this test's own default cache (not the user's ~/.cache).
fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubestellar"));
    c.env_remove("KUBESTELLAR_PLUGIN_CACHE")
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cli-cache"),
        )
        .env("RUST_LOG", "warn");
    c
}

fn kubestellar(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = kubestellar(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a failing command; returns its single error line.
fn fails(args: &[&str]) -> String {
    let out = kubestellar(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "nothing but the error line: {stderr}"
    );
    errors[0].to_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// The test Deployment as YAML, the way users keep objects.
    fn deployment_yaml(&self) -> PathBuf {
        let yaml = serde_yaml_ng::to_string(&json(DEPLOYMENT)).unwrap();
        self.write("deploy.yaml", &yaml)
    }
}

#[test]
fn inspect_shows_world_describe_digest_and_size() {
    let echo = fixture_path("echo_transformer");
    let bytes = std::fs::read(&echo).unwrap();
    let digest = hex::encode(Sha256::digest(&bytes));
    let text = ok(&["plugin", "inspect", p(&echo)]);
    for want in [
        "world:     kubestellar:plugin/transformer@0.1.0".to_owned(),
        "name:      echo".to_owned(),
        "version:   1.2.3".to_owned(),
        "scope:     per-cluster".to_owned(),
        format!("sha256:    {digest}"),
        format!("size:      {} bytes", bytes.len()),
        "kubestellar:plugin/transform@0.1.0#transform".to_owned(),
        "kubestellar:plugin/host@0.1.0".to_owned(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    let v = json(&ok(&["plugin", "inspect", p(&echo), "--json"]));
    assert_eq!(v["world"], "transformer");
    assert_eq!(v["name"], "echo");
    assert_eq!(v["sha256"], digest);
    assert_eq!(v["size"], bytes.len());
    assert_eq!(v["configSchema"], serde_json::json!({"type": "object"}));
    assert!(
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "kubestellar:plugin/plugin@0.1.0#describe")
    );
}

/// Without --cache-dir, a loaded plugin is kept precompiled under the user's cache directory
/// (XDG_CACHE_HOME, else ~/.cache), so the next command maps it instead of compiling it.
#[test]
fn plugins_are_kept_precompiled_in_the_user_cache_by_default() {
    let echo = fixture_path("echo_transformer");
    let home = tempfile::tempdir().unwrap();
    let inspect = |env: &[(&str, PathBuf)], extra: &[&str]| {
        let mut c = command();
        c.env_remove("XDG_CACHE_HOME")
            .args(["plugin", "inspect", p(&echo)])
            .args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{extra:?}: {stderr}");
        let load = stdout
            .lines()
            .find(|l| l.starts_with("load:"))
            .unwrap_or_default()
            .to_owned();
        (load, stderr)
    };
    let entries = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let xdg = home.path().join("xdg");
    let env = [
        ("XDG_CACHE_HOME", xdg.clone()),
        ("HOME", home.path().join("home")),
    ];
    let (load, _) = inspect(&env, &[]);
    assert!(load.contains("cache: Miss"), "{load}");
    let (load, _) = inspect(&env, &[]);
    assert!(load.contains("cache: Hit"), "{load}");
    let dir = xdg.join("kubestellar/plugins");
    assert!(
        entries(&dir).iter().any(|e| e.ends_with(".cwasm")),
        "{:?}",
        entries(&dir)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "only the user may write precompiled code"
        );
    }
    assert!(
        !home.path().join("home").exists(),
        "HOME is not used when XDG_CACHE_HOME is set"
    );

    // --no-cache compiles and writes nothing.
    let other = home.path().join("other");
    let (load, _) = inspect(&[("XDG_CACHE_HOME", other.clone())], &["--no-cache"]);
    assert!(load.contains("cache: Disabled"), "{load}");
    assert!(!other.exists());

    // Without XDG_CACHE_HOME: ~/.cache.
    let (load, _) = inspect(&[("HOME", home.path().join("home"))], &[]);
    assert!(load.contains("cache: Miss"), "{load}");
    assert!(!entries(&home.path().join("home/.cache/kubestellar/plugins")).is_empty());

    // A default that cannot be created costs the cache, not the command: one warning naming it.
    let file = home.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (load, stderr) = inspect(&[("XDG_CACHE_HOME", file.clone())], &[]);
    assert!(load.contains("cache: Disabled"), "{load}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("compiling without a cache")
            && stderr.contains(&format!("{}", file.join("kubestellar/plugins").display())),
        "{stderr}"
    );
}

#[test]
fn run_transforms_a_yaml_object_for_a_cluster() {
    let f = Files::new();
    let echo = fixture_path("echo_transformer");
    let deploy = f.deployment_yaml();
    let out = ok(&[
        "plugin",
        "run",
        p(&echo),
        "-f",
        p(&deploy),
        "--cluster",
        "wec1",
        "--label",
        "region=eu",
        "--property",
        "tier=gold",
    ]);
    let v: serde_json::Value = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(v["metadata"]["labels"]["echo.test/cluster"], "wec1");
    assert_eq!(v["metadata"]["labels"]["echo.test/region"], "eu");
    assert_eq!(v["metadata"]["annotations"]["echo.test/tier"], "gold");
    assert_eq!(v["spec"], json(DEPLOYMENT)["spec"]);

    let out = ok(&["plugin", "run", p(&echo), "-f", p(&deploy), "-o", "json"]);
    let v = json(&out);
    assert_eq!(v["metadata"]["annotations"]["echo.test/calls"], "1");
    assert!(v["metadata"]["labels"].get("echo.test/cluster").is_none());
}

#[test]
fn summarize_prints_a_combined_status_results_entry() {
    let f = Files::new();
    let deploy = f.deployment_yaml();
    let reports = f.write(
        "reports.yaml",
        r#"
- cluster: wec1
  status: {readyReplicas: 2}
  lastUpdate: "2025-01-02T03:04:05Z"
- cluster: {name: wec2, labels: {region: eu}}
  status: null
"#,
    );
    let out = ok(&[
        "plugin",
        "summarize",
        p(&fixture_path("echo_summarizer")),
        "-f",
        p(&deploy),
        "--reports",
        p(&reports),
        "--name",
        "ready",
    ]);
    let v: serde_json::Value = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "name": "ready",
            "columnNames": ["cluster", "ready", "updated"],
            "rows": [
                {"columns": [{"type": "String", "string": "wec1"}, {"type": "Number", "float": "2"}, {"type": "Number", "float": "1735787045"}]},
                {"columns": [{"type": "String", "string": "wec2"}, {"type": "Null"}, {"type": "Null"}]},
            ],
        }])
    );
}

#[test]
fn bench_reports_fresh_and_warm_latency() {
    let f = Files::new();
    let out = ok(&[
        "plugin",
        "bench",
        p(&fixture_path("echo_transformer")),
        "-f",
        p(&f.deployment_yaml()),
        "--calls",
        "20",
        "--warm",
        "2",
    ]);
    assert_bench_rows(&out, "warm instances (2)");
}

#[test]
fn bench_measures_a_summarizer_over_reports() {
    let f = Files::new();
    let reports = f.write(
        "reports.yaml",
        "- cluster: wec1\n  status: {readyReplicas: 2}\n- cluster: wec2\n  status: null\n",
    );
    let out = ok(&[
        "plugin",
        "bench",
        p(&fixture_path("echo_summarizer")),
        "-f",
        p(&f.deployment_yaml()),
        "--reports",
        p(&reports),
        "--calls",
        "20",
    ]);
    assert!(
        out.lines().next().unwrap().ends_with(", 2 reports)"),
        "{out}"
    );
    assert_bench_rows(&out, "warm instances (1)");
}

#[test]
fn bench_refuses_arguments_of_the_other_world_before_measuring() {
    let f = Files::new();
    let deploy = f.deployment_yaml();
    let reports = f.write("reports.yaml", "- cluster: wec1\n");
    let summarizer = fixture_path("echo_summarizer");
    let transformer = fixture_path("echo_transformer");
    for (args, expected) in [
        (
            vec![p(&summarizer), "-f", p(&deploy)],
            "is a summarizer: give what the WECs returned with --reports FILE",
        ),
        (
            vec![
                p(&summarizer),
                "-f",
                p(&deploy),
                "--reports",
                p(&reports),
                "--cluster",
                "c1",
            ],
            "is a summarizer: its WECs come from --reports, not --cluster",
        ),
        (
            vec![p(&transformer), "-f", p(&deploy), "--reports", p(&reports)],
            "is a transformer: --reports is for summarizers",
        ),
    ] {
        let args = [&["plugin", "bench"][..], &args].concat();
        let out = kubestellar(&args);
        assert!(out.stdout.is_empty(), "{args:?} printed before failing");
        assert!(fails(&args).contains(expected), "{args:?}");
    }
}

/// Both rows of `plugin bench` output, each with positive p50, p99, mean and calls/s.
fn assert_bench_rows(out: &str, warm_row: &str) {
    assert!(out.contains("p50 µs") && out.contains("calls/s"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("fresh instance") || l.starts_with(warm_row))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let numbers: Vec<f64> = row
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(
            numbers.len() >= 4 && numbers.iter().all(|n| *n > 0.0),
            "{row}"
        );
    }
}

#[test]
fn output_into_a_closed_pipe_ends_the_command_quietly() {
    // `kubestellar plugin inspect ... | head -0`: the reader is gone before anything is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_kubestellar"))
        .args(["plugin", "inspect", "builtin:transform-default"])
        .env_remove("KUBESTELLAR_PLUGIN_CACHE")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn a_file_that_is_not_a_component_is_a_one_line_error() {
    let f = Files::new();
    let junk = f.write("junk.wasm", "definitely not wasm");
    let err = fails(&["plugin", "inspect", p(&junk)]);
    assert_eq!(
        err,
        format!(
            "error: plugin {}: not a WebAssembly component: the file does not start with the WebAssembly magic number",
            p(&junk)
        )
    );
}

#[test]
fn wrong_world_is_a_one_line_error() {
    let f = Files::new();
    let summarizer = fixture_path("echo_summarizer");
    let err = fails(&[
        "plugin",
        "run",
        p(&summarizer),
        "-f",
        p(&f.deployment_yaml()),
    ]);
    assert_eq!(
        err,
        format!(
            "error: plugin {}: expected the transformer world, found the summarizer world",
            p(&summarizer)
        )
    );
}

#[test]
fn digest_mismatch_is_a_one_line_error() {
    let echo = fixture_path("echo_transformer");
    let err = fails(&["plugin", "inspect", p(&echo), "--sha256", &"ab".repeat(32)]);
    assert!(
        err.starts_with(&format!(
            "error: plugin {}: sha256 mismatch: expected abab",
            p(&echo)
        )),
        "{err}"
    );
    let digest = hex::encode(Sha256::digest(std::fs::read(&echo).unwrap()));
    ok(&[
        "plugin",
        "inspect",
        p(&echo),
        "--sha256",
        &format!("sha256:{digest}"),
    ]);
}

#[test]
fn failing_config_validation_is_a_one_line_error() {
    let f = Files::new();
    let echo = fixture_path("echo_transformer");
    let config = f.write("cfg.yaml", "reject: 1\n");
    let err = fails(&[
        "plugin",
        "run",
        p(&echo),
        "-f",
        p(&f.deployment_yaml()),
        "--config",
        p(&config),
    ]);
    assert_eq!(
        err,
        format!(
            "error: plugin {}: invalid configuration: reject: rejected: 1",
            p(&echo)
        )
    );
}

#[test]
fn plugin_errors_and_bad_arguments_are_one_line_errors() {
    let f = Files::new();
    let deploy = f.deployment_yaml();
    let echo = fixture_path("echo_transformer");
    let config = f.write("cfg.json", r#"{"fail": "not today"}"#);
    let err = fails(&[
        "plugin",
        "run",
        p(&echo),
        "-f",
        p(&deploy),
        "--config",
        p(&config),
    ]);
    assert_eq!(err, format!("error: plugin {}: not today", p(&echo)));

    let missing = f.dir.path().join("missing.wasm");
    let err = fails(&["plugin", "inspect", p(&missing)]);
    assert!(
        err.starts_with(&format!("error: cannot read plugin {}: ", p(&missing))),
        "{err}"
    );

    let err = fails(&["plugin", "inspect", "builtin:nope"]);
    assert!(
        err.starts_with("error: no built-in plugin \"builtin:nope\""),
        "{err}"
    );

    let err = fails(&[
        "plugin",
        "run",
        p(&echo),
        "-f",
        p(&deploy),
        "--label",
        "a=b",
    ]);
    assert!(err.contains("--cluster"), "{err}");

    let bad_reports = f.write("reports.yaml", "- cluster: wec1\n  lastUpdate: yesterday\n");
    let err = fails(&[
        "plugin",
        "summarize",
        p(&fixture_path("echo_summarizer")),
        "-f",
        p(&deploy),
        "--reports",
        p(&bad_reports),
    ]);
    assert!(
        err.contains("entry 0") && err.contains("not RFC 3339"),
        "{err}"
    );
}
