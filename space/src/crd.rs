//! CustomResourceDefinition helpers.

use serde_json::Value;

/// True when the CRD's `Established` condition is `True` (set by the server at creation).
pub fn is_established(crd: &Value) -> bool {
    crd["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    })
}
