//! The only `bindgen!` site: host-side bindings for both worlds of `wit/plugin.wit`. The
//! summarizer world reuses the transformer world's `types` and `host` interfaces, so there is
//! one set of shared types and one `host::Host` trait to implement.

/// World `transformer`.
pub mod transformer {
    wasmtime::component::bindgen!({
        world: "transformer",
        path: "../wit",
    });
}

/// World `summarizer`.
pub mod summarizer {
    wasmtime::component::bindgen!({
        world: "summarizer",
        path: "../wit",
        with: {
            "kubestellar:plugin/types": super::transformer::kubestellar::plugin::types,
            "kubestellar:plugin/host": super::transformer::kubestellar::plugin::host,
        },
    });
}

pub use transformer::kubestellar::plugin::host;
pub use transformer::kubestellar::plugin::types;

/// The names components export, used to tell the worlds apart before binding.
pub mod names {
    /// Exported by every plugin.
    pub const PLUGIN: &str = "kubestellar:plugin/plugin@0.1.0";
    /// Exported by transformers.
    pub const TRANSFORM: &str = "kubestellar:plugin/transform@0.1.0";
    /// Exported by summarizers.
    pub const SUMMARIZE: &str = "kubestellar:plugin/summarize@0.1.0";
}
