//! Multi-WEC aggregated status: the `.status` written into a WDS object from the statuses its
//! WECs returned, when `wantMultiWECReportedState` applies to more than one WEC.
//!
//! Callers pass the statuses in WEC-name order (so "first" below is deterministic) and only
//! when two or more WECs returned one (a single one is copied as it is).
//!
//! Numbers: a field a WEC omits counts as 0 for that WEC (Kubernetes omits zero counts, so an
//! absent `availableReplicas` means none is available); the result always carries every field.
//!
//! * **apps/Deployment** (upstream): min of `replicas`, `updatedReplicas`, `availableReplicas`,
//!   `readyReplicas`, `observedGeneration`; max of `unavailableReplicas`; `conditions` = the
//!   first `Progressing` condition with reason `ProgressDeadlineExceeded`, else `[]`.
//! * **apps/ReplicaSet** (upstream): min of `replicas`, `fullyLabeledReplicas`, `readyReplicas`,
//!   `availableReplicas`, `observedGeneration`; `conditions` = the first `ReplicaFailure`
//!   condition, else `[]`.
//! * **apps/DaemonSet** (upstream): min of `currentNumberScheduled`, `desiredNumberScheduled`,
//!   `numberReady`, `observedGeneration`, `updatedNumberScheduled`, `numberAvailable`; max of
//!   `numberMisscheduled`.
//! * **apps/StatefulSet** (ours, like ReplicaSet over its fields): min of `replicas`,
//!   `readyReplicas`, `currentReplicas`, `updatedReplicas`, `availableReplicas`,
//!   `observedGeneration`; `currentRevision` / `updateRevision` only when every WEC reports the
//!   same one; `conditions` by the generic rule.
//! * **batch/Job** (ours; every WEC runs its own copy of the Job): `active`, `ready`,
//!   `terminating` and `failed` are sums (pods running or failed anywhere); `succeeded` is the
//!   min (completions reached everywhere); `startTime` is the earliest; `completionTime` the
//!   latest, present only when every WEC completed. Conditions: `Complete` and
//!   `SuccessCriteriaMet` only when every WEC has them `True`; `Failed` and `FailureTarget` when
//!   any WEC has them `True`; other types by the generic rule.
//! * **Generic condition rule**: per condition type (sorted by type), status `False` if any
//!   WEC says `False`, else `Unknown` if any says `Unknown`, else `True`; the other fields are
//!   those of the most recent condition of that type (by `lastTransitionTime`).
//!
//! Other kinds have no aggregation rule: summarize them with a StatusCollector (CombinedStatus).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The aggregated status of an object of `group`/`resource`, or `None` when the kind has no
/// rule. `statuses` are the returned statuses (JSON objects) in WEC-name order.
pub fn aggregate(group: &str, resource: &str, statuses: &[Value]) -> Option<Value> {
    let s = statuses;
    let out = match (group, resource) {
        ("apps", "deployments") => fields(
            s,
            &[
                "replicas",
                "updatedReplicas",
                "availableReplicas",
                "readyReplicas",
            ],
            &["unavailableReplicas"],
        )
        .with("observedGeneration", min(s, "observedGeneration"))
        .with(
            "conditions",
            first_condition(s, |c| {
                c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
            }),
        ),
        ("apps", "replicasets") => fields(
            s,
            &[
                "replicas",
                "fullyLabeledReplicas",
                "readyReplicas",
                "availableReplicas",
                "observedGeneration",
            ],
            &[],
        )
        .with(
            "conditions",
            first_condition(s, |c| c["type"] == "ReplicaFailure"),
        ),
        ("apps", "daemonsets") => fields(
            s,
            &[
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "numberReady",
                "observedGeneration",
                "updatedNumberScheduled",
                "numberAvailable",
            ],
            &["numberMisscheduled"],
        ),
        ("apps", "statefulsets") => {
            let mut o = fields(
                s,
                &[
                    "replicas",
                    "readyReplicas",
                    "currentReplicas",
                    "updatedReplicas",
                    "availableReplicas",
                    "observedGeneration",
                ],
                &[],
            );
            for f in ["currentRevision", "updateRevision"] {
                if let Some(v) = common_string(s, f) {
                    o.insert(f.into(), json!(v));
                }
            }
            o.with("conditions", Value::Array(generic_conditions(s, &|_| None)))
        }
        ("batch", "jobs") => job(s),
        _ => return None,
    };
    Some(Value::Object(out))
}

trait With {
    fn with(self, k: &str, v: Value) -> Self;
}

impl With for Map<String, Value> {
    fn with(mut self, k: &str, v: Value) -> Self {
        self.insert(k.into(), v);
        self
    }
}

/// An integer field of one status; absent (or not a number) counts as 0.
fn int(status: &Value, field: &str) -> i64 {
    let v = &status[field];
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

fn min(s: &[Value], field: &str) -> Value {
    json!(s.iter().map(|v| int(v, field)).min().unwrap_or(0))
}

fn max(s: &[Value], field: &str) -> Value {
    json!(s.iter().map(|v| int(v, field)).max().unwrap_or(0))
}

fn sum(s: &[Value], field: &str) -> Value {
    json!(
        s.iter()
            .map(|v| int(v, field))
            .fold(0i64, i64::saturating_add)
    )
}

fn fields(s: &[Value], mins: &[&str], maxes: &[&str]) -> Map<String, Value> {
    let mut o = Map::new();
    for f in mins {
        o.insert((*f).into(), min(s, f));
    }
    for f in maxes {
        o.insert((*f).into(), max(s, f));
    }
    o
}

fn conditions(status: &Value) -> impl Iterator<Item = &Value> {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.is_object())
}

fn first_condition(s: &[Value], pick: impl Fn(&Value) -> bool) -> Value {
    match s.iter().flat_map(conditions).find(|c| pick(c)) {
        Some(c) => json!([c]),
        None => json!([]),
    }
}

fn common_string<'a>(s: &'a [Value], field: &str) -> Option<&'a str> {
    let first = s.first()?[field].as_str().filter(|v| !v.is_empty())?;
    s.iter()
        .all(|v| v[field].as_str() == Some(first))
        .then_some(first)
}

fn time_of(c: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    c["lastTransitionTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
}

/// The most recent of `conds` (those without a time count as oldest; ties keep the first).
fn latest<'a>(conds: &[&'a Value]) -> Option<&'a Value> {
    let mut best: Option<&Value> = None;
    for c in conds {
        best = match best {
            Some(b) if time_of(c) <= time_of(b) => Some(b),
            _ => Some(c),
        };
    }
    best
}

/// Conditions by the generic rule; `special` may decide a type instead (`Some(None)` drops it).
fn generic_conditions(s: &[Value], special: &dyn Fn(&str) -> Option<Option<Value>>) -> Vec<Value> {
    let mut by_type: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for c in s.iter().flat_map(conditions) {
        if let Some(t) = c["type"].as_str().filter(|t| !t.is_empty()) {
            by_type.entry(t).or_default().push(c);
        }
    }
    let mut out = Vec::new();
    for (t, conds) in by_type {
        if let Some(decided) = special(t) {
            out.extend(decided);
            continue;
        }
        let status = if conds.iter().any(|c| c["status"] == "False") {
            "False"
        } else if conds.iter().any(|c| c["status"] == "Unknown") {
            "Unknown"
        } else {
            "True"
        };
        if let Some(mut c) = latest(&conds).cloned() {
            c["status"] = json!(status);
            out.push(c);
        }
    }
    out
}

/// The `True` conditions of `type_` across WECs, and how many WECs have one.
fn true_conditions<'a>(s: &'a [Value], type_: &str) -> (Vec<&'a Value>, usize) {
    let mut found = Vec::new();
    let mut wecs = 0;
    for st in s {
        let mine: Vec<&Value> = conditions(st)
            .filter(|c| c["type"] == type_ && c["status"] == "True")
            .collect();
        if !mine.is_empty() {
            wecs += 1;
        }
        found.extend(mine);
    }
    (found, wecs)
}

fn job(s: &[Value]) -> Map<String, Value> {
    let mut o = Map::new();
    for f in ["active", "ready", "terminating", "failed"] {
        o.insert(f.into(), sum(s, f));
    }
    o.insert("succeeded".into(), min(s, "succeeded"));
    let starts: Vec<&str> = s.iter().filter_map(|v| v["startTime"].as_str()).collect();
    if let Some(first) = starts.iter().min_by_key(|t| parse_time(t)) {
        o.insert("startTime".into(), json!(first));
    }
    let ends: Vec<&str> = s
        .iter()
        .filter_map(|v| v["completionTime"].as_str())
        .collect();
    if ends.len() == s.len()
        && let Some(last) = ends.iter().max_by_key(|t| parse_time(t))
    {
        o.insert("completionTime".into(), json!(last));
    }
    let everywhere = |t: &str| {
        let (conds, wecs) = true_conditions(s, t);
        if wecs == s.len() {
            latest(&conds).cloned()
        } else {
            None
        }
    };
    let anywhere = |t: &str| latest(&true_conditions(s, t).0).cloned();
    let special = |t: &str| match t {
        "Complete" | "SuccessCriteriaMet" => Some(everywhere(t)),
        "Failed" | "FailureTarget" => Some(anywhere(t)),
        _ => None,
    };
    o.insert(
        "conditions".into(),
        Value::Array(generic_conditions(s, &special)),
    );
    o
}

fn parse_time(t: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(t: &str, status: &str, reason: &str, time: &str) -> Value {
        json!({"type": t, "status": status, "reason": reason, "message": format!("{t} {status}"), "lastTransitionTime": time})
    }

    #[test]
    fn deployments_take_minimums_maximums_and_the_deadline_condition() {
        let a = json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 3,
            "conditions": [cond("Available", "True", "MinimumReplicasAvailable", "2025-01-01T00:00:00Z")]});
        let b = json!({"replicas": 2, "updatedReplicas": 2, "unavailableReplicas": 2, "observedGeneration": 2,
            "conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded", "2025-01-01T00:00:00Z")]});
        let out = aggregate("apps", "deployments", &[a.clone(), b.clone()]).unwrap_or_default();
        assert_eq!(
            out,
            json!({"replicas": 2, "updatedReplicas": 2, "availableReplicas": 0, "readyReplicas": 0, "unavailableReplicas": 2,
                "observedGeneration": 2, "conditions": [cond("Progressing", "False", "ProgressDeadlineExceeded", "2025-01-01T00:00:00Z")]})
        );
        let out = aggregate("apps", "deployments", &[a.clone(), a]).unwrap_or_default();
        assert_eq!(out["conditions"], json!([]));
        assert_eq!(out["availableReplicas"], 2);
        assert_eq!(out["unavailableReplicas"], 0);
    }

    #[test]
    fn replicasets_and_daemonsets_follow_upstream() {
        let rs = |n: i64, failure: bool| {
            let mut v = json!({"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n, "availableReplicas": n, "observedGeneration": 1});
            if failure {
                v["conditions"] = json!([cond(
                    "ReplicaFailure",
                    "True",
                    "FailedCreate",
                    "2025-01-01T00:00:00Z"
                )]);
            }
            v
        };
        let out =
            aggregate("apps", "replicasets", &[rs(3, false), rs(1, true)]).unwrap_or_default();
        assert_eq!(out["replicas"], 1);
        assert_eq!(out["conditions"][0]["type"], "ReplicaFailure");
        let ds = |n: i64, mis: i64| json!({"currentNumberScheduled": n, "desiredNumberScheduled": n, "numberReady": n, "numberMisscheduled": mis, "numberAvailable": n, "updatedNumberScheduled": n, "observedGeneration": 4});
        let out = aggregate("apps", "daemonsets", &[ds(3, 0), ds(5, 2)]).unwrap_or_default();
        assert_eq!(
            out,
            json!({"currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberReady": 3, "observedGeneration": 4,
                "updatedNumberScheduled": 3, "numberAvailable": 3, "numberMisscheduled": 2})
        );
    }

    #[test]
    fn statefulsets_keep_common_revisions_and_combine_conditions() {
        let a = json!({"replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
            "currentRevision": "web-1", "updateRevision": "web-2",
            "conditions": [cond("Healthy", "True", "Ok", "2025-01-01T00:00:00Z")]});
        let b = json!({"replicas": 3, "readyReplicas": 1, "currentReplicas": 3, "updatedReplicas": 1, "availableReplicas": 1,
            "currentRevision": "web-1", "updateRevision": "web-3",
            "conditions": [cond("Healthy", "False", "Degraded", "2025-01-02T00:00:00Z")]});
        let out = aggregate("apps", "statefulsets", &[a, b]).unwrap_or_default();
        assert_eq!(out["readyReplicas"], 1);
        assert_eq!(out["currentRevision"], "web-1");
        assert!(out.get("updateRevision").is_none());
        assert_eq!(out["observedGeneration"], 0);
        assert_eq!(
            out["conditions"],
            json!([cond("Healthy", "False", "Degraded", "2025-01-02T00:00:00Z")])
        );
    }

    #[test]
    fn generic_conditions_pick_the_worst_status_and_the_latest_fields() {
        let s = [
            json!({"conditions": [cond("A", "True", "r1", "2025-01-03T00:00:00Z"), cond("B", "True", "x", "2025-01-01T00:00:00Z")]}),
            json!({"conditions": [cond("A", "Unknown", "r2", "2025-01-01T00:00:00Z"), json!({"type": "B", "status": "True"})]}),
        ];
        let out = generic_conditions(&s, &|_| None);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["status"], "Unknown");
        assert_eq!(out[0]["reason"], "r1");
        assert_eq!(out[1]["status"], "True");
        assert_eq!(out[1]["reason"], "x");
    }

    #[test]
    fn jobs_sum_running_pods_and_complete_only_everywhere() {
        let done = json!({"succeeded": 1, "startTime": "2025-01-01T00:00:05Z", "completionTime": "2025-01-01T00:00:09Z",
            "conditions": [cond("SuccessCriteriaMet", "True", "CompletionsReached", "2025-01-01T00:00:09Z"), cond("Complete", "True", "CompletionsReached", "2025-01-01T00:00:09Z")]});
        let running = json!({"active": 1, "ready": 1, "startTime": "2025-01-01T00:00:03Z"});
        let out = aggregate("batch", "jobs", &[done.clone(), running]).unwrap_or_default();
        assert_eq!(
            out,
            json!({"active": 1, "ready": 1, "terminating": 0, "failed": 0, "succeeded": 0, "startTime": "2025-01-01T00:00:03Z", "conditions": []})
        );
        let later = json!({"succeeded": 1, "startTime": "2025-01-01T00:00:06Z", "completionTime": "2025-01-01T00:00:10Z",
            "conditions": [cond("Complete", "True", "CompletionsReached", "2025-01-01T00:00:10Z")]});
        let out = aggregate("batch", "jobs", &[done.clone(), later]).unwrap_or_default();
        assert_eq!(out["succeeded"], 1);
        assert_eq!(out["completionTime"], "2025-01-01T00:00:10Z");
        assert_eq!(
            out["conditions"],
            json!([cond(
                "Complete",
                "True",
                "CompletionsReached",
                "2025-01-01T00:00:10Z"
            )])
        );
        let failed = json!({"failed": 6, "conditions": [cond("Failed", "True", "BackoffLimitExceeded", "2025-01-01T00:01:00Z")]});
        let out = aggregate("batch", "jobs", &[done, failed]).unwrap_or_default();
        assert_eq!(out["failed"], 6);
        assert_eq!(
            out["conditions"],
            json!([cond(
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "2025-01-01T00:01:00Z"
            )])
        );
    }

    #[test]
    fn other_kinds_have_no_rule() {
        assert_eq!(aggregate("", "services", &[json!({}), json!({})]), None);
        assert_eq!(
            aggregate("example.com", "deployments", &[json!({}), json!({})]),
            None
        );
    }
}
