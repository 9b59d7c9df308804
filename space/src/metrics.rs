//! Prometheus metrics of a space, served on `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    code: String,
}

/// Request counters and latencies, and the watches streaming now.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    watches: Gauge,
}

/// One open watch, counted in `space_apiserver_watches_active` until dropped.
pub struct OpenWatch(Gauge);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let mut registry = Registry::with_prefix("space_apiserver");
        registry.register(
            "requests",
            "API requests by verb (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION) and response code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "API request latency (watches: until the stream starts)",
            latency.clone(),
        );
        let watches = Gauge::default();
        registry.register(
            "watches_active",
            "Watch streams open now (a client that goes away closes its own)",
            watches.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            watches,
        }
    }
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, verb: &str, code: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// Counts a watch stream as open until the returned guard is dropped.
    pub fn watch_opened(&self) -> OpenWatch {
        self.watches.inc();
        OpenWatch(self.watches.clone())
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}
