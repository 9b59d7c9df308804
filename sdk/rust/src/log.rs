//! `log`: the one host import. In a guest it calls the host; natively it is captured per thread
//! so tests can assert what a plugin logged (see [`crate::testing::take_logs`]).

use crate::Level;

/// Sends one line to the host's log, attributed to the plugin (the host rate-limits it).
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::Level;
    use crate::wasm::summarizer::kubestellar::plugin::host::{self, Level as WitLevel};

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Debug => WitLevel::Debug,
            Level::Info => WitLevel::Info,
            Level::Warn => WitLevel::Warn,
            Level::Error => WitLevel::Error,
        };
        host::log(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    use std::cell::RefCell;

    use crate::Level;

    /// Lines kept per thread; older ones are dropped so native benchmarks don't grow forever.
    const MAX_LINES: usize = 10_000;

    thread_local! {
        static LINES: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn log(level: Level, message: &str) {
        LINES.with(|l| {
            let mut l = l.borrow_mut();
            if l.len() >= MAX_LINES {
                l.remove(0);
            }
            l.push((level, message.to_owned()));
        });
    }

    pub(crate) fn take() -> Vec<(Level, String)> {
        LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }
}
