//! Security of a space: TLS with a per-space CA, authentication (bearer tokens from a token
//! file, client certificates signed by the space CA) and authorization by the RBAC objects
//! stored in the space itself.

pub mod attributes;
pub mod authn;
pub mod bound;
mod files;
pub mod pki;
pub mod rbac;
pub mod review;
pub(crate) mod tls;
pub mod tokens;

use std::path::{Path, PathBuf};

pub use attributes::Attributes;
pub use authn::UserInfo;
pub use pki::{ClientCredential, Pki};
pub use rbac::Decision;
pub use tokens::TokenStore;

/// Whether a space serves plain HTTP to anyone or HTTPS to authenticated, authorized callers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Security {
    /// Plain HTTP, no authentication, every request allowed (embedded spaces, tests).
    #[default]
    Insecure,
    /// HTTPS with the space's CA, token and client-certificate authentication, RBAC.
    Secure,
}

/// The group whose members may do everything, as in kube-apiserver.
pub const MASTERS_GROUP: &str = "system:masters";
/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The user name of the admin identity created at first start.
pub const ADMIN_USER: &str = "kubestellar-admin";

/// Errors setting up or using a space's security material.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A certificate or key could not be generated or parsed.
    #[error("certificate {what}: {message}")]
    Certificate {
        /// Which certificate.
        what: String,
        /// Why.
        message: String,
    },
    /// The token file is malformed.
    #[error("token file {path}, line {line}: {message}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An identity cannot be represented (empty name, a newline in a name...).
    #[error("invalid identity: {0}")]
    InvalidIdentity(String),
    /// The operation needs a secure space.
    #[error("the space is insecure: it has no CA, tokens or certificates")]
    Insecure,
}

/// The security state of a secure space: its CA, its tokens, its authorizer.
pub struct Auth {
    /// The space's certificate authority and the certificates it issued.
    pub pki: Pki,
    /// Bearer tokens.
    pub tokens: TokenStore,
    /// TokenRequest tokens, bound to a ServiceAccount and an expiry.
    pub bound: bound::BoundTokens,
    /// The RBAC authorizer (a cache over the store's RBAC objects).
    pub rbac: rbac::Authorizer,
}

impl Auth {
    /// Loads the security material of a space from `data_dir`, creating what is missing
    /// (CA, admin client certificate, empty token file).
    pub fn open(name: &str, data_dir: &Path) -> Result<Auth, SecurityError> {
        let pki = Pki::open(name, &data_dir.join("pki"))?;
        let tokens = TokenStore::open(&data_dir.join("tokens.csv"))?;
        let bound = bound::BoundTokens::open(&data_dir.join("serviceaccount-tokens.json"))?;
        Ok(Auth {
            pki,
            tokens,
            bound,
            rbac: rbac::Authorizer::default(),
        })
    }
}
