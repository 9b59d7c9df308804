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
