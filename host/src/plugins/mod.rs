//! The plugin runtime: runs customization plugins (WebAssembly components implementing
//! `wit/plugin.wit`) in wasmtime, sandboxed and limited.
//!
//! * [`engine`]: one engine per process (pooling allocator, epoch interruption, ticker thread).
//! * [`bindings`]: the only `bindgen!` site; [`host`]: the `log` import.
//! * [`cache`]: precompiled components on disk, keyed by module digest and engine.
//! * [`PluginRuntime`] loads (digest check, compile/cache, link, `describe`) into
//!   [`LoadedPlugin`]s, whose calls run in a fresh sandboxed store each (or a warm instance)
//!   under a wall-clock deadline and a memory cap, and whose output is checked.
//! * [`instances`]: warm pools, and fresh instances made before and dropped after their call on
//!   a background thread.
//!
//! The value types ([`ClusterContext`], [`Report`], [`Summary`], ...) are the Rust SDK's, so
//! plugin logic, the runtime and the controllers share one vocabulary.

pub mod bindings;
pub mod builtin;
pub mod cache;
pub mod combined;
mod convert;
pub mod engine;
mod error;
pub mod host;
mod instances;
mod loaded;
mod runtime;
mod store;

pub use convert::PreparedCluster;
pub use error::PluginError;
pub use kubestellar_plugin_sdk::check::Identity;
pub use kubestellar_plugin_sdk::{
    AggregationError, CellValue, ClusterContext, ConfigProblem, Pair, PluginInfo, PluginKind,
    Report, Row, RowError, Scope, Summary, Timestamp, Transformed,
};
pub use loaded::{LoadStats, LoadedPlugin};
pub use runtime::{BUILTIN_WARM_INSTANCES, Limits, PluginRuntime, RuntimeConfig};
pub use store::OUTPUT_CAP;

/// Compile-time proof that the runtime types can be shared across threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PluginRuntime>();
    assert_send_sync::<LoadedPlugin>();
};
