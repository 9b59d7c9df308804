//! Watch fan-out: a bounded event history per resource (for watches resuming from a
//! resourceVersion) and broadcast channels for live events.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::broadcast;

use super::types::Event;
use crate::registry::GroupResource;

/// Watch history of one resource.
pub(super) struct Hub {
    pub history: VecDeque<Arc<Event>>,
    /// Every event of this resource with rv > floor is in `history`.
    pub floor: u64,
    pub tx: broadcast::Sender<Arc<Event>>,
}

pub(super) struct Hubs {
    pub by_resource: HashMap<GroupResource, Hub>,
    pub all: broadcast::Sender<Arc<Event>>,
    pub capacity: usize,
    pub start_rv: u64,
}

impl Hubs {
    /// No watchers yet; history of `capacity` events per resource, starting at `start_rv`.
    pub fn new(capacity: usize, start_rv: u64) -> Hubs {
        Hubs {
            by_resource: HashMap::new(),
            all: broadcast::channel(16384).0,
            capacity: capacity.max(1),
            start_rv,
        }
    }

    /// The hub of a resource, created on first use.
    pub fn hub(&mut self, gr: &GroupResource) -> &mut Hub {
        let start = self.start_rv;
        self.by_resource.entry(gr.clone()).or_insert_with(|| Hub {
            history: VecDeque::new(),
            floor: start,
            tx: broadcast::channel(4096).0,
        })
    }

    /// Records a durable event and sends it to live watchers.
    pub fn publish(&mut self, ev: Arc<Event>) {
        let cap = self.capacity;
        let hub = self.hub(&ev.key.gr);
        hub.history.push_back(ev.clone());
        while hub.history.len() > cap {
            if let Some(old) = hub.history.pop_front() {
                hub.floor = old.object.rv;
            }
        }
        let _ = hub.tx.send(ev.clone());
        let _ = self.all.send(ev);
    }

    /// Restarts every resource's history at `rv` and ends every live watch of a resource
    /// (their receivers see the channel close): after a relist nothing before `rv` can be
    /// replayed.
    pub fn reset(&mut self, rv: u64) {
        self.start_rv = rv;
        for hub in self.by_resource.values_mut() {
            hub.history.clear();
            hub.floor = rv;
            hub.tx = broadcast::channel(4096).0;
        }
    }
}
