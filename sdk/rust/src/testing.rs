//! Run a plugin's logic natively, with the host's argument types and the host's output checks,
//! so plugin unit tests fail exactly where the host would reject the plugin's answer.
//!
//! ```
//! use kubestellar_plugin_sdk::{testing, ClusterContext, Plugin, PluginInfo, PluginKind, Scope,
//!     Transformed, Transformer, PluginError};
//!
//! struct Echo;
//! impl Plugin for Echo {
//!     fn describe() -> PluginInfo {
//!         PluginInfo { name: "echo".into(), version: "0.1.0".into(), kind: PluginKind::Transformer,
//!             scope: Scope::PerObject, config_schema: None }
//!     }
//! }
//! impl Transformer for Echo {
//!     fn transform(object: &str, _: Option<&ClusterContext>, _: &str) -> Result<Transformed, PluginError> {
//!         kubestellar_plugin_sdk::log(kubestellar_plugin_sdk::Level::Info, "echo");
//!         Ok(Transformed { object: object.to_owned(), used_cluster: false })
//!     }
//! }
//!
//! let obj = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#;
//! let out = testing::transform::<Echo>(obj, None, "{}").unwrap();
//! assert_eq!(out.object, obj);
//! assert_eq!(testing::take_logs().len(), 1);
//! ```

use std::fmt;

use crate::{
    ClusterContext, ConfigProblem, Level, Plugin, PluginError, PluginInfo, PluginKind, Report,
    Summarizer, Summary, Transformed, Transformer,
};

/// Why a native call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin returned `Err` (the host reports it as a plugin-reported error).
    Plugin(PluginError),
    /// The plugin returned output the host would reject.
    InvalidOutput(String),
    /// `describe()` declares a kind other than the trait being exercised.
    WrongKind {
        /// The kind the call needs.
        expected: PluginKind,
        /// The kind `describe()` returned.
        found: PluginKind,
    },
}

impl CallError {
    /// The plugin's own error, if that is what this is.
    pub fn plugin_error(&self) -> Option<&PluginError> {
        match self {
            CallError::Plugin(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Plugin(e) => write!(f, "plugin reported: {e}"),
            CallError::InvalidOutput(r) => write!(f, "invalid output: {r}"),
            CallError::WrongKind { expected, found } => {
                write!(
                    f,
                    "describe() says {found}, but the plugin is used as a {expected}"
                )
            }
        }
    }
}

impl std::error::Error for CallError {}

/// Calls `T::describe()`.
pub fn describe<T: Plugin>() -> PluginInfo {
    T::describe()
}

/// Calls `T::validate_config(config)`.
pub fn validate_config<T: Plugin>(config: &str) -> Vec<ConfigProblem> {
    T::validate_config(config)
}

/// Calls `T::transform` and applies the host's checks (kind, JSON object, identity unchanged).
pub fn transform<T: Transformer>(
    object: &str,
    cluster: Option<&ClusterContext>,
    config: &str,
) -> Result<Transformed, CallError> {
    check_kind::<T>(PluginKind::Transformer)?;
    let out = T::transform(object, cluster, config).map_err(CallError::Plugin)?;
    crate::check::transformed_object(object, &out.object).map_err(CallError::InvalidOutput)?;
    Ok(out)
}

/// Calls `T::summarize` and applies the host's checks (kind, summary shape).
pub fn summarize<T: Summarizer>(
    object: &str,
    reports: &[Report],
    config: &str,
) -> Result<Summary, CallError> {
    check_kind::<T>(PluginKind::Summarizer)?;
    let out = T::summarize(object, reports, config).map_err(CallError::Plugin)?;
    crate::check::summary(&out).map_err(CallError::InvalidOutput)?;
    Ok(out)
}

/// Returns and clears the lines this thread's plugin code passed to [`crate::log`].
pub fn take_logs() -> Vec<(Level, String)> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::log::imp::take()
    }
    #[cfg(target_arch = "wasm32")]
    {
        Vec::new()
    }
}

fn check_kind<T: Plugin>(expected: PluginKind) -> Result<(), CallError> {
    let found = T::describe().kind;
    if found == expected {
        Ok(())
    } else {
        Err(CallError::WrongKind { expected, found })
    }
}
