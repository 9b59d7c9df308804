//! The simulated nodes: their names, labels and addresses, the Node objects that make
//! `kubectl get nodes` look right, and the node-selector matching DaemonSets and Pods use.

use serde_json::{Map, Value, json};

use super::kinds::Ctx;
use super::util::{Cond, CondTimes, conditions};

/// The name of the first simulated node.
pub const NODE_NAME: &str = "kubestellar-sim-node";

/// The name of simulated node `i` (0-based): `kubestellar-sim-node`, `kubestellar-sim-node-2`, ...
pub fn name(i: u32) -> String {
    if i == 0 {
        NODE_NAME.to_string()
    } else {
        format!("{NODE_NAME}-{}", i + 1)
    }
}

/// The index of a simulated node by name.
pub fn index_of(node: &str, count: u32) -> Option<u32> {
    (0..count).find(|i| name(*i) == node)
}

/// The labels of simulated node `i`.
pub fn labels(i: u32) -> Map<String, Value> {
    let mut l = Map::new();
    for (k, v) in [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", name(i).as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubestellar.io/simulated", "true"),
    ] {
        l.insert(k.into(), json!(v));
    }
    l
}

/// The InternalIP of simulated node `i`.
pub fn ip(i: u32) -> String {
    format!("172.18.{}.{}", i / 250, 2 + i % 250)
}

/// Whether a `nodeSelector` (a label map, absent = everything) accepts node `i`.
pub fn accepts(selector: &Value, i: u32) -> bool {
    let Some(sel) = selector.as_object() else {
        return true;
    };
    let l = labels(i);
    sel.iter().all(|(k, v)| l.get(k) == Some(v))
}

/// How many of `count` simulated nodes a `nodeSelector` accepts.
pub fn matching(selector: &Value, count: u32) -> i64 {
    (0..count).filter(|i| accepts(selector, *i)).count() as i64
}

/// The Node object to create for simulated node `i` (its status is written afterwards).
pub fn object(i: u32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name(i), "labels": labels(i)},
        "spec": {"podCIDR": format!("10.244.{i}.0/24"), "podCIDRs": [format!("10.244.{i}.0/24")]},
    })
}

/// The status of simulated node `i`: Ready, no pressure, a fixed capacity.
pub(crate) fn status(node: &Value, i: u32, ctx: &Ctx<'_>) -> Value {
    let cur = &node["status"];
    let conds = [
        Cond {
            type_: "MemoryPressure",
            status: "False",
            reason: Some("KubeletHasSufficientMemory"),
            message: Some("kubelet has sufficient memory available"),
        },
        Cond {
            type_: "DiskPressure",
            status: "False",
            reason: Some("KubeletHasNoDiskPressure"),
            message: Some("kubelet has no disk pressure"),
        },
        Cond {
            type_: "PIDPressure",
            status: "False",
            reason: Some("KubeletHasSufficientPID"),
            message: Some("kubelet has sufficient PID available"),
        },
        Cond {
            type_: "Ready",
            status: "True",
            reason: Some("KubeletReady"),
            message: Some("kubelet is posting ready status"),
        },
    ];
    let capacity =
        json!({"cpu": "8", "ephemeral-storage": "102400Mi", "memory": "32Gi", "pods": "110"});
    let uid = node["metadata"]["uid"].as_str().unwrap_or_default();
    json!({
        "conditions": conditions(cur, &conds, CondTimes::Heartbeat, ctx.now),
        "addresses": [{"type": "InternalIP", "address": ip(i)}, {"type": "Hostname", "address": name(i)}],
        "capacity": capacity,
        "allocatable": capacity,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64",
            "bootID": uid,
            "containerRuntimeVersion": "kubestellar-simulator://1.0.0",
            "kernelVersion": "6.1.0",
            "kubeProxyVersion": format!("v1.{}.0", ctx.kube_minor),
            "kubeletVersion": format!("v1.{}.0", ctx.kube_minor),
            "machineID": uid.replace('-', ""),
            "operatingSystem": "linux",
            "osImage": "KubeStellar simulated node",
            "systemUUID": uid,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_selectors() {
        assert_eq!(name(0), "kubestellar-sim-node");
        assert_eq!(name(1), "kubestellar-sim-node-2");
        assert_eq!(index_of("kubestellar-sim-node-2", 3), Some(1));
        assert_eq!(index_of("kubestellar-sim-node-2", 1), None);
        assert!(accepts(&Value::Null, 0));
        assert!(accepts(&json!({"kubernetes.io/os": "linux"}), 0));
        assert!(!accepts(&json!({"kubernetes.io/os": "windows"}), 0));
        assert_eq!(
            matching(
                &json!({"kubernetes.io/hostname": "kubestellar-sim-node-3"}),
                5
            ),
            1
        );
        assert_ne!(ip(0), ip(1));
    }

    #[test]
    fn node_is_ready_and_stable() {
        let cfg = crate::simulator::SimulatorConfig::default();
        let ctx = Ctx {
            now: "t1",
            cfg: &cfg,
            kube_minor: 33,
            new_template: false,
        };
        let mut node = object(0);
        node["metadata"]["uid"] = json!("1234-5678");
        let s = status(&node, 0, &ctx);
        let ready = s["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .expect("Ready");
        assert_eq!(ready["status"], "True");
        assert_eq!(s["nodeInfo"]["kubeletVersion"], "v1.33.0");
        node["status"] = s.clone();
        let later = Ctx { now: "t2", ..ctx };
        assert_eq!(
            status(&node, 0, &later),
            s,
            "an unchanged node keeps its times"
        );
    }
}
