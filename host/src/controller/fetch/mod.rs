//! Fetching plugin modules from remote sources: `https://` URLs and `oci://` registries
//! (Kubewarden's policy-fetcher pattern, kept apart from loading and running).
//!
//! Every remote module is pinned: the caller passes the sha256 the module must have, bytes are
//! hashed while they stream in, a download stops at [`FetchConfig::max_bytes`], and nothing
//! that does not match is returned or cached. Verified modules are kept in a cache directory
//! by digest, so a restart or a second WasmPlugin naming the same module does not download it
//! again. Transient failures (connection refused, timeouts, 5xx, 429) are retried a few times
//! with exponential backoff before giving up.
//!
//! Transport security: TLS is required, except that plain `http://` (and plain-HTTP OCI
//! registries) is accepted for loopback hosts (`127.0.0.0/8`, `::1`, `localhost`), where
//! nothing crosses a network. Integrity never depends on the transport: the sha256 pin is
//! mandatory for every remote source. Extra trusted CA certificates (PEM) can be configured for
//! registries and servers with a private CA.

mod oci;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use oci::{PushedArtifact, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, push};

/// Largest module fetched by default (Python components are ~18 MB, JavaScript ~12 MB).
pub const DEFAULT_MAX_BYTES: u64 = 128 << 20;

/// How fetching behaves.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Where verified modules are kept by digest; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Downloads larger than this fail.
    pub max_bytes: u64,
    /// Tries per fetch for transient failures (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    pub backoff: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Longest pause between two reads of a download.
    pub read_timeout: Duration,
    /// Extra trusted CA certificates, PEM.
    pub extra_roots_pem: Vec<Vec<u8>>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            cache_dir: None,
            max_bytes: DEFAULT_MAX_BYTES,
            attempts: 3,
            backoff: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            extra_roots_pem: Vec::new(),
        }
    }
}

/// Why a module could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The source is not a URL or reference this fetcher accepts.
    #[error("invalid source {url}: {reason}")]
    InvalidSource { url: String, reason: String },
    /// The server or registry could not be reached, or answered with an error.
    #[error("cannot fetch {url}: {message}")]
    Unreachable {
        url: String,
        message: String,
        /// Worth trying again soon (network failure, 5xx, 429).
        transient: bool,
    },
    /// The module is larger than the limit.
    #[error("cannot fetch {url}: the module is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// The bytes do not have the pinned digest.
    #[error("{url}: sha256 mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    /// An OCI artifact without exactly one WebAssembly layer.
    #[error("{url}: {problem}; publish the module with `kubestellar plugin push`")]
    NotAWasmArtifact { url: String, problem: String },
    /// The download cache could not be used.
    #[error("plugin download cache {path}: {message}")]
    Cache { path: String, message: String },
}

impl FetchError {
    /// The `Ready` condition reason this failure shows on the WasmPlugin.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::InvalidSource { .. } => "InvalidSpec",
            FetchError::Unreachable { .. } | FetchError::Cache { .. } => "FetchFailed",
            FetchError::TooLarge { .. } => "ModuleTooLarge",
            FetchError::DigestMismatch { .. } => "DigestMismatch",
            FetchError::NotAWasmArtifact { .. } => "NotAWasmArtifact",
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            FetchError::Unreachable {
                transient: true,
                ..
            }
        )
    }
}

/// A parsed remote source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `https://...` (or `http://` to a loopback host).
    Http(reqwest::Url),
    /// `oci://registry[:port]/repository(:tag|@sha256:...)`, without the scheme.
    Oci(oci_client::Reference),
}

impl Source {
    /// Parses `https://...`, `http://...` (loopback only) or `oci://...`.
    pub fn parse(source: &str) -> Result<Source, FetchError> {
        let invalid = |reason: String| FetchError::InvalidSource {
            url: source.to_owned(),
            reason,
        };
        if let Some(reference) = source.strip_prefix("oci://") {
            let r: oci_client::Reference = reference.parse().map_err(|e| {
                invalid(format!(
                    "not an OCI reference (oci://host[:port]/repository:tag or @sha256:...): {e}"
                ))
            })?;
            // The parser defaults a bare name to Docker Hub; a plugin source must name its registry.
            if !reference.starts_with(r.registry()) {
                return Err(invalid(
                    "name the registry explicitly: oci://host[:port]/repository:tag".to_owned(),
                ));
            }
            return Ok(Source::Oci(r));
        }
        let url = reqwest::Url::parse(source).map_err(|e| invalid(format!("not a URL: {e}")))?;
        match url.scheme() {
            "https" => Ok(Source::Http(url)),
            "http" if is_loopback_url(&url) => Ok(Source::Http(url)),
            "http" => Err(invalid(
                "plain http:// is accepted only for loopback hosts; use https://".to_owned(),
            )),
            other => Err(invalid(format!("unsupported scheme {other}://"))),
        }
    }
}

/// True for `127.0.0.0/8`, `::1` and `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback_url(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(is_loopback_host)
}

/// Host part of `host[:port]` (without the brackets of an IPv6 address).
fn registry_host(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(h, _)| h);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// Fetches remote modules; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    cfg: FetchConfig,
    http: reqwest::Client,
}

/// rustls is built without a default crypto provider (so that only `ring`, which kube already
/// uses, is compiled in); install it once per process.
pub(crate) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means a provider is already installed, which is all that is needed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Fetcher {
    /// A fetcher with `cfg`.
    pub fn new(cfg: FetchConfig) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let bad_config = |message: String| FetchError::InvalidSource {
            url: "(fetch configuration)".to_owned(),
            reason: message,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(concat!("kubestellar/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if attempt.url().scheme() != "https" && !is_loopback_url(attempt.url()) {
                    attempt.error("refusing a redirect to a plain-http, non-loopback URL")
                } else {
                    attempt.follow()
                }
            }));
        for pem in &cfg.extra_roots_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| bad_config(format!("invalid CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| bad_config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Fetcher { cfg, http })
    }

    /// The configuration.
    pub fn config(&self) -> &FetchConfig {
        &self.cfg
    }

    /// Fetches `source` (https/http-loopback/oci), which must have sha256 `expected` (hex,
    /// optionally prefixed `sha256:`): from the cache if there, else downloaded, verified and
    /// cached.
    pub async fn fetch(&self, source: &str, expected: &str) -> Result<Vec<u8>, FetchError> {
        let parsed = Source::parse(source)?;
        let expected = normalize_digest(expected);
        if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::InvalidSource {
                url: source.to_owned(),
                reason: format!("spec.sha256 {expected:?} is not a hex sha256 digest"),
            });
        }
        if let Some(bytes) = self.cached(&expected)? {
            tracing::debug!(source, "plugin module taken from the download cache");
            return Ok(bytes);
        }
        let mut attempt = 0;
        let bytes = loop {
            attempt += 1;
            let result = match &parsed {
                Source::Http(url) => self.fetch_http(source, url, &expected).await,
                Source::Oci(r) => oci::pull(&self.cfg, source, r, &expected).await,
            };
            match result {
                Err(e) if e.is_transient() && attempt < self.cfg.attempts.max(1) => {
                    let wait = self.cfg.backoff.saturating_mul(1 << (attempt - 1).min(16));
                    tracing::debug!(source, attempt, error = %e, "fetch failed; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                other => break other?,
            }
        };
        self.store(&expected, &bytes)?;
        Ok(bytes)
    }

    async fn fetch_http(
        &self,
        source: &str,
        url: &reqwest::Url,
        expected: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let unreachable = |e: &reqwest::Error| FetchError::Unreachable {
            url: source.to_owned(),
            message: error_chain(e),
            transient: e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
        };
        let mut response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Unreachable {
                url: source.to_owned(),
                message: format!("HTTP {status}"),
                transient: status.is_server_error() || status.as_u16() == 429,
            });
        }
        let mut download = Download::new(source, self.cfg.max_bytes, response.content_length())?;
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&e))? {
            download.push(&chunk)?;
        }
        download.finish(expected)
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        self.cfg
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("sha256-{digest}.wasm")))
    }

    /// A cached module, re-verified (a corrupt entry is ignored and replaced later).
    fn cached(&self, digest: &str) -> Result<Option<Vec<u8>>, FetchError> {
        let Some(path) = self.cache_path(digest) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == digest => Ok(Some(bytes)),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "ignoring a corrupt cached plugin module");
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(cache_error(&path, &e)),
        }
    }

    /// Stores a verified module; failing to store only logs (the module is still usable).
    fn store(&self, digest: &str, bytes: &[u8]) -> Result<(), FetchError> {
        let Some(path) = self.cache_path(digest) else {
            return Ok(());
        };
        if let Err(e) = write_atomically(&path, bytes) {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache a downloaded plugin module");
        }
        Ok(())
    }
}

fn cache_error(path: &Path, e: &std::io::Error) -> FetchError {
    FetchError::Cache {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module")
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Accepts `abc…`, `sha256:abc…` and upper case.
pub fn normalize_digest(d: &str) -> String {
    let d = d.trim();
    d.strip_prefix("sha256:").unwrap_or(d).to_ascii_lowercase()
}

/// Bytes arriving in chunks: hashed as they come, capped at a size.
pub(crate) struct Download {
    url: String,
    limit: u64,
    bytes: Vec<u8>,
    hasher: Sha256,
}

impl Download {
    /// Starts a download; fails at once when the announced length is over the limit.
    pub(crate) fn new(
        url: &str,
        limit: u64,
        announced: Option<u64>,
    ) -> Result<Download, FetchError> {
        if announced.is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let capacity = announced.unwrap_or(0).min(limit);
        Ok(Download {
            url: url.to_owned(),
            limit,
            bytes: Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)),
            hasher: Sha256::new(),
        })
    }

    /// Adds a chunk.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        if (self.bytes.len() + chunk.len()) as u64 > self.limit {
            return Err(FetchError::TooLarge {
                url: self.url.clone(),
                limit: self.limit,
            });
        }
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes, if their sha256 is `expected`.
    pub(crate) fn finish(self, expected: &str) -> Result<Vec<u8>, FetchError> {
        let actual = hex::encode(self.hasher.finalize());
        if actual != expected {
            return Err(FetchError::DigestMismatch {
                url: self.url,
                expected: expected.to_owned(),
                actual,
            });
        }
        Ok(self.bytes)
    }
}

/// An error and its causes on one line (reqwest hides the interesting part in `source()`).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_parsed_and_plain_http_is_loopback_only() {
        assert!(matches!(
            Source::parse("https://example.com/p.wasm"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            Source::parse("http://127.0.0.1:8080/p.wasm"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            Source::parse("http://[::1]:8080/p.wasm"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            Source::parse("http://localhost/p.wasm"),
            Ok(Source::Http(_))
        ));
        let err = Source::parse("http://example.com/p.wasm").err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("only for loopback")),
            "{err:?}"
        );
        assert_eq!(err.map(|e| e.reason()), Some("InvalidSpec"));
        assert!(Source::parse("ftp://example.com/p.wasm").is_err());
        match Source::parse("oci://127.0.0.1:5000/plugins/x:v1") {
            Ok(Source::Oci(r)) => {
                assert_eq!(r.registry(), "127.0.0.1:5000");
                assert_eq!(r.repository(), "plugins/x");
                assert_eq!(r.tag(), Some("v1"));
            }
            other => panic!("{other:?}"),
        }
        let pinned = format!("oci://ghcr.io/a/b@sha256:{}", "a".repeat(64));
        assert!(matches!(Source::parse(&pinned), Ok(Source::Oci(r)) if r.digest().is_some()));
        assert!(Source::parse("oci://just-a-name").is_err());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.8.9.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("LOCALHOST"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("example.com"));
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(registry_host("[::1]:5000"), "::1");
        assert!(is_loopback_host(registry_host("[::1]:5000")));
        assert_eq!(registry_host("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn downloads_are_hashed_and_capped() {
        let digest = hex::encode(Sha256::digest(b"hello world"));
        let mut d = Download::new("u", 11, None).map_err(|e| e.to_string());
        if let Ok(d) = &mut d {
            assert!(d.push(b"hello ").is_ok());
            assert!(d.push(b"world").is_ok());
        }
        let bytes = d.and_then(|d| d.finish(&digest).map_err(|e| e.to_string()));
        assert_eq!(bytes.as_deref(), Ok(&b"hello world"[..]));

        let mut d = Download::new("u", 10, None).map_err(|e| e.to_string());
        let over = d.as_mut().map(|d| d.push(b"hello world"));
        assert!(matches!(
            over,
            Ok(Err(FetchError::TooLarge { limit: 10, .. }))
        ));
        assert!(matches!(
            Download::new("u", 10, Some(11)),
            Err(FetchError::TooLarge { .. })
        ));

        let d = Download::new("u", 100, None).map_err(|e| e.to_string());
        let wrong = d.map(|d| d.finish(&"0".repeat(64)));
        assert!(
            matches!(&wrong, Ok(Err(FetchError::DigestMismatch { actual, .. })) if *actual == hex::encode(Sha256::digest(b""))),
            "{wrong:?}"
        );
    }

    #[tokio::test]
    async fn bad_pins_and_cache_hits() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let f = Fetcher::new(FetchConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..FetchConfig::default()
        })
        .map_err(|e| e.to_string());
        let Ok(f) = f else { panic!("fetcher") };
        let e = f.fetch("https://example.invalid/p.wasm", "abc").await.err();
        assert!(
            e.as_ref().is_some_and(
                |e| e.reason() == "InvalidSpec" && e.to_string().contains("not a hex sha256")
            ),
            "{e:?}"
        );
        // A cached module is served without any network access (the host does not exist).
        let digest = hex::encode(Sha256::digest(b"module"));
        assert!(
            write_atomically(&dir.path().join(format!("sha256-{digest}.wasm")), b"module").is_ok()
        );
        let got = f
            .fetch(
                "https://example.invalid/p.wasm",
                &format!("sha256:{digest}"),
            )
            .await;
        assert_eq!(got.as_deref(), Ok(&b"module"[..]));
        // A corrupt entry is not trusted: the fetch goes to the network (and fails here).
        let other = hex::encode(Sha256::digest(b"other"));
        assert!(
            write_atomically(
                &dir.path().join(format!("sha256-{other}.wasm")),
                b"tampered"
            )
            .is_ok()
        );
        let got = f.fetch("http://127.0.0.1:9/p.wasm", &other).await;
        assert!(
            matches!(
                &got,
                Err(FetchError::Unreachable {
                    transient: true,
                    ..
                })
            ),
            "{got:?}"
        );
    }
}
