//! Plugins as OCI artifacts (CNCF TAG Runtime's "Wasm OCI Artifact" layout): an image manifest
//! whose config has media type [`WASM_CONFIG_MEDIA_TYPE`] and whose single layer is the
//! component itself ([`WASM_LAYER_MEDIA_TYPE`]), so the layer digest is the module's sha256.

use futures::StreamExt;
use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::{Download, FetchConfig, FetchError, error_chain, is_loopback_host, registry_host};

/// Layer media type of a WebAssembly module or component.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Config media type of a Wasm OCI artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";

/// Layer media types accepted as the module when pulling (the standard one first, then those
/// older tools such as wasm-to-oci and oci-client's own write).
const WASM_LAYER_TYPES: [&str; 3] = [
    WASM_LAYER_MEDIA_TYPE,
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
];

fn client(cfg: &FetchConfig, reference: &Reference) -> Client {
    super::install_crypto_provider();
    let registry = reference.resolve_registry().to_owned();
    // Plain HTTP only to a registry on this machine (see the module docs).
    let protocol = if is_loopback_host(registry_host(&registry)) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(cfg.connect_timeout),
        read_timeout: Some(cfg.read_timeout),
        extra_root_certificates: cfg
            .extra_roots_pem
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        ..ClientConfig::default()
    })
}

/// Maps a registry error; network failures and 5xx/429 answers are transient.
fn registry_error(url: &str, e: oci_client::errors::OciDistributionError) -> FetchError {
    use oci_client::errors::OciDistributionError as E;
    let transient = match &e {
        E::RequestError(r) => r.is_connect() || r.is_timeout() || r.is_request() || r.is_body(),
        E::ServerError { code, .. } => *code >= 500 || *code == 429,
        E::IoError(_) => true,
        _ => false,
    };
    FetchError::Unreachable {
        url: url.to_owned(),
        message: error_chain(&e),
        transient,
    }
}

/// Pulls the wasm layer of `reference`, which must have sha256 `expected` (lower-case hex).
pub(super) async fn pull(
    cfg: &FetchConfig,
    url: &str,
    reference: &Reference,
    expected: &str,
) -> Result<Vec<u8>, FetchError> {
    let client = client(cfg, reference);
    let (manifest, _manifest_digest) = client
        .pull_image_manifest(reference, &RegistryAuth::Anonymous)
        .await
        .map_err(|e| registry_error(url, e))?;
    let wasm: Vec<_> = manifest
        .layers
        .iter()
        .filter(|l| WASM_LAYER_TYPES.contains(&l.media_type.as_str()))
        .collect();
    let layer = match wasm.as_slice() {
        [one] => *one,
        [] => {
            let found: Vec<&str> = manifest
                .layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect();
            return Err(FetchError::NotAWasmArtifact {
                url: url.to_owned(),
                problem: format!(
                    "the OCI manifest has no WebAssembly layer ({WASM_LAYER_MEDIA_TYPE}); its layers are: {}",
                    if found.is_empty() {
                        "none".to_owned()
                    } else {
                        found.join(", ")
                    }
                ),
            });
        }
        several => {
            return Err(FetchError::NotAWasmArtifact {
                url: url.to_owned(),
                problem: format!(
                    "the OCI manifest has {} WebAssembly layers; a plugin artifact has exactly one",
                    several.len()
                ),
            });
        }
    };
    // The layer digest is the module's sha256: a wrong pin is known before downloading.
    let layer_digest = super::normalize_digest(&layer.digest);
    if layer.digest.starts_with("sha256:") && layer_digest != expected {
        return Err(FetchError::DigestMismatch {
            url: url.to_owned(),
            expected: expected.to_owned(),
            actual: layer_digest,
        });
    }
    let announced = u64::try_from(layer.size).ok();
    let mut download = Download::new(url, cfg.max_bytes, announced)?;
    let mut stream = client
        .pull_blob_stream(reference, layer)
        .await
        .map_err(|e| registry_error(url, e))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FetchError::Unreachable {
            url: url.to_owned(),
            message: error_chain(&e),
            transient: true,
        })?;
        download.push(&chunk)?;
    }
    download.finish(expected)
}

/// What [`push`] published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedArtifact {
    /// The manifest's URL in the registry.
    pub manifest_url: String,
    /// sha256 of the module (= the layer digest), lower-case hex.
    pub sha256: String,
}

/// Publishes `module` to `reference` (`host[:port]/repository:tag`, no scheme) as a Wasm OCI
/// artifact; `component` is recorded in the artifact's config (world, imports, exports).
pub async fn push(
    cfg: &FetchConfig,
    reference: &str,
    module: Vec<u8>,
    component: serde_json::Value,
    auth: Option<(String, String)>,
) -> Result<PushedArtifact, FetchError> {
    let url = format!("oci://{reference}");
    let r: Reference = reference.parse().map_err(|e| FetchError::InvalidSource {
        url: url.clone(),
        reason: format!("not an OCI reference: {e}"),
    })?;
    if r.digest().is_some() {
        return Err(FetchError::InvalidSource {
            url,
            reason: "push to a tag (host/repository:tag); the digest is computed".to_owned(),
        });
    }
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&module))
    };
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [format!("sha256:{sha256}")],
        "component": component,
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| FetchError::InvalidSource {
        url: url.clone(),
        reason: format!("cannot encode the artifact config: {e}"),
    })?;
    let layers = vec![ImageLayer::new(
        module,
        WASM_LAYER_MEDIA_TYPE.to_owned(),
        None,
    )];
    let config = Config::new(config_bytes, WASM_CONFIG_MEDIA_TYPE.to_owned(), None);
    // The config's media type identifies the artifact (OCI 1.1: no artifactType needed).
    let manifest = OciImageManifest::build(&layers, &config, None);
    let auth = match auth {
        Some((user, password)) => RegistryAuth::Basic(user, password),
        None => RegistryAuth::Anonymous,
    };
    let pushed = client(cfg, &r)
        .push(&r, &layers, config, &auth, Some(manifest))
        .await
        .map_err(|e| registry_error(&url, e))?;
    Ok(PushedArtifact {
        manifest_url: pushed.manifest_url,
        sha256,
    })
}
