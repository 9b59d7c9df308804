//! The built-in plugins, embedded at build time by `host/build.rs`.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::PluginError;

/// Prefix of built-in plugin references (`builtin:transform-default`).
pub const PREFIX: &str = "builtin:";

/// KubeStellar's built-in transform semantics.
pub const TRANSFORM_DEFAULT: &str = "transform-default";

/// KubeStellar's StatusCollector semantics.
pub const SUMMARIZE_DEFAULT: &str = "summarize-default";

/// Names of all built-in plugins.
pub const NAMES: [&str; 2] = [TRANSFORM_DEFAULT, SUMMARIZE_DEFAULT];

static TRANSFORM_DEFAULT_WASM: &[u8] = include_bytes!(env!("KUBESTELLAR_TRANSFORM_DEFAULT_WASM"));
static SUMMARIZE_DEFAULT_WASM: &[u8] = include_bytes!(env!("KUBESTELLAR_SUMMARIZE_DEFAULT_WASM"));

/// The component bytes of built-in `name` (with or without the `builtin:` prefix).
pub fn bytes(name: &str) -> Result<&'static [u8], PluginError> {
    let short = name.strip_prefix(PREFIX).unwrap_or(name);
    let bytes = match short {
        TRANSFORM_DEFAULT => TRANSFORM_DEFAULT_WASM,
        SUMMARIZE_DEFAULT => SUMMARIZE_DEFAULT_WASM,
        _ => {
            return Err(PluginError::UnknownBuiltin {
                name: name.to_owned(),
                reason: format!(
                    "the built-in plugins are {}",
                    NAMES.map(|n| format!("{PREFIX}{n}")).join(", ")
                ),
            });
        }
    };
    if bytes.is_empty() {
        return Err(PluginError::UnknownBuiltin {
            name: name.to_owned(),
            reason: "this binary was built with KUBESTELLAR_SKIP_GUEST_BUILD".to_owned(),
        });
    }
    Ok(bytes)
}

/// The sha256 (hex) of built-in `name`'s `bytes`, computed once per process: the bytes are part
/// of the binary, and hashing summarize-default's 3.7 MB takes about 2 ms.
pub(super) fn digest(name: &str, bytes: &[u8]) -> String {
    static DIGESTS: [OnceLock<String>; NAMES.len()] = [const { OnceLock::new() }; NAMES.len()];
    match NAMES.iter().position(|n| *n == name) {
        Some(i) => DIGESTS[i]
            .get_or_init(|| hex::encode(Sha256::digest(bytes)))
            .clone(),
        None => hex::encode(Sha256::digest(bytes)),
    }
}
