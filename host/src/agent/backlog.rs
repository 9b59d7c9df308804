//! The agent's backlog: work waiting to start, ManifestWorks carrying prerequisites
//! (namespaces, CRDs) first, since what lives in them fails until they exist.
//!
//! Starting work costs O(slots + busy), not O(backlog): with a thousand ManifestWorks queued,
//! rescanning and re-sorting the whole backlog on every event made the agent's loop quadratic.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::Work;
use crate::api::ManifestWork;

/// Work waiting to start, in two tiers.
#[derive(Default)]
pub(super) struct Backlog {
    first: BTreeSet<Work>,
    rest: BTreeSet<Work>,
}

impl Backlog {
    /// Queues `w` (once); `mws` tells whether it applies a prerequisite.
    pub fn insert(&mut self, w: Work, mws: &BTreeMap<String, ManifestWork>) {
        if carries_prerequisite(mws, &w) {
            self.rest.remove(&w);
            self.first.insert(w);
        } else if !self.first.contains(&w) {
            self.rest.insert(w);
        }
    }

    /// Queues every work of `ws`.
    pub fn extend(
        &mut self,
        ws: impl IntoIterator<Item = Work>,
        mws: &BTreeMap<String, ManifestWork>,
    ) {
        for w in ws {
            self.insert(w, mws);
        }
    }

    /// Works waiting.
    pub fn len(&self) -> usize {
        self.first.len() + self.rest.len()
    }

    /// Removes and returns up to `n` works not in `busy`, prerequisites first.
    pub fn take(&mut self, n: usize, busy: &HashSet<Work>) -> Vec<Work> {
        let mut out = Vec::new();
        for tier in [&mut self.first, &mut self.rest] {
            let picked: Vec<Work> = tier
                .iter()
                .filter(|w| !busy.contains(*w))
                .take(n - out.len())
                .cloned()
                .collect();
            for w in &picked {
                tier.remove(w);
            }
            out.extend(picked);
            if out.len() == n {
                break;
            }
        }
        out
    }
}

/// Whether `w` applies a ManifestWork holding a Namespace or a CustomResourceDefinition.
fn carries_prerequisite(mws: &BTreeMap<String, ManifestWork>, w: &Work) -> bool {
    let Work::Mw(name) = w else {
        return false;
    };
    mws.get(name).is_some_and(|mw| {
        mw.spec.workload.manifests.iter().any(|m| {
            matches!(
                m.get("kind").and_then(serde_json::Value::as_str),
                Some("Namespace" | "CustomResourceDefinition")
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mw(name: &str, kind: &str) -> (String, ManifestWork) {
        let mw: ManifestWork = serde_json::from_value(json!({
            "apiVersion": "work.open-cluster-management.io/v1",
            "kind": "ManifestWork",
            "metadata": {"name": name, "namespace": "c1"},
            "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}]}},
        }))
        .expect("a valid ManifestWork");
        (name.to_string(), mw)
    }

    #[test]
    fn prerequisites_first_busy_skipped_each_once() {
        let mws: BTreeMap<_, _> = [
            mw("a", "ConfigMap"),
            mw("b", "Namespace"),
            mw("c", "ConfigMap"),
        ]
        .into_iter()
        .collect();
        let mut b = Backlog::default();
        for n in ["a", "c", "b", "a"] {
            b.insert(Work::Mw(n.into()), &mws);
        }
        b.insert(Work::Resync, &mws);
        assert_eq!(b.len(), 4);
        let busy: HashSet<Work> = [Work::Mw("a".into())].into_iter().collect();
        assert_eq!(
            b.take(2, &busy),
            vec![Work::Mw("b".into()), Work::Mw("c".into())]
        );
        assert_eq!(b.take(5, &busy), vec![Work::Resync]);
        assert_eq!(b.take(5, &HashSet::new()), vec![Work::Mw("a".into())]);
        assert_eq!(b.len(), 0);
    }
}
