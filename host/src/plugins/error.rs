//! `PluginError`: everything that can go wrong loading or calling a plugin. Every message is one
//! line and names the plugin, because it ends up on the status of the object the user wrote.

use std::time::Duration;

use kubestellar_plugin_sdk::ConfigProblem;

use crate::secrets::SecretValues;

/// Loading or calling a plugin failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component (garbage, or a core module).
    #[error("plugin {plugin}: not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The plugin's name or source.
        plugin: String,
        /// What was found instead.
        reason: String,
    },
    /// The component does not implement the expected world, or `describe()` contradicts it.
    #[error("plugin {plugin}: expected the {expected} world, found {found}")]
    WrongWorld {
        /// The plugin's name or source.
        plugin: String,
        /// What the caller needs (`transformer`, `summarizer`).
        expected: String,
        /// What the component is.
        found: String,
    },
    /// The module's sha256 is not the pinned one.
    #[error("plugin {plugin}: sha256 mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The plugin's name or source.
        plugin: String,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// wasmtime could not compile the component.
    #[error("plugin {plugin}: cannot compile: {message}")]
    Compile {
        /// The plugin's name or source.
        plugin: String,
        /// wasmtime's reason.
        message: String,
    },
    /// The component imports something the host does not provide (checked at load).
    #[error("plugin {plugin}: cannot link: {message}")]
    Link {
        /// The plugin's name or source.
        plugin: String,
        /// wasmtime's reason, naming the import.
        message: String,
    },
    /// The plugin rejected its configuration.
    #[error("plugin {plugin}: invalid configuration: {}", join_problems(.problems))]
    InvalidConfig {
        /// The plugin's name.
        plugin: String,
        /// What `validate-config` (or the host's JSON check) found.
        problems: Vec<ConfigProblem>,
    },
    /// The call ran past its wall-clock deadline and was interrupted.
    #[error("plugin {plugin}: deadline of {after:?} exceeded")]
    Deadline {
        /// The plugin's name.
        plugin: String,
        /// The configured deadline.
        after: Duration,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin {plugin}: memory limit of {limit_bytes} bytes exceeded")]
    MemoryLimit {
        /// The plugin's name.
        plugin: String,
        /// The configured cap.
        limit_bytes: u64,
    },
    /// The plugin trapped (panic, abort, unreachable, out-of-bounds access ...).
    #[error("plugin {plugin}: trapped: {message}{}", stderr_suffix(.stderr))]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// The trap, one line.
        message: String,
        /// What the plugin wrote to stderr during the call (capped).
        stderr: String,
    },
    /// The plugin returned its own error.
    #[error("plugin {plugin}: {message}")]
    PluginReported {
        /// The plugin's name.
        plugin: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin returned something the contract forbids.
    #[error("plugin {plugin}: invalid output: {reason}")]
    InvalidOutput {
        /// The plugin's name.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No instance could be created (e.g. the instance pool is exhausted).
    #[error("plugin {plugin}: cannot instantiate: {message}")]
    Instantiate {
        /// The plugin's name.
        plugin: String,
        /// wasmtime's reason.
        message: String,
    },
    /// `builtin:<name>` names no built-in plugin, or the host was built without them.
    #[error("no built-in plugin {name:?}: {reason}")]
    UnknownBuiltin {
        /// The requested name.
        name: String,
        /// Why it is unavailable.
        reason: String,
    },
    /// The runtime itself could not be set up (engine, cache directory).
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

impl PluginError {
    /// True when the error says something about this call only (the plugin may work next time
    /// with other input), as opposed to the plugin being unusable.
    pub fn is_call_error(&self) -> bool {
        matches!(
            self,
            PluginError::Deadline { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::Trap { .. }
                | PluginError::PluginReported { .. }
                | PluginError::InvalidOutput { .. }
                | PluginError::InvalidConfig { .. }
                | PluginError::Instantiate { .. }
        )
    }
}

impl PluginError {
    /// The error with `secrets` redacted from every text a plugin's input could reach (its
    /// messages, its stderr, its configuration problems).
    pub fn redacted(self, secrets: &SecretValues) -> PluginError {
        if secrets.is_empty() {
            return self;
        }
        let r = |s: String| secrets.redact(&s).into_owned();
        match self {
            PluginError::Trap {
                plugin,
                message,
                stderr,
            } => PluginError::Trap {
                plugin,
                message: r(message),
                stderr: r(stderr),
            },
            PluginError::PluginReported { plugin, message } => PluginError::PluginReported {
                plugin,
                message: r(message),
            },
            PluginError::InvalidOutput { plugin, reason } => PluginError::InvalidOutput {
                plugin,
                reason: r(reason),
            },
            PluginError::InvalidConfig { plugin, problems } => PluginError::InvalidConfig {
                plugin,
                problems: problems
                    .into_iter()
                    .map(|p| ConfigProblem::new(r(p.field), r(p.message)))
                    .collect(),
            },
            PluginError::Instantiate { plugin, message } => PluginError::Instantiate {
                plugin,
                message: r(message),
            },
            other => other,
        }
    }
}

fn join_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// At most this much of stderr goes into the one-line message.
const STDERR_IN_MESSAGE: usize = 400;

fn stderr_suffix(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut joined = lines.join(" / ");
    if joined.len() > STDERR_IN_MESSAGE {
        // Keep the end: that is where a panic message or exception is.
        let mut cut = joined.len() - STDERR_IN_MESSAGE;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        joined = format!("...{}", &joined[cut..]);
    }
    format!(" (stderr: {joined})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_plugin() {
        let errors = [
            PluginError::Trap {
                plugin: "p".into(),
                message: "wasm trap: wasm `unreachable` instruction executed".into(),
                stderr: "thread '<unnamed>' panicked at src/lib.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n".into(),
            },
            PluginError::InvalidConfig {
                plugin: "p".into(),
                problems: vec![ConfigProblem::new("a", "bad"), ConfigProblem::new("", "worse")],
            },
            PluginError::Deadline { plugin: "p".into(), after: Duration::from_millis(100) },
        ];
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "plugin p: trapped: wasm trap: wasm `unreachable` instruction executed (stderr: thread '<unnamed>' panicked at src/lib.rs:1:1: / boom)",
                "plugin p: invalid configuration: a: bad; worse",
                "plugin p: deadline of 100ms exceeded",
            ]
        );
    }

    #[test]
    fn long_stderr_keeps_its_end() {
        let stderr = format!("{}\nthe end", "x".repeat(2000));
        let s = stderr_suffix(&stderr);
        assert!(s.ends_with("the end)"), "{s}");
        assert!(s.len() < STDERR_IN_MESSAGE + 30);
    }
}
