//! Desired status of the `apps` workloads (and ReplicationControllers) as kube's controllers
//! would report it, without pods: replicas are counted, not created.

use serde_json::{Map, Value, json};

use super::kinds::{Ctx, Stage};
use super::nodes;
use super::util::{Cond, CondTimes, conditions, int, put_nonzero, template_hash};

/// How many replicas count as ready/available: all once done, else what the current status
/// already reports (old pods keep serving during a rollout), capped at the wanted count.
fn carried(current: &Value, want: i64, stage: Stage) -> i64 {
    match stage {
        Stage::Done => want,
        _ => int(current, 0).clamp(0, want),
    }
}

fn generation(v: &Value) -> i64 {
    int(&v["metadata"]["generation"], 0)
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

/// An int-or-percent rollout bound against `total`, rounding percentages up or down.
fn int_or_percent(v: &Value, default: &str, total: i64, round_up: bool) -> i64 {
    let s = match v {
        Value::Number(n) => return n.as_i64().unwrap_or(0).max(0),
        Value::String(s) => s.as_str(),
        _ => default,
    };
    let Some(p) = s
        .strip_suffix('%')
        .and_then(|p| p.trim().parse::<i64>().ok())
    else {
        return s.parse::<i64>().unwrap_or(0).max(0);
    };
    let scaled = p.max(0) * total;
    if round_up {
        (scaled + 99) / 100
    } else {
        scaled / 100
    }
}

/// kube's `deploymentutil.MaxUnavailable`.
fn max_unavailable(spec: &Value, want: i64) -> i64 {
    let strategy = &spec["strategy"];
    if strategy["type"]
        .as_str()
        .is_some_and(|t| t != "RollingUpdate")
        || want == 0
    {
        return 0;
    }
    let ru = &strategy["rollingUpdate"];
    let surge = int_or_percent(&ru["maxSurge"], "25%", want, true);
    let mut unavailable = int_or_percent(&ru["maxUnavailable"], "25%", want, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    unavailable.min(want)
}

/// The ReplicaSet a Deployment's status names in its Progressing condition, if any.
fn reported_replica_set(v: &Value) -> Option<&str> {
    let conds = v["status"]["conditions"].as_array()?;
    let msg = conds.iter().find(|c| c["type"] == "Progressing")?["message"].as_str()?;
    msg.strip_prefix("ReplicaSet \"")?.split('"').next()
}

/// True when the Deployment's pod template differs from the one its status last reported:
/// a rollout to a new ReplicaSet, rather than a new object or a scaling.
pub(crate) fn template_changed(v: &Value) -> bool {
    let rs = format!("{}-{}", name(v), template_hash(&v["spec"]["template"]));
    reported_replica_set(v).is_some_and(|old| old != rs)
}

/// `apps/v1 Deployment` status.
pub(crate) fn deployment(v: &Value, stage: Stage, ctx: &Ctx<'_>) -> Value {
    let cur = &v["status"];
    let spec = &v["spec"];
    let want = int(&spec["replicas"], 1).max(0);
    let ready = carried(&cur["readyReplicas"], want, stage);
    let available = carried(&cur["availableReplicas"], want, stage);
    let rs = format!("{}-{}", name(v), template_hash(&spec["template"]));
    let (a_status, a_reason, a_message) = if available >= want - max_unavailable(spec, want) {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let (p_status, p_reason, p_message) = if spec["paused"].as_bool() == Some(true) {
        (
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".to_string(),
        )
    } else if stage == Stage::Done {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs}\" has successfully progressed."),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs}\" is progressing."),
        )
    };
    let mut s = Map::new();
    put_nonzero(&mut s, "observedGeneration", generation(v));
    put_nonzero(&mut s, "replicas", want);
    // A rollout: the old pods serve until the new ReplicaSet's are ready.
    let rolling = ctx.new_template && stage != Stage::Done;
    put_nonzero(&mut s, "updatedReplicas", if rolling { 0 } else { want });
    put_nonzero(&mut s, "readyReplicas", ready);
    put_nonzero(&mut s, "availableReplicas", available);
    put_nonzero(&mut s, "unavailableReplicas", want - available);
    let conds = [
        Cond {
            type_: "Available",
            status: a_status,
            reason: Some(a_reason),
            message: Some(a_message),
        },
        Cond {
            type_: "Progressing",
            status: p_status,
            reason: Some(p_reason),
            message: Some(&p_message),
        },
    ];
    s.insert(
        "conditions".into(),
        conditions(cur, &conds, CondTimes::Update, ctx.now),
    );
    Value::Object(s)
}

/// `apps/v1 ReplicaSet` and `v1 ReplicationController` status.
pub(crate) fn replica_set(v: &Value, stage: Stage) -> Value {
    let cur = &v["status"];
    let want = int(&v["spec"]["replicas"], 1).max(0);
    let mut s = Map::new();
    s.insert("replicas".into(), json!(want));
    put_nonzero(&mut s, "fullyLabeledReplicas", want);
    put_nonzero(
        &mut s,
        "readyReplicas",
        carried(&cur["readyReplicas"], want, stage),
    );
    put_nonzero(
        &mut s,
        "availableReplicas",
        carried(&cur["availableReplicas"], want, stage),
    );
    put_nonzero(&mut s, "observedGeneration", generation(v));
    Value::Object(s)
}

/// `apps/v1 StatefulSet` status, with controller revision names for the template.
pub(crate) fn stateful_set(v: &Value, stage: Stage) -> Value {
    let cur = &v["status"];
    let want = int(&v["spec"]["replicas"], 1).max(0);
    let update_rev = format!("{}-{}", name(v), template_hash(&v["spec"]["template"]));
    let ready = carried(&cur["readyReplicas"], want, stage);
    let available = carried(&cur["availableReplicas"], want, stage);
    let (current_rev, current, updated) = match (stage, cur["currentRevision"].as_str()) {
        (Stage::Done, _) | (_, None) => (update_rev.clone(), want, want),
        (_, Some(old)) if old == update_rev => (update_rev.clone(), want, want),
        // Rolling to a new revision: the old pods are the current ones until it is done.
        (_, Some(old)) => (
            old.to_string(),
            carried(&cur["currentReplicas"], want, stage),
            0,
        ),
    };
    let mut s = Map::new();
    put_nonzero(&mut s, "observedGeneration", generation(v));
    s.insert("replicas".into(), json!(want));
    put_nonzero(&mut s, "readyReplicas", ready);
    put_nonzero(&mut s, "currentReplicas", current);
    put_nonzero(&mut s, "updatedReplicas", updated);
    s.insert("availableReplicas".into(), json!(available));
    s.insert("currentRevision".into(), json!(current_rev));
    s.insert("updateRevision".into(), json!(update_rev));
    s.insert("collisionCount".into(), json!(0));
    Value::Object(s)
}

/// `apps/v1 DaemonSet` status: one pod per simulated node its node selector accepts.
pub(crate) fn daemon_set(v: &Value, stage: Stage, ctx: &Ctx<'_>) -> Value {
    let cur = &v["status"];
    let want = nodes::matching(
        &v["spec"]["template"]["spec"]["nodeSelector"],
        ctx.cfg.nodes,
    );
    let ready = carried(&cur["numberReady"], want, stage);
    let available = carried(&cur["numberAvailable"], want, stage);
    let mut s = Map::new();
    s.insert("currentNumberScheduled".into(), json!(want));
    s.insert("numberMisscheduled".into(), json!(0));
    s.insert("desiredNumberScheduled".into(), json!(want));
    s.insert("numberReady".into(), json!(ready));
    put_nonzero(&mut s, "observedGeneration", generation(v));
    put_nonzero(&mut s, "updatedNumberScheduled", want);
    put_nonzero(&mut s, "numberAvailable", available);
    put_nonzero(&mut s, "numberUnavailable", want - available);
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimulatorConfig;

    fn ctx(cfg: &SimulatorConfig) -> Ctx<'_> {
        Ctx {
            now: "2025-01-01T00:00:00Z",
            cfg,
            kube_minor: 33,
            new_template: false,
        }
    }

    fn deploy(replicas: i64, generation: i64, status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": generation},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
               "status": status})
    }

    #[test]
    fn deployment_starts_unready_then_becomes_available() {
        let cfg = SimulatorConfig::default();
        let start = deployment(&deploy(2, 1, json!({})), Stage::Starting, &ctx(&cfg));
        assert_eq!(start["observedGeneration"], 1);
        assert_eq!(start["replicas"], 2);
        assert_eq!(start["updatedReplicas"], 2);
        assert!(start.get("readyReplicas").is_none() && start.get("availableReplicas").is_none());
        assert_eq!(start["unavailableReplicas"], 2);
        assert_eq!(start["conditions"][0]["type"], "Available");
        assert_eq!(start["conditions"][0]["status"], "False");
        assert_eq!(
            start["conditions"][0]["reason"],
            "MinimumReplicasUnavailable"
        );
        assert_eq!(start["conditions"][1]["reason"], "ReplicaSetUpdated");

        let done = deployment(&deploy(2, 1, start.clone()), Stage::Done, &ctx(&cfg));
        assert_eq!(done["readyReplicas"], 2);
        assert_eq!(done["availableReplicas"], 2);
        assert!(done.get("unavailableReplicas").is_none());
        assert_eq!(done["conditions"][0]["status"], "True");
        assert_eq!(done["conditions"][0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(
            done["conditions"][0]["message"],
            "Deployment has minimum availability."
        );
        assert_eq!(done["conditions"][1]["reason"], "NewReplicaSetAvailable");
        let msg = done["conditions"][1]["message"].as_str().expect("message");
        assert!(
            msg.starts_with("ReplicaSet \"web-")
                && msg.ends_with("\" has successfully progressed."),
            "{msg}"
        );
        // Recomputing from the written status changes nothing.
        assert_eq!(
            deployment(&deploy(2, 1, done.clone()), Stage::Done, &ctx(&cfg)),
            done
        );
    }

    #[test]
    fn deployment_scaling_keeps_serving_pods_and_zero_is_empty() {
        let cfg = SimulatorConfig::default();
        let c = ctx(&cfg);
        let two = deployment(&deploy(2, 1, json!({})), Stage::Done, &c);
        // 2 -> 8: the 2 running replicas stay available; 25% of 8 = 2 may be unavailable.
        let up = deployment(&deploy(8, 2, two.clone()), Stage::Starting, &c);
        assert_eq!(up["observedGeneration"], 2);
        assert_eq!(up["availableReplicas"], 2);
        assert_eq!(up["unavailableReplicas"], 6);
        assert_eq!(up["conditions"][0]["status"], "False");
        let down = deployment(&deploy(1, 2, two.clone()), Stage::Starting, &c);
        assert_eq!(down["availableReplicas"], 1);
        assert_eq!(down["conditions"][0]["status"], "True");
        let zero = deployment(&deploy(0, 3, two), Stage::Done, &c);
        for f in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ] {
            assert!(zero.get(f).is_none(), "{f} in {zero}");
        }
        assert_eq!(zero["observedGeneration"], 3);
        assert_eq!(zero["conditions"][0]["status"], "True");
    }

    #[test]
    fn a_new_template_rolls_out_while_old_pods_serve() {
        let cfg = SimulatorConfig::default();
        let done = deployment(&deploy(3, 1, json!({})), Stage::Done, &ctx(&cfg));
        let mut changed = deploy(3, 2, done.clone());
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(template_changed(&changed));
        assert!(
            !template_changed(&deploy(5, 2, done.clone())),
            "scaling keeps the template"
        );
        assert!(
            !template_changed(&deploy(3, 1, json!({}))),
            "a new deployment has no old one"
        );
        let c = Ctx {
            new_template: true,
            ..ctx(&cfg)
        };
        let rolling = deployment(&changed, Stage::Starting, &c);
        assert!(rolling.get("updatedReplicas").is_none(), "{rolling}");
        assert_eq!(rolling["availableReplicas"], 3);
        assert_eq!(rolling["observedGeneration"], 2);
        assert_eq!(rolling["conditions"][1]["reason"], "ReplicaSetUpdated");
        let mut again = changed.clone();
        again["status"] = rolling.clone();
        assert_eq!(
            deployment(&again, Stage::Starting, &c),
            rolling,
            "stable while rolling"
        );
        let rolled = deployment(&again, Stage::Done, &c);
        assert_eq!(rolled["updatedReplicas"], 3);
        assert_eq!(rolled["conditions"][1]["reason"], "NewReplicaSetAvailable");
    }

    #[test]
    fn max_unavailable_follows_kube() {
        let ru = |u: Value, s: Value| json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": u, "maxSurge": s}}});
        assert_eq!(max_unavailable(&json!({}), 4), 1);
        assert_eq!(max_unavailable(&json!({}), 3), 0);
        assert_eq!(max_unavailable(&ru(json!(0), json!(0)), 3), 1);
        assert_eq!(max_unavailable(&ru(json!("50%"), json!(1)), 3), 1);
        assert_eq!(max_unavailable(&ru(json!(5), json!(1)), 3), 3);
        assert_eq!(
            max_unavailable(&json!({"strategy": {"type": "Recreate"}}), 3),
            0
        );
    }

    #[test]
    fn replica_set_counts() {
        let rs = json!({"metadata": {"generation": 4}, "spec": {"replicas": 3}});
        let s = replica_set(&rs, Stage::Starting);
        assert_eq!(
            s,
            json!({"replicas": 3, "fullyLabeledReplicas": 3, "observedGeneration": 4})
        );
        let d = replica_set(&rs, Stage::Done);
        assert_eq!(d["readyReplicas"], 3);
        assert_eq!(d["availableReplicas"], 3);
    }

    #[test]
    fn stateful_set_rolls_revisions() {
        let sts = |image: &str, status: Value| {
            json!({"metadata": {"name": "db", "generation": 1},
                   "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
                   "status": status})
        };
        let done = stateful_set(&sts("a", json!({})), Stage::Done);
        assert_eq!(done["currentRevision"], done["updateRevision"]);
        assert_eq!(done["readyReplicas"], 2);
        assert_eq!(done["availableReplicas"], 2);
        let rolling = stateful_set(&sts("b", done.clone()), Stage::Starting);
        assert_eq!(rolling["currentRevision"], done["currentRevision"]);
        assert_ne!(rolling["updateRevision"], done["updateRevision"]);
        assert_eq!(rolling["currentReplicas"], 2);
        assert!(rolling.get("updatedReplicas").is_none());
        let rolled = stateful_set(&sts("b", rolling.clone()), Stage::Done);
        assert_eq!(rolled["currentRevision"], rolling["updateRevision"]);
        assert_eq!(rolled["updatedReplicas"], 2);
    }

    #[test]
    fn daemon_set_follows_matching_nodes() {
        let cfg = SimulatorConfig {
            nodes: 3,
            ..SimulatorConfig::default()
        };
        let ds = |sel: Value| json!({"metadata": {"generation": 1}, "spec": {"template": {"spec": {"nodeSelector": sel}}}});
        let all = daemon_set(
            &ds(json!({"kubernetes.io/os": "linux"})),
            Stage::Done,
            &ctx(&cfg),
        );
        assert_eq!(all["desiredNumberScheduled"], 3);
        assert_eq!(all["numberReady"], 3);
        assert_eq!(all["numberAvailable"], 3);
        assert_eq!(all["numberMisscheduled"], 0);
        let start = daemon_set(&ds(Value::Null), Stage::Starting, &ctx(&cfg));
        assert_eq!(start["numberReady"], 0);
        assert_eq!(start["numberUnavailable"], 3);
        let none = daemon_set(&ds(json!({"disk": "ssd"})), Stage::Done, &ctx(&cfg));
        assert_eq!(none["desiredNumberScheduled"], 0);
        assert!(none.get("updatedNumberScheduled").is_none());
    }
}
