//! Distributing plugins: `kubestellar plugin push` to a real OCI registry (Debian's
//! `docker-registry`, started on a loopback port), a WasmPlugin with `oci://127.0.0.1:PORT/...`
//! and one with an `http://127.0.0.1` URL (plain HTTP is accepted for loopback hosts only; the
//! sha256 pin is what guarantees integrity), all in the embedded system. Bad sources (wrong
//! digest, unreachable registry, an artifact without a wasm layer, a module exporting no plugin
//! world, plain HTTP to a remote host) each get a clear condition on their own WasmPlugin, and
//! the good plugins keep working.

mod plugin_lang_support;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plugin_lang_support::{Running, example, kubestellar_ok, sha256_of, wait_ready_reason};
use support::eventually;

const T: Duration = Duration::from_secs(60);
const REGISTRY: &str = "/usr/bin/docker-registry";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A real OCI registry (Debian's docker-registry) on a loopback port, stopped on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "{REGISTRY} is missing: these tests need a real OCI registry (apt-get install -y docker-registry)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                    dir.path().join("data").display()
                ),
            )
            .expect("registry config");
            let mut child = Command::new(REGISTRY)
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry starts");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if http_get(port, "/v2/").is_some_and(|(status, _)| status == 200) {
                    return Registry {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    fn reference(&self, repo: &str) -> String {
        format!("oci://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 GET: (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| buf[i + 4..].to_vec())?;
    Some((status, body))
}

/// Serves `files` (path -> bytes) over plain HTTP on a loopback port, for the test's lifetime.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let mut out = &stream;
            let _ = match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => out
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| out.write_all(body)),
                None => out.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    port
}

/// Pushes an image whose only layer is a tarball, not a wasm module.
fn push_non_wasm(port: u16, repo: &str) {
    let reference: oci_client::Reference = format!("127.0.0.1:{port}/{repo}").parse().expect("ref");
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let layers = vec![oci_client::client::ImageLayer::oci_v1(
        b"not a wasm module".to_vec(),
        None,
    )];
    let config = oci_client::client::Config::oci_v1(b"{}".to_vec(), None);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(client.push(
        &reference,
        &layers,
        config,
        &oci_client::secrets::RegistryAuth::Anonymous,
        None,
    ))
    .expect("push the non-wasm image");
}

fn wasm_plugin(name: &str, source: &str, sha256: &str) -> String {
    format!(
        "apiVersion: control.kubestellar.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: {name}}}\nspec: {{source: \"{source}\", sha256: \"{sha256}\"}}\n"
    )
}

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: dist, labels: {app: dist}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: dist, labels: {app: dist}}
data: {static: "x"}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata: {name: from-registry}
spec:
  apiGroup: ""
  resource: configmaps
  plugins:
  - name: cluster-config
    config: {values: {endpoint: clusterURL}}
  - name: cluster-config-http
    config: {values: {zone: "label:region"}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: dist}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync:
  - objectSelectors: [{matchLabels: {app: dist}}]
"#;

fn data(k: &support::Kubectl, key: &str) -> Option<String> {
    k.jsonpath(
        &["get", "configmap", "settings", "-n", "dist"],
        &format!("{{.data.{key}}}"),
    )
    .filter(|s| !s.is_empty())
}

#[test]
fn oci_and_https_sources_with_bad_inputs_isolated() {
    let module: PathBuf = example("cluster-config");
    let digest = sha256_of(&module);
    let registry = Registry::start();

    // Publish: the printed WasmPlugin is pinned to the module's sha256.
    let reference = registry.reference("plugins/cluster-config:v1");
    let manifest = kubestellar_ok(&[
        "plugin",
        "push",
        module.to_str().unwrap_or_default(),
        &reference,
    ]);
    assert!(
        manifest.contains(&format!("sha256: {digest}")),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("source: {reference}")),
        "{manifest}"
    );
    assert!(manifest.contains("name: cluster-config"), "{manifest}");

    let sys = Running::start();
    let wds = sys.kubectl("wds1");
    wds.apply(&manifest);
    let msg = wait_ready_reason(&wds, "cluster-config", "Loaded");
    assert!(msg.starts_with("transformer cluster-config"), "{msg}");
    let status = plugin_lang_support::get(&wds, &["wasmplugin", "cluster-config"])
        .map(|w| w["status"].clone())
        .unwrap_or_default();
    assert_eq!(status["digest"], format!("sha256:{digest}"));

    // The same module over plain HTTP from a loopback server.
    let bytes = std::fs::read(&module).expect("module");
    let port = serve(vec![
        ("/cluster-config.wasm", bytes),
        ("/empty-component.wat", b"(component)".to_vec()),
    ]);
    wds.apply(&wasm_plugin(
        "cluster-config-http",
        &format!("http://127.0.0.1:{port}/cluster-config.wasm"),
        &digest,
    ));
    wait_ready_reason(&wds, "cluster-config-http", "Loaded");

    // Both run in a CustomTransform.
    wds.apply(WORKLOAD);
    for (wec, url, zone) in [
        ("cluster1", "https://my.clusters/1001-abcd", "east"),
        ("cluster2", "https://my.clusters/2002-cdef", "west"),
    ] {
        let k = sys.kubectl(wec);
        eventually(T, &format!("values in {wec}"), || {
            (data(&k, "endpoint")? == url && data(&k, "zone")? == zone).then_some(())
        });
    }

    // Bad inputs, each reported on its own WasmPlugin.
    push_non_wasm(registry.port, "plugins/not-wasm:v1");
    let other = "0".repeat(64);
    let closed = free_port();
    let empty_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"(component)"))
    };
    for yaml in [
        wasm_plugin("wrong-digest", &reference, &other),
        // Not a digest already downloaded (those load from the cache, registry or not).
        wasm_plugin(
            "unreachable",
            &format!("oci://127.0.0.1:{closed}/plugins/cluster-config:v1"),
            &"1".repeat(64),
        ),
        // Pinned to a digest no other source has brought in: modules are kept by digest, and
        // one already there is used without fetching (its content is what the pin names).
        wasm_plugin(
            "not-wasm",
            &registry.reference("plugins/not-wasm:v1"),
            &"1".repeat(64),
        ),
        wasm_plugin(
            "no-plugin-world",
            &format!("http://127.0.0.1:{port}/empty-component.wat"),
            &empty_sha,
        ),
        wasm_plugin("remote-http", "http://plugins.example.com/p.wasm", &digest),
        format!(
            "apiVersion: control.kubestellar.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: unpinned}}\nspec: {{source: \"{reference}\"}}\n"
        ),
    ] {
        wds.apply(&yaml);
    }
    let m = wait_ready_reason(&wds, "wrong-digest", "DigestMismatch");
    assert!(
        m.contains(&format!("sha256 mismatch: expected {other}, got {digest}")),
        "{m}"
    );
    let m = wait_ready_reason(&wds, "unreachable", "FetchFailed");
    assert!(
        m.starts_with(&format!("cannot fetch oci://127.0.0.1:{closed}/")),
        "{m}"
    );
    let m = wait_ready_reason(&wds, "not-wasm", "NotAWasmArtifact");
    assert!(
        m.contains("has no WebAssembly layer (application/wasm)")
            && m.contains("application/vnd.oci.image.layer.v1.tar"),
        "{m}"
    );
    let m = wait_ready_reason(&wds, "no-plugin-world", "LoadFailed");
    assert!(
        m.contains("expected the transformer or summarizer world"),
        "{m}"
    );
    let m = wait_ready_reason(&wds, "remote-http", "InvalidSpec");
    assert!(
        m.contains("plain http:// is accepted only for loopback hosts"),
        "{m}"
    );
    let m = wait_ready_reason(&wds, "unpinned", "InvalidSpec");
    assert!(m.contains("spec.sha256 is required"), "{m}");
    // More memory than a pool slot holds is refused by the API, not silently capped.
    let (ok, _, err) = wds.run(
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: control.kubestellar.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: greedy}}\nspec: {{source: \"{reference}\", sha256: \"{digest}\", limits: {{memoryMebibytes: 1024}}}}\n"
        )),
    );
    assert!(
        !ok && err.contains("spec.limits.memoryMebibytes")
            && err.contains("should be less than or equal to 512"),
        "{err}"
    );

    // The good plugins keep working: a change still goes through both.
    wds.ok(&["label", "configmap", "settings", "-n", "dist", "rev=2"]);
    let c2 = sys.kubectl("cluster2");
    eventually(T, "re-delivered with both plugins", || {
        (c2.jsonpath(
            &["get", "configmap", "settings", "-n", "dist"],
            "{.metadata.labels.rev}",
        )? == "2"
            && data(&c2, "endpoint")? == "https://my.clusters/2002-cdef"
            && data(&c2, "zone")? == "west")
            .then_some(())
    });
    assert_eq!(
        plugin_lang_support::ready(&wds, "cluster-config").map(|r| r.0),
        Some("True".into())
    );

    // Downloads are cached by digest: the registry going away does not matter to a restart.
    drop(registry);
    let cached = sys
        .dir
        .path()
        .join("plugin-cache/modules")
        .join(format!("sha256-{digest}.wasm"));
    assert!(cached.exists(), "{} cached", cached.display());
}
