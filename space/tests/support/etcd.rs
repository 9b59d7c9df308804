//! A real etcd (Debian's `/usr/bin/etcd`, package etcd-server) on free loopback ports with a
//! temporary data directory, killed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ETCD: &str = "/usr/bin/etcd";

/// A running single-member etcd.
pub struct Etcd {
    child: Child,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` of the client endpoint.
    pub addr: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Etcd {
    /// Starts etcd and waits until it reports healthy.
    pub fn start() -> Etcd {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: these tests need a real etcd; install Debian's etcd-server \
             (`apt-get install -y etcd-server`, which scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let (client, peer) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("etcd log");
        let child = Command::new(ETCD)
            .arg("--name=test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=test=http://127.0.0.1:{peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        let etcd = Etcd {
            child,
            dir,
            addr: format!("127.0.0.1:{client}"),
        };
        etcd.wait_healthy();
        etcd
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self
                .health()
                .is_some_and(|b| b.contains("\"health\":\"true\""))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy; its log:\n{}",
                std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn health(&self) -> Option<String> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    }

    /// `etcd://127.0.0.1:PORT`, for `--store` / [`kubestellar_space::StoreConfig::parse`].
    pub fn url(&self) -> String {
        format!("etcd://{}", self.addr)
    }

    /// A store configuration for a space on this etcd under `prefix`.
    pub fn store(&self, prefix: &str) -> kubestellar_space::StoreConfig {
        let mut cfg = kubestellar_space::EtcdConfig::parse(&self.url()).expect("etcd url");
        cfg.prefix = Some(prefix.to_string());
        kubestellar_space::StoreConfig::Etcd(cfg)
    }

    /// Runs `f` with a client of this etcd on a fresh runtime.
    pub fn with_client<T>(&self, f: impl AsyncFnOnce(&mut etcd_client::Client) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut c = etcd_client::Client::connect([self.addr.as_str()], None)
                .await
                .expect("etcd client");
            f(&mut c).await
        })
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.with_client(async |c| {
            let r = c.get("/", None).await.expect("get");
            r.header().map(|h| h.revision()).unwrap_or(0) as u64
        })
    }

    /// Compacts history up to `rev` (physically, so it is gone when this returns).
    pub fn compact(&self, rev: u64) {
        self.with_client(async |c| {
            c.compact(
                rev as i64,
                Some(etcd_client::CompactionOptions::new().with_physical()),
            )
            .await
            .expect("compact");
        })
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
