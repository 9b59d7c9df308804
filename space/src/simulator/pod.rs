//! Pods created directly: bound to a simulated node, Pending while their containers are
//! created, then Running and Ready for good.

use serde_json::{Map, Value, json};

use super::kinds::{Ctx, Stage};
use super::nodes;
use super::util::{Cond, CondTimes, conditions, fnv32, hex_id};

/// The simulated node a pod without `spec.nodeName` is bound to, or `None` when no simulated
/// node accepts its node selector (it then stays Pending, unschedulable).
pub(crate) fn pick_node(v: &Value, count: u32) -> Option<String> {
    let selector = &v["spec"]["nodeSelector"];
    let fits: Vec<u32> = (0..count)
        .filter(|i| nodes::accepts(selector, *i))
        .collect();
    if fits.is_empty() {
        return None;
    }
    let uid = v["metadata"]["uid"].as_str().unwrap_or_default();
    let pick = fits[fnv32(&json!(uid)) as usize % fits.len()];
    Some(nodes::name(pick))
}

/// The pod's QoS class, as the apiserver computes it at creation (cpu and memory only).
fn qos_class(spec: &Value) -> &'static str {
    let containers = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        for r in ["cpu", "memory"] {
            any |= req.get(r).is_some() || lim.get(r).is_some();
            match (req.get(r), lim.get(r)) {
                (_, None) => guaranteed = false,
                (Some(q), Some(l)) if q != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// `repo@sha256:...` as a runtime reports the image it pulled.
fn image_id(image: &str) -> String {
    let base = image.split('@').next().unwrap_or(image);
    let repo = match base.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => base,
    };
    format!("{repo}@sha256:{}", hex_id(image, 64))
}

fn container_names(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["image"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `startedAt` the current status already reports for a container in `state`.
fn kept_time(current: &Value, list: &str, name: &str, state: &str, field: &str) -> Option<Value> {
    current[list]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["state"][state][field].as_str())
        .map(|t| json!(t))
}

/// `v1 Pod` status on its node (binding happens before, see [`pick_node`]).
pub(crate) fn pod(v: &Value, stage: Stage, ctx: &Ctx<'_>) -> Value {
    let spec = &v["spec"];
    let cur = &v["status"];
    let mut s = Map::new();
    // The apiserver sets the class at creation and it never changes.
    let qos = cur["qosClass"].as_str().unwrap_or_else(|| qos_class(spec));
    s.insert("qosClass".into(), json!(qos));
    let node = spec["nodeName"].as_str().unwrap_or_default();
    if node.is_empty() {
        s.insert("phase".into(), json!("Pending"));
        if pick_node(v, ctx.cfg.nodes).is_none() {
            let n = ctx.cfg.nodes;
            let msg = format!(
                "0/{n} nodes are available: {n} node(s) didn't match Pod's node affinity/selector. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
            );
            let c = [Cond {
                type_: "PodScheduled",
                status: "False",
                reason: Some("Unschedulable"),
                message: Some(&msg),
            }];
            s.insert(
                "conditions".into(),
                conditions(cur, &c, CondTimes::PodProbe, ctx.now),
            );
        }
        return Value::Object(s);
    }
    let host = nodes::index_of(node, ctx.cfg.nodes).unwrap_or(0);
    let uid = v["metadata"]["uid"].as_str().unwrap_or_default();
    let host_ip = nodes::ip(host);
    let keep = |field: &str| {
        cur[field]
            .as_str()
            .map_or_else(|| json!(ctx.now), |t| json!(t))
    };
    s.insert("hostIP".into(), json!(host_ip));
    s.insert("hostIPs".into(), json!([{"ip": host_ip}]));
    s.insert("startTime".into(), keep("startTime"));
    let containers = container_names(&spec["containers"]);
    let inits = container_names(&spec["initContainers"]);
    let running = stage == Stage::Done;
    let unready: Vec<&str> = containers.iter().map(|(n, _)| n.as_str()).collect();
    let not_ready_msg = format!("containers with unready status: [{}]", unready.join(" "));
    let init_names: Vec<&str> = inits.iter().map(|(n, _)| n.as_str()).collect();
    let not_init_msg = format!(
        "containers with incomplete status: [{}]",
        init_names.join(" ")
    );
    let wanted: Vec<Cond<'_>> = if running {
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        .into_iter()
        .map(|t| Cond {
            type_: t,
            status: "True",
            reason: None,
            message: None,
        })
        .collect()
    } else {
        let initialized = if inits.is_empty() {
            Cond {
                type_: "Initialized",
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                type_: "Initialized",
                status: "False",
                reason: Some("ContainersNotInitialized"),
                message: Some(&not_init_msg),
            }
        };
        vec![
            Cond {
                type_: "PodReadyToStartContainers",
                status: "False",
                reason: None,
                message: None,
            },
            initialized,
            Cond {
                type_: "Ready",
                status: "False",
                reason: Some("ContainersNotReady"),
                message: Some(&not_ready_msg),
            },
            Cond {
                type_: "ContainersReady",
                status: "False",
                reason: Some("ContainersNotReady"),
                message: Some(&not_ready_msg),
            },
            Cond {
                type_: "PodScheduled",
                status: "True",
                reason: None,
                message: None,
            },
        ]
    };
    s.insert(
        "conditions".into(),
        conditions(cur, &wanted, CondTimes::PodProbe, ctx.now),
    );
    if !running {
        s.insert("phase".into(), json!("Pending"));
        let waiting = |list: &[(String, String)], reason: &str| -> Value {
            list.iter()
                .map(|(name, image)| {
                    json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0,
                           "started": false, "state": {"waiting": {"reason": reason}}, "lastState": {}})
                })
                .collect()
        };
        let first = if inits.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        s.insert("containerStatuses".into(), waiting(&containers, first));
        if !inits.is_empty() {
            s.insert(
                "initContainerStatuses".into(),
                waiting(&inits, "PodInitializing"),
            );
        }
        return Value::Object(s);
    }
    s.insert("phase".into(), json!("Running"));
    let h = fnv32(&json!(uid));
    let pod_ip = format!("10.244.{host}.{}", 2 + h % 250);
    s.insert("podIP".into(), json!(pod_ip));
    s.insert("podIPs".into(), json!([{"ip": pod_ip}]));
    let statuses: Vec<Value> = containers
        .iter()
        .map(|(name, image)| {
            let started = kept_time(cur, "containerStatuses", name, "running", "startedAt")
                .unwrap_or_else(|| json!(ctx.now));
            json!({"name": name, "image": image, "imageID": image_id(image),
                   "containerID": format!("containerd://{}", hex_id(&format!("{uid}/{name}"), 64)),
                   "ready": true, "started": true, "restartCount": 0,
                   "state": {"running": {"startedAt": started}}, "lastState": {}})
        })
        .collect();
    s.insert("containerStatuses".into(), Value::Array(statuses));
    if !inits.is_empty() {
        let done: Vec<Value> = inits
            .iter()
            .map(|(name, image)| {
                let started = kept_time(cur, "initContainerStatuses", name, "terminated", "startedAt")
                    .unwrap_or_else(|| json!(ctx.now));
                let finished = kept_time(cur, "initContainerStatuses", name, "terminated", "finishedAt")
                    .unwrap_or_else(|| json!(ctx.now));
                let id = format!("containerd://{}", hex_id(&format!("{uid}/{name}"), 64));
                json!({"name": name, "image": image, "imageID": image_id(image), "containerID": id,
                       "ready": true, "started": false, "restartCount": 0, "lastState": {},
                       "state": {"terminated": {"exitCode": 0, "reason": "Completed", "containerID": id,
                                                 "startedAt": started, "finishedAt": finished}}})
            })
            .collect();
        s.insert("initContainerStatuses".into(), Value::Array(done));
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimulatorConfig;

    fn p(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p", "uid": "u-1"}, "spec": spec, "status": status})
    }

    #[test]
    fn a_pod_goes_pending_then_running_and_stays() {
        let cfg = SimulatorConfig::default();
        let ctx = Ctx {
            now: "t0",
            cfg: &cfg,
            kube_minor: 33,
            new_template: false,
        };
        let spec = json!({"nodeName": "kubestellar-sim-node", "containers": [{"name": "c", "image": "nginx:1.27"}]});
        let pending = pod(&p(spec.clone(), json!({})), Stage::Starting, &ctx);
        assert_eq!(pending["phase"], "Pending");
        assert_eq!(
            pending["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(pending["qosClass"], "BestEffort");
        let later = Ctx { now: "t1", ..ctx };
        let running = pod(&p(spec.clone(), pending.clone()), Stage::Done, &later);
        assert_eq!(running["phase"], "Running");
        assert_eq!(running["startTime"], "t0", "startTime is kept");
        let ready = running["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .expect("Ready");
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["lastTransitionTime"], "t1");
        let cs = &running["containerStatuses"][0];
        assert_eq!(cs["ready"], true);
        assert_eq!(cs["restartCount"], 0);
        assert!(
            cs["imageID"]
                .as_str()
                .is_some_and(|i| i.starts_with("nginx@sha256:")),
            "{cs}"
        );
        assert!(
            running["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.244.0."))
        );
        assert_eq!(running["hostIP"], nodes::ip(0));
        let again = pod(
            &p(spec, running.clone()),
            Stage::Done,
            &Ctx { now: "t9", ..later },
        );
        assert_eq!(again, running, "recomputing a running pod changes nothing");
    }

    #[test]
    fn scheduling_and_qos() {
        let cfg = SimulatorConfig {
            nodes: 2,
            ..SimulatorConfig::default()
        };
        assert!(
            pick_node(&p(json!({}), json!({})), 2)
                .is_some_and(|n| n.starts_with("kubestellar-sim-node"))
        );
        let picky = p(
            json!({"nodeSelector": {"kubernetes.io/hostname": "kubestellar-sim-node-2"}}),
            json!({}),
        );
        assert_eq!(
            pick_node(&picky, 2).as_deref(),
            Some("kubestellar-sim-node-2")
        );
        let nowhere = p(json!({"nodeSelector": {"gpu": "yes"}}), json!({}));
        assert_eq!(pick_node(&nowhere, 2), None);
        let ctx = Ctx {
            now: "t0",
            cfg: &cfg,
            kube_minor: 33,
            new_template: false,
        };
        let s = pod(&nowhere, Stage::Done, &ctx);
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["conditions"][0]["reason"], "Unschedulable");
        let res = |r: Value| json!({"containers": [{"name": "c", "resources": r}]});
        assert_eq!(
            qos_class(&res(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&res(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
        assert_eq!(
            qos_class(&res(
                json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}})
            )),
            "Burstable"
        );
    }

    #[test]
    fn init_containers_complete_before_running() {
        let cfg = SimulatorConfig::default();
        let ctx = Ctx {
            now: "t0",
            cfg: &cfg,
            kube_minor: 33,
            new_template: false,
        };
        let spec = json!({"nodeName": "kubestellar-sim-node", "initContainers": [{"name": "i", "image": "busybox"}],
                          "containers": [{"name": "c", "image": "nginx"}]});
        let pending = pod(&p(spec.clone(), json!({})), Stage::Starting, &ctx);
        assert_eq!(
            pending["conditions"][1]["reason"],
            "ContainersNotInitialized"
        );
        assert_eq!(
            pending["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        let running = pod(&p(spec, pending), Stage::Done, &ctx);
        assert_eq!(
            running["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        assert_eq!(running["conditions"][1]["status"], "True");
    }
}
