//! Building kube clients from kubeconfig files and contexts.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Errors building a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {path}: {source}")]
    Config {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("no kubeconfig given and none found (set --kubeconfig or $KUBECONFIG): {0}")]
    Infer(kube::config::InferConfigError),
    #[error("cannot build a client: {0}")]
    Client(kube::Error),
}

/// A client for `context` of the kubeconfig at `path` (or, without a path, `$KUBECONFIG` /
/// `~/.kube/config` / in-cluster, like kubectl).
pub async fn client(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Client, ClientError> {
    let config = match path {
        Some(p) => {
            let kc = Kubeconfig::read_from(p).map_err(|source| ClientError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            let opts = KubeConfigOptions {
                context: context.map(String::from),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|source| ClientError::Config {
                    path: p.to_path_buf(),
                    source,
                })?
        }
        None => {
            let opts = KubeConfigOptions {
                context: context.map(String::from),
                ..Default::default()
            };
            match kube::Config::from_kubeconfig(&opts).await {
                Ok(c) => c,
                Err(_) if context.is_none() => {
                    kube::Config::infer().await.map_err(ClientError::Infer)?
                }
                Err(source) => {
                    return Err(ClientError::Config {
                        path: PathBuf::from("$KUBECONFIG"),
                        source,
                    });
                }
            }
        }
    };
    kube::Client::try_from(config).map_err(ClientError::Client)
}

/// A client for one kubeconfig context held in memory (credentials that never touch disk,
/// such as an in-process agent's client certificate).
pub async fn client_for_context(
    context: &kubestellar_space::kubeconfig::KubeconfigContext,
) -> Result<kube::Client, ClientError> {
    let path = PathBuf::from(format!("<in-memory context {}>", context.name));
    let text = kubestellar_space::kubeconfig::render_contexts(std::slice::from_ref(context));
    let kc = Kubeconfig::from_yaml(&text).map_err(|source| ClientError::Read {
        path: path.clone(),
        source,
    })?;
    let opts = KubeConfigOptions {
        context: Some(context.name.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|source| ClientError::Config { path, source })?;
    kube::Client::try_from(config).map_err(ClientError::Client)
}
