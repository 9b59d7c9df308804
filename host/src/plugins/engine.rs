//! The process-wide wasmtime `Engine`: component model, pooling allocator, epoch interruption,
//! and the ticker thread that advances the epoch (Spin's `crates/core` pattern).

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::PluginError;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Hard cap on one linear memory, whatever a plugin's `Limits` say (pool slot size).
pub const MAX_MEMORY_BYTES: u64 = 512 << 20;

/// Component instances that can be alive at once (fresh calls in flight plus warm instances).
pub const MAX_INSTANCES: u32 = 256;

/// Bytes of a pool slot's linear memory kept resident between instances (reset by memset);
/// what lies beyond is returned to the kernel. Also bounds the RSS of each idle slot.
pub const KEEP_RESIDENT_BYTES: usize = 8 << 20;

/// The same for tables.
pub const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;

/// Idle pool slots kept warm (affine to the component last in them, memory kept resident), so
/// idle slots hold at most this many times [`KEEP_RESIDENT_BYTES`].
pub const MAX_UNUSED_WARM_SLOTS: u32 = 16;

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The shared engine, created (with its ticker thread) on first use.
pub fn shared() -> Result<Engine, PluginError> {
    ENGINE
        .get_or_init(|| {
            let engine = build().map_err(|e| format!("cannot create the wasmtime engine: {e}"))?;
            start_ticker(&engine).map_err(|e| format!("cannot start the epoch ticker: {e}"))?;
            Ok(engine)
        })
        .clone()
        .map_err(PluginError::Runtime)
}

fn build() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        // Rust components hold ~4 core instances and 2-3 tables; interpreters a few more.
        .total_core_instances(MAX_INSTANCES * 16)
        .total_tables(MAX_INSTANCES * 8)
        .total_memories(MAX_INSTANCES * 2)
        .max_memory_size(MAX_MEMORY_BYTES as usize)
        // Fresh instances reuse pool slots: reset the pages a call dirtied with memset (found
        // with the PAGEMAP_SCAN ioctl, Linux 6.7+) instead of unmapping them, so that the next
        // call does not page-fault them back in (halves a fresh transform-default call).
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
        .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(())
}

/// Epoch ticks for a wall-clock timeout (at least one; one extra so a deadline never fires
/// early because the call started just before a tick).
pub fn ticks_for(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX - 1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up_and_add_one() {
        assert_eq!(ticks_for(Duration::from_millis(0)), 2);
        assert_eq!(ticks_for(Duration::from_millis(10)), 2);
        assert_eq!(ticks_for(Duration::from_millis(11)), 3);
        assert_eq!(ticks_for(Duration::from_secs(1)), 101);
    }

    #[test]
    fn engine_is_shared() {
        let a = shared().map_err(|e| e.to_string());
        let b = shared().map_err(|e| e.to_string());
        assert!(a.is_ok() && b.is_ok(), "{a:?}");
        if let (Ok(a), Ok(b)) = (a, b) {
            assert!(Engine::same(&a, &b));
        }
    }
}
