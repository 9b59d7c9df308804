//! Access reviews (`authorization.k8s.io/v1`): SelfSubjectAccessReview and SubjectAccessReview
//! answered by the space's authorizer, SelfSubjectRulesReview listing the caller's rules; and
//! `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`) naming the caller.

use serde_json::{Value, json};

use super::attributes::Attributes;
use super::authn::UserInfo;
use super::{Auth, Decision};
use crate::store::Store;

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The attributes a review's `spec` asks about, for `user`.
pub fn spec_attributes(spec: &Value, user: UserInfo) -> Attributes {
    if let Some(r) = spec["resourceAttributes"].as_object() {
        let r = Value::Object(r.clone());
        Attributes {
            user,
            verb: s(&r["verb"]),
            resource_request: true,
            namespace: s(&r["namespace"]),
            api_group: s(&r["group"]),
            api_version: s(&r["version"]),
            resource: s(&r["resource"]),
            subresource: s(&r["subresource"]),
            name: s(&r["name"]),
            path: String::new(),
        }
    } else {
        let n = &spec["nonResourceAttributes"];
        Attributes {
            user,
            verb: s(&n["verb"]),
            path: s(&n["path"]),
            ..Default::default()
        }
    }
}

/// Fills in the `status` of a review object `body` of `kind` created by `caller`.
pub fn answer(auth: &Auth, store: &Store, kind: &str, caller: &UserInfo, body: &mut Value) {
    let spec = body["spec"].clone();
    match kind {
        "SelfSubjectReview" => {
            let mut info = json!({"username": caller.name, "groups": caller.groups});
            if !caller.uid.is_empty() {
                info["uid"] = json!(caller.uid);
            }
            body["status"] = json!({"userInfo": info});
        }
        "SelfSubjectRulesReview" => {
            let ns = s(&spec["namespace"]);
            let (res, non) = auth.rbac.rules_for(store, caller, &ns);
            body["status"] =
                json!({"resourceRules": res, "nonResourceRules": non, "incomplete": false});
        }
        "SubjectAccessReview" => {
            let user = UserInfo {
                name: s(&spec["user"]),
                uid: s(&spec["uid"]),
                groups: spec["groups"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|g| g.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let d = auth.rbac.authorize(store, &spec_attributes(&spec, user));
            body["status"] = status(&d);
        }
        _ => {
            let d = auth
                .rbac
                .authorize(store, &spec_attributes(&spec, caller.clone()));
            body["status"] = status(&d);
        }
    }
}

fn status(d: &Decision) -> Value {
    let mut v = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        v["reason"] = json!(d.reason);
    }
    v
}
