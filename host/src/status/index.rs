//! What the status controller knows: every input, as last seen through watches (and as last
//! written by the controller itself), plus the derived maps its reconcilers need. Each
//! `*_changed` method stores a new version of one input (or its deletion) and returns the work
//! that change makes necessary; the index itself does no IO.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

pub use super::inputs::{Entry, ManifestState, MwEntry, WsEntry, destinations, entries};
use super::keys::{Gvr, ObjKey, Work};
use super::writer::{ResourceInfo, rv_at_least};
use crate::api::labels::{
    CS_API_GROUP, CS_BINDING_POLICY, CS_NAME, CS_NAMESPACE, CS_RESOURCE, EXECUTING_COUNT,
    MULTIWEC_STATUS, SINGLETON_STATUS,
};
use crate::api::{
    Binding, BindingPolicy, CombinedStatus, ManagedCluster, StatusCollector, WasmPlugin,
};

/// The watched inputs that must be listed before any reconcile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Bindings,
    Policies,
    Collectors,
    Combined,
    WasmPlugins,
    WorkStatuses,
    ManifestWorks,
    Clusters,
    Properties,
    Upsynced,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 10] = [
        Source::Bindings,
        Source::Policies,
        Source::Collectors,
        Source::Combined,
        Source::WasmPlugins,
        Source::WorkStatuses,
        Source::ManifestWorks,
        Source::Clusters,
        Source::Properties,
        Source::Upsynced,
    ];
}

/// Everything the controller knows.
#[derive(Default)]
pub struct Index {
    pub bindings: BTreeMap<String, Arc<Binding>>,
    pub policies: BTreeMap<String, Arc<BindingPolicy>>,
    pub collectors: BTreeMap<String, Arc<StatusCollector>>,
    /// CombinedStatus objects by (namespace, name).
    pub combined: BTreeMap<(String, String), Arc<CombinedStatus>>,
    pub wasm_plugins: BTreeMap<String, Arc<WasmPlugin>>,
    /// Workload objects of the watched resources.
    pub objects: HashMap<ObjKey, Arc<Value>>,
    /// WorkStatuses of this WDS by (WEC, name).
    pub workstatuses: HashMap<(String, String), WsEntry>,
    pub ws_by_obj: HashMap<ObjKey, BTreeSet<(String, String)>>,
    /// ManifestWorks of this WDS by (WEC, name).
    pub manifestworks: HashMap<(String, String), MwEntry>,
    /// ManifestWorks that applied an object.
    pub mw_by_obj: HashMap<ObjKey, BTreeSet<(String, String)>>,
    pub clusters: BTreeMap<String, Arc<ManagedCluster>>,
    /// Customization properties per WEC.
    pub properties: BTreeMap<String, BTreeMap<String, String>>,
    /// Resources found holding labelled objects no Binding names (watched until listed).
    pub sweep: BTreeSet<Gvr>,
    /// The objects of each Binding.
    pub entries: BTreeMap<String, Arc<BTreeMap<ObjKey, Entry>>>,
    /// Bindings naming each object.
    pub obj_bindings: HashMap<ObjKey, BTreeSet<String>>,
    /// Sources listed at least once.
    pub synced: HashSet<Source>,
    /// Resources whose objects are listed.
    pub gvr_synced: HashSet<Gvr>,
    /// How to reach each watched resource.
    pub resources: HashMap<Gvr, ResourceInfo>,
    /// The (Binding, object) pair each CombinedStatus name was last computed for.
    pub cs_pairs: HashMap<(String, String), (String, ObjKey)>,
    /// UpsyncedObjects of this WDS (for upsync summaries).
    pub upsynced: super::upsync::UpsyncIndex,
}

fn labels_of(v: &Value) -> Option<&serde_json::Map<String, Value>> {
    v["metadata"]["labels"].as_object()
}

/// True when an object carries a label the status controller maintains.
pub fn has_our_labels(obj: &Value) -> bool {
    labels_of(obj).is_some_and(|l| {
        [SINGLETON_STATUS, MULTIWEC_STATUS, EXECUTING_COUNT]
            .iter()
            .any(|k| l.contains_key(*k))
    })
}

/// The (Binding name, object) pair a CombinedStatus' labels name.
pub fn cs_labelled_pair(cs: &CombinedStatus) -> Option<(String, ObjKey)> {
    let l = cs.metadata.labels.as_ref()?;
    let get = |k: &str| l.get(k).cloned().unwrap_or_default();
    let binding = l.get(CS_BINDING_POLICY)?.clone();
    Some((
        binding,
        ObjKey::new(
            &get(CS_API_GROUP),
            &get(CS_RESOURCE),
            &get(CS_NAMESPACE),
            &get(CS_NAME),
        ),
    ))
}

impl Index {
    /// True once every source has been listed.
    pub fn ready(&self) -> bool {
        Source::ALL.iter().all(|s| self.synced.contains(s))
    }

    /// The Bindings naming `key`, with its entry in each.
    pub fn bindings_of(&self, key: &ObjKey) -> Vec<(Arc<Binding>, Entry)> {
        let Some(names) = self.obj_bindings.get(key) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| {
                let b = self.bindings.get(n)?;
                let e = self.entries.get(n)?.get(key)?;
                Some((b.clone(), e.clone()))
            })
            .collect()
    }

    /// The objects of Binding `name`.
    pub fn entries_of(&self, name: &str) -> Arc<BTreeMap<ObjKey, Entry>> {
        self.entries.get(name).cloned().unwrap_or_default()
    }

    /// The resource through which `key` is read (the lowest version any Binding names).
    pub fn gvr_of(&self, key: &ObjKey) -> Option<Gvr> {
        self.bindings_of(key)
            .into_iter()
            .map(|(_, e)| e.gvr())
            .min()
    }

    /// Resources to watch: those the Bindings name (one version per group-resource), plus
    /// those holding objects that still carry our labels (so they can be removed).
    pub fn wanted_gvrs(&self) -> BTreeSet<Gvr> {
        let mut by_gr: BTreeMap<(String, String), Gvr> = BTreeMap::new();
        for es in self.entries.values() {
            for e in es.values() {
                let g = e.gvr();
                let slot = by_gr
                    .entry((g.group.clone(), g.resource.clone()))
                    .or_insert_with(|| g.clone());
                if g < *slot {
                    *slot = g;
                }
            }
        }
        let mut out: BTreeSet<Gvr> = by_gr.values().cloned().collect();
        for g in &self.sweep {
            if !self.gvr_synced.contains(g)
                && !by_gr.contains_key(&(g.group.clone(), g.resource.clone()))
            {
                out.insert(g.clone());
            }
        }
        for (k, obj) in &self.objects {
            if !self.obj_bindings.contains_key(k) && has_our_labels(obj) {
                let gvr = api_version_gvr(k, obj);
                if !by_gr.contains_key(&(k.group.clone(), k.resource.clone())) {
                    out.insert(gvr);
                }
            }
        }
        out
    }

    fn combined_pairs_of_binding(&self, name: &str) -> Vec<Work> {
        self.entries_of(name)
            .keys()
            .map(|k| Work::Combined(name.to_string(), k.clone()))
            .collect()
    }

    /// A Binding was created, changed or deleted.
    pub fn binding_changed(&mut self, name: &str, new: Option<Binding>) -> Vec<Work> {
        let old = self.bindings.get(name).cloned();
        let old_entries = self.entries_of(name);
        let new_entries = new.as_ref().map(entries).unwrap_or_default();
        let dests_changed = old.as_deref().map(destinations) != new.as_ref().map(destinations);
        let mut work = vec![Work::Policy(name.to_string())];
        let keys: BTreeSet<&ObjKey> = old_entries.keys().chain(new_entries.keys()).collect();
        for k in keys {
            let before = old_entries.get(k);
            let after = new_entries.get(k);
            let changed = dests_changed
                || before.map(|e| (&e.modulation, &e.version))
                    != after.map(|e| (&e.modulation, &e.version));
            if changed {
                work.push(Work::Object(k.clone()));
                work.push(Work::Combined(name.to_string(), k.clone()));
            }
            match after {
                Some(_) => {
                    self.obj_bindings
                        .entry(k.clone())
                        .or_default()
                        .insert(name.to_string());
                }
                None => {
                    if let Some(s) = self.obj_bindings.get_mut(k) {
                        s.remove(name);
                        if s.is_empty() {
                            self.obj_bindings.remove(k);
                        }
                    }
                }
            }
        }
        match new {
            Some(b) => {
                self.bindings.insert(name.to_string(), Arc::new(b));
                self.entries.insert(name.to_string(), Arc::new(new_entries));
            }
            None => {
                self.bindings.remove(name);
                self.entries.remove(name);
            }
        }
        work
    }

    /// A BindingPolicy was created, changed or deleted.
    pub fn policy_changed(&mut self, name: &str, new: Option<BindingPolicy>) -> Vec<Work> {
        let old_uid = self.policies.get(name).and_then(|p| p.metadata.uid.clone());
        let new_uid = new.as_ref().and_then(|p| p.metadata.uid.clone());
        let mut work = vec![Work::Policy(name.to_string())];
        if old_uid != new_uid {
            work.extend(self.combined_pairs_of_binding(name));
        }
        let upsync = |p: &BindingPolicy| {
            (
                p.spec.upsync.clone(),
                p.metadata.deletion_timestamp.is_some(),
            )
        };
        if old_uid != new_uid
            || self.policies.get(name).map(|p| upsync(p)) != new.as_ref().map(upsync)
        {
            work.extend(self.upsync_work_of_policy(name));
        }
        match new {
            Some(p) => self.policies.insert(name.to_string(), Arc::new(p)),
            None => self.policies.remove(name),
        };
        work
    }

    /// Work for everything that uses StatusCollector `name`.
    pub fn users_of_collector(&self, name: &str) -> Vec<Work> {
        let mut work = vec![Work::Collector(name.to_string())];
        for (bname, es) in &self.entries {
            let mut uses = false;
            for e in es.values() {
                if e.modulation.status_collectors.iter().any(|c| c == name) {
                    uses = true;
                    work.push(Work::Combined(bname.clone(), e.key.clone()));
                }
            }
            if uses {
                work.push(Work::Policy(bname.clone()));
            }
        }
        work.extend(self.upsync_users_of_collector(name));
        work
    }

    /// A StatusCollector was created, changed or deleted.
    pub fn collector_changed(&mut self, name: &str, new: Option<StatusCollector>) -> Vec<Work> {
        match new {
            Some(c) => self.collectors.insert(name.to_string(), Arc::new(c)),
            None => self.collectors.remove(name),
        };
        self.users_of_collector(name)
    }

    /// A WasmPlugin was created, changed or deleted: everything using a collector that names it.
    pub fn wasm_plugin_changed(&mut self, name: &str, new: Option<WasmPlugin>) -> Vec<Work> {
        match new {
            Some(p) => self.wasm_plugins.insert(name.to_string(), Arc::new(p)),
            None => self.wasm_plugins.remove(name),
        };
        self.users_of_plugin(name)
    }

    /// Work for everything using a collector that names WasmPlugin `name`.
    pub fn users_of_plugin(&self, name: &str) -> Vec<Work> {
        let users: Vec<String> = self
            .collectors
            .iter()
            .filter(|(_, c)| c.spec.plugin.as_ref().is_some_and(|p| p.name == name))
            .map(|(n, _)| n.clone())
            .collect();
        users
            .iter()
            .flat_map(|c| self.users_of_collector(c))
            .collect()
    }

    /// A CombinedStatus was created, changed or deleted.
    pub fn combined_changed(
        &mut self,
        id: (String, String),
        new: Option<CombinedStatus>,
    ) -> Vec<Work> {
        let mut work = Vec::new();
        let old = self.combined.get(&id).cloned();
        for cs in old.as_deref().into_iter().chain(new.as_ref()) {
            if let Some((b, k)) = cs_labelled_pair(cs) {
                work.push(Work::Combined(b, k));
            }
            if let Some((p, k)) = super::upsync::labelled(cs) {
                work.push(Work::Upsync(p, k));
            }
        }
        if let Some((b, k)) = self.cs_pairs.get(&id) {
            work.push(Work::Combined(b.clone(), k.clone()));
        }
        match new {
            Some(cs) => self.combined.insert(id, Arc::new(cs)),
            None => self.combined.remove(&id),
        };
        work
    }

    /// Work for a change to what WEC `wec` returned about `key` (or delivered of it).
    fn object_in_wec_work(&self, key: &ObjKey, wec: &str) -> Vec<Work> {
        let mut work = vec![Work::Object(key.clone())];
        for (b, _) in self.bindings_of(key) {
            if destinations(&b).contains(wec) {
                work.push(Work::Combined(
                    b.metadata.name.clone().unwrap_or_default(),
                    key.clone(),
                ));
            }
        }
        work
    }

    /// A WorkStatus was created, changed or deleted.
    pub fn workstatus_changed(&mut self, id: (String, String), new: Option<WsEntry>) -> Vec<Work> {
        let old = self.workstatuses.get(&id).cloned();
        if old == new {
            return Vec::new();
        }
        let mut work = Vec::new();
        if let Some(o) = &old {
            work.extend(self.object_in_wec_work(&o.key, &o.wec));
            if let Some(s) = self.ws_by_obj.get_mut(&o.key) {
                s.remove(&id);
                if s.is_empty() {
                    self.ws_by_obj.remove(&o.key);
                }
            }
        }
        match new {
            Some(n) => {
                work.extend(self.object_in_wec_work(&n.key, &n.wec));
                self.ws_by_obj
                    .entry(n.key.clone())
                    .or_default()
                    .insert(id.clone());
                self.workstatuses.insert(id, n);
            }
            None => {
                self.workstatuses.remove(&id);
            }
        }
        work
    }

    /// A ManifestWork was created, changed or deleted.
    pub fn manifestwork_changed(
        &mut self,
        id: (String, String),
        new: Option<MwEntry>,
    ) -> Vec<Work> {
        let old = self.manifestworks.get(&id).cloned();
        if old == new {
            return Vec::new();
        }
        let mut work = Vec::new();
        for e in old.iter().chain(new.iter()) {
            if let Some(b) = &e.binding {
                work.push(Work::Policy(b.clone()));
            }
        }
        let old_applied: BTreeSet<ObjKey> =
            old.iter().flat_map(|e| e.applied_keys().cloned()).collect();
        let new_applied: BTreeSet<ObjKey> =
            new.iter().flat_map(|e| e.applied_keys().cloned()).collect();
        for k in old_applied.symmetric_difference(&new_applied) {
            work.push(Work::Object(k.clone()));
        }
        for k in &old_applied {
            if let Some(s) = self.mw_by_obj.get_mut(k) {
                s.remove(&id);
                if s.is_empty() {
                    self.mw_by_obj.remove(k);
                }
            }
        }
        for k in &new_applied {
            self.mw_by_obj
                .entry(k.clone())
                .or_default()
                .insert(id.clone());
        }
        match new {
            Some(n) => self.manifestworks.insert(id, n),
            None => self.manifestworks.remove(&id),
        };
        work
    }

    /// Work for a change to what the summarizers learn about WEC `wec`.
    fn cluster_context_work(&self, wec: &str) -> Vec<Work> {
        let mut work = Vec::new();
        for (name, b) in &self.bindings {
            if destinations(b).contains(wec) {
                for e in self.entries_of(name).values() {
                    if !e.modulation.status_collectors.is_empty() {
                        work.push(Work::Combined(name.clone(), e.key.clone()));
                    }
                }
            }
        }
        work.extend(self.upsync_cluster_work(wec));
        work
    }

    /// A ManagedCluster was created, changed or deleted.
    pub fn cluster_changed(&mut self, name: &str, new: Option<ManagedCluster>) -> Vec<Work> {
        let changed = match (&new, self.clusters.get(name)) {
            (Some(n), Some(o)) => {
                n.metadata.labels != o.metadata.labels
                    || n.metadata.annotations != o.metadata.annotations
            }
            (None, None) => false,
            _ => true,
        };
        match new {
            Some(c) => self.clusters.insert(name.to_string(), Arc::new(c)),
            None => self.clusters.remove(name),
        };
        if changed {
            self.cluster_context_work(name)
        } else {
            Vec::new()
        }
    }

    /// A WEC's customization properties were created, changed or deleted.
    pub fn properties_changed(
        &mut self,
        name: &str,
        new: Option<BTreeMap<String, String>>,
    ) -> Vec<Work> {
        if self.properties.get(name) == new.as_ref() {
            return Vec::new();
        }
        match new {
            Some(p) => self.properties.insert(name.to_string(), p),
            None => self.properties.remove(name),
        };
        self.cluster_context_work(name)
    }

    /// True when the index holds a later version of `id` of `source` than `rv`: a live watch
    /// event that arrives after the response of the controller's own later write. Such an
    /// event is dropped; applying it would make the next replace carry an outdated
    /// resourceVersion and fail with a conflict. Only the kinds the controller writes are
    /// checked.
    pub fn holds_newer(&self, source: Source, id: &(String, String), rv: Option<&str>) -> bool {
        let held = match source {
            Source::Combined => self.combined.get(id).map(|c| &c.metadata),
            Source::Collectors => self.collectors.get(&id.1).map(|c| &c.metadata),
            Source::Policies => self.policies.get(&id.1).map(|p| &p.metadata),
            Source::Bindings => self.bindings.get(&id.1).map(|b| &b.metadata),
            _ => None,
        };
        held.is_some_and(|m| !rv_at_least(rv, m.resource_version.as_deref()))
    }

    /// A workload object was created, changed or deleted.
    pub fn object_changed(&mut self, key: ObjKey, new: Option<Value>) -> Vec<Work> {
        let old = self.objects.get(&key).cloned();
        if old.as_deref() == new.as_ref() {
            return Vec::new();
        }
        let mut work = Vec::new();
        let bound = self.obj_bindings.get(&key).cloned().unwrap_or_default();
        let labelled =
            old.as_deref().is_some_and(has_our_labels) || new.as_ref().is_some_and(has_our_labels);
        if !bound.is_empty() || labelled {
            work.push(Work::Object(key.clone()));
        }
        for b in bound {
            work.push(Work::Combined(b, key.clone()));
        }
        match new {
            Some(v) => self.objects.insert(key, Arc::new(v)),
            None => self.objects.remove(&key),
        };
        work
    }

    /// Drops the objects of a resource no longer watched.
    pub fn forget_gvr(&mut self, gvr: &Gvr) {
        self.gvr_synced.remove(gvr);
        self.resources.remove(gvr);
        self.sweep.remove(gvr);
        self.objects
            .retain(|k, _| !(k.group == gvr.group && k.resource == gvr.resource));
    }

    /// Work for everything (after the first full listing).
    pub fn everything(&self) -> Vec<Work> {
        let mut work: Vec<Work> = Vec::new();
        work.extend(
            self.policies
                .keys()
                .chain(self.bindings.keys())
                .map(|n| Work::Policy(n.clone())),
        );
        work.extend(self.collectors.keys().map(|n| Work::Collector(n.clone())));
        for name in self.bindings.keys() {
            work.extend(self.combined_pairs_of_binding(name));
        }
        work.extend(self.obj_bindings.keys().map(|k| Work::Object(k.clone())));
        work.extend(
            self.objects
                .iter()
                .filter(|(_, o)| has_our_labels(o))
                .map(|(k, _)| Work::Object(k.clone())),
        );
        work.extend(
            self.combined
                .values()
                .filter_map(|cs| cs_labelled_pair(cs))
                .map(|(b, k)| Work::Combined(b, k)),
        );
        work.extend(self.upsync_everything());
        work
    }
}

/// The resource an object was read through, from its `apiVersion`.
fn api_version_gvr(k: &ObjKey, obj: &Value) -> Gvr {
    let av = obj["apiVersion"].as_str().unwrap_or_default();
    let version = av.rsplit('/').next().unwrap_or_default().to_string();
    Gvr {
        group: k.group.clone(),
        version,
        resource: k.resource.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding(name: &str, dests: &[&str], objs: &[(&str, bool, &[&str])]) -> Binding {
        serde_json::from_value(json!({
            "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "Binding",
            "metadata": {"name": name},
            "spec": {
                "destinations": dests.iter().map(|d| json!({"clusterId": d})).collect::<Vec<_>>(),
                "workload": {"namespaceScope": objs.iter().map(|(n, single, scs)| json!({
                    "group": "apps", "version": "v1", "resource": "deployments", "namespace": "ns", "name": n,
                    "resourceVersion": "1", "wantSingletonReportedState": single, "statusCollectors": scs,
                })).collect::<Vec<_>>()},
            },
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn dep(n: &str) -> ObjKey {
        ObjKey::new("apps", "deployments", "ns", n)
    }

    #[test]
    fn a_live_event_older_than_a_written_response_is_recognised() {
        let mut ix = Index::default();
        let cs = |rv: &str| -> CombinedStatus {
            serde_json::from_value(json!({
                "apiVersion": "control.kubestellar.io/v1alpha1", "kind": "CombinedStatus",
                "metadata": {"name": "c", "namespace": "ns", "resourceVersion": rv},
            }))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let id = ("ns".to_string(), "c".to_string());
        // Nothing held: any event is taken.
        assert!(!ix.holds_newer(Source::Combined, &id, Some("5")));
        ix.combined_changed(id.clone(), Some(cs("12")));
        assert!(ix.holds_newer(Source::Combined, &id, Some("5")));
        assert!(!ix.holds_newer(Source::Combined, &id, Some("12")));
        assert!(!ix.holds_newer(Source::Combined, &id, Some("13")));
        // Versions that are not numbers cannot be ordered: taken.
        assert!(!ix.holds_newer(Source::Combined, &id, Some("x")));
        // Kinds the controller does not write are never checked.
        assert!(!ix.holds_newer(Source::Clusters, &id, Some("5")));
    }

    #[test]
    fn binding_changes_name_only_the_objects_they_affect() {
        let mut ix = Index::default();
        let w = ix.binding_changed(
            "b",
            Some(binding(
                "b",
                &["c1"],
                &[("x", false, &[]), ("y", true, &[])],
            )),
        );
        assert!(w.contains(&Work::Object(dep("x"))) && w.contains(&Work::Object(dep("y"))));
        assert_eq!(
            ix.obj_bindings[&dep("x")],
            BTreeSet::from(["b".to_string()])
        );
        // Only y's modulation changes.
        let w = ix.binding_changed(
            "b",
            Some(binding(
                "b",
                &["c1"],
                &[("x", false, &[]), ("y", false, &[])],
            )),
        );
        assert_eq!(
            w,
            vec![
                Work::Policy("b".into()),
                Work::Object(dep("y")),
                Work::Combined("b".into(), dep("y"))
            ]
        );
        // Destinations change: everything.
        let w = ix.binding_changed(
            "b",
            Some(binding(
                "b",
                &["c1", "c2"],
                &[("x", false, &[]), ("y", false, &[])],
            )),
        );
        assert_eq!(w.len(), 5);
        let w = ix.binding_changed("b", None);
        assert_eq!(w.len(), 5);
        assert!(ix.obj_bindings.is_empty());
        assert!(ix.wanted_gvrs().is_empty());
    }

    #[test]
    fn collectors_and_workstatuses_reach_their_users() {
        let mut ix = Index::default();
        ix.binding_changed(
            "b",
            Some(binding(
                "b",
                &["c1"],
                &[("x", false, &["sc"]), ("y", false, &[])],
            )),
        );
        let w = ix.collector_changed("sc", None);
        assert_eq!(
            w,
            vec![
                Work::Collector("sc".into()),
                Work::Combined("b".into(), dep("x")),
                Work::Policy("b".into())
            ]
        );
        let ws = WsEntry {
            key: dep("x"),
            wec: "c1".into(),
            status: Some(json!({})),
            last_update: None,
        };
        let w = ix.workstatus_changed(("c1".into(), "w".into()), Some(ws.clone()));
        assert_eq!(
            w,
            vec![Work::Object(dep("x")), Work::Combined("b".into(), dep("x"))]
        );
        assert!(
            ix.workstatus_changed(("c1".into(), "w".into()), Some(ws))
                .is_empty()
        );
        // A WEC that is not a destination: only the object.
        let other = WsEntry {
            key: dep("x"),
            wec: "c9".into(),
            status: None,
            last_update: None,
        };
        assert_eq!(
            ix.workstatus_changed(("c9".into(), "w".into()), Some(other)),
            vec![Work::Object(dep("x"))]
        );
        assert_eq!(ix.ws_by_obj[&dep("x")].len(), 2);
        ix.workstatus_changed(("c9".into(), "w".into()), None);
        assert_eq!(ix.ws_by_obj[&dep("x")].len(), 1);
        assert_eq!(ix.wanted_gvrs().len(), 1);
    }
}
