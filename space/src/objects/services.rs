//! Service `spec.clusterIP` and node port allocation, as the apiserver's allocators do it: every
//! address belongs to one Service, also among Services written at the same moment (their
//! writes take turns, see [`Space::allocation_turn`]).

use std::collections::{HashMap, HashSet};

use kubestellar_apimachinery::validation::FieldError;
use serde_json::{Value, json};

use super::Subresource;
use super::admission::invalid;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::space::Space;

/// Node ports handed out (kube's default `--service-node-port-range`, 30000-32767).
const NODE_PORTS: std::ops::Range<u64> = 30000..32768;

/// Allocates `spec.clusterIP` and node ports, refuses addresses another Service holds, and
/// keeps an allocated clusterIP immutable.
pub(super) fn allocate(
    space: &Space,
    r: &ResourceInfo,
    old: Option<&Value>,
    obj: &mut Value,
) -> ApiResult<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let wanted = obj["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let old_ip = old
        .and_then(|o| o["spec"]["clusterIP"].as_str())
        .filter(|ip| !ip.is_empty());
    if let Some(old_ip) = old_ip {
        if wanted.is_empty() {
            obj["spec"]["clusterIP"] = json!(old_ip);
            obj["spec"]["clusterIPs"] = json!([old_ip]);
        } else if wanted != old_ip {
            return Err(invalid(
                r,
                &name,
                &[FieldError::invalid(
                    "spec.clusterIPs[0]",
                    wanted.clone(),
                    "may not change once set",
                )],
            ));
        }
    }
    let needs_ip = obj["spec"]["type"] != "ExternalName"
        && obj["spec"]["clusterIP"].as_str().is_none_or(str::is_empty);
    // An address the client chose and this Service did not hold yet must be free.
    let requested_ip =
        (!wanted.is_empty() && wanted != "None" && old_ip.is_none()).then_some(wanted.as_str());
    let node_ports = has_node_ports(obj);
    if node_ports && let Some(old) = old.filter(|o| has_node_ports(o)) {
        keep_node_ports(old, obj);
    }
    let held_ports: HashSet<u64> = old.map(node_ports_of).unwrap_or_default();
    let requested_ports: Vec<(usize, u64)> = node_ports_of_indexed(obj)
        .filter(|(_, p)| !held_ports.contains(p))
        .collect();
    if !needs_ip && requested_ip.is_none() && !node_ports && requested_ports.is_empty() {
        return Ok(());
    }

    // What the other stored Services hold; the writer has its allocation turn until its commit,
    // so no address handed out to another write is missing here.
    let (mut ips, mut ports) = (HashSet::new(), HashSet::new());
    // Only the Services, and only the two fields: this runs on every Service write.
    space.store.for_each_of(&r.group_resource(), &mut |key, o| {
        if key.namespace == namespace && key.name == name {
            return;
        }
        let Ok(svc) = serde_json::from_slice::<Allocated>(&o.json) else {
            return;
        };
        ips.extend(
            svc.spec
                .cluster_ip
                .filter(|ip| !ip.is_empty() && ip != "None"),
        );
        ports.extend(svc.spec.ports.into_iter().filter_map(|p| p.node_port));
    });

    let mut errs = Vec::new();
    if let Some(ip) = requested_ip
        && ips.contains(ip)
    {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            json!([ip]),
            format!("failed to allocate IP {ip}: provided IP is already allocated"),
        ));
    }
    for (i, port) in &requested_ports {
        if ports.contains(port) {
            errs.push(FieldError::invalid(
                format!("spec.ports[{i}].nodePort"),
                *port,
                "provided port is already allocated",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(invalid(r, &name, &errs));
    }

    if needs_ip {
        // 10.96.0.0/12 as kubeadm's default service CIDR; .1 is the kubernetes service.
        let ip = (2u32..(1 << 20))
            .map(|n| format!("10.{}.{}.{}", 96 + (n >> 16), (n >> 8) & 0xff, n & 0xff))
            .find(|ip| !ips.contains(ip))
            .ok_or_else(|| ApiError::internal("no free service IP"))?;
        obj["spec"]["clusterIP"] = json!(ip);
        obj["spec"]["clusterIPs"] = json!([ip]);
    }
    if node_ports && let Some(list) = obj["spec"]["ports"].as_array_mut() {
        let mut next = NODE_PORTS.start;
        for p in list.iter_mut() {
            if p["nodePort"].as_u64().is_some() {
                continue;
            }
            while ports.contains(&next) && NODE_PORTS.contains(&next) {
                next += 1;
            }
            if !NODE_PORTS.contains(&next) {
                return Err(ApiError::internal("no free node port"));
            }
            p["nodePort"] = json!(next);
            ports.insert(next);
        }
    }
    Ok(())
}

fn has_node_ports(svc: &Value) -> bool {
    matches!(
        svc["spec"]["type"].as_str(),
        Some("NodePort" | "LoadBalancer")
    )
}

/// kube-apiserver's `patchAllocatedValues` for node ports: a port written without its
/// nodePort (`kubectl replace` of a manifest) keeps the one the old port of the same name had,
/// unless the write gives that port to a port it also had before.
fn keep_node_ports(old: &Value, obj: &mut Value) {
    let before = node_ports_of(old);
    let used: HashSet<u64> = node_ports_of(obj).intersection(&before).copied().collect();
    let by_name: HashMap<&str, u64> = old["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str().unwrap_or_default(),
                p["nodePort"].as_u64()?,
            ))
        })
        .collect();
    for p in obj["spec"]["ports"].as_array_mut().into_iter().flatten() {
        if p["nodePort"].as_u64().is_none()
            && let Some(port) = by_name.get(p["name"].as_str().unwrap_or_default())
            && !used.contains(port)
        {
            p["nodePort"] = json!(port);
        }
    }
}

fn node_ports_of(svc: &Value) -> HashSet<u64> {
    node_ports_of_indexed(svc).map(|(_, p)| p).collect()
}

fn node_ports_of_indexed(svc: &Value) -> impl Iterator<Item = (usize, u64)> + '_ {
    svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p["nodePort"].as_u64()?)))
}

/// What a stored Service holds of what allocation hands out.
#[derive(serde::Deserialize, Default)]
struct Allocated {
    #[serde(default)]
    spec: AllocatedSpec,
}

#[derive(serde::Deserialize, Default)]
struct AllocatedSpec {
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    #[serde(default)]
    ports: Vec<AllocatedPort>,
}

#[derive(serde::Deserialize)]
struct AllocatedPort {
    #[serde(rename = "nodePort")]
    node_port: Option<u64>,
}

impl Space {
    /// The turn of a write that may allocate Service addresses (a Service, not its status),
    /// held from before its admission until its commit: allocation reads what the stored
    /// Services hold, so two writes must not both allocate before either is stored. `None`
    /// for every other write. (This orders the writes of one space process; replicas sharing
    /// an etcd are not coordinated.)
    pub(super) async fn allocation_turn(
        &self,
        r: &ResourceInfo,
        sub: Subresource,
    ) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if sub == Subresource::Main && r.group.is_empty() && r.resource == "services" {
            Some(self.service_writes.lock().await)
        } else {
            None
        }
    }
}
