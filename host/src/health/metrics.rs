//! The samples of one scrape, encoded by `prometheus_client` (the space server's encoder too).

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Samples gathered for one scrape; components add theirs with [`Health::add_metrics`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// name -> (help, is counter, samples).
    families: BTreeMap<String, Family>,
}

#[derive(Debug)]
struct Family {
    help: String,
    counter: bool,
    samples: Vec<(Vec<(String, String)>, i64)>,
}

impl Metrics {
    /// A counter sample; `name` without `_total` (the encoder adds it).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.add(
            name,
            help,
            true,
            labels,
            i64::try_from(value).unwrap_or(i64::MAX),
        );
    }

    /// A gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: i64) {
        self.add(name, help, false, labels, value);
    }

    fn add(&mut self, name: &str, help: &str, counter: bool, labels: &[(&str, &str)], v: i64) {
        let family = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family {
                help: help.to_string(),
                counter,
                samples: Vec::new(),
            });
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        family.samples.push((labels, v));
    }

    /// The text exposition format.
    pub fn render(self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, f) in &self.families {
            if f.counter {
                let mut m = encoder.encode_descriptor(
                    name,
                    &f.help,
                    None,
                    prometheus_client::metrics::MetricType::Counter,
                )?;
                for (labels, v) in &f.samples {
                    let c = ConstCounter::new(u64::try_from(*v).unwrap_or(0));
                    c.encode(m.encode_family(labels)?)?;
                }
            } else {
                let mut m = encoder.encode_descriptor(
                    name,
                    &f.help,
                    None,
                    prometheus_client::metrics::MetricType::Gauge,
                )?;
                for (labels, v) in &f.samples {
                    ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
                }
            }
        }
        Ok(())
    }
}
