//! Returned status of one workload object (singleton copy or multi-WEC aggregation, upstream's
//! `syncWorkloadObject`) and the labels the status controller keeps on it:
//! `managed-by.kubestellar.io/singletonstatus` / `multiwecstatus` while status is returned, and
//! `kubestellar.io/executing-count` (the number of WECs the object is delivered to).
//!
//! Decision, across all Bindings naming the object: singleton is requested when some clause
//! has `wantSingletonReportedState`, and S is the union of the destinations of the Bindings
//! requesting it; likewise multi-WEC and M.
//! * both requested: Q = S ∪ M; |Q| = 1 ⇒ singleton copy from that WEC, else multi-WEC over Q;
//! * else singleton with |S| = 1 or multi with |M| = 1 ⇒ singleton copy from that WEC;
//! * else multi with |M| > 1 ⇒ multi-WEC over M;
//! * else clear.
//!
//! Singleton copy: with exactly one WorkStatus for the object in that WEC, `.status` becomes
//! its status (a WorkStatus without status changes nothing); otherwise clear. Multi-WEC: the
//! statuses the WECs of the set returned; none ⇒ clear, one ⇒ copied, more ⇒ aggregated by the
//! kind's rule ([`super::aggregate`]), and for kinds without a rule, clear (upstream leaves the
//! old status in place). Clear: when the object carries a status label, `.status` becomes `{}`
//! and the labels go. The label of the mode not in use is removed (upstream keeps it).
//! Namespaces and CustomResourceDefinitions never get status written back.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::aggregate::aggregate;
use super::index::{Index, destinations};
use super::keys::{ObjKey, Work};
use super::writer::{Op, Target};
use super::{Shared, lock};
use crate::api::labels::{EXECUTING_COUNT, MULTIWEC_STATUS, SINGLETON_STATUS};

/// Which status return applies to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Singleton(String),
    Multi(BTreeSet<String>),
    Clear,
}

/// The status return mode for `key`, from the Bindings naming it.
pub fn mode(ix: &Index, key: &ObjKey) -> Mode {
    let (mut single, mut multi) = (false, false);
    let (mut s, mut m) = (BTreeSet::new(), BTreeSet::new());
    for (b, e) in ix.bindings_of(key) {
        if e.modulation.want_singleton_reported_state {
            single = true;
            s.extend(destinations(&b));
        }
        if e.modulation.want_multi_wec_reported_state {
            multi = true;
            m.extend(destinations(&b));
        }
    }
    decide(single, s, multi, m)
}

/// Upstream's decision table.
pub fn decide(single: bool, s: BTreeSet<String>, multi: bool, m: BTreeSet<String>) -> Mode {
    let only = |set: &BTreeSet<String>| {
        if set.len() == 1 {
            set.iter().next().cloned()
        } else {
            None
        }
    };
    if single && multi {
        let q: BTreeSet<String> = s.union(&m).cloned().collect();
        return match only(&q) {
            Some(w) => Mode::Singleton(w),
            None => Mode::Multi(q),
        };
    }
    if multi && let Some(w) = only(&m) {
        return Mode::Singleton(w);
    }
    if single && let Some(w) = only(&s) {
        return Mode::Singleton(w);
    }
    if multi && m.len() > 1 {
        return Mode::Multi(m);
    }
    Mode::Clear
}

/// What to do with the object's status.
#[derive(Clone, Debug, PartialEq)]
pub enum Returned {
    /// Set `.status` and mark it with this label.
    Set(Value, &'static str),
    /// Leave status and labels as they are.
    Keep,
    /// Clear (status `{}`, labels removed) if the object carries a status label.
    Clear,
}

/// The returned status of `key` under `mode`.
pub fn returned(ix: &Index, key: &ObjKey, mode: &Mode) -> Returned {
    let statuses_in = |wecs: &BTreeSet<String>| -> Vec<(Option<Value>, String)> {
        let mut v: Vec<(Option<Value>, String)> = ix
            .ws_by_obj
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(wec, _)| wecs.contains(wec))
            .filter_map(|id| ix.workstatuses.get(id))
            .map(|w| (w.status.clone(), w.wec.clone()))
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    };
    match mode {
        Mode::Clear => Returned::Clear,
        Mode::Singleton(wec) => {
            let found = statuses_in(&BTreeSet::from([wec.clone()]));
            match found.as_slice() {
                [(Some(s), _)] => Returned::Set(s.clone(), SINGLETON_STATUS),
                [(None, _)] => Returned::Keep,
                _ => Returned::Clear,
            }
        }
        Mode::Multi(wecs) => {
            let statuses: Vec<Value> = statuses_in(wecs)
                .into_iter()
                .filter_map(|(s, _)| s)
                .collect();
            match statuses.as_slice() {
                [] => Returned::Clear,
                [one] => Returned::Set(one.clone(), MULTIWEC_STATUS),
                _ => match aggregate(&key.group, &key.resource, &statuses) {
                    Some(v) => Returned::Set(v, MULTIWEC_STATUS),
                    None => Returned::Clear,
                },
            }
        }
    }
}

/// The number of WECs `key` is delivered to: those where its ManifestWork reports it applied
/// or a WorkStatus for it exists.
pub fn executing_count(ix: &Index, key: &ObjKey) -> usize {
    let mut wecs: BTreeSet<&str> = BTreeSet::new();
    wecs.extend(
        ix.ws_by_obj
            .get(key)
            .into_iter()
            .flatten()
            .map(|(w, _)| w.as_str()),
    );
    wecs.extend(
        ix.mw_by_obj
            .get(key)
            .into_iter()
            .flatten()
            .map(|(w, _)| w.as_str()),
    );
    wecs.len()
}

/// Status equality where an absent status equals `{}`.
fn same_status(current: Option<&Value>, desired: &Value) -> bool {
    let empty = json!({});
    current.filter(|v| !v.is_null()).unwrap_or(&empty) == desired
}

/// Makes the object's returned status and labels what they should be.
pub(super) async fn reconcile(sh: &Shared, key: &ObjKey) -> Result<(), String> {
    let origin = Work::Object(key.clone());
    let (obj, res, ret, count) = {
        let ix = lock(&sh.index);
        let Some(obj) = ix.objects.get(key).cloned() else {
            return Ok(());
        };
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        let version = av.rsplit('/').next().unwrap_or_default();
        let gvr = super::keys::Gvr {
            group: key.group.clone(),
            version: version.to_string(),
            resource: key.resource.clone(),
        };
        if !ix.gvr_synced.contains(&gvr) {
            return Ok(());
        }
        let Some(res) = ix.resources.get(&gvr).cloned() else {
            return Err(format!("resource {gvr} is not discovered yet"));
        };
        let bound = ix.obj_bindings.contains_key(key);
        let ret = if !bound {
            Returned::Clear
        } else {
            returned(&ix, key, &mode(&ix, key))
        };
        let count = if bound { executing_count(&ix, key) } else { 0 };
        (obj, res, ret, count)
    };
    if obj["metadata"]["deletionTimestamp"].is_string() {
        return Ok(());
    }
    let current_labels: BTreeMap<String, String> = obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut want: BTreeMap<&str, Option<String>> = BTreeMap::new();
    want.insert(EXECUTING_COUNT, (count > 0).then(|| count.to_string()));
    let mut status: Option<Value> = None;
    if !key.status_is_exempt() {
        match &ret {
            Returned::Set(v, label) => {
                status = Some(v.clone());
                want.insert(
                    SINGLETON_STATUS,
                    (*label == SINGLETON_STATUS).then(|| "true".to_string()),
                );
                want.insert(
                    MULTIWEC_STATUS,
                    (*label == MULTIWEC_STATUS).then(|| "true".to_string()),
                );
            }
            Returned::Keep => {}
            Returned::Clear => {
                if current_labels.contains_key(SINGLETON_STATUS)
                    || current_labels.contains_key(MULTIWEC_STATUS)
                {
                    status = Some(json!({}));
                    want.insert(SINGLETON_STATUS, None);
                    want.insert(MULTIWEC_STATUS, None);
                }
            }
        }
    }
    let changes: BTreeMap<String, Option<String>> = want
        .into_iter()
        .filter(|(k, v)| current_labels.get(*k) != v.as_ref())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let in_sync = changes.is_empty();
    let labels_op = Op::ObjectLabels {
        res: res.clone(),
        key: key.clone(),
        labels: changes,
    };
    sh.writer
        .reconcile(
            &sh.stats,
            Target::ObjectLabels(key.clone()),
            labels_op,
            in_sync,
            origin.clone(),
        )
        .await;
    if let Some(desired) = status {
        let in_sync = same_status(obj.get("status"), &desired);
        let op = Op::ObjectStatus {
            res,
            key: key.clone(),
            status: desired,
        };
        sh.writer
            .reconcile(
                &sh.stats,
                Target::ObjectStatus(key.clone()),
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
    use crate::status::index::WsEntry;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_decision_table_is_upstreams() {
        assert_eq!(
            decide(true, set(&["a"]), false, set(&[])),
            Mode::Singleton("a".into())
        );
        assert_eq!(decide(true, set(&["a", "b"]), false, set(&[])), Mode::Clear);
        assert_eq!(decide(true, set(&[]), false, set(&[])), Mode::Clear);
        assert_eq!(
            decide(false, set(&[]), true, set(&["b"])),
            Mode::Singleton("b".into())
        );
        assert_eq!(
            decide(false, set(&[]), true, set(&["a", "b"])),
            Mode::Multi(set(&["a", "b"]))
        );
        assert_eq!(
            decide(true, set(&["a"]), true, set(&["a"])),
            Mode::Singleton("a".into())
        );
        assert_eq!(
            decide(true, set(&["a"]), true, set(&["b"])),
            Mode::Multi(set(&["a", "b"]))
        );
        assert_eq!(
            decide(true, set(&[]), true, set(&[])),
            Mode::Multi(set(&[]))
        );
        assert_eq!(decide(false, set(&["a"]), false, set(&["a"])), Mode::Clear);
    }

    fn ix_with(statuses: &[(&str, Option<Value>)]) -> (Index, ObjKey) {
        let key = ObjKey::new("apps", "deployments", "ns", "d");
        let mut ix = Index::default();
        for (wec, st) in statuses {
            let e = WsEntry {
                key: key.clone(),
                wec: wec.to_string(),
                status: st.clone(),
                last_update: None,
            };
            ix.workstatus_changed((wec.to_string(), "ws".into()), Some(e));
        }
        (ix, key)
    }

    #[test]
    fn singleton_copies_exactly_one_workstatus_of_that_wec() {
        let (ix, key) = ix_with(&[
            ("c1", Some(json!({"availableReplicas": 1}))),
            ("c2", Some(json!({"availableReplicas": 2}))),
        ]);
        assert_eq!(
            returned(&ix, &key, &Mode::Singleton("c1".into())),
            Returned::Set(json!({"availableReplicas": 1}), SINGLETON_STATUS)
        );
        assert_eq!(
            returned(&ix, &key, &Mode::Singleton("c3".into())),
            Returned::Clear
        );
        let (ix, key) = ix_with(&[("c1", None)]);
        assert_eq!(
            returned(&ix, &key, &Mode::Singleton("c1".into())),
            Returned::Keep
        );
        assert_eq!(executing_count(&ix, &key), 1);
    }

    #[test]
    fn multi_aggregates_known_kinds_and_copies_a_single_status() {
        let (ix, key) = ix_with(&[
            ("c1", Some(json!({"readyReplicas": 1}))),
            ("c2", Some(json!({"readyReplicas": 2}))),
            ("c3", None),
        ]);
        let Returned::Set(v, label) = returned(&ix, &key, &Mode::Multi(set(&["c1", "c2", "c3"])))
        else {
            panic!("not set")
        };
        assert_eq!(
            (v["readyReplicas"].clone(), label),
            (json!(1), MULTIWEC_STATUS)
        );
        assert_eq!(
            returned(&ix, &key, &Mode::Multi(set(&["c2", "c3"]))),
            Returned::Set(json!({"readyReplicas": 2}), MULTIWEC_STATUS)
        );
        assert_eq!(
            returned(&ix, &key, &Mode::Multi(set(&["c3", "c9"]))),
            Returned::Clear
        );
        assert_eq!(executing_count(&ix, &key), 3);
    }

    #[test]
    fn absent_status_is_empty_status() {
        assert!(same_status(None, &json!({})));
        assert!(same_status(Some(&Value::Null), &json!({})));
        assert!(!same_status(Some(&json!({"a": 1})), &json!({})));
    }
}
