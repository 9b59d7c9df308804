//! Authentication: who a request comes from, by its verified client certificate (CN = user,
//! O = groups) or its bearer token.

use std::sync::Arc;

use http::{HeaderMap, header};

use super::{AUTHENTICATED_GROUP, Auth};
use crate::error::ApiError;

/// An authenticated identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (`system:serviceaccount:NS:NAME` for service accounts).
    pub name: String,
    /// A stable id.
    pub uid: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user name of service account `name` in `namespace`.
    pub fn service_account_name(namespace: &str, name: &str) -> String {
        format!("system:serviceaccount:{namespace}:{name}")
    }

    /// `(namespace, name)` when this is a service account's user name.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let rest = self.name.strip_prefix("system:serviceaccount:")?;
        let (ns, name) = rest.split_once(':')?;
        (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
    }

    /// Adds the groups kube-apiserver adds to every authenticated identity:
    /// `system:authenticated`, and for service accounts `system:serviceaccounts` and
    /// `system:serviceaccounts:NS`.
    fn with_implied_groups(mut self) -> UserInfo {
        let mut add = vec![AUTHENTICATED_GROUP.to_string()];
        if let Some((ns, _)) = self.service_account() {
            add.push("system:serviceaccounts".into());
            add.push(format!("system:serviceaccounts:{ns}"));
        }
        for g in add {
            if !self.groups.contains(&g) {
                self.groups.push(g);
            }
        }
        self
    }
}

/// The identity of a connection's verified client certificate, attached to each request of
/// that connection by the accept loop (`None`: no certificate).
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity(pub Option<Arc<UserInfo>>);

/// The identity named by a client certificate the TLS layer verified against the space CA.
pub(crate) fn from_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = c
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    if name.is_empty() {
        return None;
    }
    let groups = c
        .subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(String::from)
        .collect();
    Some(UserInfo {
        uid: String::new(),
        name,
        groups,
    })
}

/// 401 as kube-apiserver answers it.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// Authenticates a request: its client certificate first, then its bearer token. No
/// credential, or a bad one, is a 401 (anonymous requests are not allowed). A TokenRequest
/// token counts only while `service_account_uid(namespace, name)` (the current uid of its
/// ServiceAccount, `None` when there is none) is the uid it was issued for.
pub fn authenticate(
    auth: &Auth,
    headers: &HeaderMap,
    peer: Option<&PeerIdentity>,
    service_account_uid: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<UserInfo, ApiError> {
    if let Some(PeerIdentity(Some(u))) = peer {
        return Ok(u.as_ref().clone().with_implied_groups());
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    if let Some(user) = auth.tokens.authenticate(token) {
        return Ok(user.with_implied_groups());
    }
    let sa = auth.bound.authenticate(token).ok_or_else(unauthorized)?;
    if service_account_uid(&sa.namespace, &sa.name).as_deref() != Some(sa.uid.as_str()) {
        return Err(unauthorized());
    }
    Ok(UserInfo {
        name: UserInfo::service_account_name(&sa.namespace, &sa.name),
        uid: sa.uid,
        groups: Vec::new(),
    }
    .with_implied_groups())
}
