//! Plugins in any language, end to end: the example plugins are built from source with their
//! real toolchains (Python: componentize-py, JavaScript: jco/QuickJS, Rust: cargo) and run in the
//! embedded system (`kubestellar up`'s `System`) from a CustomTransform or a StatusCollector.
//! Also: warm instances and the precompiled cache for an interpreter plugin, and projects made
//! by `kubestellar plugin new` pass their own tests and build.

mod plugin_lang_support;
mod support;

use std::time::Duration;

use kubestellar::plugins::{ClusterContext, Limits, PluginError};
use plugin_lang_support::{
    Running, example, get, kubestellar_ok, load, sha256_of, wait_ready_reason,
};
use serde_json::{Value, json};
use support::{consistently, eventually};

const T: Duration = Duration::from_secs(60);

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {app: web}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: shop, labels: {app: web}}
data: {static: "same everywhere"}
"#;

const TRANSFORMS: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata: {name: region-limits}
spec:
  apiGroup: apps
  resource: deployments
  plugins:
  - name: region-limits
    config: {defaultMemory: 256Mi}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata: {name: cluster-config}
spec:
  apiGroup: ""
  resource: configmaps
  plugins:
  - name: cluster-config
    config: {values: {endpoint: clusterURL, zone: "label:region"}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: replica-health}
spec:
  plugin: {name: replica-health}
  limit: 20
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: web}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync:
  - objectSelectors: [{matchLabels: {app: web}}]
    statusCollectors: [replica-health]
"#;

fn file_plugin(name: &str, path: &std::path::Path, warm: u32) -> String {
    format!(
        "apiVersion: control.kubestellar.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: {name}}}\n\
         spec:\n  source: \"file://{}\"\n  sha256: \"{}\"\n  limits: {{warmInstances: {warm}, timeoutMilliseconds: 5000}}\n",
        path.display(),
        sha256_of(path)
    )
}

fn jsonpath(k: &support::Kubectl, args: &[&str], path: &str) -> Option<String> {
    k.jsonpath(args, path).filter(|s| !s.is_empty())
}

fn cells(row: &Value) -> Vec<Value> {
    row["columns"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| match c["type"].as_str() {
            Some("String") => c["string"].clone(),
            Some("Number") => c["float"].clone(),
            _ => Value::Null,
        })
        .collect()
}

/// The three examples, one System: a Python transformer (region label and memory limits from
/// the WEC's labels and properties), a Rust transformer (ConfigMap values from properties) and
/// a JavaScript summarizer (ready vs desired per WEC, overall health). Then the Python plugin
/// raises for a bad property: the error shows on the CustomTransform, the other WEC and the
/// other plugins keep working.
#[test]
fn example_plugins_in_three_languages() {
    let py = example("region-limits-py");
    let js = example("replica-health-js");
    let rs = example("cluster-config");
    // Compile once into the shared cache (Python: 7-14 s) before the controller needs them.
    for p in [&py, &js, &rs] {
        load(p, Limits::default());
    }
    let sys = Running::start();
    let (wds, its) = (sys.kubectl("wds1"), sys.kubectl("its1"));
    its.ok(&[
        "patch",
        "configmap",
        "cluster1",
        "-n",
        "customization-properties",
        "--type=merge",
        "-p",
        r#"{"data":{"memoryLimit":"512Mi"}}"#,
    ]);
    wds.apply(&file_plugin("region-limits", &py, 2));
    wds.apply(&file_plugin("replica-health", &js, 1));
    // The Rust one is small enough for a ConfigMap: `plugin install`, as a user would.
    let kc = sys.kubeconfig.display().to_string();
    let out = kubestellar_ok(&[
        "plugin",
        "install",
        rs.to_str().unwrap_or_default(),
        "--name",
        "cluster-config",
        "--context",
        "wds1",
        "--kubeconfig",
        &kc,
    ]);
    assert!(out.contains("wasmplugin/cluster-config installed"), "{out}");
    for name in ["region-limits", "replica-health", "cluster-config"] {
        let msg = wait_ready_reason(&wds, name, "Loaded");
        assert!(msg.contains(name), "{msg}");
    }
    let py_status =
        get(&wds, &["wasmplugin", "region-limits"]).unwrap_or_default()["status"].clone();
    assert_eq!(py_status["kind"], "transformer");
    assert_eq!(py_status["scope"], "per-cluster");
    assert_eq!(py_status["digest"], format!("sha256:{}", sha256_of(&py)));

    wds.apply(WORKLOAD);
    wds.apply(TRANSFORMS);
    let c1 = sys.kubectl("cluster1");
    let c2 = sys.kubectl("cluster2");
    let deploy = ["get", "deploy", "web", "-n", "shop"];
    let memory = "{.spec.template.spec.containers[0].resources.limits.memory}";
    for (wec, region, mem) in [(&c1, "east", "512Mi"), (&c2, "west", "256Mi")] {
        eventually(T, &format!("Python transform in {region}"), || {
            (jsonpath(wec, &deploy, "{.metadata.labels.region}")? == region
                && jsonpath(wec, &deploy, memory)? == mem)
                .then_some(())
        });
    }
    let cm = ["get", "configmap", "app-config", "-n", "shop"];
    for (wec, url, zone) in [
        (&c1, "https://my.clusters/1001-abcd", "east"),
        (&c2, "https://my.clusters/2002-cdef", "west"),
    ] {
        eventually(T, &format!("Rust transform in {zone}"), || {
            (jsonpath(wec, &cm, "{.data.endpoint}")? == url
                && jsonpath(wec, &cm, "{.data.zone}")? == zone
                && jsonpath(wec, &cm, "{.data.static}")? == "same everywhere")
                .then_some(())
        });
    }

    // The JavaScript summarizer's CombinedStatus.
    let uid = |args: &[&str]| jsonpath(&wds, args, "{.metadata.uid}");
    let name = eventually(T, "uids", || {
        Some(format!(
            "{}.{}",
            uid(&["get", "deploy", "web", "-n", "shop"])?,
            uid(&["get", "bindingpolicy", "web"])?
        ))
    });
    let result = eventually(T, "replica-health result, all Healthy", || {
        let cs = get(&wds, &["combinedstatus", &name, "-n", "shop"])?;
        let r = cs["results"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "replica-health")?
            .clone();
        let last = r["rows"].as_array()?.last().map(cells)?;
        (last == vec![json!("(all)"), json!("4"), json!("4"), json!("Healthy")]).then_some(r)
    });
    assert_eq!(
        result["columnNames"],
        json!(["cluster", "ready", "desired", "health"])
    );
    let rows: Vec<Vec<Value>> = result["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(cells)
        .collect();
    assert_eq!(
        rows[..2],
        [
            vec![json!("cluster1"), json!("2"), json!("2"), json!("Healthy")],
            vec![json!("cluster2"), json!("2"), json!("2"), json!("Healthy")],
        ]
    );

    // The Python plugin raises (Err) for a bad property of cluster2: a clear error on the
    // CustomTransform; cluster1's delivery and the other plugins are unaffected.
    its.ok(&[
        "patch",
        "configmap",
        "cluster2",
        "-n",
        "customization-properties",
        "--type=merge",
        "-p",
        r#"{"data":{"memoryLimit":"lots"}}"#,
    ]);
    let errors = eventually(T, "the plugin's error on the CustomTransform", || {
        let ct = get(&wds, &["customtransform", "region-limits"])?;
        let e: Vec<String> = serde_json::from_value(ct["status"]["errors"].clone()).ok()?;
        (!e.is_empty()).then_some(e)
    });
    assert!(
        errors.iter().any(|e| e.contains("CustomTransform region-limits: plugin file://")
            && e.ends_with(
                "region-limits-py.wasm: WEC cluster2: property memoryLimit 'lots' is not a Kubernetes quantity"
            )),
        "{errors:?}"
    );
    wds.ok(&["label", "configmap", "app-config", "-n", "shop", "rev=2"]);
    eventually(T, "other plugins still run", || {
        (jsonpath(&c2, &cm, "{.metadata.labels.rev}")? == "2").then_some(())
    });
    consistently(
        Duration::from_secs(1),
        "cluster1 keeps its delivery",
        || {
            jsonpath(&c1, &deploy, memory).as_deref() == Some("512Mi")
                && jsonpath(&c2, &deploy, memory).as_deref() == Some("256Mi")
        },
    );
    assert_eq!(
        super_ready(&wds, "region-limits"),
        Some("True".to_string()),
        "a plugin error is not a load failure"
    );
}

fn super_ready(wds: &support::Kubectl, name: &str) -> Option<String> {
    plugin_lang_support::ready(wds, name).map(|r| r.0)
}

/// An interpreter plugin with warm instances: calls succeed on reused instances, an error
/// discards one, a trap (a Python exception that is not `Err`) is reported with its traceback,
/// and a second load takes the precompiled component from the cache instead of compiling.
#[test]
fn python_warm_instances_errors_and_precompiled_cache() {
    let py = example("region-limits-py");
    let limits = Limits {
        warm_instances: 1,
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    load(&py, limits); // compiled into the cache (or already there)
    let p = load(&py, limits);
    assert_eq!(
        p.load_stats().cache,
        kubestellar::plugins::cache::CacheOutcome::Hit,
        "the second load uses the precompiled component"
    );
    assert!(
        p.load_stats().compile < Duration::from_secs(2),
        "{:?}",
        p.load_stats()
    );

    let obj = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},"spec":{"template":{"spec":{"containers":[{"name":"web"}]}}}}"#;
    let east = ClusterContext::named("cluster1")
        .with_label("region", "east")
        .with_property("memoryLimit", "1Gi");
    for _ in 0..3 {
        let out = p
            .transform(obj, Some(&east), "{}")
            .map_err(|e| e.to_string());
        assert!(
            out.as_ref()
                .is_ok_and(|o| o.object.contains(r#""memory":"1Gi""#)),
            "{out:?}"
        );
    }

    // A plugin-reported error (raise Err): one clean line; the instance is discarded.
    let bad = ClusterContext::named("cluster2").with_property("cpuLimit", "fast");
    let err = p.transform(obj, Some(&bad), "{}").err();
    assert!(
        matches!(&err, Some(PluginError::PluginReported { message, .. })
            if message == "WEC cluster2: property cpuLimit 'fast' is not a Kubernetes quantity"),
        "{err:?}"
    );
    // A Python exception that is not Err (containers is not a list: TypeError) traps; the
    // host reports it with the traceback, then carries on with a fresh instance.
    let odd = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":{"a":1}}}}}"#;
    let err = p.transform(odd, Some(&east), "{}").err();
    assert!(matches!(err, Some(PluginError::Trap { .. })), "{err:?}");
    let text = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(
        text.contains("trapped") && text.contains("TypeError"),
        "{text}"
    );
    let good = p.transform(obj, Some(&east), "{}");
    assert!(good.is_ok(), "{good:?}");
}

/// `kubestellar plugin new` for each language and kind: the project's own test passes with the
/// language's usual runner, and `kubestellar plugin build` makes a loadable component.
#[test]
fn scaffolded_projects_test_and_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "py-t",
            "python",
            "transformer",
            vec!["python3", "-m", "unittest", "-q"],
        ),
        (
            "py-s",
            "python",
            "summarizer",
            vec!["python3", "-m", "unittest", "-q"],
        ),
        (
            "js-t",
            "js",
            "transformer",
            vec!["node", "--import", "./testing/register.mjs", "--test"],
        ),
        (
            "js-s",
            "js",
            "summarizer",
            vec!["node", "--import", "./testing/register.mjs", "--test"],
        ),
        ("rs-t", "rust", "transformer", vec!["cargo", "test", "-q"]),
    ];
    // Rust projects share one target directory (wit-bindgen and serde compile once).
    let rust_target = plugin_lang_support::repo().join("target/plugin-scaffolds");
    for (name, lang, kind, test) in cases {
        let project = dir.path().join(name);
        let out = kubestellar_ok(&[
            "plugin",
            "new",
            name,
            "--lang",
            lang,
            "--kind",
            kind,
            "--dir",
            project.to_str().unwrap_or_default(),
        ]);
        assert!(out.contains("kubestellar plugin build"), "{out}");
        let status = std::process::Command::new(test[0])
            .args(&test[1..])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &rust_target)
            .env_remove("RUSTFLAGS")
            .status()
            .unwrap_or_else(|e| panic!("{} is needed to test {lang} plugins: {e}", test[0]));
        assert!(status.success(), "{name}: the scaffold's own test fails");
        let built = kubestellar()
            .args(["plugin", "build"])
            .arg(&project)
            .env("CARGO_TARGET_DIR", &rust_target)
            .output()
            .expect("kubestellar runs");
        let stdout = String::from_utf8_lossy(&built.stdout);
        assert!(
            built.status.success(),
            "{name}: build failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        assert!(stdout.contains(&format!("{kind} {name} 0.1.0")), "{stdout}");
        assert!(project.join(format!("{name}.wasm")).exists());
    }
}

/// The JavaScript engine the SDK documents as the alternative to QuickJS builds a plugin that
/// runs (componentize-js resolves its WASI shim from the SDK's own dependencies).
#[test]
fn a_starlingmonkey_project_builds_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("js-sm");
    kubestellar_ok(&[
        "plugin",
        "new",
        "js-sm",
        "--lang",
        "js",
        "--kind",
        "transformer",
        "--dir",
        project.to_str().unwrap_or_default(),
    ]);
    let manifest = project.join("kubestellar-plugin.json");
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("manifest")).expect("json");
    m["engine"] = json!("starlingmonkey");
    std::fs::write(&manifest, m.to_string()).expect("manifest written");
    kubestellar_ok(&["plugin", "build", project.to_str().unwrap_or_default()]);
    let object = dir.path().join("cm.json");
    std::fs::write(
        &object,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"}}"#,
    )
    .expect("object written");
    let wasm = project.join("js-sm.wasm");
    let out = kubestellar_ok(&[
        "plugin",
        "run",
        wasm.to_str().unwrap_or_default(),
        "-f",
        object.to_str().unwrap_or_default(),
        "--cluster",
        "wec1",
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(v["metadata"]["name"], "c", "{out}");
}

fn kubestellar() -> std::process::Command {
    plugin_lang_support::kubestellar()
}

/// The examples' own native tests pass with their languages' test runners.
#[test]
fn example_native_tests_pass() {
    let root = plugin_lang_support::repo().join("examples/plugins");
    for (dir, cmd) in [
        ("region-limits-py", vec!["python3", "-m", "unittest", "-q"]),
        (
            "replica-health-js",
            vec![
                "node",
                "--import",
                "../../../sdk/js/testing/register.mjs",
                "--test",
            ],
        ),
    ] {
        let out = std::process::Command::new(cmd[0])
            .args(&cmd[1..])
            .current_dir(root.join(dir))
            .output()
            .unwrap_or_else(|e| panic!("{} is needed for the {dir} tests: {e}", cmd[0]));
        assert!(
            out.status.success(),
            "{dir}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
