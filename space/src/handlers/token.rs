//! `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (TokenRequest, what `kubectl create
//! token` sends): a bearer token for the service account's identity, as kube-apiserver issues
//! it: valid for `spec.expirationSeconds` (default one hour, at least ten minutes: the space's
//! `token_min_expiration`), and bound to the ServiceAccount object, so that deleting it (or
//! re-creating it, a new uid) revokes the token.

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::json_response;
use crate::error::Cause;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::security::bound::BoundServiceAccount;
use crate::space::Space;

/// `spec.expirationSeconds` when the request names none (kube-apiserver's default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The longest: 2^32 seconds, kube-apiserver's validation limit.
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

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
    let expiration = match body.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| invalid(name, v, "must be an integer"))?,
    };
    let min = space.config.token_min_expiration.as_secs() as i64;
    if expiration < min {
        let minutes = min / 60;
        let bound = if min % 60 == 0 && minutes > 0 {
            format!("{minutes} minutes")
        } else {
            format!("{min} seconds")
        };
        return Err(invalid(
            name,
            &json!(expiration),
            &format!("may not specify a duration less than {bound}"),
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            &json!(expiration),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let sa = space.get_object(serviceaccounts, namespace, name)?.value();
    let uid = sa["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let auth = space
        .auth
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("the space is insecure: it issues no tokens"))?;
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(expiration);
    let token = auth
        .bound
        .issue(
            BoundServiceAccount {
                namespace: namespace.to_string(),
                name: name.to_string(),
                uid,
            },
            expires_at.timestamp(),
        )
        .map_err(ApiError::internal)?;
    let expires = expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
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
    answer["spec"]["expirationSeconds"] = json!(expiration);
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// 422 on `spec.expirationSeconds`, worded as kube-apiserver words it.
fn invalid(name: &str, value: &Value, message: &str) -> ApiError {
    ApiError::invalid(
        "authentication.k8s.io",
        "tokenrequests",
        "TokenRequest",
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {message}"),
            field: "spec.expirationSeconds".into(),
        }],
    )
}
