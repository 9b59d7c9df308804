//! What the host provides to plugins: the `log` import, rate-limited and sent to `tracing`
//! with the plugin's name.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::HasData;

use super::bindings::host::{Host, Level};
use crate::secrets::SecretValues;

/// Longest message kept from one `log` call; the rest is cut.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// A token bucket shared by all instances of one plugin: a burst of `burst` lines, then
/// `per_second` lines per second; dropped lines are counted and reported once logging resumes.
#[derive(Debug)]
pub struct LogLimiter {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter allowing `burst` lines at once and `per_second` sustained.
    pub fn new(burst: u32, per_second: u32) -> Self {
        LogLimiter {
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            tokens: f64::from(burst),
            last: Instant::now(),
            suppressed: 0,
        }
    }

    /// Takes a token; returns `Some(lines suppressed since the last accepted line)` when the
    /// line may be written, `None` when it must be dropped.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

impl Default for LogLimiter {
    /// 100 lines at once, 20 per second after that.
    fn default() -> Self {
        LogLimiter::new(100, 20)
    }
}

/// The per-store state behind the `host` interface.
#[derive(Debug, Clone)]
pub struct HostLog {
    plugin: Arc<str>,
    limiter: Arc<Mutex<LogLimiter>>,
    /// The values of the Secret the current call was handed, kept out of its log lines.
    secrets: SecretValues,
}

impl HostLog {
    /// Logs for `plugin`, sharing `limiter` with its other instances.
    pub fn new(plugin: Arc<str>, limiter: Arc<Mutex<LogLimiter>>) -> Self {
        HostLog {
            plugin,
            limiter,
            secrets: SecretValues::default(),
        }
    }

    /// Redacts `secrets` from the log lines of the coming call.
    pub fn redact(&mut self, secrets: SecretValues) {
        self.secrets = secrets;
    }
}

impl Host for HostLog {
    fn log(&mut self, level: Level, message: String) {
        let admitted = match self.limiter.lock() {
            Ok(mut l) => l.admit(Instant::now()),
            // A poisoned limiter only means another thread panicked mid-update; keep logging.
            Err(poisoned) => poisoned.into_inner().admit(Instant::now()),
        };
        let Some(suppressed) = admitted else { return };
        let plugin = &*self.plugin;
        if suppressed > 0 {
            tracing::warn!(
                plugin,
                suppressed,
                "plugin log rate limit: {suppressed} lines dropped"
            );
        }
        let message = self.secrets.redact(&message);
        let message = truncate(&message);
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

fn truncate(message: &str) -> std::borrow::Cow<'_, str> {
    let one_line = message.trim_end();
    if one_line.len() <= MAX_MESSAGE_BYTES {
        return one_line.into();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !one_line.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}... ({} bytes cut)",
        &one_line[..end],
        one_line.len() - end
    )
    .into()
}

/// `HasData` marker: the linker reaches the [`HostLog`] inside the store state through it.
pub struct HostLogData;

impl HasData for HostLogData {
    type Data<'a> = &'a mut HostLog;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    /// Captures formatted tracing output.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn captured(f: impl FnOnce()) -> String {
        let cap = Capture::default();
        let writer = cap.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(cap.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn log_goes_to_tracing_with_plugin_name_and_level() {
        let out = captured(|| {
            let mut log = HostLog::new("my-plugin".into(), Arc::default());
            log.log(Level::Warn, "careful".into());
            log.log(Level::Debug, "detail\n".into());
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].contains("WARN")
                && lines[0].contains("careful")
                && lines[0].contains("plugin=\"my-plugin\"")
        );
        assert!(
            lines[1].contains("DEBUG")
                && lines[1].contains("detail")
                && lines[1].contains("plugin=\"my-plugin\"")
        );
    }

    #[test]
    fn log_is_rate_limited_and_reports_drops() {
        let limiter = Arc::new(Mutex::new(LogLimiter::new(3, 1)));
        let out = captured(|| {
            let mut log = HostLog::new("noisy".into(), limiter.clone());
            for i in 0..10 {
                log.log(Level::Info, format!("line {i}"));
            }
        });
        assert_eq!(out.lines().count(), 3, "{out}");
        // Refill by moving the limiter's clock back instead of sleeping.
        limiter.lock().unwrap().last -= Duration::from_secs(2);
        let out = captured(|| {
            HostLog::new("noisy".into(), limiter.clone()).log(Level::Info, "again".into())
        });
        assert!(out.contains("7 lines dropped"), "{out}");
        assert!(out.contains("again"), "{out}");
    }

    #[test]
    fn long_messages_are_cut() {
        let out = captured(|| {
            HostLog::new("p".into(), Arc::default()).log(Level::Error, "é".repeat(2000));
        });
        assert!(out.contains("bytes cut"), "{out}");
        assert!(out.len() < MAX_MESSAGE_BYTES + 200);
    }
}
