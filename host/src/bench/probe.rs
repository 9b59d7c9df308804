//! The benchmark's eyes: a subscriber to every space's commit stream (in process, so observing
//! costs the system under test next to nothing), recording when each benchmark object reached
//! each WEC, when it left, when WorkStatuses got their status, and when anything last changed.
//!
//! Objects are recognised by the label [`RUN_LABEL`]; their version by [`SEQ_LABEL`], a
//! counter the driver bumps with every update. An object "arrives" at a WEC in version `s` when
//! the WEC first holds it with a sequence number `>= s` (a WEC may skip versions that were
//! superseded before it got them), so the arrival of version `s` everywhere is the latency of
//! the update that made it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubestellar_space::RunningSpace;
use kubestellar_space::store::{Event, EventType, ObjectKey};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;

/// Label carrying the benchmark run's id on every object it creates.
pub const RUN_LABEL: &str = "bench.kubestellar.io/run";
/// Label carrying an object's version number (bumped by every update the driver makes).
pub const SEQ_LABEL: &str = "bench.kubestellar.io/seq";

/// Which space an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Wds,
    Its,
    /// The i-th WEC (0-based).
    Wec(usize),
}

/// Committed changes seen, heartbeats (Leases) and Events excluded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Commits {
    pub wds: u64,
    pub its: u64,
    pub wecs: u64,
    /// Agent heartbeats (Lease renewals) in the ITS.
    pub its_leases: u64,
}

/// When one version of one object reached the WECs.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// WECs holding this version (or a later one).
    pub count: usize,
    pub first: Instant,
    pub last: Instant,
}

/// Every version seen of one object, with when it was seen.
type History = Vec<(Instant, Arc<Value>)>;

#[derive(Default)]
struct State {
    ids: HashMap<String, u32>,
    /// Per WEC: object -> sequence number held.
    present: Vec<HashMap<u32, u32>>,
    arrivals: HashMap<(u32, u32), Arrival>,
    /// Object -> (WECs it left, when it last left one).
    gone: HashMap<u32, (usize, Instant)>,
    /// WorkStatuses (namespace/name) that carry a status.
    reported: HashSet<String>,
    /// ManifestWorks of the run (namespace/name) whose condition Applied is True, and when
    /// the last one became so.
    applied: HashSet<String>,
    last_applied: Option<Instant>,
    commits: Commits,
    /// Committed changes per (space kind, resource, event type), for the write breakdown.
    by_resource: HashMap<(&'static str, String, &'static str), u64>,
    last_activity: Option<Instant>,
    /// Objects whose every version is kept: (space, key) -> history.
    watched: HashMap<(Space, ObjectKey), History>,
    /// Events missed because the probe fell behind (then the space is rescanned).
    lagged: u64,
}

struct Inner {
    run: String,
    state: Mutex<State>,
    changed: Notify,
}

/// The probe over one system's spaces. Dropping it stops it.
pub struct Probe {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Waiting for the probe to see something took longer than allowed.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {0:?} waiting for {1}")]
pub struct Timeout(pub Duration, pub String);

fn object_id(st: &mut State, key: &ObjectKey) -> u32 {
    let k = format!("{}/{}/{}", key.gr.resource, key.namespace, key.name);
    let next = st.ids.len() as u32;
    *st.ids.entry(k).or_insert(next)
}

#[derive(serde::Deserialize)]
struct HasStatus {
    status: Option<serde::de::IgnoredAny>,
}

/// Just the conditions of an object's status.
#[derive(serde::Deserialize)]
struct Conditions {
    #[serde(default)]
    status: Option<ConditionList>,
}

#[derive(serde::Deserialize)]
struct ConditionList {
    #[serde(default)]
    conditions: Vec<ConditionOnly>,
}

#[derive(serde::Deserialize)]
struct ConditionOnly {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

/// Whether an object's JSON has condition `Applied` with status `True`.
fn applied_true(json: &[u8]) -> bool {
    serde_json::from_slice::<Conditions>(json).is_ok_and(|c| {
        c.status.is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Applied" && c.status == "True")
        })
    })
}

fn is_manifestwork(gr: &kubestellar_space::registry::GroupResource) -> bool {
    gr.group == "work.open-cluster-management.io" && gr.resource == "manifestworks"
}

impl Probe {
    /// Starts observing `wds`, `its` and the `wecs` (in WEC order) for run `run`.
    pub fn start(
        run: &str,
        wds: &RunningSpace,
        its: &RunningSpace,
        wecs: &[&RunningSpace],
    ) -> Probe {
        let inner = Arc::new(Inner {
            run: run.to_string(),
            state: Mutex::new(State {
                present: vec![HashMap::new(); wecs.len()],
                ..State::default()
            }),
            changed: Notify::new(),
        });
        let mut spaces = vec![(Space::Wds, wds), (Space::Its, its)];
        spaces.extend(wecs.iter().enumerate().map(|(i, s)| (Space::Wec(i), *s)));
        let tasks = spaces
            .into_iter()
            .map(|(which, running)| {
                let store = running.space.store.clone();
                let inner = inner.clone();
                tokio::spawn(async move {
                    let mut rx = store.subscribe_all();
                    loop {
                        let first = match rx.recv().await {
                            Ok(ev) => Some(ev),
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                inner.rescan(which, &store, n);
                                None
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        };
                        let now = Instant::now();
                        let mut st = inner.lock();
                        if let Some(ev) = first {
                            inner.record(&mut st, which, &ev, now);
                        }
                        // Take what else is queued under one lock.
                        loop {
                            match rx.try_recv() {
                                Ok(ev) => inner.record(&mut st, which, &ev, now),
                                Err(TryRecvError::Lagged(n)) => {
                                    drop(st);
                                    inner.rescan(which, &store, n);
                                    st = inner.lock();
                                }
                                Err(_) => break,
                            }
                        }
                        drop(st);
                        inner.changed.notify_waiters();
                    }
                })
                .abort_handle()
            })
            .collect();
        Probe { inner, tasks }
    }

    /// Keeps every version of an object of `space` from now on (see [`Probe::wait_json`]).
    pub fn watch(&self, space: Space, key: ObjectKey) {
        self.inner.lock().watched.entry((space, key)).or_default();
    }

    /// Stops keeping the versions of `key` (in every space).
    pub fn forget(&self, key: &ObjectKey) {
        self.inner.lock().watched.retain(|(_, k), _| k != key);
    }

    /// The arrival of version `seq` of `key` at the WECs, if any WEC has it.
    pub fn arrival(&self, key: &ObjectKey, seq: u32) -> Option<Arrival> {
        let mut st = self.inner.lock();
        let id = object_id(&mut st, key);
        st.arrivals.get(&(id, seq)).copied()
    }

    /// WECs holding (some version of) `key`.
    pub fn holders(&self, key: &ObjectKey) -> usize {
        let mut st = self.inner.lock();
        let id = object_id(&mut st, key);
        st.present.iter().filter(|p| p.contains_key(&id)).count()
    }

    /// WECs `key` left and when it last left one.
    pub fn gone(&self, key: &ObjectKey) -> Option<(usize, Instant)> {
        let mut st = self.inner.lock();
        let id = object_id(&mut st, key);
        st.gone.get(&id).copied()
    }

    /// Benchmark objects held by all WECs together, and when the last one arrived.
    pub fn delivered(&self) -> (usize, Option<Instant>) {
        let st = self.inner.lock();
        let n = st.present.iter().map(HashMap::len).sum();
        let last = st.arrivals.values().map(|a| a.last).max();
        (n, last)
    }

    /// WorkStatuses carrying a status.
    pub fn reported(&self) -> usize {
        self.inner.lock().reported.len()
    }

    /// ManifestWorks of the run (labelled with it) whose condition Applied is True, and when
    /// the last of them became so.
    pub fn applied(&self) -> (usize, Option<Instant>) {
        let st = self.inner.lock();
        (st.applied.len(), st.last_applied)
    }

    /// Committed changes so far.
    pub fn commits(&self) -> Commits {
        self.inner.lock().commits
    }

    /// Committed changes per (space kind, resource, event type), most first.
    pub fn commits_by_resource(&self) -> Vec<((&'static str, String, &'static str), u64)> {
        let mut v: Vec<_> = self
            .inner
            .lock()
            .by_resource
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// When anything but a heartbeat or an Event was last committed in any space.
    pub fn last_activity(&self) -> Option<Instant> {
        self.inner.lock().last_activity
    }

    /// Events the probe missed and made up for by rescanning.
    pub fn lagged(&self) -> u64 {
        self.inner.lock().lagged
    }
    /// Seconds from `t0` until `expected` objects are present in the WECs; on a timeout, how
    /// many were there and the timeout.
    pub async fn seconds_until_delivered(
        &self,
        what: &str,
        expected: usize,
        t0: Instant,
        timeout: Duration,
    ) -> Result<f64, (usize, Timeout)> {
        let waited = self
            .wait(what, timeout, |p| {
                let (n, last) = p.delivered();
                (n >= expected).then_some(last)
            })
            .await;
        match waited {
            Ok(last) => Ok(last
                .unwrap_or(t0)
                .saturating_duration_since(t0)
                .as_secs_f64()),
            Err(e) => Err((self.delivered().0, e)),
        }
    }

    /// Waits until `check` (run on every change) says yes; fails after `timeout`.
    pub async fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Probe) -> Option<T>,
    ) -> Result<T, Timeout> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(t) = check(self) {
                return Ok(t);
            }
            tokio::select! {
                _ = notified => {}
                // Conditions on time (quiet periods) need a tick without events.
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return check(self).ok_or_else(|| Timeout(timeout, what.to_string()));
                }
            }
        }
    }

    /// Waits until the watched object `key` of `space` has a version committed at or after
    /// `since` for which `pred` holds; returns when that version was seen.
    pub async fn wait_json(
        &self,
        space: Space,
        key: &ObjectKey,
        since: Instant,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Instant, Timeout> {
        let what = format!("{}/{} in {space:?}", key.namespace, key.name);
        self.wait(&what, timeout, |p| {
            let st = p.inner.lock();
            st.watched
                .get(&(space, key.clone()))?
                .iter()
                .find(|(t, v)| *t >= since && pred(v))
                .map(|(t, _)| *t)
        })
        .await
        .map_err(|Timeout(d, what)| {
            // Say what was seen last: a wait for a status that never came is otherwise opaque.
            let st = self.inner.lock();
            let last = st
                .watched
                .get(&(space, key.clone()))
                .and_then(|seen| seen.last())
                .map_or_else(|| "nothing".to_string(), |(_, v)| v["status"].to_string());
            Timeout(d, format!("{what} (last status seen: {last})"))
        })
    }

    /// Waits until no change (heartbeats aside) has been committed for `quiet`; returns when
    /// the last change happened.
    pub async fn settle(&self, quiet: Duration, timeout: Duration) -> Result<Instant, Timeout> {
        self.wait("the spaces to settle", timeout, |p| {
            let last = p.last_activity()?;
            (last.elapsed() >= quiet).then_some(last)
        })
        .await
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ours(&self, labels: &std::collections::BTreeMap<String, String>) -> Option<u32> {
        if labels.get(RUN_LABEL) != Some(&self.run) {
            return None;
        }
        Some(
            labels
                .get(SEQ_LABEL)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        )
    }

    fn record(&self, st: &mut State, space: Space, ev: &Event, now: Instant) {
        let gr = &ev.key.gr;
        let heartbeat = gr.group == "coordination.k8s.io" && gr.resource == "leases";
        let event = gr.resource == "events";
        if heartbeat {
            if space == Space::Its {
                st.commits.its_leases += 1;
            }
            return;
        }
        if !event {
            st.last_activity = Some(now);
            let which = match space {
                Space::Wds => {
                    st.commits.wds += 1;
                    "WDS"
                }
                Space::Its => {
                    st.commits.its += 1;
                    "ITS"
                }
                Space::Wec(_) => {
                    st.commits.wecs += 1;
                    "WECs"
                }
            };
            *st.by_resource
                .entry((which, gr.resource.clone(), ev.kind.as_str()))
                .or_default() += 1;
        }
        if !st.watched.is_empty()
            && let Some(history) = st.watched.get_mut(&(space, ev.key.clone()))
        {
            history.push((now, Arc::new(ev.object.value())));
        }
        match space {
            Space::Wec(i) => {
                let Some(seq) = self.ours(&ev.object.meta.labels) else {
                    return;
                };
                let id = object_id(st, &ev.key);
                if ev.kind == EventType::Deleted {
                    if st.present[i].remove(&id).is_some() {
                        let g = st.gone.entry(id).or_insert((0, now));
                        g.0 += 1;
                        g.1 = now;
                    }
                } else {
                    arrive(st, i, id, seq, now);
                }
            }
            Space::Its if gr.group == "control.kubestellar.io" && gr.resource == "workstatuses" => {
                let k = format!("{}/{}", ev.key.namespace, ev.key.name);
                let has = ev.kind != EventType::Deleted
                    && serde_json::from_slice::<HasStatus>(&ev.object.json)
                        .is_ok_and(|h| h.status.is_some());
                if has {
                    st.reported.insert(k);
                } else {
                    st.reported.remove(&k);
                }
            }
            Space::Its if is_manifestwork(gr) && self.ours(&ev.object.meta.labels).is_some() => {
                let k = format!("{}/{}", ev.key.namespace, ev.key.name);
                if ev.kind != EventType::Deleted && applied_true(&ev.object.json) {
                    if st.applied.insert(k) {
                        st.last_applied = Some(now);
                    }
                } else {
                    st.applied.remove(&k);
                }
            }
            _ => {}
        }
    }

    /// Catches up with a space after missing `missed` events: what its store holds now.
    fn rescan(&self, space: Space, store: &kubestellar_space::store::Store, missed: u64) {
        let now = Instant::now();
        let mut st = self.lock();
        st.lagged += missed;
        st.last_activity = Some(now);
        match space {
            Space::Wec(i) => {
                let mut seen: Vec<(u32, u32)> = Vec::new();
                store.for_each(&mut |key, obj| {
                    if let Some(seq) = self.ours(&obj.meta.labels) {
                        seen.push((object_id(&mut st, key), seq));
                    }
                });
                let live: HashSet<u32> = seen.iter().map(|(id, _)| *id).collect();
                let left: Vec<u32> = st.present[i]
                    .keys()
                    .filter(|id| !live.contains(id))
                    .copied()
                    .collect();
                for id in left {
                    st.present[i].remove(&id);
                    let g = st.gone.entry(id).or_insert((0, now));
                    g.0 += 1;
                    g.1 = now;
                }
                for (id, seq) in seen {
                    arrive(&mut st, i, id, seq, now);
                }
            }
            Space::Its => {
                let mut reported = HashSet::new();
                let mut applied = HashSet::new();
                store.for_each(&mut |key, obj| {
                    if key.gr.resource == "workstatuses"
                        && serde_json::from_slice::<HasStatus>(&obj.json)
                            .is_ok_and(|h| h.status.is_some())
                    {
                        reported.insert(format!("{}/{}", key.namespace, key.name));
                    }
                    if is_manifestwork(&key.gr)
                        && self.ours(&obj.meta.labels).is_some()
                        && applied_true(&obj.json)
                    {
                        applied.insert(format!("{}/{}", key.namespace, key.name));
                    }
                });
                st.reported = reported;
                if applied.difference(&st.applied).next().is_some() {
                    st.last_applied = Some(now);
                }
                st.applied = applied;
            }
            Space::Wds => {}
        }
    }
}

/// WEC `wec` now holds version `seq` of object `id`: every version it skipped arrived too.
fn arrive(st: &mut State, wec: usize, id: u32, seq: u32, now: Instant) {
    let previous = st.present[wec].insert(id, seq);
    let from = match previous {
        Some(p) if p >= seq => return,
        Some(p) => p + 1,
        None => 0,
    };
    for s in from..=seq {
        let a = st.arrivals.entry((id, s)).or_insert(Arrival {
            count: 0,
            first: now,
            last: now,
        });
        a.count += 1;
        a.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_needs_condition_applied_true() {
        let with = |conds: Value| {
            serde_json::to_vec(&serde_json::json!({"status": {"conditions": conds}}))
                .unwrap_or_default()
        };
        assert!(applied_true(&with(serde_json::json!([
            {"type": "Available", "status": "False"},
            {"type": "Applied", "status": "True"},
        ]))));
        assert!(!applied_true(&with(serde_json::json!([
            {"type": "Applied", "status": "False"},
        ]))));
        assert!(!applied_true(br#"{"spec": {}}"#));
        assert!(!applied_true(b"not json"));
    }
}
