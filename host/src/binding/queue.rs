//! A small work queue for level-triggered controllers: keys are deduplicated, coalesced for a
//! short window, never handled twice at once, retried with exponential backoff on error, and
//! handled by at most `concurrency` tasks. (Used by the binding and transport controllers and
//! the WasmPlugin registry.)

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What a handler asks for after handling a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done until something triggers the key again.
    Done,
    /// Handle the key again after this delay (waiting for something, not a failure).
    After(Duration),
}

struct State<K> {
    /// When each queued key is due.
    due: HashMap<K, Instant>,
    /// The same, ordered by time.
    order: BTreeSet<(Instant, K)>,
    /// Keys being handled now.
    running: BTreeSet<K>,
    /// Consecutive failures per key.
    failures: HashMap<K, u32>,
}

/// A deduplicating, coalescing work queue.
pub struct Queue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    coalesce: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<K: Clone + Ord + Hash + Debug + Send + Sync + 'static> Queue<K> {
    /// A queue whose keys wait `coalesce` after their first trigger, so bursts become one run.
    pub fn new(coalesce: Duration) -> Arc<Queue<K>> {
        Arc::new(Queue {
            state: Mutex::new(State {
                due: HashMap::new(),
                order: BTreeSet::new(),
                running: BTreeSet::new(),
                failures: HashMap::new(),
            }),
            notify: Notify::new(),
            coalesce,
        })
    }

    /// Queues `key` (due after the coalescing window; an earlier due time is kept).
    pub fn add(&self, key: K) {
        self.add_at(key, Instant::now() + self.coalesce);
    }

    /// Queues `key` after `delay` (an earlier due time is kept).
    pub fn add_after(&self, key: K, delay: Duration) {
        self.add_at(key, Instant::now() + delay);
    }

    fn add_at(&self, key: K, at: Instant) {
        {
            let mut s = lock(&self.state);
            match s.due.get(&key).copied() {
                Some(old) if old <= at => return,
                Some(old) => {
                    s.order.remove(&(old, key.clone()));
                }
                None => {}
            }
            s.due.insert(key.clone(), at);
            s.order.insert((at, key));
        }
        self.notify.notify_one();
    }

    /// Number of keys waiting (not counting running ones).
    pub fn len(&self) -> usize {
        lock(&self.state).due.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the earliest due key that is not running; or tells when to look again.
    fn take(&self) -> Result<K, Option<Instant>> {
        let mut s = lock(&self.state);
        let now = Instant::now();
        let mut found = None;
        let mut next = None;
        for (at, k) in s.order.iter() {
            if s.running.contains(k) {
                continue;
            }
            if *at <= now {
                found = Some((*at, k.clone()));
            } else {
                next = Some(*at);
            }
            break;
        }
        match found {
            Some((at, k)) => {
                s.order.remove(&(at, k.clone()));
                s.due.remove(&k);
                s.running.insert(k.clone());
                Ok(k)
            }
            None => Err(next),
        }
    }

    fn finish(&self, key: &K, outcome: Option<Next>, what: &str) {
        let retry = {
            let mut s = lock(&self.state);
            s.running.remove(key);
            match outcome {
                Some(next) => {
                    s.failures.remove(key);
                    match next {
                        Next::Done => None,
                        Next::After(d) => Some(d),
                    }
                }
                None => {
                    let n = s.failures.entry(key.clone()).or_insert(0);
                    *n = n.saturating_add(1);
                    let delay = Duration::from_millis(50u64.saturating_mul(1 << (*n).min(10)))
                        .min(Duration::from_secs(30));
                    tracing::debug!(queue = what, key = ?key, retry_in_ms = delay.as_millis() as u64, "retrying");
                    Some(delay)
                }
            }
        };
        match retry {
            Some(d) => self.add_after(key.clone(), d),
            // A key re-added while it ran is waiting: wake the dispatcher for it.
            None => self.notify.notify_one(),
        }
    }

    /// Handles keys until the surrounding task is aborted. `what` names the controller in logs.
    pub async fn run<F, Fut, E>(self: Arc<Self>, what: &'static str, concurrency: usize, handler: F)
    where
        F: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Next, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let handler = Arc::new(handler);
        let mut running: JoinSet<(K, Option<Next>)> = JoinSet::new();
        let mut keys: HashMap<tokio::task::Id, K> = HashMap::new();
        loop {
            let mut wake = None;
            while running.len() < concurrency.max(1) {
                match self.take() {
                    Ok(k) => {
                        let h = handler.clone();
                        let key = k.clone();
                        let task = running.spawn(async move {
                            let outcome = match h(k.clone()).await {
                                Ok(next) => Some(next),
                                Err(e) => {
                                    tracing::warn!(controller = what, key = ?k, error = %e, "reconcile failed");
                                    None
                                }
                            };
                            (k, outcome)
                        });
                        keys.insert(task.id(), key);
                    }
                    Err(next) => {
                        wake = next;
                        break;
                    }
                }
            }
            let notified = self.notify.notified();
            tokio::select! {
                _ = notified => {}
                _ = async {
                    match wake {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending::<()>().await,
                    }
                } => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    match done {
                        Ok((id, (k, outcome))) => {
                            keys.remove(&id);
                            self.finish(&k, outcome, what);
                        }
                        Err(e) => {
                            // A panicking reconcile is a failure like any other: retried later.
                            tracing::error!(controller = what, "a reconcile panicked: {e}");
                            if let Some(k) = keys.remove(&e.id()) {
                                self.finish(&k, None, what);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A spawned task aborted when this handle is dropped.
pub struct AbortOnDrop(pub tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn bursts_coalesce_and_failures_retry() {
        let q: Arc<Queue<String>> = Queue::new(Duration::from_millis(20));
        let calls = Arc::new(Mutex::new(Vec::<String>::new()));
        let fails = Arc::new(AtomicUsize::new(0));
        let (c, f) = (calls.clone(), fails.clone());
        let task = tokio::spawn(q.clone().run("test", 2, move |k: String| {
            let (c, f) = (c.clone(), f.clone());
            async move {
                lock(&c).push(k.clone());
                if k == "bad" && f.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err("boom");
                }
                Ok(Next::Done)
            }
        }));
        for _ in 0..50 {
            q.add("a".to_string());
        }
        q.add("bad".to_string());
        tokio::time::sleep(Duration::from_millis(600)).await;
        let seen = lock(&calls).clone();
        assert_eq!(seen.iter().filter(|k| *k == "a").count(), 1, "{seen:?}");
        assert_eq!(seen.iter().filter(|k| *k == "bad").count(), 3, "{seen:?}");
        assert!(q.is_empty());
        task.abort();
    }

    #[tokio::test]
    async fn a_panicking_handler_is_retried() {
        let q: Arc<Queue<u32>> = Queue::new(Duration::ZERO);
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let task = tokio::spawn(q.clone().run("test", 1, move |_k: u32| {
            let r = r.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run panics");
                }
                Ok::<_, String>(Next::Done)
            }
        }));
        q.add(7);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(q.is_empty());
        task.abort();
    }

    #[tokio::test]
    async fn a_key_is_never_handled_twice_at_once() {
        let q: Arc<Queue<u32>> = Queue::new(Duration::ZERO);
        let active = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, m, r) = (active.clone(), max.clone(), runs.clone());
        let task = tokio::spawn(q.clone().run("test", 4, move |_k: u32| {
            let (a, m, r) = (a.clone(), m.clone(), r.clone());
            async move {
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                a.fetch_sub(1, Ordering::SeqCst);
                r.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(Next::Done)
            }
        }));
        q.add(1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        q.add(1); // while running: runs once more afterwards
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(max.load(Ordering::SeqCst), 1);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        task.abort();
    }
}
