//! The status controller of one WDS: brings what the WECs report back to where users look.
//!
//! Inputs (watched, kept in an [`index::Index`]): Bindings, BindingPolicies, StatusCollectors,
//! CombinedStatuses and WasmPlugins of the WDS; the workload objects of every resource the
//! Bindings name; and, in the ITS, the WorkStatuses and ManifestWorks labelled with this WDS's
//! name, the ManagedClusters and the WECs' customization properties.
//!
//! Outputs, each computed from the index by a level-triggered reconcile of one unit of
//! [`keys::Work`] and written only when it differs from what is there:
//! * returned `.status` of workload objects (singleton copy, multi-WEC aggregation) and their
//!   `singletonstatus` / `multiwecstatus` / `kubestellar.io/executing-count` labels
//!   ([`object`], [`aggregate`]);
//! * CombinedStatus objects, computed by the StatusCollectors' summarizer plugins
//!   ([`combined`], [`collectors`]), also of upsynced objects ([`upsync`]);
//! * StatusCollector `.status` ([`collectors`]);
//! * BindingPolicy and Binding conditions `StatusCollectorsAvailable`, `Synced`, `Ready`
//!   ([`policy`]).
//!
//! Work waits in a deduplicating [`queue::Queue`] (CombinedStatus and condition work is
//! delayed a little to coalesce bursts, as upstream delays CombinedStatus writes) and runs on
//! `concurrency` workers once every source has been listed, so a restart decides nothing from
//! a half-filled index and, when nothing changed meanwhile, writes nothing. All writes go
//! through one [`writer::Writer`] with a bounded queue.

pub mod aggregate;
pub mod collectors;
pub mod combined;
pub mod index;
pub mod inputs;
pub mod keys;
pub mod object;
pub mod policy;
pub mod queue;
pub mod upsync;
mod watch;
pub mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::controller::Ctx;
use collectors::CollectorCache;
use combined::SummaryCache;
use index::Index;
use keys::Work;
use queue::Queue;
pub use writer::{Stats, StatsSnapshot};
use writer::{Target, Writer};

/// Delay before a CombinedStatus is recomputed (coalesces bursts of WorkStatus updates).
pub const COMBINED_DELAY: Duration = Duration::from_millis(250);
/// Delay before conditions are recomputed (coalesces bursts of ManifestWork updates).
pub const POLICY_DELAY: Duration = Duration::from_millis(250);
/// Period of the full re-reconcile (a safety net; events drive normal operation).
pub const RESYNC: Duration = Duration::from_secs(300);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the controller's tasks share (opaque outside this module).
pub struct Shared {
    ctx: Arc<Ctx>,
    index: Mutex<Index>,
    queue: Queue<Work>,
    writer: Writer,
    stats: Arc<Stats>,
    collectors: Mutex<CollectorCache>,
    summaries: Mutex<SummaryCache>,
    /// Since when `Synced` / `Ready` of a policy have only reflected work in progress.
    in_progress: Mutex<HashMap<(String, &'static str), tokio::time::Instant>>,
    /// `builtin:summarize-default`, once loaded.
    builtin: tokio::sync::OnceCell<Result<Arc<crate::plugins::LoadedPlugin>, String>>,
    /// The Bindings changed: the watched resources may have to change.
    gvrs_changed: Notify,
}

impl Shared {
    /// Queues work, delaying what benefits from coalescing.
    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::Combined(..) | Work::Upsync(..) => self.queue.add_after(w, COMBINED_DELAY),
                Work::Policy(_) => self.queue.add_after(w, POLICY_DELAY),
                _ => self.queue.add(w),
            }
        }
    }
}

/// The status controller of one WDS.
pub struct StatusController {
    sh: Arc<Shared>,
    rx: mpsc::Receiver<Target>,
}

impl StatusController {
    /// A controller for the WDS and ITS of `ctx`.
    pub fn new(ctx: Arc<Ctx>) -> StatusController {
        let (writer, rx) = Writer::new();
        let sh = Arc::new(Shared {
            ctx,
            index: Mutex::default(),
            queue: Queue::default(),
            writer,
            stats: Arc::new(Stats::default()),
            collectors: Mutex::default(),
            summaries: Mutex::new(HashMap::new()),
            builtin: tokio::sync::OnceCell::new(),
            in_progress: Mutex::default(),
            gvrs_changed: Notify::new(),
        });
        StatusController { sh, rx }
    }

    /// Its counters (writes, failures, summarizer calls...).
    pub fn stats(&self) -> Arc<Stats> {
        self.sh.stats.clone()
    }

    /// Runs until aborted (dropping the future stops every task it started).
    pub async fn run(self) {
        let StatusController { sh, rx } = self;
        let mut tasks = JoinSet::new();
        tasks.spawn(writer::run(sh.clone(), rx));
        watch::start_sources(&sh, &mut tasks);
        tasks.spawn(watch::manage_gvrs(sh.clone()));
        tasks.spawn(watch::sweep_stale_labels(sh.clone()));
        for _ in 0..sh.ctx.cfg.concurrency.max(1) {
            tasks.spawn(worker(sh.clone()));
        }
        tasks.spawn(resync(sh.clone()));
        tasks.spawn(plugin_changes(sh.clone()));
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r
                && e.is_panic()
            {
                tracing::error!(wds = %sh.ctx.cfg.wds_name, error = %e, "a status controller task panicked");
            }
        }
    }
}

/// Runs the status controller until aborted.
pub async fn run(ctx: Arc<Ctx>) {
    StatusController::new(ctx).run().await
}

/// Handles work once every source has been listed.
async fn worker(sh: Arc<Shared>) {
    while !lock(&sh.index).ready() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let w = sh.queue.next().await;
        writer::bump(&sh.stats.reconciles);
        let result = match &w {
            Work::Object(k) => object::reconcile(&sh, k).await,
            Work::Combined(b, k) => combined::reconcile(&sh, b, k).await,
            Work::Policy(n) => policy::reconcile(&sh, n).await,
            Work::Collector(n) => collectors::reconcile(&sh, n).await,
            Work::Upsync(p, k) => upsync::reconcile(&sh, p, k).await,
        };
        if let Err(e) = &result {
            tracing::debug!(wds = %sh.ctx.cfg.wds_name, work = ?w, error = %e, "status work will be retried");
        }
        sh.queue.done(w, result.is_ok());
    }
}

/// Recomputes what uses a WasmPlugin when the registry (re)loads it.
async fn plugin_changes(sh: Arc<Shared>) {
    let mut rx = sh.ctx.plugins.subscribe();
    loop {
        let work = match rx.recv().await {
            Ok(name) => lock(&sh.index).users_of_plugin(&name),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                let ix = lock(&sh.index);
                ix.collectors
                    .keys()
                    .flat_map(|c| ix.users_of_collector(c))
                    .collect()
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        sh.enqueue(work);
    }
}

/// Re-reconciles everything now and then.
async fn resync(sh: Arc<Shared>) {
    let mut tick = tokio::time::interval(RESYNC);
    tick.tick().await;
    loop {
        tick.tick().await;
        let work = {
            let ix = lock(&sh.index);
            if ix.ready() {
                ix.everything()
            } else {
                Vec::new()
            }
        };
        sh.enqueue(work);
    }
}
