//! `kubestellar plugin ...`: the plugin author's loop. Scaffold (`new`) and build (`build`) a
//! project, inspect, run, summarize with and benchmark a plugin locally, then publish it
//! (`install` into a WDS, `push` to an OCI registry). FILE is a path to a component or
//! `builtin:<name>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::plugins::{
    ClusterContext, Identity, Limits, LoadedPlugin, Pair, PluginKind, PluginRuntime,
    PreparedCluster, Report, RuntimeConfig, Timestamp, builtin, cache::ComponentCache, combined,
};

/// Plugin subcommands (arguments boxed: they are large next to other commands).
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's world, exports, describe() output, sha256 digest and size.
    Inspect(Box<InspectArgs>),
    /// Transform an object with a transformer plugin and print the result.
    Run(Box<RunArgs>),
    /// Summarize WEC reports with a summarizer plugin; prints a CombinedStatus `results[]` entry.
    Summarize(Box<SummarizeArgs>),
    /// Measure per-call latency and throughput, fresh instances vs warm instances (transformers,
    /// or summarizers given --reports).
    Bench(Box<BenchArgs>),
    /// Store a plugin in a WDS (ConfigMap + WasmPlugin pinned to its sha256).
    Install(Box<super::plugin_install::InstallArgs>),
    /// Publish a plugin to an OCI registry; prints a WasmPlugin pinned to its sha256.
    Push(Box<super::plugin_push::PushArgs>),
    /// Create a plugin project (Rust, Python or JavaScript) with a passing test.
    New(Box<super::plugin_new::NewArgs>),
    /// Build the plugin project in a directory with its language's toolchain.
    Build(Box<super::plugin_build::BuildArgs>),
}

/// Where precompiled plugins are kept (every subcommand that loads a plugin).
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Keep precompiled plugins in DIR (compiling takes 0.1-3 s for a Rust plugin, 2-14 s for
    /// a Python or JavaScript one; loading a precompiled one, milliseconds)
    /// [default: $XDG_CACHE_HOME/kubestellar/plugins, else ~/.cache/kubestellar/plugins].
    #[arg(long, value_name = "DIR", env = "KUBESTELLAR_PLUGIN_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the plugin on every run; keep nothing on disk (wins over --cache-dir).
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// A plugin runtime with this cache.
    pub fn runtime(&self) -> anyhow::Result<PluginRuntime> {
        Ok(PluginRuntime::new(RuntimeConfig {
            cache_dir: self.dir(),
            ..RuntimeConfig::default()
        })?)
    }

    /// The cache directory to use. A DIR given by the user that cannot be created is an error
    /// (from the runtime); the default one only costs the cache, with a warning.
    fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let dir = default_cache_dir()?;
        match ComponentCache::new(&dir) {
            Ok(_) => Some(dir),
            Err(e) => {
                tracing::warn!(
                    "compiling without a cache: cannot create {}: {e} (--cache-dir DIR picks another, --no-cache silences this)",
                    dir.display()
                );
                None
            }
        }
    }
}

/// `$XDG_CACHE_HOME/kubestellar/plugins`, else `$HOME/.cache/kubestellar/plugins` (the XDG base
/// directory rules: a relative XDG_CACHE_HOME is ignored); none without either.
fn default_cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).map(PathBuf::from);
    let base = var("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| {
            var("HOME")
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("kubestellar").join("plugins"))
}

/// How to load the plugin (shared by all subcommands).
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The component: a file path, or `builtin:transform-default` / `builtin:summarize-default`.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Refuse the plugin unless its sha256 is this (hex, optionally prefixed `sha256:`).
    #[arg(long, value_name = "DIGEST")]
    pub sha256: Option<String>,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Wall-clock deadline per call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Memory cap per instance, in MiB (at most 512).
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub memory_mib: u64,
}

/// The destination cluster's context, for transformers.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Name of the destination WEC; without it the plugin gets no cluster context.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// A label of the WEC (repeatable).
    #[arg(long, value_name = "K=V", value_parser = parse_pair)]
    pub label: Vec<Pair>,
    /// An annotation of the WEC (repeatable).
    #[arg(long, value_name = "K=V", value_parser = parse_pair)]
    pub annotation: Vec<Pair>,
    /// A customization property of the WEC (repeatable).
    #[arg(long, value_name = "K=V", value_parser = parse_pair)]
    pub property: Vec<Pair>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// YAML.
    Yaml,
    /// JSON (pretty).
    Json,
}

/// `kubestellar plugin inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `kubestellar plugin run`
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The object to transform (YAML or JSON; `-` reads stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub object: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The plugin's configuration (YAML or JSON file).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
}

/// `kubestellar plugin summarize`
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The workload object in the WDS (YAML or JSON; `-` reads stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub object: PathBuf,
    /// What the WECs returned: a list of {cluster: NAME or {name, labels, annotations,
    /// properties}, status: {...} or null, lastUpdate: RFC 3339 time}.
    #[arg(long, value_name = "FILE")]
    pub reports: PathBuf,
    /// The plugin's configuration (YAML or JSON file).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The `name` of the printed results entry (defaults to the plugin's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
}

/// `kubestellar plugin bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The object to transform or summarize (YAML or JSON).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub object: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// For a summarizer: what the WECs returned, as for `plugin summarize --reports`.
    #[arg(long, value_name = "FILE")]
    pub reports: Option<PathBuf>,
    /// The plugin's configuration (YAML or JSON file).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Calls per measurement.
    #[arg(long, default_value_t = 1000)]
    pub calls: usize,
    /// Warm instances for the warm measurement.
    #[arg(long, default_value_t = 1)]
    pub warm: usize,
}

impl PluginCommand {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            PluginCommand::Inspect(a) => inspect(*a),
            PluginCommand::Run(a) => run(*a),
            PluginCommand::Summarize(a) => summarize(*a),
            PluginCommand::Bench(a) => bench(*a),
            PluginCommand::Install(a) => a.run(),
            PluginCommand::Push(a) => a.run(),
            PluginCommand::New(a) => a.run(),
            PluginCommand::Build(a) => a.run(),
        }
    }
}

impl LoadArgs {
    fn limits(&self, warm: usize) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            memory_bytes: self.memory_mib.saturating_mul(1 << 20),
            warm_instances: warm,
            ..Limits::default()
        }
    }

    fn runtime(&self) -> anyhow::Result<PluginRuntime> {
        self.cache.runtime()
    }

    /// Loads FILE; every error names FILE.
    fn load(&self, rt: &PluginRuntime, warm: usize) -> anyhow::Result<Arc<LoadedPlugin>> {
        let bytes: std::borrow::Cow<'static, [u8]> = if self.file.starts_with(builtin::PREFIX) {
            builtin::bytes(&self.file)?.into()
        } else {
            std::fs::read(&self.file)
                .with_context(|| format!("cannot read plugin {}", self.file))?
                .into()
        };
        Ok(rt.load_named(
            Some(&self.file),
            &bytes,
            self.sha256.as_deref(),
            self.limits(warm),
        )?)
    }
}

impl ClusterArgs {
    fn context(&self) -> anyhow::Result<Option<ClusterContext>> {
        let Some(name) = &self.cluster else {
            if !(self.label.is_empty() && self.annotation.is_empty() && self.property.is_empty()) {
                bail!(
                    "--label, --annotation and --property describe a cluster: give its --cluster NAME too"
                );
            }
            return Ok(None);
        };
        Ok(Some(ClusterContext {
            name: name.clone(),
            labels: self.label.clone(),
            annotations: self.annotation.clone(),
            properties: self.property.clone(),
        }))
    }
}

fn parse_pair(s: &str) -> Result<Pair, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(Pair::new(k, v)),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Reads a YAML or JSON document (`-` = stdin).
fn read_document(path: &Path, what: &str) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .with_context(|| format!("cannot read {what} from stdin"))?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {what} {}", path.display()))?
    };
    // YAML is a superset of JSON, so one parser reads both.
    serde_yaml_ng::from_str::<Value>(&text)
        .with_context(|| format!("{what} {} is not valid YAML or JSON", path.display()))
}

/// The configuration as JSON text (`{}` when not given), checked by the plugin.
fn read_config(plugin: &LoadedPlugin, path: Option<&Path>) -> anyhow::Result<String> {
    let config = match path {
        Some(p) => read_document(p, "config")?.to_string(),
        None => "{}".to_owned(),
    };
    plugin.validate_config(&config)?;
    Ok(config)
}

fn print(value: &Value, format: Format) -> anyhow::Result<()> {
    let text = match format {
        Format::Yaml => serde_yaml_ng::to_string(value).context("cannot render YAML")?,
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(value).context("cannot render JSON")?
        ),
    };
    print!("{text}");
    Ok(())
}

fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    let rt = a.load.runtime()?;
    let p = a.load.load(&rt, 0)?;
    let info = p.info();
    let stats = p.load_stats();
    if a.json {
        let schema = info
            .config_schema
            .as_deref()
            .map(|s| serde_json::from_str::<Value>(s).unwrap_or_else(|_| json!(s)));
        return print(
            &json!({
                "file": a.load.file,
                "world": p.world().world(),
                "name": info.name,
                "version": info.version,
                "kind": info.kind.world(),
                "scope": info.scope.to_string(),
                "configSchema": schema,
                "sha256": p.digest(),
                "size": p.size(),
                "exports": p.exported_functions(),
                "imports": p.imports(),
                "load": {"cache": format!("{:?}", stats.cache), "compileMs": ms(stats.compile), "totalMs": ms(stats.total)},
            }),
            Format::Json,
        );
    }
    println!("file:      {}", a.load.file);
    println!("world:     kubestellar:plugin/{}@0.1.0", p.world().world());
    println!("name:      {}", info.name);
    println!("version:   {}", info.version);
    println!("scope:     {}", info.scope);
    println!("sha256:    {}", p.digest());
    println!("size:      {} bytes", p.size());
    println!(
        "exports:   {}",
        p.exported_functions().join("\n           ")
    );
    println!("imports:   {}", p.imports().join("\n           "));
    match &info.config_schema {
        Some(s) => println!("config:    {s}"),
        None => println!("config:    (no schema)"),
    }
    println!(
        "load:      {:.1} ms (compile {:.1} ms, cache: {:?})",
        ms(stats.total),
        ms(stats.compile),
        stats.cache
    );
    Ok(())
}

fn run(a: RunArgs) -> anyhow::Result<()> {
    let rt = a.load.runtime()?;
    let p = a.load.load(&rt, 0)?;
    let object = read_document(&a.object, "object")?;
    let cluster = a.cluster.context()?;
    let config = read_config(&p, a.config.as_deref())?;
    let out = p.transform(&object.to_string(), cluster.as_ref(), &config)?;
    let value: Value = serde_json::from_str(&out.object).context("plugin output is not JSON")?;
    tracing::debug!(used_cluster = out.used_cluster, "transformed");
    print(&value, a.output)
}

fn summarize(a: SummarizeArgs) -> anyhow::Result<()> {
    let rt = a.load.runtime()?;
    let p = a.load.load(&rt, 0)?;
    let object = read_document(&a.object, "object")?;
    let reports = parse_reports(&read_document(&a.reports, "reports")?)
        .with_context(|| format!("reports {}", a.reports.display()))?;
    let config = read_config(&p, a.config.as_deref())?;
    let summary = p.summarize(&object.to_string(), &reports, &config)?;
    let name = a.name.unwrap_or_else(|| p.info().name.clone());
    print(
        &Value::Array(vec![combined::named_result(&name, &summary)]),
        a.output,
    )
}

/// Reads the `--reports` document.
fn parse_reports(doc: &Value) -> anyhow::Result<Vec<Report>> {
    let Some(items) = doc.as_array() else {
        bail!("must be a list")
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_report(item).with_context(|| format!("entry {i}")))
        .collect()
}

fn parse_report(item: &Value) -> anyhow::Result<Report> {
    let cluster = match item.get("cluster") {
        Some(Value::String(name)) => ClusterContext::named(name.as_str()),
        Some(Value::Object(c)) => {
            let Some(name) = c.get("name").and_then(Value::as_str) else {
                bail!("cluster.name is missing")
            };
            ClusterContext {
                name: name.to_owned(),
                labels: pairs(c.get("labels"), "cluster.labels")?,
                annotations: pairs(c.get("annotations"), "cluster.annotations")?,
                properties: pairs(c.get("properties"), "cluster.properties")?,
            }
        }
        _ => bail!("cluster must be a name or an object with a name"),
    };
    let status = match item.get("status") {
        None | Some(Value::Null) => None,
        Some(s) => Some(s.to_string()),
    };
    let last_update = match item.get("lastUpdate") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => {
            let t = chrono::DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("lastUpdate {t:?} is not RFC 3339"))?;
            Some(Timestamp {
                seconds: t.timestamp(),
                nanoseconds: t.timestamp_subsec_nanos(),
            })
        }
        Some(other) => bail!("lastUpdate must be an RFC 3339 string, not {other}"),
    };
    Ok(Report {
        cluster,
        status,
        last_update,
    })
}

fn pairs(v: Option<&Value>, what: &str) -> anyhow::Result<Vec<Pair>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok(Pair::new(k.as_str(), s.as_str())),
                other => Ok(Pair::new(k.as_str(), other.to_string())),
            })
            .collect(),
        Some(_) => bail!("{what} must be a map"),
    }
}

/// What each benchmarked call does.
enum BenchCall {
    /// Transform the object for one destination (or none).
    Transform {
        identity: Option<Identity>,
        cluster: Option<PreparedCluster>,
    },
    /// Summarize these reports.
    Summarize(Vec<Report>),
}

fn bench(a: BenchArgs) -> anyhow::Result<()> {
    if a.calls == 0 {
        bail!("--calls must be at least 1");
    }
    let rt = a.load.runtime()?;
    let document = read_document(&a.object, "object")?;
    let object = document.to_string();
    let warm = a.warm.max(1);
    // Both loaded (and checked) before anything is printed.
    let plugins = [
        ("fresh instance".to_owned(), a.load.load(&rt, 0)?),
        (format!("warm instances ({warm})"), a.load.load(&rt, warm)?),
    ];
    let config = read_config(&plugins[0].1, a.config.as_deref())?;
    let cluster = a.cluster.context()?;
    let (call, what) = match (plugins[0].1.world(), &a.reports) {
        (PluginKind::Transformer, None) => (
            BenchCall::Transform {
                // Known once per object and prepared once per destination, as the transport
                // does, so that calls measure the plugin.
                identity: Identity::of_value(&document),
                cluster: cluster.as_ref().map(PreparedCluster::new),
            },
            String::new(),
        ),
        (PluginKind::Transformer, Some(_)) => {
            bail!(
                "plugin {} is a transformer: --reports is for summarizers",
                a.load.file
            )
        }
        (PluginKind::Summarizer, None) => bail!(
            "plugin {} is a summarizer: give what the WECs returned with --reports FILE",
            a.load.file
        ),
        (PluginKind::Summarizer, Some(path)) => {
            if cluster.is_some() {
                bail!(
                    "plugin {} is a summarizer: its WECs come from --reports, not --cluster",
                    a.load.file
                );
            }
            let reports = parse_reports(&read_document(path, "reports")?)
                .with_context(|| format!("reports {}", path.display()))?;
            let what = format!(", {} reports", reports.len());
            (BenchCall::Summarize(reports), what)
        }
    };
    println!(
        "plugin {} ({} calls per row, object {} bytes{what})",
        a.load.file,
        a.calls,
        object.len()
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>12}",
        "mode", "p50 µs", "p99 µs", "mean µs", "calls/s"
    );
    for (mode, p) in &plugins {
        let once = || match &call {
            BenchCall::Transform { identity, cluster } => p
                .transform_known(&object, identity.as_ref(), cluster.as_ref(), &config)
                .map(|_| ()),
            BenchCall::Summarize(reports) => p.summarize(&object, reports, &config).map(|_| ()),
        };
        once()?; // warm-up, and fail fast on a plugin error
        let mut samples = Vec::with_capacity(a.calls);
        let started = Instant::now();
        for _ in 0..a.calls {
            let t = Instant::now();
            once()?;
            samples.push(t.elapsed());
        }
        let wall = started.elapsed();
        let s = Stats::of(&mut samples);
        println!(
            "{:<22} {:>10.1} {:>10.1} {:>10.1} {:>12.0}",
            mode,
            us(s.p50),
            us(s.p99),
            us(s.mean),
            a.calls as f64 / wall.as_secs_f64()
        );
    }
    Ok(())
}

/// Percentiles of a set of durations.
pub struct Stats {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Mean.
    pub mean: Duration,
}

impl Stats {
    /// Sorts `samples` and summarizes them (all zero when empty).
    pub fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).copied().unwrap_or_default()
        };
        let total: Duration = samples.iter().sum();
        let mean = u32::try_from(samples.len())
            .ok()
            .filter(|n| *n > 0)
            .map_or(Duration::ZERO, |n| total / n);
        Stats {
            p50: at(0.5),
            p99: at(0.99),
            mean,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
