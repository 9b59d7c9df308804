//! The TLS server configuration of a secure space: its serving certificate, HTTP/2 and
//! HTTP/1.1 by ALPN, and optional client certificates verified against the space CA.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;

use super::{Pki, SecurityError};

fn err(e: impl std::fmt::Display) -> SecurityError {
    SecurityError::Certificate {
        what: "tls".into(),
        message: e.to_string(),
    }
}

/// A TLS acceptor for `pki`'s serving certificate covering `sans`.
pub(crate) fn acceptor(
    pki: &Pki,
    sans: &[String],
) -> Result<tokio_rustls::TlsAcceptor, SecurityError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key) = pki.serving(sans)?;
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der().clone()).map_err(err)?;
    // A certificate is optional (token callers have none), but one that is sent must verify.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(err)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
