//! Writing a kubeconfig for a space.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

/// One context of a kubeconfig for an insecure space (no CA, no credential).
#[derive(Clone, Debug)]
pub struct KubeconfigEntry {
    /// Context and cluster name.
    pub name: String,
    /// `http://127.0.0.1:PORT`
    pub server: String,
}

/// How a kubeconfig user authenticates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credential {
    /// Nothing (insecure spaces).
    #[default]
    None,
    /// A bearer token.
    Token(String),
    /// A client certificate and key (PEM).
    ClientCertificate {
        /// Certificate (PEM).
        cert_pem: String,
        /// Private key (PEM).
        key_pem: String,
    },
}

/// One context of a kubeconfig: cluster (server, CA), user (credential), context.
#[derive(Clone, Debug, Default)]
pub struct KubeconfigContext {
    /// Context name; the cluster has the same name.
    pub name: String,
    /// User name in the kubeconfig (`<name>-admin` when empty).
    pub user: String,
    /// `https://127.0.0.1:PORT`
    pub server: String,
    /// The CA to trust (PEM), embedded as `certificate-authority-data`.
    pub ca_pem: Option<String>,
    /// The credential.
    pub credential: Credential,
}

impl KubeconfigContext {
    /// A context that authenticates with a bearer token against a server signed by `ca_pem`.
    pub fn with_token(name: &str, server: &str, ca_pem: &str, token: &str) -> KubeconfigContext {
        KubeconfigContext {
            name: name.into(),
            user: format!("{name}-token"),
            server: server.into(),
            ca_pem: Some(ca_pem.into()),
            credential: Credential::Token(token.into()),
        }
    }
}

impl From<&KubeconfigEntry> for KubeconfigContext {
    fn from(e: &KubeconfigEntry) -> Self {
        KubeconfigContext {
            name: e.name.clone(),
            server: e.server.clone(),
            ..Default::default()
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn user_name(c: &KubeconfigContext) -> String {
    if c.user.is_empty() {
        format!("{}-admin", c.name)
    } else {
        c.user.clone()
    }
}

/// Renders a kubeconfig with one context per entry; the first is current.
pub fn render_contexts(contexts: &[KubeconfigContext]) -> String {
    let clusters: Vec<Value> = contexts
        .iter()
        .map(|c| {
            let mut cluster = json!({"server": c.server});
            if let Some(ca) = &c.ca_pem {
                cluster["certificate-authority-data"] = json!(b64(ca));
            }
            json!({"name": c.name, "cluster": cluster})
        })
        .collect();
    let users: Vec<Value> = contexts
        .iter()
        .map(|c| {
            let user = match &c.credential {
                Credential::None => json!({}),
                Credential::Token(t) => json!({"token": t}),
                Credential::ClientCertificate { cert_pem, key_pem } => json!({
                    "client-certificate-data": b64(cert_pem),
                    "client-key-data": b64(key_pem),
                }),
            };
            json!({"name": user_name(c), "user": user})
        })
        .collect();
    let ctxs: Vec<Value> = contexts
        .iter()
        .map(|c| json!({"name": c.name, "context": {"cluster": c.name, "user": user_name(c)}}))
        .collect();
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": ctxs,
        "current-context": contexts.first().map(|c| c.name.clone()).unwrap_or_default(),
        "preferences": {},
    });
    serde_yaml_ng::to_string(&doc).unwrap_or_default()
}

/// Renders a kubeconfig for insecure spaces with one context per entry; the first is current.
pub fn render(entries: &[KubeconfigEntry]) -> String {
    render_contexts(&entries.iter().map(Into::into).collect::<Vec<_>>())
}

/// Writes a kubeconfig atomically (temp file + rename), so readers never see half of one.
/// It is readable by its owner only when it holds a credential.
pub fn write_contexts(path: &Path, contexts: &[KubeconfigContext]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let secret = contexts.iter().any(|c| c.credential != Credential::None);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(if secret { 0o600 } else { 0o644 });
        let f = opts.open(&tmp)?;
        if secret {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        drop(f);
    }
    #[cfg(not(unix))]
    drop(opts.open(&tmp)?);
    std::fs::write(&tmp, render_contexts(contexts))?;
    std::fs::rename(&tmp, path)
}

/// Writes a kubeconfig for insecure spaces atomically.
pub fn write(path: &Path, entries: &[KubeconfigEntry]) -> std::io::Result<()> {
    write_contexts(path, &entries.iter().map(Into::into).collect::<Vec<_>>())
}
