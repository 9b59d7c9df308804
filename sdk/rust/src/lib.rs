//! Write KubeStellar customization plugins in Rust.
//!
//! A plugin is a `cdylib` built for `wasm32-wasip2` that implements [`Plugin`] plus either
//! [`Transformer`] or [`Summarizer`] on a unit type and exports it with
//! [`export_transformer!`] or [`export_summarizer!`]. The SDK hides wit-bindgen: the guest crate
//! depends on this crate only, and its logic stays plain Rust that can be unit-tested natively
//! with [`testing`] (the export macros expand to a type check only when not on `wasm32`).
//!
//! ```
//! use kubestellar_plugin_sdk::*;
//!
//! pub struct AddLabel;
//!
//! impl Plugin for AddLabel {
//!     fn describe() -> PluginInfo {
//!         PluginInfo { name: "add-label".into(), version: "0.1.0".into(), kind: PluginKind::Transformer,
//!             scope: Scope::PerCluster, config_schema: None }
//!     }
//! }
//!
//! impl Transformer for AddLabel {
//!     fn transform(object: &str, cluster: Option<&ClusterContext>, _config: &str) -> Result<Transformed, PluginError> {
//!         let mut obj = json::parse_object(object, "object")?;
//!         let Some(cluster) = cluster else { return Ok(Transformed { object: object.into(), used_cluster: false }) };
//!         obj.entry("metadata").or_insert_with(|| serde_json::json!({}))["labels"]["cluster"] =
//!             cluster.name.clone().into();
//!         Ok(Transformed { object: json::to_text(&obj)?, used_cluster: true })
//!     }
//! }
//!
//! export_transformer!(AddLabel);
//! ```

pub mod check;
pub mod json;
mod log;
pub mod testing;
mod types;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;

pub use log::log;
pub use types::*;

/// Re-exported for plugin code, so guests need no direct serde_json dependency.
pub use serde_json;

/// What every plugin implements.
pub trait Plugin {
    /// Describes the plugin; the host calls it once when loading the plugin.
    fn describe() -> PluginInfo;

    /// Checks a configuration (JSON text) before it is used; an empty list means valid.
    fn validate_config(_config: &str) -> Vec<ConfigProblem> {
        Vec::new()
    }
}

/// A plugin of world `transformer`: rewrites an object on its way to a WEC.
pub trait Transformer: Plugin {
    /// `object` and `config` are JSON text; `cluster` is `None` for per-object plugins.
    fn transform(
        object: &str,
        cluster: Option<&ClusterContext>,
        config: &str,
    ) -> Result<Transformed, PluginError>;
}

/// A plugin of world `summarizer`: condenses what the WECs returned about an object.
pub trait Summarizer: Plugin {
    /// `object` (the WDS object, with status) and `config` are JSON text.
    fn summarize(object: &str, reports: &[Report], config: &str) -> Result<Summary, PluginError>;
}

/// Exports a [`Transformer`] as the component's `transformer` world (on `wasm32`; natively it
/// only checks that the type implements the trait). Use it once per guest crate.
#[macro_export]
macro_rules! export_transformer {
    ($ty:ty) => {
        const _: fn() = || {
            fn assert_transformer<T: $crate::Transformer>() {}
            assert_transformer::<$ty>();
        };

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct KubestellarTransformerExport;

            impl $crate::wasm::PluginGuest for KubestellarTransformerExport {
                fn describe() -> $crate::wasm::WitPluginInfo {
                    $crate::wasm::describe::<$ty>()
                }
                fn validate_config(
                    config: ::std::string::String,
                ) -> ::std::vec::Vec<$crate::wasm::WitConfigProblem> {
                    $crate::wasm::validate_config::<$ty>(config)
                }
            }

            impl $crate::wasm::TransformGuest for KubestellarTransformerExport {
                fn transform(
                    object: ::std::string::String,
                    cluster: ::std::option::Option<$crate::wasm::WitClusterContext>,
                    config: ::std::string::String,
                ) -> ::std::result::Result<$crate::wasm::WitTransformed, $crate::wasm::WitPluginError> {
                    $crate::wasm::transform::<$ty>(object, cluster, config)
                }
            }

            $crate::wasm::transformer::export_transformer_world!(
                KubestellarTransformerExport with_types_in $crate::wasm::transformer
            );
        };
    };
}

/// Exports a [`Summarizer`] as the component's `summarizer` world (on `wasm32`; natively it
/// only checks that the type implements the trait). Use it once per guest crate.
#[macro_export]
macro_rules! export_summarizer {
    ($ty:ty) => {
        const _: fn() = || {
            fn assert_summarizer<T: $crate::Summarizer>() {}
            assert_summarizer::<$ty>();
        };

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct KubestellarSummarizerExport;

            impl $crate::wasm::SummarizerPluginGuest for KubestellarSummarizerExport {
                fn describe() -> $crate::wasm::WitPluginInfo {
                    $crate::wasm::describe::<$ty>()
                }
                fn validate_config(
                    config: ::std::string::String,
                ) -> ::std::vec::Vec<$crate::wasm::WitConfigProblem> {
                    $crate::wasm::validate_config::<$ty>(config)
                }
            }

            impl $crate::wasm::SummarizeGuest for KubestellarSummarizerExport {
                fn summarize(
                    object: ::std::string::String,
                    reports: ::std::vec::Vec<$crate::wasm::WitReport>,
                    config: ::std::string::String,
                ) -> ::std::result::Result<$crate::wasm::WitSummary, $crate::wasm::WitPluginError>
                {
                    $crate::wasm::summarize::<$ty>(object, reports, config)
                }
            }

            $crate::wasm::summarizer::export_summarizer_world!(
                KubestellarSummarizerExport with_types_in $crate::wasm::summarizer
            );
        };
    };
}
