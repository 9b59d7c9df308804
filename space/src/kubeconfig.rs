//! Writing a kubeconfig for a space.

use std::path::Path;

use serde_json::json;

/// One context of a kubeconfig.
#[derive(Clone, Debug)]
pub struct KubeconfigEntry {
    /// Context and cluster name.
    pub name: String,
    /// `http://127.0.0.1:PORT`
    pub server: String,
}

/// Renders a kubeconfig with one context per entry; the first is current.
pub fn render(entries: &[KubeconfigEntry]) -> String {
    let clusters: Vec<_> = entries
        .iter()
        .map(|e| json!({"name": e.name, "cluster": {"server": e.server}}))
        .collect();
    let users: Vec<_> = entries
        .iter()
        .map(|e| json!({"name": format!("{}-admin", e.name), "user": {}}))
        .collect();
    let contexts: Vec<_> = entries
        .iter()
        .map(|e| json!({"name": e.name, "context": {"cluster": e.name, "user": format!("{}-admin", e.name)}}))
        .collect();
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": entries.first().map(|e| e.name.clone()).unwrap_or_default(),
        "preferences": {},
    });
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// Writes a kubeconfig atomically (temp file + rename), so readers never see half of one.
pub fn write(path: &Path, entries: &[KubeconfigEntry]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, render(entries))?;
    std::fs::rename(&tmp, path)
}
