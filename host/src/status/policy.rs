//! Conditions of a BindingPolicy and of its Binding, written by server-side apply of
//! `status.conditions` only (so the binding and transport controllers' `observedGeneration` and
//! `errors` stay theirs), and only once those controllers have given the object a status (its
//! schema requires `observedGeneration`).
//!
//! * `StatusCollectorsAvailable` (upstream): `True/ReconcileSuccess/"All StatusCollector(s) are
//!   available"`, or `False/ReconcileError/"Missing StatusCollector(s) [a b]"` naming (sorted)
//!   the collectors the Binding's objects reference that do not exist or are invalid.
//! * `Synced` (ours): `True/ReconcileSuccess` when the transport controller has processed the
//!   Binding's current generation without errors; else `False/ReconcileError` with the errors
//!   or what is awaited.
//! * `Ready` (ours): `True/Available` when every object of the Binding is applied in every
//!   destination (its ManifestWork's agent reports `Applied=True` for the current generation);
//!   else `False/Unavailable` naming what is not (yet) applied, with the agent's message.
//!
//! `lastTransitionTime` changes only when a condition's status, reason or message changes.
//! States that only mean "in progress" (the transport controller or an agent not having caught
//! up with the latest change) leave an existing `Synced` / `Ready` as it is for
//! [`IN_PROGRESS_GRACE`], so that every change of a bound object does not flip them (and
//! rewrite the policy's status) twice.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::collectors::{self, CollectorState};
use super::index::{Index, ManifestState, MwEntry, destinations, entries};
use super::keys::{ObjKey, Work};
use super::writer::{Op, Target};
use super::{Shared, lock};
use crate::api::conditions::set_condition;
use crate::api::{Binding, Condition};

/// Condition type: the referenced StatusCollectors all exist and are valid.
pub const STATUS_COLLECTORS_AVAILABLE: &str = "StatusCollectorsAvailable";
/// Condition type: the transport controller processed the current Binding.
pub const SYNCED: &str = "Synced";
/// Condition type: everything is applied in every destination.
pub const READY: &str = "Ready";
/// How long work in progress may go on before `Synced` or `Ready` says it is not done.
pub const IN_PROGRESS_GRACE: Duration = Duration::from_secs(5);
/// At most this many problems are named in the `Ready` message.
const MAX_NAMED: usize = 5;

/// Formats names like Go's `fmt` prints a `[]string`.
fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// `StatusCollectorsAvailable`, given the missing collectors.
pub fn collectors_condition(missing: &[String]) -> Condition {
    if missing.is_empty() {
        Condition::new(
            STATUS_COLLECTORS_AVAILABLE,
            true,
            "ReconcileSuccess",
            "All StatusCollector(s) are available",
        )
    } else {
        Condition::new(
            STATUS_COLLECTORS_AVAILABLE,
            false,
            "ReconcileError",
            format!("Missing StatusCollector(s) {}", go_list(missing)),
        )
    }
}

/// `Synced`, from the Binding, and whether it only reflects work in progress (the transport
/// controller not having caught up yet).
pub fn synced_condition(b: Option<&Binding>) -> (Condition, bool) {
    let Some(b) = b else {
        let c = Condition::new(
            SYNCED,
            false,
            "ReconcileError",
            "The Binding has not been created yet",
        );
        return (c, true);
    };
    let status = b.status.clone().unwrap_or_default();
    if !status.errors.is_empty() {
        return (
            Condition::new(SYNCED, false, "ReconcileError", status.errors.join("; ")),
            false,
        );
    }
    if b.status.is_none() || Some(status.observed_generation) != b.metadata.generation {
        let c = Condition::new(
            SYNCED,
            false,
            "ReconcileError",
            "The transport controller has not processed the latest Binding yet",
        );
        return (c, true);
    }
    (
        Condition::new(SYNCED, true, "ReconcileSuccess", "The Binding is synced"),
        false,
    )
}

/// `Ready`, from the Binding and what the agents reported on its ManifestWorks, and whether it
/// only reflects work in progress (the transport controller or an agent not having caught up).
pub fn ready_condition(ix: &Index, b: Option<&Binding>) -> (Condition, bool) {
    let Some(b) = b else {
        return (
            Condition::new(
                READY,
                false,
                "Unavailable",
                "The Binding has not been created yet",
            ),
            true,
        );
    };
    let name = b.metadata.name.clone().unwrap_or_default();
    if b.status
        .as_ref()
        .is_none_or(|s| Some(s.observed_generation) != b.metadata.generation)
    {
        let c = Condition::new(
            READY,
            false,
            "Unavailable",
            "Waiting for the transport controller to deliver the latest Binding",
        );
        return (c, true);
    }
    let objects: Vec<ObjKey> = entries(b).into_keys().collect();
    let dests = destinations(b);
    let mut by_wec: HashMap<&str, Vec<&MwEntry>> = HashMap::new();
    for ((ns, _), mw) in &ix.manifestworks {
        if mw.binding.as_deref() == Some(name.as_str()) {
            by_wec.entry(ns.as_str()).or_default().push(mw);
        }
    }
    let mut problems: Vec<String> = Vec::new();
    let mut settled = true;
    for wec in &dests {
        let mws = by_wec.remove(wec.as_str()).unwrap_or_default();
        if mws.iter().any(|mw| !mw.observed()) {
            settled = false;
            problems.push(format!(
                "{wec}: the agent has not reported on the latest ManifestWork yet"
            ));
            continue;
        }
        for mw in &mws {
            if let Some(d) = mw.condition("Degraded").filter(|c| c.status == "True") {
                problems.push(format!("{wec}: {}", d.message));
            }
        }
        let degraded = mws
            .iter()
            .any(|mw| mw.condition("Degraded").is_some_and(|c| c.status == "True"));
        let states: HashMap<&ObjKey, &ManifestState> = mws
            .iter()
            .flat_map(|mw| mw.manifests.iter())
            .map(|m| (&m.key, m))
            .collect();
        for key in &objects {
            match states.get(key) {
                Some(m) if m.applied == Some(true) => {}
                // The Degraded message already names the failed manifests.
                Some(_) if degraded => {}
                Some(m) if !m.message.is_empty() => {
                    problems.push(format!("{wec}: {key}: {}", m.message))
                }
                _ => {
                    settled = false;
                    problems.push(format!("{wec}: {key} is not applied yet"));
                }
            }
        }
    }
    if problems.is_empty() {
        let msg = format!(
            "All {} object(s) are applied in {} WEC(s)",
            objects.len(),
            dests.len()
        );
        return (Condition::new(READY, true, "Available", msg), false);
    }
    let total = problems.len();
    problems.truncate(MAX_NAMED);
    let mut msg = problems.join("; ");
    if total > MAX_NAMED {
        msg.push_str(&format!("; and {} more", total - MAX_NAMED));
    }
    (Condition::new(READY, false, "Unavailable", msg), !settled)
}

/// `conditions` with `new` set in, keeping transition times of unchanged ones. A condition
/// marked held keeps its current value when there is one (work in progress does not flip it).
fn merged(conditions: &[Condition], new: &[(Condition, bool)]) -> Vec<Condition> {
    let mut out = conditions.to_vec();
    for (c, held) in new {
        if *held && out.iter().any(|o| o.type_ == c.type_) {
            continue;
        }
        set_condition(&mut out, c.clone());
    }
    out
}

/// Whether a condition that only reflects work in progress is still within its grace period
/// (then: how much of it is left). Outside it, or when not in progress, `None`.
fn grace_left(sh: &Shared, name: &str, t: &'static str, in_progress: bool) -> Option<Duration> {
    let mut lag = lock(&sh.in_progress);
    if !in_progress {
        lag.remove(&(name.to_string(), t));
        return None;
    }
    let since = *lag
        .entry((name.to_string(), t))
        .or_insert_with(Instant::now);
    IN_PROGRESS_GRACE
        .checked_sub(since.elapsed())
        .filter(|d| !d.is_zero())
}

/// Makes the conditions of BindingPolicy `name` and of Binding `name` what they should be.
pub(super) async fn reconcile(sh: &Shared, name: &str) -> Result<(), String> {
    let (policy, binding) = {
        let ix = lock(&sh.index);
        (
            ix.policies.get(name).cloned(),
            ix.bindings.get(name).cloned(),
        )
    };
    if policy.is_none() && binding.is_none() {
        lock(&sh.in_progress).retain(|(n, _), _| n != name);
        return Ok(());
    }
    let mut referenced: BTreeSet<String> = binding
        .as_deref()
        .map(|b| {
            entries(b)
                .into_values()
                .flat_map(|e| e.modulation.status_collectors)
                .collect()
        })
        .unwrap_or_default();
    // Upsync clauses' collectors count whether or not anything was upsynced yet.
    referenced.extend(
        policy
            .iter()
            .flat_map(|p| &p.spec.upsync)
            .flat_map(|c| c.status_collectors.iter().cloned()),
    );
    let mut missing = Vec::new();
    for c in &referenced {
        match collectors::state(sh, c).await {
            CollectorState::Ready(_) => {}
            CollectorState::Missing | CollectorState::Invalid(_) => missing.push(c.clone()),
            CollectorState::Pending(why) => {
                return Err(format!(
                    "StatusCollector {c}: waiting for its plugin: {why}"
                ));
            }
        }
    }
    let (synced, ready) = {
        let ix = lock(&sh.index);
        (
            synced_condition(binding.as_deref()),
            ready_condition(&ix, binding.as_deref()),
        )
    };
    let origin = Work::Policy(name.to_string());
    // Work in progress flips nothing for a few seconds; look again when that time is up.
    let hold_synced = grace_left(sh, name, SYNCED, synced.1);
    let hold_ready = grace_left(sh, name, READY, ready.1);
    if let Some(left) = hold_synced.into_iter().chain(hold_ready).min() {
        sh.queue.add_after(origin.clone(), left);
    }
    let wanted = vec![
        (collectors_condition(&missing), false),
        (synced.0, hold_synced.is_some()),
        (ready.0, hold_ready.is_some()),
    ];
    if let Some(p) = policy.as_deref()
        && let Some(status) = &p.status
    {
        let conditions = merged(&status.conditions, &wanted);
        let in_sync = conditions == status.conditions;
        let op = Op::Conditions {
            policy: true,
            name: name.to_string(),
            conditions,
        };
        sh.writer
            .reconcile(
                &sh.stats,
                Target::PolicyConditions(name.to_string()),
                op,
                in_sync,
                origin.clone(),
            )
            .await;
    }
    if let Some(b) = binding.as_deref()
        && let Some(status) = &b.status
    {
        let conditions = merged(&status.conditions, &wanted);
        let in_sync = conditions == status.conditions;
        let op = Op::Conditions {
            policy: false,
            name: name.to_string(),
            conditions,
        };
        sh.writer
            .reconcile(
                &sh.stats,
                Target::BindingConditions(name.to_string()),
                op,
                in_sync,
                origin,
            )
            .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::index::{ManifestState, MwEntry};
    use serde_json::json;

    fn binding(generation: i64, observed: Option<i64>, errors: &[&str]) -> Binding {
        let mut v = json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "Binding",
            "metadata": {"name": "bp", "generation": generation},
            "spec": {"destinations": [{"clusterId": "c1"}, {"clusterId": "c2"}],
                "workload": {"namespaceScope": [{"group": "apps", "version": "v1", "resource": "deployments", "namespace": "ns", "name": "d", "resourceVersion": "1"}]}},
        });
        if let Some(o) = observed {
            v["status"] = json!({"observedGeneration": o, "errors": errors});
        }
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn collectors_condition_texts_are_upstreams() {
        let c = collectors_condition(&[]);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            (
                "True",
                "ReconcileSuccess",
                "All StatusCollector(s) are available"
            )
        );
        let c = collectors_condition(&["a".into(), "b".into()]);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            (
                "False",
                "ReconcileError",
                "Missing StatusCollector(s) [a b]"
            )
        );
    }

    #[test]
    fn synced_follows_the_transport_controller() {
        let st = |b: Option<&Binding>| {
            let (c, in_progress) = synced_condition(b);
            (c.status, c.reason, c.message, in_progress)
        };
        assert!(st(None).3);
        assert_eq!(st(Some(&binding(2, None, &[]))).0, "False");
        let waiting = st(Some(&binding(2, Some(1), &[])));
        assert_eq!((waiting.0.as_str(), waiting.3), ("False", true));
        let failed = st(Some(&binding(2, Some(2), &["template error in c1"])));
        assert_eq!(
            (failed.0.as_str(), failed.2.as_str(), failed.3),
            ("False", "template error in c1", false)
        );
        let ok = st(Some(&binding(2, Some(2), &[])));
        assert_eq!(
            (ok.0.as_str(), ok.1.as_str(), ok.3),
            ("True", "ReconcileSuccess", false)
        );
    }

    fn mw(
        binding: &str,
        generation: i64,
        applied: Option<bool>,
        degraded: Option<&str>,
    ) -> MwEntry {
        let mut conditions = vec![Condition {
            observed_generation: Some(generation),
            ..Condition::new("Applied", applied == Some(true), "x", "")
        }];
        if let Some(m) = degraded {
            conditions.push(Condition {
                observed_generation: Some(generation),
                ..Condition::new("Degraded", true, "ApplyFailed", m)
            });
        }
        MwEntry {
            binding: Some(binding.into()),
            generation,
            conditions,
            manifests: applied
                .map(|a| {
                    vec![ManifestState {
                        key: ObjKey::new("apps", "deployments", "ns", "d"),
                        applied: Some(a),
                        message: String::new(),
                    }]
                })
                .unwrap_or_default(),
        }
    }

    #[test]
    fn ready_needs_every_object_applied_everywhere() {
        let b = binding(2, Some(2), &[]);
        let mut ix = Index::default();
        let (c, in_progress) = ready_condition(&ix, Some(&b));
        assert_eq!((c.status.as_str(), in_progress), ("False", true));
        assert_eq!(
            c.message,
            "c1: apps/deployments(ns/d) is not applied yet; c2: apps/deployments(ns/d) is not applied yet"
        );
        ix.manifestwork_changed(
            ("c1".into(), "m".into()),
            Some(mw("bp", 1, Some(true), None)),
        );
        ix.manifestwork_changed(
            ("c2".into(), "m".into()),
            Some(mw(
                "bp",
                1,
                Some(false),
                Some("1 of 1 manifests failed: forbidden"),
            )),
        );
        let (c, in_progress) = ready_condition(&ix, Some(&b));
        assert_eq!(
            (c.status.as_str(), c.message.as_str(), in_progress),
            ("False", "c2: 1 of 1 manifests failed: forbidden", false)
        );
        ix.manifestwork_changed(
            ("c2".into(), "m".into()),
            Some(mw("bp", 1, Some(true), None)),
        );
        let (c, in_progress) = ready_condition(&ix, Some(&b));
        assert_eq!(
            (
                c.status.as_str(),
                c.reason.as_str(),
                c.message.as_str(),
                in_progress
            ),
            (
                "True",
                "Available",
                "All 1 object(s) are applied in 2 WEC(s)",
                false
            )
        );
        // A ManifestWork the agent has not reported on yet: in progress.
        let mut pending = mw("bp", 2, Some(true), None);
        pending.conditions[0].observed_generation = Some(1);
        ix.manifestwork_changed(("c2".into(), "m".into()), Some(pending));
        let (c, in_progress) = ready_condition(&ix, Some(&b));
        assert_eq!((c.status.as_str(), in_progress), ("False", true));
        // The transport controller has not processed the Binding: in progress.
        let (c, in_progress) = ready_condition(&ix, Some(&binding(3, Some(2), &[])));
        assert_eq!((c.status.as_str(), in_progress), ("False", true));
    }

    #[test]
    fn work_in_progress_keeps_an_existing_condition() {
        let ok = Condition {
            last_transition_time: "2020-01-01T00:00:00Z".into(),
            ..synced_condition(Some(&binding(1, Some(1), &[]))).0
        };
        let waiting = synced_condition(Some(&binding(2, Some(1), &[]))).0;
        assert_eq!(
            merged(std::slice::from_ref(&ok), &[(waiting.clone(), true)]),
            vec![ok.clone()]
        );
        assert_eq!(
            merged(&[], &[(waiting.clone(), true)]),
            vec![waiting.clone()]
        );
        assert_eq!(
            merged(std::slice::from_ref(&ok), &[(waiting, false)])[0].status,
            "False"
        );
    }

    #[test]
    fn merging_keeps_unchanged_transition_times() {
        let old = vec![Condition {
            last_transition_time: "2020-01-01T00:00:00Z".into(),
            ..collectors_condition(&[])
        }];
        let m = merged(
            &old,
            &[
                (collectors_condition(&[]), false),
                (synced_condition(None).0, false),
            ],
        );
        assert_eq!(m[0].last_transition_time, "2020-01-01T00:00:00Z");
        assert_eq!(m.len(), 2);
        let m = merged(&old, &[(collectors_condition(&["x".into()]), false)]);
        assert_ne!(m[0].last_transition_time, "2020-01-01T00:00:00Z");
    }
}
