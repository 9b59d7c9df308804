//! Per-call (or per warm instance) `Store`: the sandbox a plugin runs in, and the mapping of
//! wasmtime failures to [`PluginError`]s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::host::{HostLog, LogLimiter};
use super::{Limits, PluginError, engine};

/// Bytes of stdout+stderr kept per store; a plugin writing more traps.
pub const OUTPUT_CAP: usize = 64 << 10;

/// What a plugin's store holds.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub(crate) log: HostLog,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The wall clock a plugin sees: always 1970-01-01T00:00:00Z, so that output never depends on
/// when it was computed (the host caches rendered results).
struct EpochZeroClock;

impl HostWallClock for EpochZeroClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A store and the pipe its stdout/stderr go to.
pub struct Sandbox {
    /// The store, with limits and an armed epoch deadline.
    pub store: Store<State>,
    /// Captured stdout and stderr (shared buffer, capped at [`OUTPUT_CAP`]).
    pub output: MemoryOutputPipe,
}

/// A store with no preopens, no environment, no arguments, no network, a fixed wall clock,
/// captured output, the memory cap and the deadline of `limits`.
pub fn sandbox(
    engine: &Engine,
    plugin: &Arc<str>,
    limiter: &Arc<Mutex<LogLimiter>>,
    limits: &Limits,
) -> Sandbox {
    let output = MemoryOutputPipe::new(OUTPUT_CAP);
    let wasi = WasiCtxBuilder::new()
        .stdout(output.clone())
        .stderr(output.clone())
        .wall_clock(EpochZeroClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let memory = usize::try_from(limits.effective_memory_bytes()).unwrap_or(usize::MAX);
    let state = State {
        wasi,
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size(memory)
            .trap_on_grow_failure(true)
            .build(),
        log: HostLog::new(plugin.clone(), limiter.clone()),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(engine::ticks_for(limits.timeout));
    Sandbox { store, output }
}

/// What a store wrote since `from` (a byte offset into the captured output).
pub fn output_since(output: &MemoryOutputPipe, from: usize) -> String {
    let all = output.contents();
    String::from_utf8_lossy(all.get(from..).unwrap_or_default()).into_owned()
}

/// Maps a failed instantiation or call to the error the user sees.
pub fn classify(
    err: &wasmtime::Error,
    plugin: &str,
    limits: &Limits,
    stderr: String,
) -> PluginError {
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return PluginError::Deadline {
            plugin: plugin.to_owned(),
            after: limits.timeout,
        };
    }
    // StoreLimits with trap_on_grow_failure raises a plain error, not a `Trap` variant.
    if err
        .chain()
        .any(|c| c.to_string().contains("forcing trap when growing memory"))
    {
        return PluginError::MemoryLimit {
            plugin: plugin.to_owned(),
            limit_bytes: limits.effective_memory_bytes(),
        };
    }
    // The root cause is the trap itself ("wasm trap: ..."); the outer context is the backtrace.
    PluginError::Trap {
        plugin: plugin.to_owned(),
        message: one_line(&err.root_cause().to_string()),
        stderr,
    }
}

/// True when `err` is a trap, an interrupt or a memory-limit hit (as opposed to a host-side
/// failure such as an exhausted instance pool).
pub fn is_guest_failure(err: &wasmtime::Error) -> bool {
    err.downcast_ref::<Trap>().is_some()
        || err
            .chain()
            .any(|c| c.to_string().contains("forcing trap when growing memory"))
}

/// Joins the lines of a multi-line message.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}
