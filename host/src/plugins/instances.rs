//! Where a plugin's calls get their instances: a warm pool (instances reused for up to
//! `max_calls_per_instance` calls) or, by default, a fresh instance per call.
//!
//! A fresh instance is made *before* the call that uses it and torn down *after* it, on one
//! background thread per process: instantiating into a pool slot and resetting the slot's
//! dirtied pages when the store is dropped each cost about as much as a transform-default call,
//! and neither needs to delay the caller. Every call still runs in an instance no call has
//! entered before. When the background thread falls behind, callers do the work themselves, so
//! retired instances cannot pile up in the pool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use wasmtime::Engine;

use super::bindings::{summarizer, transformer};
use super::host::LogLimiter;
use super::store::{self, OUTPUT_CAP, Sandbox, State};
use super::{Limits, PluginError, engine};

/// The bound, ready-to-instantiate form of a plugin.
pub(super) enum Pre {
    Transformer(transformer::TransformerPre<State>),
    Summarizer(summarizer::SummarizerPre<State>),
}

/// A live instance's exports.
pub(super) enum Bound {
    Transformer(transformer::Transformer),
    Summarizer(summarizer::Summarizer),
}

/// A live instance in its sandbox.
pub(super) struct Instance {
    pub sandbox: Sandbox,
    pub bound: Bound,
    pub calls: u32,
}

/// Instances waiting for the background thread to drop them, beyond which callers drop their
/// own (each one holds a pool slot until it is dropped).
const MAX_RETIRING: usize = 8;

/// Fresh instances prepared ahead per plugin, at most. A plugin starts with two and gets one
/// more (up to this many) whenever a call finds none ready, i.e. when its calls come faster
/// than the background thread wakes up.
const MAX_SPARES_PER_PLUGIN: usize = 4;

/// Fresh instances prepared ahead across all plugins, so that idle plugins cannot take up the
/// instance pool.
const MAX_SPARES: usize = engine::MAX_INSTANCES as usize / 4;

/// Makes, lends and takes back the instances of one plugin.
pub(super) struct Instances {
    engine: Engine,
    pre: Pre,
    /// The name in log lines and instantiation errors (describe's name once it is known).
    name: Mutex<Arc<str>>,
    log_limiter: Arc<Mutex<LogLimiter>>,
    limits: Limits,
    warm: Mutex<Vec<Instance>>,
    /// The next fresh instances, made ahead of the calls (fresh-instance plugins only).
    spare: Mutex<Vec<Instance>>,
    /// Whether fresh instances are prepared ahead ([`Self::prepare`]).
    preparing: AtomicBool,
    /// How many fresh instances to keep prepared (2 to [`MAX_SPARES_PER_PLUGIN`]).
    spare_depth: AtomicUsize,
}

impl Instances {
    /// Instances of `pre`, run as `name` under `limits`.
    pub fn new(engine: Engine, pre: Pre, name: Arc<str>, limits: Limits) -> Arc<Self> {
        Arc::new(Instances {
            engine,
            pre,
            name: Mutex::new(name),
            log_limiter: Arc::new(Mutex::new(LogLimiter::default())),
            limits,
            warm: Mutex::new(Vec::new()),
            spare: Mutex::new(Vec::new()),
            preparing: AtomicBool::new(false),
            spare_depth: AtomicUsize::new(2),
        })
    }

    /// Renames the plugin in the log lines of instances made from now on.
    pub fn rename(&self, name: Arc<str>) {
        if let Ok(mut current) = self.name.lock() {
            *current = name;
        }
    }

    fn name(&self) -> Arc<str> {
        match self.name.lock() {
            Ok(name) => name.clone(),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// An instance ready for a call, its deadline armed: a warm one, the prepared fresh one,
    /// or one made now.
    // Inlined into the call path: not inlined, a warm transform-default call measured ≈ 6 %
    // slower than with this code inside the caller (same-run pairs).
    #[inline]
    pub fn take(self: &Arc<Self>) -> Result<Instance, PluginError> {
        let ready = if self.limits.warm_instances == 0 {
            let spare = self.spare.lock().ok().and_then(|mut s| s.pop());
            if spare.is_some() {
                SPARES.fetch_sub(1, Ordering::Relaxed);
            } else if self.preparing.load(Ordering::Relaxed) {
                // Calls come faster than the background thread prepares: keep more ready.
                let depth = self.spare_depth.load(Ordering::Relaxed);
                self.spare_depth
                    .store((depth + 1).min(MAX_SPARES_PER_PLUGIN), Ordering::Relaxed);
            }
            spare
        } else {
            self.warm.lock().ok().and_then(|mut w| w.pop())
        };
        match ready {
            Some(mut inst) => {
                // Its deadline was set when it was made; count this call's from now.
                inst.sandbox
                    .store
                    .set_epoch_deadline(engine::ticks_for(self.limits.timeout));
                Ok(inst)
            }
            None => self.instantiate(),
        }
    }

    /// Takes back an instance after a call that succeeded: kept warm if the limits allow,
    /// otherwise retired. A fresh-instance plugin gets its next instance prepared.
    #[inline]
    pub fn give_back(self: &Arc<Self>, inst: Instance) {
        if self.limits.warm_instances == 0 {
            self.retire_and_refill(inst);
            return;
        }
        let worn_out = inst.calls >= self.limits.max_calls_per_instance
            || inst.sandbox.output.contents().len() > OUTPUT_CAP / 2;
        let inst = match self.warm.lock() {
            Ok(mut warm) if !worn_out && warm.len() < self.limits.warm_instances => {
                warm.push(inst);
                return;
            }
            _ => inst,
        };
        hand_over(None, Some(inst), false);
    }

    /// Takes back an instance after a failed call: never reused.
    pub fn discard(self: &Arc<Self>, inst: Instance) {
        if self.limits.warm_instances == 0 {
            self.retire_and_refill(inst);
        } else {
            hand_over(None, Some(inst), false);
        }
    }

    /// Warm instances currently idle.
    pub fn idle(&self) -> usize {
        self.warm.lock().map_or(0, |w| w.len())
    }

    /// Whether a fresh instance is prepared for the next call.
    pub fn spare_ready(&self) -> bool {
        self.spare.lock().is_ok_and(|s| !s.is_empty())
    }

    /// Starts preparing fresh instances ahead of calls (once the plugin is loaded and named:
    /// until then its instances are made as needed).
    pub fn prepare(self: &Arc<Self>) {
        if self.limits.warm_instances == 0 {
            self.preparing.store(true, Ordering::Relaxed);
            hand_over(Some(Arc::downgrade(self)), None, true);
        }
    }

    /// Retires a fresh instance after its call and has the next ones prepared; the background
    /// thread is woken at once only when at most one prepared instance is left (waking it is a
    /// cross-CPU signal that can cost more than the call itself on a virtual machine).
    fn retire_and_refill(self: &Arc<Self>, inst: Instance) {
        if !self.preparing.load(Ordering::Relaxed) {
            hand_over(None, Some(inst), false);
            return;
        }
        let running_low = self.spare.lock().map_or(true, |s| s.len() <= 1);
        hand_over(Some(Arc::downgrade(self)), Some(inst), running_low);
    }

    fn fill_spare(&self) {
        let depth = self.spare_depth.load(Ordering::Relaxed);
        while self.spare.lock().is_ok_and(|s| s.len() < depth) {
            if SPARES.fetch_add(1, Ordering::Relaxed) >= MAX_SPARES {
                SPARES.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            // A failure is not reported here: the call that finds no spare instantiates itself
            // and gets the error.
            match (self.instantiate(), self.spare.lock()) {
                (Ok(inst), Ok(mut spare)) => spare.push(inst),
                _ => {
                    SPARES.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    fn instantiate(&self) -> Result<Instance, PluginError> {
        let name = self.name();
        let mut sandbox = store::sandbox(&self.engine, &name, &self.log_limiter, &self.limits);
        let bound = match &self.pre {
            Pre::Transformer(p) => p.instantiate(&mut sandbox.store).map(Bound::Transformer),
            Pre::Summarizer(p) => p.instantiate(&mut sandbox.store).map(Bound::Summarizer),
        };
        match bound {
            Ok(bound) => Ok(Instance {
                sandbox,
                bound,
                calls: 0,
            }),
            Err(e) if store::is_guest_failure(&e) => Err(store::classify(
                &e,
                &name,
                &self.limits,
                store::output_since(&sandbox.output, 0),
            )),
            Err(e) => Err(PluginError::Instantiate {
                plugin: name.to_string(),
                message: store::one_line(&format!("{e:#}")),
            }),
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        if let Ok(spare) = self.spare.get_mut() {
            SPARES.fetch_sub(spare.len(), Ordering::Relaxed);
        }
    }
}

/// Retired instances the background thread is not woken for (it drops them when next woken).
const RETIRE_BATCH: usize = 4;

/// How long the background thread keeps looking for work before it waits to be woken: waking
/// a thread is a cross-CPU signal that costs the caller 2–20 µs on a virtual machine, more
/// than the call it follows.
const STAY_AWAKE: Duration = Duration::from_micros(50);

/// How often the waiting background thread looks for instances handed over without waking it,
/// so that they do not hold their pool slots (and their plugin's code) for long.
const IDLE_CHECK: Duration = Duration::from_millis(20);

/// What the background thread has to do.
#[derive(Default)]
struct Queue {
    /// Plugins whose prepared fresh instances are to be made.
    prepare: Vec<Weak<Instances>>,
    /// Instances to drop (their pool slots are reset then).
    retired: Vec<Instance>,
    /// The thread is waiting for work.
    idle: bool,
}

/// The background thread's queue and its wake-up signal.
#[derive(Default)]
struct Background {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// Fresh instances prepared and not yet taken, across all plugins.
static SPARES: AtomicUsize = AtomicUsize::new(0);

/// The background thread, started on first use; `None` if it could not be started.
fn background() -> Option<&'static Background> {
    static BACKGROUND: OnceLock<Background> = OnceLock::new();
    static STARTED: OnceLock<bool> = OnceLock::new();
    let background = BACKGROUND.get_or_init(Background::default);
    let started = STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("wasm-instances".into())
            .spawn(move || serve(background));
        if let Err(e) = &spawned {
            tracing::warn!(error = %e, "cannot start the wasm-instances thread; instances are made and dropped inline");
        }
        spawned.is_ok()
    });
    started.then_some(background)
}

/// The background thread's loop. Preparing comes before dropping: a call may be waiting for
/// the one, nobody for the other.
fn serve(background: &Background) {
    let mut queue = background.queue.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(plugin) = queue.prepare.pop() {
            drop(queue);
            if let Some(plugin) = plugin.upgrade() {
                plugin.fill_spare();
            }
        } else if let Some(inst) = queue.retired.pop() {
            drop(queue);
            drop(inst);
        } else {
            drop(queue);
            queue = wait_for_work(background);
            continue;
        }
        queue = background.queue.lock().unwrap_or_else(|e| e.into_inner());
    }
}

/// Looks for work for [`STAY_AWAKE`], then waits to be woken, looking again every
/// [`IDLE_CHECK`] for instances handed over without waking it.
fn wait_for_work(background: &Background) -> MutexGuard<'_, Queue> {
    let has_work = |q: &Queue| !q.prepare.is_empty() || !q.retired.is_empty();
    let since = Instant::now();
    loop {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        let mut queue = background.queue.lock().unwrap_or_else(|e| e.into_inner());
        if has_work(&queue) {
            return queue;
        }
        if since.elapsed() >= STAY_AWAKE {
            queue.idle = true;
            while !has_work(&queue) {
                queue = background
                    .wake
                    .wait_timeout(queue, IDLE_CHECK)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            queue.idle = false;
            return queue;
        }
        drop(queue);
    }
}

/// Hands a plugin whose fresh instances are to be prepared and an instance to drop to the
/// background thread, waking it if `urgent` or if enough instances wait to be dropped. When
/// too many instances wait already, or without that thread, `retired` is dropped here (and
/// without it nothing is prepared).
fn hand_over(refill: Option<Weak<Instances>>, retired: Option<Instance>, urgent: bool) {
    let Some(background) = background() else {
        // Preparing here would put up to four instantiations on the caller's path instead of
        // one: without the thread, each call makes its own instance.
        return;
    };
    let mut queue = background.queue.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(plugin) = refill
        && !queue.prepare.iter().any(|p| p.ptr_eq(&plugin))
    {
        queue.prepare.push(plugin);
    }
    let mut drop_here = None;
    if let Some(inst) = retired {
        if queue.retired.len() >= MAX_RETIRING {
            drop_here = Some(inst);
        } else {
            queue.retired.push(inst);
        }
    }
    let wake = queue.idle && (urgent || queue.retired.len() >= RETIRE_BATCH);
    drop(queue);
    if wake {
        background.wake.notify_one();
    }
    drop(drop_here);
}
