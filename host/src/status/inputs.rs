//! The inputs of the status controller reduced to what it uses: a Binding's objects and
//! destinations, a WorkStatus' returned status and time, a ManifestWork's agent reports.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::keys::{Gvr, ObjKey};
use crate::api::labels::ORIGIN_BINDING;
use crate::api::{Binding, Condition, DownsyncModulation, ManifestWork, WorkStatus};
use crate::plugins::Timestamp;

/// One workload object of a Binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: ObjKey,
    pub version: String,
    pub modulation: DownsyncModulation,
}

impl Entry {
    /// The resource the object is read through.
    pub fn gvr(&self) -> Gvr {
        Gvr {
            group: self.key.group.clone(),
            version: self.version.clone(),
            resource: self.key.resource.clone(),
        }
    }
}

/// The workload objects of a Binding, by key.
pub fn entries(b: &Binding) -> BTreeMap<ObjKey, Entry> {
    let w = &b.spec.workload;
    let cluster = w.cluster_scope.iter().map(|c| Entry {
        key: ObjKey::new(&c.group, &c.resource, "", &c.name),
        version: c.version.clone(),
        modulation: c.modulation.clone(),
    });
    let namespaced = w.namespace_scope.iter().map(|c| Entry {
        key: ObjKey::new(&c.group, &c.resource, &c.namespace, &c.name),
        version: c.version.clone(),
        modulation: c.modulation.clone(),
    });
    cluster
        .chain(namespaced)
        .map(|e| (e.key.clone(), e))
        .collect()
}

/// The destination WEC names of a Binding.
pub fn destinations(b: &Binding) -> BTreeSet<String> {
    b.spec
        .destinations
        .iter()
        .map(|d| d.cluster_id.clone())
        .collect()
}

/// A WorkStatus, reduced to what matters.
#[derive(Clone, Debug, PartialEq)]
pub struct WsEntry {
    pub key: ObjKey,
    /// The WEC (the WorkStatus' namespace).
    pub wec: String,
    /// The object's status in the WEC; `None` when the WorkStatus has none.
    pub status: Option<Value>,
    /// The latest managedFields time of an entry touching `status`.
    pub last_update: Option<Timestamp>,
}

/// When `field` (e.g. `f:status`) of an object was last written, by its managedFields times.
pub fn last_write(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    field: &str,
) -> Option<Timestamp> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get(field).is_some())
        })
        .filter_map(|m| m.time.as_ref())
        .max_by_key(|t| t.0)
        .map(timestamp)
}

/// A Kubernetes time as the plugin contract's timestamp.
pub fn timestamp(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Timestamp {
    Timestamp {
        seconds: t.0.as_second(),
        nanoseconds: t.0.subsec_nanosecond().max(0) as u32,
    }
}

impl WsEntry {
    /// Reduces a WorkStatus.
    pub fn from(ws: &WorkStatus) -> WsEntry {
        let r = &ws.spec.source_ref;
        let last_update = last_write(&ws.metadata, "f:status");
        WsEntry {
            key: ObjKey::new(&r.group, &r.resource, &r.namespace, &r.name),
            wec: ws.metadata.namespace.clone().unwrap_or_default(),
            status: ws.status.clone().filter(|s| !s.is_null()),
            last_update,
        }
    }
}

/// What a ManifestWork's agent reported for one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestState {
    pub key: ObjKey,
    /// The `Applied` condition's status (`None` if absent).
    pub applied: Option<bool>,
    /// The `Applied` condition's message.
    pub message: String,
}

/// A ManifestWork, reduced to what matters.
#[derive(Clone, Debug, PartialEq)]
pub struct MwEntry {
    /// The owning Binding (label).
    pub binding: Option<String>,
    pub generation: i64,
    pub conditions: Vec<Condition>,
    pub manifests: Vec<ManifestState>,
}

impl MwEntry {
    /// Reduces a ManifestWork.
    pub fn from(mw: &ManifestWork) -> MwEntry {
        let status = mw.status.clone().unwrap_or_default();
        let manifests = status
            .resource_status
            .manifests
            .iter()
            .filter(|m| !m.resource_meta.resource.is_empty() && !m.resource_meta.name.is_empty())
            .map(|m| {
                let r = &m.resource_meta;
                let applied = m.conditions.iter().find(|c| c.type_ == "Applied");
                ManifestState {
                    key: ObjKey::new(&r.group, &r.resource, &r.namespace, &r.name),
                    applied: applied.map(|c| c.status == "True"),
                    message: applied.map(|c| c.message.clone()).unwrap_or_default(),
                }
            })
            .collect();
        MwEntry {
            binding: mw
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(ORIGIN_BINDING))
                .cloned(),
            generation: mw.metadata.generation.unwrap_or(0),
            conditions: status.conditions,
            manifests,
        }
    }

    /// True when the agent reported on the current generation.
    pub fn observed(&self) -> bool {
        !self.conditions.is_empty()
            && self
                .conditions
                .iter()
                .all(|c| c.observed_generation.is_none_or(|g| g == self.generation))
    }

    /// The condition of type `t`.
    pub fn condition(&self, t: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == t)
    }

    pub(super) fn applied_keys(&self) -> impl Iterator<Item = &ObjKey> {
        self.manifests
            .iter()
            .filter(|m| m.applied == Some(true))
            .map(|m| &m.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workstatus_times_come_from_status_managed_fields() {
        let ws: WorkStatus = serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "WorkStatus",
            "metadata": {"name": "w", "namespace": "c1", "managedFields": [
                {"manager": "a", "operation": "Update", "time": "2025-01-01T00:00:10Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}},
                {"manager": "b", "operation": "Update", "time": "2025-01-01T00:00:20Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}},
            ]},
            "spec": {"sourceRef": {"group": "apps", "version": "v1", "resource": "deployments", "kind": "Deployment", "namespace": "ns", "name": "x"}},
            "status": {"replicas": 1},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let e = WsEntry::from(&ws);
        assert_eq!(e.key, ObjKey::new("apps", "deployments", "ns", "x"));
        assert_eq!(
            e.last_update,
            Some(Timestamp {
                seconds: 1735689610,
                nanoseconds: 0
            })
        );
        assert_eq!(e.status, Some(json!({"replicas": 1})));
    }
}
