//! A work queue with the guarantees controllers need: a key is queued at most once, handled by
//! one worker at a time (a key added while it is being handled is handled again afterwards),
//! may be delayed (coalescing bursts of events), and failed keys come back with exponential
//! backoff.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// First retry delay after a failure; doubles per failure.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The retry delay after `failures` consecutive failures (at least 1).
pub fn backoff(failures: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

struct State<K> {
    /// Queued keys by due time (the sequence number keeps equal times distinct and FIFO).
    by_due: BTreeMap<(Instant, u64), K>,
    /// Due time of each queued key.
    due: HashMap<K, (Instant, u64)>,
    /// Keys being handled.
    in_flight: HashSet<K>,
    /// Keys added while being handled, with the earliest time they are wanted again.
    dirty: HashMap<K, Instant>,
    /// Consecutive failures per key.
    failures: HashMap<K, u32>,
    seq: u64,
}

/// The queue. Shared by reference (`Arc`) between producers and workers.
pub struct Queue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
}

impl<K: Clone + Eq + Hash> Default for Queue<K> {
    fn default() -> Self {
        Queue {
            state: Mutex::new(State {
                by_due: BTreeMap::new(),
                due: HashMap::new(),
                in_flight: HashSet::new(),
                dirty: HashMap::new(),
                failures: HashMap::new(),
                seq: 0,
            }),
            notify: Notify::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> Queue<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` now.
    pub fn add(&self, key: K) {
        self.add_at(key, Instant::now());
    }

    /// Queues `key` after `delay`; an earlier pending request for the same key wins.
    pub fn add_after(&self, key: K, delay: Duration) {
        self.add_at(key, Instant::now() + delay);
    }

    fn add_at(&self, key: K, at: Instant) {
        let mut s = self.lock();
        if s.in_flight.contains(&key) {
            let e = s.dirty.entry(key).or_insert(at);
            *e = (*e).min(at);
            return;
        }
        if let Some(&(old, seq)) = s.due.get(&key) {
            if old <= at {
                return;
            }
            s.by_due.remove(&(old, seq));
        }
        s.seq += 1;
        let slot = (at, s.seq);
        s.by_due.insert(slot, key.clone());
        s.due.insert(key, slot);
        drop(s);
        self.notify.notify_one();
    }

    /// Waits for the next due key and marks it in flight. Call [`Queue::done`] after handling.
    pub async fn next(&self) -> K {
        loop {
            let wait_until = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.by_due.first_key_value().map(|(slot, _)| *slot) {
                    Some(slot) if slot.0 <= now => {
                        if let Some(key) = s.by_due.remove(&slot) {
                            s.due.remove(&key);
                            s.in_flight.insert(key.clone());
                            // Others may be due too: let another worker look.
                            if !s.by_due.is_empty() {
                                self.notify.notify_one();
                            }
                            return key;
                        }
                        None
                    }
                    Some(slot) => Some(slot.0),
                    None => None,
                }
            };
            match wait_until {
                Some(t) => {
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = tokio::time::sleep_until(t) => {}
                    }
                }
                None => self.notify.notified().await,
            }
        }
    }

    /// Marks `key` handled. `ok == false` queues it again with backoff; success resets the
    /// backoff. A key added while in flight is queued again.
    pub fn done(&self, key: K, ok: bool) {
        let retry_at = {
            let mut s = self.lock();
            s.in_flight.remove(&key);
            let retry_at = if ok {
                s.failures.remove(&key);
                None
            } else {
                let n = s.failures.entry(key.clone()).or_insert(0);
                *n = n.saturating_add(1);
                Some(Instant::now() + backoff(*n))
            };
            let dirty = s.dirty.remove(&key);
            match (dirty, retry_at) {
                (Some(d), Some(r)) => Some(d.max(r)),
                (Some(d), None) => Some(d),
                (None, r) => r,
            }
        };
        if let Some(at) = retry_at {
            self.add_at(key, at);
        }
    }

    /// Number of queued keys (not counting those in flight).
    pub fn len(&self) -> usize {
        self.lock().due.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn keys_are_deduplicated_delayed_and_retried() {
        let q: Queue<&str> = Queue::default();
        q.add("a");
        q.add("a");
        q.add_after("b", MS * 300);
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, "a");
        // Added while in flight: comes back after done.
        q.add("a");
        assert_eq!(q.len(), 1);
        q.done("a", true);
        assert_eq!(q.next().await, "a");
        q.done("a", false);
        let start = Instant::now();
        // "b" is due at 300 ms, the retried "a" at 100 ms.
        assert_eq!(q.next().await, "a");
        assert!(start.elapsed() >= BACKOFF_BASE);
        q.done("a", true);
        assert_eq!(q.next().await, "b");
        q.done("b", true);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn an_earlier_request_moves_a_delayed_key_forward() {
        let q: Queue<u32> = Queue::default();
        q.add_after(1, Duration::from_secs(10));
        q.add_after(1, Duration::from_secs(20));
        q.add(1);
        let start = Instant::now();
        assert_eq!(q.next().await, 1);
        assert!(start.elapsed() < Duration::from_secs(1));
        // Workers waiting on an empty queue wake up for new keys.
        let q = std::sync::Arc::new(Queue::<u32>::default());
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.next().await });
        tokio::time::sleep(MS * 20).await;
        q.add_after(5, MS * 10);
        assert_eq!(waiter.await.ok(), Some(5));
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), BACKOFF_BASE);
        assert_eq!(backoff(2), BACKOFF_BASE * 2);
        assert_eq!(backoff(4), BACKOFF_BASE * 8);
        assert_eq!(backoff(9), BACKOFF_BASE * 256);
        assert_eq!(backoff(10), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
