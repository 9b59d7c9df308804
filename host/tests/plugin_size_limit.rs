//! Issue 9's distribution checks that plugin_distribution.rs does not already make: a remote
//! module over the size limit (128 MiB) is refused, whether the server announces its length or
//! streams it without one, with a clear condition on the WasmPlugin and an error on the
//! CustomTransform that names it. (Unpinned and wrongly pinned remote sources are covered by
//! plugin_distribution.rs: `InvalidSpec` "spec.sha256 is required" and `DigestMismatch`.)

mod plugin_lang_support;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use kubestellar::controller::fetch::DEFAULT_MAX_BYTES;
use plugin_lang_support::{Running, wait_ready_reason};
use support::eventually;

/// Serves, on a loopback port, `/announced.wasm` (a Content-Length over the limit, then a few
/// bytes) and `/streamed.wasm` (no length, the limit plus 1 MiB of zeros, connection close).
fn serve_big() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let mut out = &stream;
                if line.contains("/announced.wasm") {
                    let _ = out.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n\0asm",
                            DEFAULT_MAX_BYTES + 1
                        )
                        .as_bytes(),
                    );
                } else {
                    let _ = out.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                    let chunk = vec![0u8; 1 << 20];
                    for _ in 0..(DEFAULT_MAX_BYTES >> 20) + 1 {
                        if out.write_all(&chunk).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn modules_over_the_size_limit_are_refused_with_a_clear_condition() {
    let port = serve_big();
    let sys = Running::start();
    let wds = sys.kubectl("wds1");
    // Pins no other source has brought into the download cache.
    wds.apply(&format!(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: WasmPlugin
metadata: {{name: announced}}
spec: {{source: "http://127.0.0.1:{port}/announced.wasm", sha256: "{a}"}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: WasmPlugin
metadata: {{name: streamed}}
spec: {{source: "http://127.0.0.1:{port}/streamed.wasm", sha256: "{b}"}}
---
apiVersion: control.kubestellar.io/v1alpha1
kind: CustomTransform
metadata: {{name: uses-big}}
spec:
  apiGroup: ""
  resource: configmaps
  plugins: [{{name: announced}}]
"#,
        a = "2".repeat(64),
        b = "3".repeat(64),
    ));
    let limit = format!("the module is larger than the limit of {DEFAULT_MAX_BYTES} bytes");
    for name in ["announced", "streamed"] {
        let m = wait_ready_reason(&wds, name, "ModuleTooLarge");
        assert!(
            m.contains(&format!("cannot fetch http://127.0.0.1:{port}/{name}.wasm"))
                && m.contains(&limit),
            "{name}: {m}"
        );
    }
    // Where the plugin is used, the CustomTransform says why it cannot be.
    let errors = eventually(Duration::from_secs(60), "CustomTransform errors", || {
        let out = wds.jsonpath(&["get", "customtransform", "uses-big"], "{.status.errors}")?;
        let e: Vec<String> = serde_json::from_str(&out).ok()?;
        (!e.is_empty()).then_some(e)
    });
    assert!(
        errors.iter().any(
            |e| e.starts_with("spec.plugins[0]: WasmPlugin announced is not ready:")
                && e.contains(&limit)
        ),
        "{errors:?}"
    );
    // Nothing was kept.
    let modules = sys.dir.path().join("plugin-cache/modules");
    for d in ["2", "3"] {
        let f = modules.join(format!("sha256-{}.wasm", d.repeat(64)));
        assert!(!f.exists(), "{} kept", f.display());
    }
}
