//! Wrapping rendered objects into ManifestWorks (upstream's OCM transport plugin): one object per
//! ManifestWork when `max_num_wrapped` is 1 (named `<Binding UID>-<WDS>-<object UID>`),
//! otherwise shards filled in order up to `max_num_wrapped` objects and `max_size_wrapped` bytes
//! (named `<Binding name>-<WDS>-<index>`). Create-only objects get a `CreateOnly` update
//! strategy. Pure: no IO.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::labels::{ORIGIN_BINDING, ORIGIN_BINDING_GENERATION, ORIGIN_WDS};
use crate::api::manifest_work::{
    ManifestConfigOption, ManifestsTemplate, ResourceIdentifier, UpdateStrategy,
};
use crate::api::{ManifestWork, ManifestWorkSpec};

/// One rendered object to deliver.
#[derive(Debug, Clone)]
pub struct Item {
    /// The object's UID in the WDS.
    pub uid: String,
    /// API group, resource, namespace and name (for `manifestConfigs`).
    pub id: ResourceIdentifier,
    /// `group/version/resource(namespace/name)`, for messages.
    pub display: String,
    /// The rendered manifest.
    pub manifest: Arc<Value>,
    /// Its size as JSON, in bytes.
    pub size: usize,
    /// Create in the WEC but never update.
    pub create_only: bool,
}

/// Limits on ManifestWorks.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most objects per ManifestWork.
    pub max_num: usize,
    /// Largest ManifestWork content, in bytes of JSON.
    pub max_size: usize,
}

/// Whose ManifestWorks these are.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// Binding name.
    pub binding: &'a str,
    /// Binding UID.
    pub binding_uid: &'a str,
    /// WDS name.
    pub wds: &'a str,
}

/// Named ManifestWork specs, and (item index, error) for items left out.
pub type Packed = (Vec<(String, ManifestWorkSpec)>, Vec<(usize, String)>);

/// Packs `items` (in order) into named ManifestWork specs. Items larger than the size limit are
/// left out and reported with their index.
pub fn pack(items: &[Item], owner: Owner<'_>, limits: Limits) -> Packed {
    let mut errors = Vec::new();
    let mut works: Vec<(String, ManifestWorkSpec)> = Vec::new();
    let too_big = |item: &Item| {
        format!(
            "{} is {} bytes as JSON, more than the {} bytes a ManifestWork may wrap (max size wrapped)",
            item.display, item.size, limits.max_size
        )
    };
    if limits.max_num <= 1 {
        for (i, item) in items.iter().enumerate() {
            if item.size > limits.max_size {
                errors.push((i, too_big(item)));
                continue;
            }
            let name = format!("{}-{}-{}", owner.binding_uid, owner.wds, item.uid);
            works.push((name, spec_of(std::slice::from_ref(item))));
        }
        return (works, errors);
    }
    let mut shard: Vec<Item> = Vec::new();
    let mut size = 0usize;
    let flush = |shard: &mut Vec<Item>, works: &mut Vec<(String, ManifestWorkSpec)>| {
        if !shard.is_empty() {
            let name = format!("{}-{}-{}", owner.binding, owner.wds, works.len());
            works.push((name, spec_of(shard)));
            shard.clear();
        }
    };
    for (i, item) in items.iter().enumerate() {
        if item.size > limits.max_size {
            errors.push((i, too_big(item)));
            continue;
        }
        if !shard.is_empty()
            && (shard.len() + 1 > limits.max_num || size + item.size >= limits.max_size)
        {
            flush(&mut shard, &mut works);
            size = 0;
        }
        size += item.size;
        shard.push(item.clone());
    }
    flush(&mut shard, &mut works);
    (works, errors)
}

fn spec_of(items: &[Item]) -> ManifestWorkSpec {
    ManifestWorkSpec {
        workload: ManifestsTemplate {
            manifests: items.iter().map(|i| i.manifest.clone()).collect(),
        },
        manifest_configs: items
            .iter()
            .filter(|i| i.create_only)
            .map(|i| ManifestConfigOption {
                resource_identifier: i.id.clone(),
                update_strategy: Some(UpdateStrategy {
                    type_: "CreateOnly".into(),
                }),
            })
            .collect(),
        delete_option: None,
    }
}

/// The whole ManifestWork to apply.
pub fn manifest_work(
    name: &str,
    namespace: &str,
    spec: &ManifestWorkSpec,
    owner: Owner<'_>,
    generation: i64,
) -> Value {
    json!({
        "apiVersion": "work.open-cluster-management.io/v1",
        "kind": "ManifestWork",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {ORIGIN_BINDING: owner.binding, ORIGIN_WDS: owner.wds},
            "annotations": {ORIGIN_BINDING_GENERATION: generation.to_string()},
        },
        "spec": spec,
    })
}

/// Whether an existing ManifestWork already is what we want (the generation annotation only
/// records when its content last changed, so it is not compared).
pub fn up_to_date(observed: &ManifestWork, spec: &ManifestWorkSpec, owner: Owner<'_>) -> bool {
    let labels = observed.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    observed.metadata.deletion_timestamp.is_none()
        && label(ORIGIN_BINDING) == Some(owner.binding)
        && label(ORIGIN_WDS) == Some(owner.wds)
        && observed.spec == *spec
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn item(n: usize, size: usize, create_only: bool) -> Item {
        Item {
            uid: format!("uid-{n}"),
            id: ResourceIdentifier {
                group: "apps".into(),
                resource: "deployments".into(),
                name: format!("d{n}"),
                namespace: "ns".into(),
            },
            display: format!("apps/v1/deployments(ns/d{n})"),
            manifest: Arc::new(
                json!({"kind": "Deployment", "metadata": {"name": format!("d{n}")}}),
            ),
            size,
            create_only,
        }
    }

    const OWNER: Owner<'static> = Owner {
        binding: "b",
        binding_uid: "bu",
        wds: "wds1",
    };

    #[test]
    fn one_object_per_work() {
        let items = vec![item(0, 10, false), item(1, 10, true), item(2, 5000, false)];
        let (works, errors) = pack(
            &items,
            OWNER,
            Limits {
                max_num: 1,
                max_size: 1000,
            },
        );
        let names: Vec<&str> = works.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bu-wds1-uid-0", "bu-wds1-uid-1"]);
        assert!(works[0].1.manifest_configs.is_empty());
        assert_eq!(
            serde_json::to_value(&works[1].1.manifest_configs).unwrap(),
            json!([{"resourceIdentifier": {"group": "apps", "resource": "deployments", "name": "d1", "namespace": "ns"}, "updateStrategy": {"type": "CreateOnly"}}])
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 2);
        assert!(
            errors[0]
                .1
                .contains("apps/v1/deployments(ns/d2) is 5000 bytes"),
            "{}",
            errors[0].1
        );
    }

    #[test]
    fn shards_by_count_and_size() {
        let items: Vec<Item> = (0..10).map(|i| item(i, 100, false)).collect();
        let (works, errors) = pack(
            &items,
            OWNER,
            Limits {
                max_num: 2,
                max_size: 512_000,
            },
        );
        assert!(errors.is_empty());
        assert_eq!(works.len(), 5);
        assert_eq!(works[4].0, "b-wds1-4");
        assert!(works.iter().all(|(_, s)| s.workload.manifests.len() == 2));
        // By size: a shard closes when adding the next object would reach the limit.
        let (works, _) = pack(
            &items,
            OWNER,
            Limits {
                max_num: 100,
                max_size: 300,
            },
        );
        let counts: Vec<usize> = works
            .iter()
            .map(|(_, s)| s.workload.manifests.len())
            .collect();
        assert_eq!(counts, [2, 2, 2, 2, 2]);
        let (works, _) = pack(
            &items,
            OWNER,
            Limits {
                max_num: 100,
                max_size: 301,
            },
        );
        let counts: Vec<usize> = works
            .iter()
            .map(|(_, s)| s.workload.manifests.len())
            .collect();
        assert_eq!(counts, [3, 3, 3, 1]);
    }

    #[test]
    fn comparison_ignores_the_generation() {
        let items = vec![item(0, 10, false)];
        let (works, _) = pack(
            &items,
            OWNER,
            Limits {
                max_num: 1,
                max_size: 1000,
            },
        );
        let (name, spec) = &works[0];
        let mw: ManifestWork =
            serde_json::from_value(manifest_work(name, "c1", spec, OWNER, 3)).unwrap();
        assert!(up_to_date(&mw, spec, OWNER));
        let (other, _) = pack(
            &[item(1, 10, false)],
            OWNER,
            Limits {
                max_num: 1,
                max_size: 1000,
            },
        );
        assert!(!up_to_date(&mw, &other[0].1, OWNER));
        assert!(!up_to_date(
            &mw,
            spec,
            Owner {
                wds: "wds2",
                ..OWNER
            }
        ));
    }
}
