//! Shared by the leader election tests: `kubestellar` replicas as child processes, and a
//! recording proxy that shows every request one process sends to a space.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use kubestellar::system::System;

/// A `kubestellar` child process, killed on drop; its stderr is kept.
pub struct Replica {
    pub child: Child,
    log: Arc<Mutex<String>>,
    /// Where it serves /healthz, /readyz and /metrics (loopback), if asked to.
    pub health_port: Option<u16>,
}

impl Replica {
    pub fn spawn(args: &[&str]) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubestellar"))
            .args(["--log-level", "info"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubestellar starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        Replica {
            child,
            log,
            health_port: None,
        }
    }

    /// `kubestellar controller --leader-elect` of wds1, serving probes and metrics on one
    /// loopback port.
    pub fn controller(sys: &System, kubeconfig: &std::path::Path) -> Replica {
        let kc = kubeconfig.to_string_lossy().into_owned();
        let cache = sys.dir.join("plugin-cache").to_string_lossy().into_owned();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut r = Replica::spawn(&[
            "controller",
            "--health-probe-bind-address",
            &addr,
            "--metrics-bind-address",
            &addr,
            "--leader-elect",
            "--wds-kubeconfig",
            &kc,
            "--wds-context",
            "wds1",
            "--its-kubeconfig",
            &kc,
            "--its-context",
            "its1",
            "--wds-name",
            "wds1",
            "--plugin-cache",
            &cache,
        ]);
        r.health_port = Some(port);
        r
    }

    /// `GET path` on its health port: (status code, body), or None if nothing answers.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        crate::support::http_get(self.health_port?, path)
    }

    /// The value of `kubestellar_leader{component="controller"}` in its /metrics.
    pub fn leader_gauge(&self) -> Option<f64> {
        let (_, text) = self.http_get("/metrics").filter(|(c, _)| *c == 200)?;
        text.lines().find_map(|l| {
            l.strip_prefix("kubestellar_leader{component=\"controller\"} ")?
                .trim()
                .parse()
                .ok()
        })
    }

    /// `kubestellar agent --leader-elect` of `cluster`.
    pub fn agent(sys: &System, cluster: &str) -> Replica {
        let kc = sys.kubeconfig.to_string_lossy().into_owned();
        Replica::spawn(&[
            "agent",
            "--leader-elect",
            "--cluster",
            cluster,
            "--its-kubeconfig",
            &kc,
            "--its-context",
            "its1",
            "--wec-kubeconfig",
            &kc,
            "--wec-context",
            cluster,
        ])
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on loopback now (the child binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Bytes a client sent on one connection.
pub type ConnLog = Arc<Mutex<Vec<u8>>>;

/// A TCP proxy in front of a space (plain HTTP/1.1), recording what a client sends, so the
/// test sees every request one controller process makes.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    /// Bytes sent by the client, per connection.
    sent: Arc<Mutex<Vec<ConnLog>>>,
}

impl Proxy {
    pub async fn start(upstream: std::net::SocketAddr) -> Proxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sent: Arc<Mutex<Vec<ConnLog>>> = Arc::default();
        let conns = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let log: ConnLog = Arc::default();
                conns
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(log.clone());
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        log.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend_from_slice(&buf[..n]);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
            }
        });
        Proxy { addr, sent }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes the client sent.
    pub fn bytes(&self) -> usize {
        let conns = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .iter()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// The request lines the client sent ("VERB /path?query").
    pub fn requests(&self) -> Vec<String> {
        let conns = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for c in conns.iter() {
            let bytes = c.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.split("\r\n") {
                // A body (JSON, no line break) runs into the next request line: skip it.
                let line = line.rsplit('}').next().unwrap_or(line);
                if let Some(req) = line.strip_suffix(" HTTP/1.1") {
                    out.push(req.to_string());
                }
            }
        }
        out
    }
}
