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
//!   only names (component, loop, WDS), never object contents.

mod metrics;
mod server;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use metrics::Metrics;
pub use server::{Endpoints, METRICS_CONTENT_TYPE};

/// A watched loop that has not beaten for this long makes `/healthz` fail.
pub const MAX_BEAT_AGE: Duration = Duration::from_secs(60);

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
