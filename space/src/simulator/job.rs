//! Desired status of `batch/v1 Job`: pods start, become ready, then every completion succeeds.

use serde_json::{Map, Value, json};

use super::kinds::{Ctx, Stage};
use super::util::{Cond, CondTimes, conditions, int, put_nonzero};

const COMPLETE_REASON: &str = "CompletionsReached";
const COMPLETE_MESSAGE: &str = "Reached expected number of succeeded pods";

/// True when the Job reports a Complete condition: its status never progresses again.
pub(crate) fn is_complete(v: &Value) -> bool {
    v["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Complete" && c["status"] == "True")
    })
}

/// kube's rendering of a set of completed indexes: `0`, `0,1`, `0-4`.
fn completed_indexes(n: i64) -> String {
    match n {
        i64::MIN..=0 => String::new(),
        1 => "0".into(),
        2 => "0,1".into(),
        _ => format!("0-{}", n - 1),
    }
}

/// `batch/v1 Job` status.
pub(crate) fn job(v: &Value, stage: Stage, ctx: &Ctx<'_>) -> Value {
    let spec = &v["spec"];
    let cur = &v["status"];
    let mut s = Map::new();
    if spec["suspend"].as_bool() == Some(true) && !is_complete(v) {
        let c = [Cond {
            type_: "Suspended",
            status: "True",
            reason: Some("JobSuspended"),
            message: Some("Job suspended"),
        }];
        s.insert(
            "conditions".into(),
            conditions(cur, &c, CondTimes::Probe, ctx.now),
        );
        s.insert("ready".into(), json!(0));
        s.insert("terminating".into(), json!(0));
        s.insert("uncountedTerminatedPods".into(), json!({}));
        return Value::Object(s);
    }
    let parallelism = int(&spec["parallelism"], 1).max(0);
    let completions = spec["completions"].as_i64().map(|c| c.max(0));
    let pods = completions.map_or(parallelism, |c| c.min(parallelism));
    let keep = |field: &str| {
        cur[field]
            .as_str()
            .map_or_else(|| json!(ctx.now), |t| json!(t))
    };
    s.insert("startTime".into(), keep("startTime"));
    s.insert("ready".into(), json!(0));
    s.insert("terminating".into(), json!(0));
    s.insert("uncountedTerminatedPods".into(), json!({}));
    // Without pods a Job makes no progress (parallelism 0), unless it needs no completion.
    let stage = if pods == 0 && completions != Some(0) {
        Stage::Starting
    } else {
        stage
    };
    match stage {
        Stage::Starting | Stage::Running => {
            put_nonzero(&mut s, "active", pods);
            if stage == Stage::Running {
                s.insert("ready".into(), json!(pods));
            }
        }
        Stage::Done => {
            let succeeded = completions.unwrap_or(parallelism);
            put_nonzero(&mut s, "succeeded", succeeded);
            s.insert("completionTime".into(), keep("completionTime"));
            if spec["completionMode"] == "Indexed" && succeeded > 0 {
                s.insert(
                    "completedIndexes".into(),
                    json!(completed_indexes(succeeded)),
                );
            }
            let mut wanted = Vec::new();
            if ctx.kube_minor >= 33 {
                wanted.push(Cond {
                    type_: "SuccessCriteriaMet",
                    status: "True",
                    reason: Some(COMPLETE_REASON),
                    message: Some(COMPLETE_MESSAGE),
                });
            }
            wanted.push(Cond {
                type_: "Complete",
                status: "True",
                reason: Some(COMPLETE_REASON),
                message: Some(COMPLETE_MESSAGE),
            });
            s.insert(
                "conditions".into(),
                conditions(cur, &wanted, CondTimes::Probe, ctx.now),
            );
        }
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimulatorConfig;

    fn run(spec: Value, stage: Stage, status: Value, minor: u32) -> Value {
        let cfg = SimulatorConfig::default();
        let ctx = Ctx {
            now: "2025-01-01T00:00:05Z",
            cfg: &cfg,
            kube_minor: minor,
            new_template: false,
        };
        job(
            &json!({"metadata": {"name": "pi", "generation": 1}, "spec": spec, "status": status}),
            stage,
            &ctx,
        )
    }

    #[test]
    fn a_job_runs_then_completes() {
        let spec = json!({"completions": 1, "parallelism": 1});
        let start = run(spec.clone(), Stage::Starting, json!({}), 33);
        assert_eq!(
            start,
            json!({"startTime": "2025-01-01T00:00:05Z", "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
        );
        let running = run(spec.clone(), Stage::Running, start, 33);
        assert_eq!(running["ready"], 1);
        let done = run(spec.clone(), Stage::Done, running, 33);
        assert_eq!(done["succeeded"], 1);
        assert!(done.get("active").is_none());
        assert_eq!(done["ready"], 0);
        assert_eq!(done["completionTime"], "2025-01-01T00:00:05Z");
        let types: Vec<&str> = done["conditions"]
            .as_array()
            .expect("conds")
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
        assert_eq!(done["conditions"][1]["reason"], "CompletionsReached");
        let mut completed = json!({"status": done.clone()});
        assert!(is_complete(&completed));
        completed["status"]["conditions"][1]["status"] = json!("False");
        assert!(!is_complete(&completed));
        // Older servers have no SuccessCriteriaMet.
        let old = run(spec, Stage::Done, json!({}), 30);
        assert_eq!(old["conditions"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn parallel_indexed_suspended_and_idle_jobs() {
        let indexed = run(
            json!({"completions": 5, "parallelism": 2, "completionMode": "Indexed"}),
            Stage::Starting,
            json!({}),
            33,
        );
        assert_eq!(indexed["active"], 2);
        let done = run(
            json!({"completions": 5, "parallelism": 2, "completionMode": "Indexed"}),
            Stage::Done,
            indexed,
            33,
        );
        assert_eq!(done["succeeded"], 5);
        assert_eq!(done["completedIndexes"], "0-4");
        assert_eq!(completed_indexes(2), "0,1");
        let queue = run(json!({"parallelism": 3}), Stage::Done, json!({}), 33);
        assert_eq!(queue["succeeded"], 3);
        let suspended = run(json!({"suspend": true}), Stage::Done, json!({}), 33);
        assert_eq!(suspended["conditions"][0]["type"], "Suspended");
        assert!(suspended.get("startTime").is_none());
        let idle = run(
            json!({"parallelism": 0, "completions": 2}),
            Stage::Done,
            json!({}),
            33,
        );
        assert!(idle.get("conditions").is_none() && idle.get("active").is_none());
        assert!(idle["startTime"].is_string());
    }
}
