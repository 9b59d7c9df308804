//! Service-account tokens issued by TokenRequest (`kubectl create token`): bound to one
//! ServiceAccount object (its uid) and to an expiry, as kube-apiserver's tokens are. Such a
//! token stops authenticating when it expires or when its ServiceAccount is deleted (or
//! re-created: a new uid). Kept in `DIR/serviceaccount-tokens.json` (mode 0600) so they survive
//! restarts; expired ones are dropped whenever a token is issued.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::{SecurityError, files};

/// The shortest validity kube-apiserver lets a TokenRequest ask for (ten minutes).
pub const MIN_EXPIRATION_SECONDS: u64 = 600;

/// The ServiceAccount a token is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundServiceAccount {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its `metadata.uid` when the token was issued.
    pub uid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    token: String,
    sa: BoundServiceAccount,
    /// Unix seconds.
    expires: i64,
}

/// The TokenRequest tokens of one space.
pub struct BoundTokens {
    path: PathBuf,
    by_token: RwLock<HashMap<String, Entry>>,
}

impl BoundTokens {
    /// Loads the tokens file (absent: none).
    pub fn open(path: &Path) -> Result<BoundTokens, SecurityError> {
        let entries: Vec<Entry> = match files::read_optional(path)? {
            Some(text) if !text.trim().is_empty() => {
                serde_json::from_str(&text).map_err(|e| SecurityError::TokenFile {
                    path: path.to_path_buf(),
                    line: e.line(),
                    message: e.to_string(),
                })?
            }
            _ => Vec::new(),
        };
        Ok(BoundTokens {
            path: path.to_path_buf(),
            by_token: RwLock::new(entries.into_iter().map(|e| (e.token.clone(), e)).collect()),
        })
    }

    /// Issues a token for `sa` valid until `expires` (unix seconds).
    pub fn issue(&self, sa: BoundServiceAccount, expires: i64) -> Result<String, SecurityError> {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = chrono::Utc::now().timestamp();
        let mut map = self.by_token.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| e.expires > now);
        map.insert(
            token.clone(),
            Entry {
                token: token.clone(),
                sa,
                expires,
            },
        );
        let mut all: Vec<&Entry> = map.values().collect();
        all.sort_by(|a, b| a.expires.cmp(&b.expires).then(a.token.cmp(&b.token)));
        let text = serde_json::to_vec_pretty(&all).map_err(|e| SecurityError::TokenFile {
            path: self.path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        if let Err(e) = files::write(&self.path, &text, true) {
            map.remove(&token);
            return Err(e);
        }
        Ok(token)
    }

    /// The ServiceAccount of an unexpired token; `None` for unknown or expired tokens.
    pub fn authenticate(&self, token: &str) -> Option<BoundServiceAccount> {
        let map = self.by_token.read().unwrap_or_else(|e| e.into_inner());
        let e = map.get(token)?;
        (chrono::Utc::now().timestamp() < e.expires).then(|| e.sa.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_tokens_fail_and_tokens_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.json");
        let store = BoundTokens::open(&path).expect("open");
        let sa = BoundServiceAccount {
            namespace: "ns".into(),
            name: "sa".into(),
            uid: "u1".into(),
        };
        let now = chrono::Utc::now().timestamp();
        let live = store.issue(sa.clone(), now + 600).expect("issue");
        let dead = store.issue(sa.clone(), now - 1).expect("issue");
        assert_eq!(store.authenticate(&live), Some(sa.clone()));
        assert_eq!(store.authenticate(&dead), None);
        assert_eq!(store.authenticate("nope"), None);
        let again = BoundTokens::open(&path).expect("reopen");
        assert_eq!(again.authenticate(&live), Some(sa.clone()));
        // Issuing drops expired tokens from the file.
        store.issue(sa, now + 5).expect("issue");
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(text.contains(&live) && !text.contains(&dead), "{text}");
    }
}
