//! `x-kubernetes-group-version-kind`: on resources (k8s-openapi's `impl Resource`), on their
//! lists, on the meta types kube serves under every group, and on Table and
//! PartialObjectMetadata.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::openapi::OaDef;
use crate::special;

/// `x-kubernetes-group-version-kind` on resources, their lists, and the meta types.
pub fn add_gvks(oa_defs: &BTreeMap<String, OaDef>, out: &mut BTreeMap<String, Value>) {
    let mut gvks: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for (name, oa) in oa_defs {
        let Some((g, v, k)) = &oa.gvk else { continue };
        gvks.entry(name.clone())
            .or_default()
            .push((g.clone(), v.clone(), k.clone()));
        if let Some(lk) = &oa.list_kind
            && let Some((prefix, _)) = name.rsplit_once('.')
        {
            gvks.entry(format!("{prefix}.{lk}")).or_default().push((
                g.clone(),
                v.clone(),
                lk.clone(),
            ));
        }
    }
    for def in out.keys() {
        for (g, v, k) in special::meta_gvks(def) {
            gvks.entry(def.clone())
                .or_default()
                .push((g.into(), v.into(), k.into()));
        }
    }
    // kube lists DeleteOptions and WatchEvent under every group version it serves.
    let mut served: BTreeSet<(String, String)> = BTreeSet::new();
    for (def, list) in &gvks {
        if out.contains_key(def) {
            served.extend(
                list.iter()
                    .filter(|(g, _, _)| g != "meta.k8s.io")
                    .map(|(g, v, _)| (g.clone(), v.clone())),
            );
        }
    }
    for kind in ["DeleteOptions", "WatchEvent"] {
        let def = format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}");
        for (g, v) in &served {
            gvks.entry(def.clone())
                .or_default()
                .push((g.clone(), v.clone(), kind.to_string()));
        }
    }
    for (def, mut list) in gvks {
        let Some(Value::Object(schema)) = out.get_mut(&def) else {
            continue;
        };
        list.sort();
        list.dedup();
        let arr: Vec<Value> = list
            .into_iter()
            .map(|(g, v, k)| json!({"group": g, "version": v, "kind": k}))
            .collect();
        schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(arr));
    }
}
