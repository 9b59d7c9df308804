//! A benchmark's result: the machine, the parameters, the figures (each with its target when
//! the project has one) and notes; printed as a Markdown table or JSON.

use std::fmt;

use serde::Serialize;

use super::BenchConfig;
use super::env::Usages;
use super::stats::{Distribution, Machine, load_average};

/// One measured number.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// The target, e.g. `< 250 ms`.
    pub target: Option<String>,
    /// Whether the value meets the target.
    pub met: Option<bool>,
}

/// What a benchmark run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: String,
    pub machine: Machine,
    pub params: Vec<(String, String)>,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    #[serde(skip)]
    started: Option<std::time::Instant>,
}

impl Report {
    /// An empty report for `cfg`.
    pub fn new(cfg: &BenchConfig) -> Report {
        Report {
            scenario: cfg.scenario.name().to_string(),
            mode: format!("{:?}", cfg.mode),
            machine: Machine::describe(),
            params: Vec::new(),
            figures: Vec::new(),
            notes: Vec::new(),
            seconds: 0.0,
            started: Some(std::time::Instant::now()),
        }
    }

    /// Records a parameter.
    pub fn param(&mut self, name: &str, value: impl ToString) {
        self.params.push((name.to_string(), value.to_string()));
    }

    /// Records a figure.
    pub fn add(&mut self, name: impl Into<String>, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: unit.to_string(),
            target: None,
            met: None,
        });
    }

    /// Records a figure that should stay below `limit`.
    pub fn below(&mut self, name: impl Into<String>, value: f64, unit: &str, limit: f64) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: unit.to_string(),
            target: Some(format!("< {limit} {unit}")),
            met: Some(value < limit),
        });
    }

    /// Records a figure that should be exactly `want`.
    pub fn exactly(&mut self, name: impl Into<String>, value: f64, unit: &str, want: f64) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: unit.to_string(),
            target: Some(format!("= {want} {unit}").trim_end().to_string()),
            met: Some(value == want),
        });
    }

    /// Records p50, p99 and max of a latency distribution (p99 against `p99_limit` ms).
    pub fn latency(&mut self, name: &str, d: &Distribution, p99_limit: Option<f64>) {
        self.add(format!("{name} p50"), d.p50, "ms");
        match p99_limit {
            Some(l) => self.below(format!("{name} p99"), d.p99, "ms", l),
            None => self.add(format!("{name} p99"), d.p99, "ms"),
        }
        self.add(format!("{name} max"), d.max, "ms");
    }

    /// Records peak memory and CPU time of the system's parts.
    pub fn usages(&mut self, prefix: &str, u: &Usages, controller_limit: Option<f64>) {
        let name = |part: &str| {
            if prefix.is_empty() {
                part.to_string()
            } else {
                format!("{prefix} {part}")
            }
        };
        let this = if u.controller.is_some() || u.agents.is_some() {
            "spaces (+driver)"
        } else {
            "whole system (one process)"
        };
        self.add(
            name(&format!("peak RSS, {this}")),
            u.this.peak_rss_mib,
            "MiB",
        );
        self.add(name(&format!("CPU, {this}")), u.this.cpu_seconds, "s");
        if let Some(c) = u.controller {
            match controller_limit {
                Some(l) => self.below(name("peak RSS, controller"), c.peak_rss_mib, "MiB", l),
                None => self.add(name("peak RSS, controller"), c.peak_rss_mib, "MiB"),
            }
            self.add(name("CPU, controller"), c.cpu_seconds, "s");
        }
        if let Some(a) = u.agents {
            self.add(name("peak RSS, agents"), a.peak_rss_mib, "MiB");
            self.add(name("CPU, agents"), a.cpu_seconds, "s");
        }
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The value of figure `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    pub(super) fn finish(&mut self) {
        self.machine.load_end = load_average();
        if let Some(s) = self.started {
            self.seconds = s.elapsed().as_secs_f64();
        }
    }
}

fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(f, "### {} ({})", self.scenario, self.mode)?;
        writeln!(f)?;
        writeln!(
            f,
            "{} build; {}, {} cores, {} GiB, Linux {}; load average {:.2} at start, {:.2} at end; {:.0} s",
            m.build, m.cpu, m.cores, m.memory_gib, m.kernel, m.load_start, m.load_end, self.seconds
        )?;
        if !self.params.is_empty() {
            let p: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(f, "parameters: {}", p.join(", "))?;
        }
        writeln!(f)?;
        writeln!(f, "| figure | value | target |")?;
        writeln!(f, "|---|---:|---|")?;
        for fig in &self.figures {
            let target = match (&fig.target, fig.met) {
                (Some(t), Some(true)) => format!("{t} (met)"),
                (Some(t), Some(false)) => format!("{t} (**missed**)"),
                (Some(t), None) => t.clone(),
                _ => String::new(),
            };
            writeln!(
                f,
                "| {} | {} {} | {target} |",
                fig.name,
                number(fig.value),
                fig.unit
            )?;
        }
        for n in &self.notes {
            writeln!(f)?;
            writeln!(f, "- {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Scenario;

    #[test]
    fn targets_are_judged_and_printed() {
        let mut r = Report::new(&BenchConfig::smoke(Scenario::Throughput));
        r.below("converged", 12.5, "s", 30.0);
        r.below("p99", 300.0, "ms", 250.0);
        r.exactly("writes", 0.0, "", 0.0);
        r.add("rate", 1234.5678, "/s");
        r.finish();
        let text = r.to_string();
        assert!(
            text.contains("| converged | 12.5 s | < 30 s (met) |"),
            "{text}"
        );
        assert!(
            text.contains("| p99 | 300 ms | < 250 ms (**missed**) |"),
            "{text}"
        );
        assert!(text.contains("| writes | 0  | = 0 (met) |"), "{text}");
        assert!(text.contains("| rate | 1235 /s |  |"), "{text}");
        assert_eq!(r.value("p99"), Some(300.0));
        let json = serde_json::to_value(&r).expect("serializable");
        assert_eq!(json["figures"][1]["met"], false);
    }
}
