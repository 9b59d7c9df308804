//! The kinds the simulator gives status to, how their progress is staged over time, and which
//! function computes each one's status.

use std::time::Duration;

use serde_json::Value;

use super::SimulatorConfig;
use super::util::int;
use super::{apps, job, pod};
use crate::registry::GroupResource;

/// Where a workload is in its simulated life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Just created or changed: pods exist but are not ready yet.
    Starting,
    /// Pods ready, work in progress (Jobs only).
    Running,
    /// Everything ready (a Job: complete).
    Done,
}

/// What a status computation may know besides the object.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// The current time as kube prints it.
    pub now: &'a str,
    pub cfg: &'a SimulatorConfig,
    pub kube_minor: u32,
    /// The progression started because the pod template changed (a Deployment rollout), not
    /// because the object is new or only scaled.
    pub new_template: bool,
}

/// A simulated kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Deployment,
    ReplicaSet,
    ReplicationController,
    StatefulSet,
    DaemonSet,
    Job,
    Pod,
}

impl Kind {
    /// Every simulated kind.
    pub const ALL: [Kind; 7] = [
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::Pod,
    ];

    /// Group, version and resource.
    pub fn gvr(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Deployment => ("apps", "v1", "deployments"),
            Kind::ReplicaSet => ("apps", "v1", "replicasets"),
            Kind::ReplicationController => ("", "v1", "replicationcontrollers"),
            Kind::StatefulSet => ("apps", "v1", "statefulsets"),
            Kind::DaemonSet => ("apps", "v1", "daemonsets"),
            Kind::Job => ("batch", "v1", "jobs"),
            Kind::Pod => ("", "v1", "pods"),
        }
    }

    /// The storage unit of the kind.
    pub fn group_resource(self) -> GroupResource {
        let (group, _, resource) = self.gvr();
        GroupResource {
            group: group.into(),
            resource: resource.into(),
        }
    }

    /// The simulated kind stored under `gr`, if any.
    pub fn of(gr: &GroupResource) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            let (group, _, resource) = k.gvr();
            gr.group == group && gr.resource == resource
        })
    }

    /// The generation a progression belongs to. Pods count as one generation: binding them to
    /// a node changes their spec, and a pod's containers do not restart on spec edits here.
    pub fn generation(self, v: &Value) -> i64 {
        match self {
            Kind::Pod => 0,
            _ => int(&v["metadata"]["generation"], 0),
        }
    }

    /// True when the status shows that this generation was already simulated (by this
    /// simulator before a restart): it then goes straight to its final status.
    pub fn observed(self, v: &Value) -> bool {
        let s = &v["status"];
        match self {
            // The apiserver itself sets `phase: Pending` at creation; `startTime` is the kubelet's.
            Kind::Pod => s["startTime"].is_string(),
            Kind::Job => s["startTime"].is_string() || job::is_complete(v),
            _ => s["observedGeneration"]
                .as_i64()
                .is_some_and(|g| g == int(&v["metadata"]["generation"], 0)),
        }
    }

    /// True when the object reached a state it never leaves (a complete Job).
    pub fn finished(self, v: &Value) -> bool {
        self == Kind::Job && job::is_complete(v)
    }

    /// The stage after `elapsed` since the progression started (`None` = long done), and when
    /// the next stage begins, measured from the start.
    pub fn stage(
        self,
        elapsed: Option<Duration>,
        cfg: &SimulatorConfig,
    ) -> (Stage, Option<Duration>) {
        let Some(e) = elapsed else {
            return (Stage::Done, None);
        };
        let ready = cfg.ready_delay;
        if self != Kind::Job {
            return if e < ready {
                (Stage::Starting, Some(ready))
            } else {
                (Stage::Done, None)
            };
        }
        let complete = ready + cfg.job_duration;
        if e < ready {
            (Stage::Starting, Some(ready))
        } else if e < complete {
            (Stage::Running, Some(complete))
        } else {
            (Stage::Done, None)
        }
    }

    /// The status the kind's controller (or kubelet) would report in `stage`.
    pub fn desired(self, v: &Value, stage: Stage, ctx: &Ctx<'_>) -> Value {
        match self {
            Kind::Deployment => apps::deployment(v, stage, ctx),
            Kind::ReplicaSet | Kind::ReplicationController => apps::replica_set(v, stage),
            Kind::StatefulSet => apps::stateful_set(v, stage),
            Kind::DaemonSet => apps::daemon_set(v, stage, ctx),
            Kind::Job => job::job(v, stage, ctx),
            Kind::Pod => pod::pod(v, stage, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_and_stage_over_time() {
        for k in Kind::ALL {
            assert_eq!(Kind::of(&k.group_resource()), Some(k));
        }
        assert_eq!(
            Kind::of(&GroupResource {
                group: "example.com".into(),
                resource: "deployments".into()
            }),
            None
        );
        let cfg = SimulatorConfig {
            ready_delay: Duration::from_millis(100),
            job_duration: Duration::from_millis(300),
            ..SimulatorConfig::default()
        };
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(
            Kind::Deployment.stage(ms(0), &cfg),
            (Stage::Starting, ms(100))
        );
        assert_eq!(Kind::Deployment.stage(ms(100), &cfg), (Stage::Done, None));
        assert_eq!(Kind::Job.stage(ms(150), &cfg), (Stage::Running, ms(400)));
        assert_eq!(Kind::Job.stage(ms(400), &cfg), (Stage::Done, None));
        assert_eq!(Kind::Pod.stage(None, &cfg), (Stage::Done, None));
    }

    #[test]
    fn observed_generations() {
        let d = |g: i64, og: Value| json!({"metadata": {"generation": g}, "status": {"observedGeneration": og}});
        assert!(Kind::Deployment.observed(&d(2, json!(2))));
        assert!(!Kind::Deployment.observed(&d(3, json!(2))));
        assert!(!Kind::StatefulSet.observed(&json!({"metadata": {"generation": 1}})));
        assert!(
            !Kind::Pod.observed(&json!({"status": {"phase": "Pending", "qosClass": "BestEffort"}}))
        );
        assert!(Kind::Pod.observed(&json!({"status": {"phase": "Pending", "startTime": "t"}})));
        assert!(Kind::Job.observed(&json!({"status": {"startTime": "t"}})));
        assert_eq!(
            Kind::Pod.generation(&json!({"metadata": {"generation": 4}})),
            0
        );
    }
}
