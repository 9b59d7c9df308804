//! Liveness (`/healthz`), readiness (`/readyz`) and Prometheus metrics (`/metrics`) of the
//! `kubestellar controller` and `kubestellar agent` processes, served over plain HTTP on the
//! addresses of `--health-probe-bind-address` and `--metrics-bind-address` (controller-runtime's
//! flags).
//!
//! * Live: every watched loop ([`LoopStats`]) has beaten within [`MAX_BEAT_AGE`] and none has
//!   failed. A standby (leader election, not leading) watches no loop, so it is live while the
//!   process answers.
//! * Ready: as in controller-runtime, leader election does not gate readiness: a standby is
//!   ready (it can take over); the process that works is ready once every readiness check (the
//!   caches it acts on have been listed) passes, and not before its work has registered them.
//! * Metrics: `kubestellar_leader{component}` (1 while this process does the work, always 1
//!   without `--leader-elect` once started), reconcile/error counters and work-queue depth of
//!   the watched loops, plus what each component adds with [`Health::add_metrics`]. Labels carry
//!   only names (component, loop, resource kinds), never object contents.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// A watched loop that has not beaten for this long makes `/healthz` fail.
pub const MAX_BEAT_AGE: Duration = Duration::from_secs(60);

/// Content type of `/metrics` (what `prometheus_client`'s text encoder writes).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Errors of the health endpoints.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// A bind address is not `host:port`, `:port`, `0` or empty.
    #[error("invalid bind address {0:?}: want host:port, :port, or 0 to disable")]
    Address(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Parses a controller-runtime style bind address: `host:port`, `:port` (every interface), or
/// `0` / empty (disabled, `None`).
pub fn parse_bind_address(s: &str) -> Result<Option<String>, HealthError> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    let bad = || HealthError::Address(s.to_string());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() {
        return Ok(Some(format!("0.0.0.0:{port}")));
    }
    if host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

/// `--health-probe-bind-address` and `--metrics-bind-address`, as controller-runtime names them.
/// Both are off by default: several replicas, agents and `kubestellar up` may share one host,
/// and fixed default ports would collide; the manifests of `deploy/` turn them on.
#[derive(Clone, Debug, clap::Args)]
pub struct HealthArgs {
    /// Address serving /healthz and /readyz: host:port, :port (every interface), or 0 to
    /// disable.
    #[arg(long, default_value = "0", value_parser = bind_flag)]
    pub health_probe_bind_address: String,
    /// Address serving Prometheus /metrics: host:port, :port (every interface), or 0 to
    /// disable. May equal the probe address.
    #[arg(long, default_value = "0", value_parser = bind_flag)]
    pub metrics_bind_address: String,
}

fn bind_flag(s: &str) -> Result<String, HealthError> {
    parse_bind_address(s).map(|_| s.to_string())
}

impl HealthArgs {
    /// Starts the endpoints these flags ask for.
    pub async fn serve(&self, health: &Health) -> Result<Endpoints, HealthError> {
        let probes = parse_bind_address(&self.health_probe_bind_address)?;
        let metrics = parse_bind_address(&self.metrics_bind_address)?;
        health.serve(probes.as_deref(), metrics.as_deref()).await
    }
}

/// Counters and heartbeat of one reconcile loop, updated by the loop and read by the endpoints.
#[derive(Clone, Default)]
pub struct LoopStats {
    inner: Arc<LoopInner>,
}

#[derive(Default)]
struct LoopInner {
    reconciles: AtomicU64,
    errors: AtomicU64,
    depth: AtomicU64,
    synced: AtomicBool,
    last_beat: Mutex<Option<Instant>>,
    failed: Mutex<Option<String>>,
}

impl std::fmt::Debug for LoopStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopStats")
            .field("reconciles", &self.reconciles())
            .field("errors", &self.errors())
            .field("synced", &self.is_synced())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LoopStats {
    /// The loop is turning; `depth` keys wait in its queue.
    pub fn beat(&self, depth: usize) {
        self.inner.depth.store(depth as u64, Ordering::Relaxed);
        *lock(&self.inner.last_beat) = Some(Instant::now());
    }

    /// One reconcile finished, successfully or not.
    pub fn reconciled(&self, ok: bool) {
        self.inner.reconciles.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.inner.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The loop's inputs have been listed once.
    pub fn set_synced(&self) {
        self.inner.synced.store(true, Ordering::Relaxed);
    }

    /// The loop cannot go on (`/healthz` fails from now on).
    pub fn fail(&self, why: impl Into<String>) {
        *lock(&self.inner.failed) = Some(why.into());
    }

    /// Reconciles so far.
    pub fn reconciles(&self) -> u64 {
        self.inner.reconciles.load(Ordering::Relaxed)
    }

    /// Failed reconciles so far.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Keys waiting at the last beat.
    pub fn depth(&self) -> u64 {
        self.inner.depth.load(Ordering::Relaxed)
    }

    /// Whether [`set_synced`](Self::set_synced) was called.
    pub fn is_synced(&self) -> bool {
        self.inner.synced.load(Ordering::Relaxed)
    }

    /// Ok while the loop beat within `max_age` (counted from `since` if it never beat).
    fn live(&self, since: Instant, max_age: Duration) -> Result<(), String> {
        if let Some(why) = lock(&self.inner.failed).clone() {
            return Err(why);
        }
        let last = lock(&self.inner.last_beat).unwrap_or(since);
        let age = last.elapsed();
        if age > max_age {
            return Err(format!("no progress for {}s", age.as_secs()));
        }
        Ok(())
    }
}

/// Samples gathered for one scrape; components add theirs with [`Health::add_metrics`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// name -> (help, is counter, samples).
    families: BTreeMap<String, Family>,
}

#[derive(Debug)]
struct Family {
    help: String,
    counter: bool,
    samples: Vec<(Vec<(String, String)>, i64)>,
}

impl Metrics {
    /// A counter sample; `name` without `_total` (the encoder adds it).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.add(
            name,
            help,
            true,
            labels,
            i64::try_from(value).unwrap_or(i64::MAX),
        );
    }

    /// A gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: i64) {
        self.add(name, help, false, labels, value);
    }

    fn add(&mut self, name: &str, help: &str, counter: bool, labels: &[(&str, &str)], v: i64) {
        let family = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family {
                help: help.to_string(),
                counter,
                samples: Vec::new(),
            });
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        family.samples.push((labels, v));
    }

    /// The text exposition format.
    pub fn render(self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, f) in &self.families {
            if f.counter {
                let mut m = encoder.encode_descriptor(
                    name,
                    &f.help,
                    None,
                    prometheus_client::metrics::MetricType::Counter,
                )?;
                for (labels, v) in &f.samples {
                    let c = ConstCounter::new(u64::try_from(*v).unwrap_or(0));
                    c.encode(m.encode_family(labels)?)?;
                }
            } else {
                let mut m = encoder.encode_descriptor(
                    name,
                    &f.help,
                    None,
                    prometheus_client::metrics::MetricType::Gauge,
                )?;
                for (labels, v) in &f.samples {
                    ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
                }
            }
        }
        Ok(())
    }
}

type Check = Box<dyn Fn() -> Result<(), String> + Send + Sync>;
type Source = Box<dyn Fn(&mut Metrics) + Send + Sync>;

/// The health state of one process (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    component: &'static str,
    leader_elect: bool,
    leading: AtomicBool,
    max_beat_age: Duration,
    checks: Mutex<Vec<(String, Check)>>,
    /// (name, stats, since, with counters in `/metrics`).
    loops: Mutex<Vec<(String, LoopStats, Instant, bool)>>,
    sources: Mutex<Vec<Source>>,
}

impl Health {
    /// The state of `component` ("controller", "agent"); `leader_elect` as the flag says.
    pub fn new(component: &'static str, leader_elect: bool) -> Health {
        Health::with_max_beat_age(component, leader_elect, MAX_BEAT_AGE)
    }

    /// The same with another staleness limit for watched loops.
    pub fn with_max_beat_age(
        component: &'static str,
        leader_elect: bool,
        max_beat_age: Duration,
    ) -> Health {
        Health {
            inner: Arc::new(Inner {
                component,
                leader_elect,
                leading: AtomicBool::new(false),
                max_beat_age,
                checks: Mutex::default(),
                loops: Mutex::default(),
                sources: Mutex::default(),
            }),
        }
    }

    /// Marks this process as doing the work until the returned guard is dropped.
    pub fn leading(&self) -> LeadingGuard {
        self.inner.leading.store(true, Ordering::SeqCst);
        LeadingGuard(self.clone())
    }

    /// Whether this process does the work now.
    pub fn is_leading(&self) -> bool {
        self.inner.leading.load(Ordering::SeqCst)
    }

    /// A readiness condition of the work (checked only while leading).
    pub fn add_ready_check(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        lock(&self.inner.checks).push((name.into(), Box::new(check)));
    }

    /// A loop whose heartbeat `/healthz` watches and whose counters `/metrics` shows.
    pub fn watch_loop(&self, name: impl Into<String>, stats: LoopStats) {
        lock(&self.inner.loops).push((name.into(), stats, Instant::now(), true));
    }

    /// A loop whose heartbeat `/healthz` watches, without counters (it reconciles nothing).
    pub fn watch_heartbeat(&self, name: impl Into<String>, stats: LoopStats) {
        lock(&self.inner.loops).push((name.into(), stats, Instant::now(), false));
    }

    /// More samples, gathered at each scrape.
    pub fn add_metrics(&self, source: impl Fn(&mut Metrics) + Send + Sync + 'static) {
        lock(&self.inner.sources).push(Box::new(source));
    }

    /// Liveness: one line per watched loop, and whether all pass.
    pub fn live(&self) -> (bool, Vec<String>) {
        let loops = lock(&self.inner.loops);
        let results = loops
            .iter()
            .map(|(name, s, since, _)| (name.clone(), s.live(*since, self.inner.max_beat_age)));
        report(results)
    }

    /// Readiness: one line per check, and whether all pass.
    pub fn ready(&self) -> (bool, Vec<String>) {
        if self.inner.leader_elect && !self.is_leading() {
            return (
                true,
                vec!["[+]leader-election ok: standing by, ready to take over".into()],
            );
        }
        if !self.is_leading() {
            return (false, vec!["[-]started failed: not started yet".into()]);
        }
        let checks = lock(&self.inner.checks);
        if checks.is_empty() {
            return (false, vec!["[-]started failed: starting".into()]);
        }
        report(checks.iter().map(|(name, c)| (name.clone(), c())))
    }

    /// The metrics in the text exposition format.
    pub fn render_metrics(&self) -> String {
        let mut m = Metrics::default();
        let component = self.inner.component;
        let c = [("component", component)];
        m.gauge(
            "kubestellar_leader",
            "1 while this process does the work (holds the Lease with --leader-elect), else 0",
            &c,
            i64::from(self.is_leading()),
        );
        m.gauge(
            "kubestellar_ready",
            "1 when /readyz passes, else 0",
            &c,
            i64::from(self.ready().0),
        );
        for (name, s, _, _) in lock(&self.inner.loops).iter().filter(|l| l.3) {
            let l = [("component", component), ("loop", name.as_str())];
            m.counter(
                "kubestellar_reconciles",
                "Reconciles handled by a loop",
                &l,
                s.reconciles(),
            );
            m.counter(
                "kubestellar_reconcile_errors",
                "Reconciles that failed (and were retried)",
                &l,
                s.errors(),
            );
            m.gauge(
                "kubestellar_workqueue_depth",
                "Keys waiting in a loop's work queue",
                &l,
                i64::try_from(s.depth()).unwrap_or(i64::MAX),
            );
        }
        for source in lock(&self.inner.sources).iter() {
            source(&mut m);
        }
        m.render()
    }

    /// Serves `/healthz` and `/readyz` on `probes` and `/metrics` on `metrics` (both on one
    /// listener if the addresses are equal and not port 0; `None` disables). Binds now, so that a bad address
    /// fails at startup; serves until the returned [`Endpoints`] is dropped.
    pub async fn serve(
        &self,
        probes: Option<&str>,
        metrics: Option<&str>,
    ) -> Result<Endpoints, HealthError> {
        use axum::routing::get;
        let probe_routes = || {
            axum::Router::new()
                .route("/healthz", get(healthz))
                .route("/readyz", get(readyz))
        };
        let metric_routes = || axum::Router::new().route("/metrics", get(metrics_handler));
        let mut plan: Vec<(&str, axum::Router<Health>)> = Vec::new();
        match (probes, metrics) {
            (Some(p), Some(m)) if p == m && !p.ends_with(":0") => {
                plan.push((p, probe_routes().merge(metric_routes())))
            }
            (p, m) => {
                if let Some(p) = p {
                    plan.push((p, probe_routes()));
                }
                if let Some(m) = m {
                    plan.push((m, metric_routes()));
                }
            }
        }
        let mut ep = Endpoints::default();
        for (addr, router) in plan {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| HealthError::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
            let local = listener.local_addr().map_err(|source| HealthError::Bind {
                addr: addr.to_string(),
                source,
            })?;
            let app = router.with_state(self.clone());
            let component = self.inner.component;
            ep.tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(component, addr = %local, error = %e, "health endpoint stopped");
                }
            }));
            if Some(addr) == probes {
                ep.probes = Some(local);
            }
            if Some(addr) == metrics {
                ep.metrics = Some(local);
            }
            tracing::info!(component, addr = %local, "serving health endpoints");
        }
        Ok(ep)
    }
}

/// k8s-style verbose lines (`[+]name ok`, `[-]name failed: why`) and the verdict.
fn report(results: impl Iterator<Item = (String, Result<(), String>)>) -> (bool, Vec<String>) {
    let mut ok = true;
    let lines = results
        .map(|(name, r)| match r {
            Ok(()) => format!("[+]{name} ok"),
            Err(why) => {
                ok = false;
                format!("[-]{name} failed: {why}")
            }
        })
        .collect();
    (ok, lines)
}

/// While alive, the process counts as doing the work.
pub struct LeadingGuard(Health);

impl Drop for LeadingGuard {
    fn drop(&mut self) {
        self.0.inner.leading.store(false, Ordering::SeqCst);
    }
}

/// The running endpoints; dropping this stops them.
#[derive(Default)]
pub struct Endpoints {
    /// Where `/healthz` and `/readyz` are served.
    pub probes: Option<SocketAddr>,
    /// Where `/metrics` is served.
    pub metrics: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn probe_response(what: &str, (ok, lines): (bool, Vec<String>)) -> axum::response::Response {
    use axum::response::IntoResponse;
    let verdict = if ok { "passed" } else { "failed" };
    let body = format!("{}\n{what} check {verdict}\n", lines.join("\n"));
    let code = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        code,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn healthz(
    axum::extract::State(h): axum::extract::State<Health>,
) -> axum::response::Response {
    probe_response("healthz", h.live())
}

async fn readyz(axum::extract::State(h): axum::extract::State<Health>) -> axum::response::Response {
    probe_response("readyz", h.ready())
}

async fn metrics_handler(
    axum::extract::State(h): axum::extract::State<Health>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        h.render_metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let code = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (code, body.to_string())
    }

    #[test]
    fn bind_addresses_follow_controller_runtime() {
        assert_eq!(parse_bind_address("0").expect("0"), None);
        assert_eq!(parse_bind_address("").expect("empty"), None);
        assert_eq!(
            parse_bind_address(":8081").expect(":8081").as_deref(),
            Some("0.0.0.0:8081")
        );
        assert_eq!(
            parse_bind_address("127.0.0.1:0").expect("ip").as_deref(),
            Some("127.0.0.1:0")
        );
        assert_eq!(
            parse_bind_address("[::1]:9").expect("v6").as_deref(),
            Some("[::1]:9")
        );
        for bad in ["8081", "host:", ":99999", "a b:1", "x:y"] {
            assert!(parse_bind_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn readiness_follows_leadership_and_checks() {
        let h = Health::new("controller", true);
        assert!(h.ready().0, "a standby is ready");
        let synced = Arc::new(AtomicBool::new(false));
        let g = h.leading();
        assert!(!h.ready().0, "leading without checks: still starting");
        let s = synced.clone();
        h.add_ready_check("caches", move || {
            if s.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("not listed yet".into())
            }
        });
        let (ok, lines) = h.ready();
        assert!(!ok);
        assert_eq!(lines, vec!["[-]caches failed: not listed yet"]);
        synced.store(true, Ordering::SeqCst);
        assert!(h.ready().0);
        drop(g);
        assert!(!h.is_leading());

        let solo = Health::new("agent", false);
        assert!(
            !solo.ready().0,
            "without election: not ready before the work starts"
        );
    }

    #[test]
    fn a_stale_or_failed_loop_is_not_live() {
        let h = Health::with_max_beat_age("agent", false, Duration::from_millis(100));
        assert!(h.live().0, "no loop watched");
        let s = LoopStats::default();
        h.watch_loop("main", s.clone());
        assert!(h.live().0, "just registered");
        std::thread::sleep(Duration::from_millis(150));
        let (ok, lines) = h.live();
        assert!(
            !ok && lines[0].starts_with("[-]main failed: no progress"),
            "{lines:?}"
        );
        s.beat(0);
        assert!(h.live().0);
        s.fail("task ended");
        assert_eq!(h.live().1, vec!["[-]main failed: task ended"]);
    }

    #[test]
    fn metrics_show_leader_loops_and_sources_with_escaped_labels() {
        let h = Health::new("agent", true);
        let s = LoopStats::default();
        h.watch_loop("manifestworks", s.clone());
        s.reconciled(true);
        s.reconciled(false);
        s.beat(3);
        h.add_metrics(|m| {
            m.counter("kubestellar_things", "Things", &[("kind", "a\"b")], 7);
        });
        let text = h.render_metrics();
        assert!(
            text.contains("kubestellar_leader{component=\"agent\"} 0\n"),
            "{text}"
        );
        let _g = h.leading();
        let text = h.render_metrics();
        for want in [
            "# TYPE kubestellar_leader gauge\n",
            "kubestellar_leader{component=\"agent\"} 1\n",
            "# TYPE kubestellar_reconciles counter\n",
            "kubestellar_reconciles_total{component=\"agent\",loop=\"manifestworks\"} 2\n",
            "kubestellar_reconcile_errors_total{component=\"agent\",loop=\"manifestworks\"} 1\n",
            "kubestellar_workqueue_depth{component=\"agent\",loop=\"manifestworks\"} 3\n",
            "kubestellar_things_total{kind=\"a\\\"b\"} 7\n",
            "# EOF\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[tokio::test]
    async fn endpoints_answer_over_http() {
        let h = Health::new("controller", false);
        let ep = h
            .serve(Some("127.0.0.1:0"), Some("127.0.0.1:0"))
            .await
            .expect("serve");
        let probes = ep.probes.expect("probes bound");
        let metrics = ep.metrics.expect("metrics bound");
        assert_ne!(probes, metrics, "two listeners");
        assert_eq!(get(probes, "/healthz").await.0, 200);
        let (code, body) = get(probes, "/readyz").await;
        assert_eq!(code, 500, "{body}");
        assert!(body.contains("readyz check failed"), "{body}");
        let _g = h.leading();
        h.add_ready_check("synced", || Ok(()));
        let (code, body) = get(probes, "/readyz").await;
        assert_eq!(
            (code, body.as_str()),
            (200, "[+]synced ok\nreadyz check passed\n")
        );
        assert_eq!(
            get(probes, "/metrics").await.0,
            404,
            "metrics only on its address"
        );
        let (code, body) = get(metrics, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains("kubestellar_leader{component=\"controller\"} 1"),
            "{body}"
        );
        assert_eq!(get(metrics, "/healthz").await.0, 404);

        let taken = h.serve(Some(&probes.to_string()), None).await;
        assert!(
            matches!(taken, Err(HealthError::Bind { .. })),
            "address in use"
        );
        drop(ep);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            tokio::net::TcpStream::connect(probes).await.is_err(),
            "stopped on drop"
        );

        let one = h
            .serve(Some("127.0.0.1:0"), None)
            .await
            .expect("probes only");
        assert!(one.metrics.is_none());
    }
}
