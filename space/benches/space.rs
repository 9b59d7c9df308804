//! Space server benchmark over real HTTP on loopback (client and server in one process, on
//! separate runtimes): durable creates/s at concurrency 1 and 32, LIST latency of 10,000
//! ConfigMaps, and watch delivery latency with 100 watchers. Prints a table.
//! Run: `cargo bench -p kubestellar-space --bench space`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use kubestellar_space::SpaceConfig;
use serde_json::json;

type Client = SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Client {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn request(c: &mut Client, method: &str, path: &str, body: Option<String>) -> (u16, Bytes) {
    c.ready().await.expect("connection ready");
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(body.map(Bytes::from).unwrap_or_default()))
        .expect("request");
    let resp = c.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

fn cm(name: &str, extra: serde_json::Value) -> String {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}},
           "data": {"key": "a value of some forty characters, more or less", "extra": extra.to_string()}})
    .to_string()
}

async fn create_ns(addr: &str, ns: &str) {
    let mut c = connect(addr).await;
    let (s, _) = request(
        &mut c,
        "POST",
        "/api/v1/namespaces",
        Some(json!({"metadata": {"name": ns}}).to_string()),
    )
    .await;
    assert_eq!(s, 201);
}

/// Creates `total` ConfigMaps in `ns` with `concurrency` connections; returns creates/s.
async fn creates(addr: &str, ns: &str, concurrency: usize, total: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (addr, ns, next) = (addr.to_string(), ns.to_string(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = connect(&addr).await;
            let path = format!("/api/v1/namespaces/{ns}/configmaps");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (s, b) = request(
                    &mut c,
                    "POST",
                    &path,
                    Some(cm(&format!("cm-{i:06}"), json!(i))),
                )
                .await;
                assert_eq!(s, 201, "{}", String::from_utf8_lossy(&b));
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// CPU time this process has used (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// LIST of every object in `ns` (no limit), `n` times; sorted latencies.
async fn lists(addr: &str, ns: &str, expect: usize, n: usize) -> Vec<Duration> {
    let mut c = connect(addr).await;
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let mut out = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let (s, body) = request(&mut c, "GET", &path, None).await;
        out.push(t.elapsed());
        assert_eq!(s, 200);
        // Check once in a while that the whole list came back (outside the timing).
        if out.len() == 1 {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("list JSON");
            assert_eq!(v["items"].as_array().map(Vec::len), Some(expect));
        }
    }
    out.sort();
    out
}

/// Latencies of the watch phase, sorted.
struct WatchLatencies {
    /// Create sent -> event read by a watcher (includes the durable commit).
    end_to_end: Vec<Duration>,
    /// Create sent -> its 201 received (the commit alone).
    commit: Vec<Duration>,
    /// 201 received by the writer -> event read by a watcher (0 when the watcher was first).
    fan_out: Vec<Duration>,
}

/// `watchers` watches of `ns`; `events` creates, one at a time.
async fn watch_latency(addr: &str, ns: &str, watchers: usize, events: usize) -> WatchLatencies {
    let base = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Duration)>();
    let ready = Arc::new(AtomicUsize::new(0));
    for _ in 0..watchers {
        let (addr, ns, tx, ready) = (addr.to_string(), ns.to_string(), tx.clone(), ready.clone());
        tokio::spawn(async move {
            let mut c = connect(&addr).await;
            c.ready().await.expect("ready");
            let req = http::Request::get(format!(
                "/api/v1/namespaces/{ns}/configmaps?watch=true&allowWatchBookmarks=true"
            ))
            .header("host", "bench")
            .body(Full::new(Bytes::new()))
            .expect("request");
            let resp = c.send_request(req).await.expect("watch");
            ready.fetch_add(1, Ordering::SeqCst);
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                let now = base.elapsed();
                buf.extend_from_slice(data);
                while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    let ev: serde_json::Value = serde_json::from_slice(&line).expect("event");
                    if let Some(i) = ev["object"]["data"]["i"]
                        .as_str()
                        .and_then(|s| s.parse::<usize>().ok())
                    {
                        let _ = tx.send((i, now));
                    }
                }
            }
        });
    }
    drop(tx);
    while ready.load(Ordering::SeqCst) < watchers {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = connect(addr).await;
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let (mut sent, mut acked) = (Vec::new(), Vec::new());
    for i in 0..events {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("w-{i:05}")}, "data": {"i": i.to_string()}});
        sent.push(base.elapsed());
        let (s, _) = request(&mut c, "POST", &path, Some(body.to_string())).await;
        acked.push(base.elapsed());
        assert_eq!(s, 201);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut out = WatchLatencies {
        end_to_end: Vec::new(),
        commit: sent.iter().zip(&acked).map(|(s, a)| *a - *s).collect(),
        fan_out: Vec::new(),
    };
    while out.end_to_end.len() < events * watchers {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some((i, at))) => {
                out.end_to_end.push(at.saturating_sub(sent[i]));
                out.fan_out.push(at.saturating_sub(acked[i]));
            }
            _ => break,
        }
    }
    assert_eq!(
        out.end_to_end.len(),
        events * watchers,
        "every watcher saw every event"
    );
    out.end_to_end.sort();
    out.commit.sort();
    out.fan_out.sort();
    out
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("space-server")
        .enable_all()
        .build()
        .expect("runtime");
    let running = server_rt
        .block_on(kubestellar_space::start(
            SpaceConfig::new("bench", dir.path()),
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("space starts");
    let addr = running.addr.to_string();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "\n{:52}  {:>12}  {:>12}",
        "space server (real HTTP/1.1, loopback)", "measured", "target"
    );
    let row = |name: &str, v: String, t: &str| println!("{name:52}  {v:>12}  {t:>12}");
    client_rt.block_on(async {
        for ns in ["list", "watch"] {
            create_ns(&addr, ns).await;
        }
        // Each create rate is the median of three runs (the disk's fsync latency varies).
        let mut c1 = Vec::new();
        for run in 0..3 {
            create_ns(&addr, &format!("c1-{run}")).await;
            c1.push(creates(&addr, &format!("c1-{run}"), 1, 300).await);
        }
        let (mut c32, mut cpu_per) = (Vec::new(), Vec::new());
        for run in 0..3 {
            create_ns(&addr, &format!("c32-{run}")).await;
            let cpu = cpu_time();
            c32.push(creates(&addr, &format!("c32-{run}"), 32, 10_000).await);
            cpu_per.push((cpu_time() - cpu).as_secs_f64() * 1e6 / 10_000.0);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[1], v[0], v[2])
        };
        let (m, lo, hi) = median(&mut c1);
        row(
            "durable creates/s, concurrency 1 (3 x 300)",
            format!("{m:.0}/s"),
            "-",
        );
        row(
            &format!("  runs ranged {lo:.0} .. {hi:.0}/s"),
            String::new(),
            "",
        );
        let (m, lo, hi) = median(&mut c32);
        row(
            "durable creates/s, concurrency 32 (3 x 10,000)",
            format!("{m:.0}/s"),
            ">= 5,000/s",
        );
        row(
            &format!("  runs ranged {lo:.0} .. {hi:.0}/s"),
            String::new(),
            "",
        );
        let (m, _, _) = median(&mut cpu_per);
        row(
            "  CPU per create (client + server, all threads)",
            format!("{m:.0} us"),
            "-",
        );
        if std::env::var("SPACE_BENCH_ONLY").is_ok_and(|v| v == "creates") {
            return; // `SPACE_BENCH_ONLY=creates`: for profiling the write path
        }
        creates(&addr, "list", 32, 10_000).await;
        let l = lists(&addr, "list", 10_000, 30).await;
        row(
            "LIST 10,000 ConfigMaps (JSON, no limit), p50",
            ms(percentile(&l, 0.5)),
            "-",
        );
        row(
            "LIST 10,000 ConfigMaps (JSON, no limit), p99",
            ms(percentile(&l, 0.99)),
            "< 100 ms",
        );
        let w = watch_latency(&addr, "watch", 100, 300).await;
        row(
            "watch delivery, 100 watchers x 300 events, p50",
            ms(percentile(&w.end_to_end, 0.5)),
            "-",
        );
        row(
            "watch delivery, 100 watchers x 300 events, p99",
            ms(percentile(&w.end_to_end, 0.99)),
            "< 10 ms",
        );
        row(
            "  of which the durable create (201), p50",
            ms(percentile(&w.commit, 0.5)),
            "-",
        );
        row(
            "  of which the durable create (201), p99",
            ms(percentile(&w.commit, 0.99)),
            "-",
        );
        row(
            "  fan-out after the 201, p50",
            ms(percentile(&w.fan_out, 0.5)),
            "-",
        );
        row(
            "  fan-out after the 201, p99",
            ms(percentile(&w.fan_out, 0.99)),
            "-",
        );
    });
    server_rt.block_on(running.stop());
}
