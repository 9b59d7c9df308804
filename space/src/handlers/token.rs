//! `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (TokenRequest, what `kubectl create
//! token` sends): a bearer token for the service account's identity, issued into the space's
//! token file. Tokens of the embedded space do not expire; the answer says so with an
//! expiration a century away rather than pretending to honour `expirationSeconds`.

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::json_response;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::security::UserInfo;
use crate::space::Space;

/// How far away the reported expiration is (tokens here never expire).
const NEVER_SECONDS: i64 = 100 * 365 * 24 * 3600;

/// Issues a token for service account `namespace/name`, which must exist.
pub fn serve(
    space: &Arc<Space>,
    serviceaccounts: &ResourceInfo,
    namespace: &str,
    name: &str,
    body: Value,
) -> ApiResult<Response> {
    if body
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "TokenRequest")
    {
        return Err(ApiError::bad_request(format!(
            "expected a TokenRequest, got {}",
            body["kind"]
        )));
    }
    space.get_object(serviceaccounts, namespace, name)?;
    let user = UserInfo::service_account_name(namespace, name);
    let token = space
        .issue_token(&user, &[])
        .map_err(|e| ApiError::bad_request(format!("cannot issue a token for {user}: {e}")))?;
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(NEVER_SECONDS))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut answer = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": {"token": token, "expirationTimestamp": expires},
    });
    if answer["spec"]["audiences"].is_null() {
        answer["spec"]["audiences"] = json!([]);
    }
    Ok(json_response(StatusCode::CREATED, &answer))
}
