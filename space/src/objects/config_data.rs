//! What kube-apiserver checks of ConfigMaps and Secrets beyond their schema
//! (`ValidateConfigMap`, `ValidateSecret` and their `...Update` forms): base64 values, key
//! names, the 1 MiB size limit, `immutable`, a Secret's type and the keys each type requires.

use base64::Engine;
use kubestellar_apimachinery::validation::{FieldError, is_config_map_key, key_path};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// `core.MaxSecretSize`: the most a ConfigMap's or a Secret's values may hold, in bytes.
const MAX_SIZE: usize = 1 << 20;

const IMMUTABLE: &str = "field is immutable when `immutable` is set";

/// Checks a ConfigMap; a `binaryData` value that is not base64 is a 400, as kube's decoder
/// makes it.
pub(super) fn validate_config_map(old: Option<&Value>, obj: &Value) -> ApiResult<Vec<FieldError>> {
    let data = map(obj, "data");
    let binary = map(obj, "binaryData");
    let mut errs = immutable_update(old, obj, &["data", "binaryData"]);
    let mut total = 0;
    for (key, value) in data {
        keys(&mut errs, "data", key);
        if binary.contains_key(key) {
            errs.push(FieldError::invalid(
                key_path("data", key),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in binary {
        keys(&mut errs, "binaryData", key);
        total += decoded_len(value, "ConfigMap")?;
    }
    if total > MAX_SIZE {
        // kube passes the root path: "[]".
        errs.push(FieldError::too_long("[]", MAX_SIZE));
    }
    Ok(errs)
}

/// Checks a Secret (after `stringData` was merged into `data` and `type` defaulted).
pub(super) fn validate_secret(old: Option<&Value>, obj: &Value) -> ApiResult<Vec<FieldError>> {
    let data = map(obj, "data");
    let mut errs = immutable_update(old, obj, &["data"]);
    // An absent type is Opaque (kube defaults it when it reads the object).
    let type_of = |s: &Value| s["type"].as_str().unwrap_or("Opaque").to_owned();
    if let Some(old) = old
        && type_of(old) != type_of(obj)
    {
        errs.push(FieldError::invalid(
            "type",
            obj["type"].clone(),
            "field is immutable",
        ));
    }
    let mut total = 0;
    let mut ssh_key_len = 0;
    for (key, value) in data {
        keys(&mut errs, "data", key);
        let n = decoded_len(value, "Secret")?;
        if key == "ssh-privatekey" {
            ssh_key_len = n;
        }
        total += n;
    }
    if total > MAX_SIZE {
        errs.push(FieldError::too_long("data", MAX_SIZE));
    }
    let required = |errs: &mut Vec<FieldError>, key: &str| {
        errs.push(FieldError::required(key_path("data", key), ""));
    };
    match obj["type"].as_str().unwrap_or_default() {
        "kubernetes.io/service-account-token" => {
            let annotation = "kubernetes.io/service-account.name";
            if obj["metadata"]["annotations"][annotation]
                .as_str()
                .is_none_or(str::is_empty)
            {
                errs.push(FieldError::required(
                    key_path("metadata.annotations", annotation),
                    "",
                ));
            }
        }
        ty @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(key).and_then(Value::as_str) {
                None => required(&mut errs, key),
                Some(encoded) => {
                    let bytes = decode(encoded).unwrap_or_default();
                    if let Err(e) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
                        errs.push(FieldError::invalid(
                            key_path("data", key),
                            "<secret contents redacted>",
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        // Either may be empty, but one must be there.
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            required(&mut errs, "username");
            required(&mut errs, "password");
        }
        "kubernetes.io/ssh-auth" if ssh_key_len == 0 => {
            required(&mut errs, "ssh-privatekey");
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    required(&mut errs, key);
                }
            }
        }
        _ => {}
    }
    Ok(errs)
}

/// `immutable: true` freezes `fields` and itself.
fn immutable_update(old: Option<&Value>, obj: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(old) = old.filter(|o| o["immutable"] == Value::Bool(true)) else {
        return errs;
    };
    if obj["immutable"] != Value::Bool(true) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE));
    }
    for field in fields {
        if old.get(*field) != obj.get(*field) {
            errs.push(FieldError::forbidden(*field, IMMUTABLE));
        }
    }
    errs
}

fn map<'a>(obj: &'a Value, field: &str) -> &'a Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    obj.get(field).and_then(Value::as_object).unwrap_or(&EMPTY)
}

fn keys(errs: &mut Vec<FieldError>, field: &str, key: &str) {
    for msg in is_config_map_key(key) {
        errs.push(FieldError::invalid(key_path(field, key), key, msg));
    }
}

/// Go's `base64.StdEncoding`, which skips line breaks.
fn decode(encoded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = encoded
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(compact)
}

/// The length of a base64 value, or the 400 kube's decoder gives for one that is not base64.
fn decoded_len(value: &Value, kind: &str) -> ApiResult<usize> {
    let Some(encoded) = value.as_str() else {
        return Ok(0);
    };
    decode(encoded).map(|b| b.len()).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => at,
            base64::DecodeError::InvalidLength(len) => len,
            base64::DecodeError::InvalidPadding => encoded.len(),
        };
        ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: illegal base64 data at input byte {at}"
        ))
    })
}
