//! Reads: get, and list with label/field selectors and `limit`/`continue` pagination.

use base64::Engine;
use kubestellar_apimachinery::selectors::{self, FieldSelector, LabelSelector};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::request::Query;
use crate::space::Space;
use crate::store::{ObjectKey, StoredObject};

/// Parsed list/watch options.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub label_selector: Option<LabelSelector>,
    pub field_selector: Option<FieldSelector>,
    pub limit: usize,
    /// (namespace, name) to continue after, and the resourceVersion of the first page.
    pub continue_after: Option<(String, String, u64)>,
}

/// A page of a list.
pub struct ListResult {
    pub items: Vec<StoredObject>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

impl ListOptions {
    /// Reads `labelSelector`, `fieldSelector`, `limit` and `continue`, checking that the field
    /// selector only uses fields the resource supports.
    pub fn parse(q: &Query, r: &ResourceInfo) -> ApiResult<ListOptions> {
        let label_selector =
            match q.get("labelSelector").filter(|s| !s.trim().is_empty()) {
                Some(s) => Some(selectors::parse_label_selector(s).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?),
                None => None,
            };
        let field_selector = match q.get("fieldSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let fs = selectors::parse_field_selector(s)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                for f in fs.fields() {
                    if !field_supported(r, f) {
                        return Err(ApiError::bad_request(format!(
                            "field label not supported: {f}"
                        )));
                    }
                }
                Some(fs)
            }
            None => None,
        };
        let limit = q.uint("limit")?.unwrap_or(0) as usize;
        let continue_after = match q.get("continue").filter(|c| !c.is_empty()) {
            Some(c) => Some(decode_continue(c)?),
            None => None,
        };
        Ok(ListOptions {
            label_selector,
            field_selector,
            limit,
            continue_after,
        })
    }

    /// True if the stored object passes both selectors.
    pub fn matches(&self, r: &ResourceInfo, obj: &StoredObject) -> bool {
        if let Some(ls) = &self.label_selector
            && !ls.matches(&obj.meta.labels)
        {
            return false;
        }
        if let Some(fs) = &self.field_selector {
            let v = obj.value();
            return fs.matches(&|field: &str| field_value(r, &v, field));
        }
        true
    }
}

/// Field selectors a resource accepts (metadata.name and metadata.namespace everywhere).
fn field_supported(r: &ResourceInfo, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    let extra: &[&str] = match (r.group.as_str(), r.resource.as_str()) {
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        _ => &[],
    };
    extra.contains(&field)
}

/// The string value of a selectable field.
fn field_value(_r: &ResourceInfo, v: &Value, field: &str) -> Option<String> {
    let mut cur = v;
    for seg in field.split('.') {
        cur = cur.get(seg)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn encode_continue(ns: &str, name: &str, rv: u64) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{ns}/{name}")}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<(String, String, u64)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v["start"].as_str().ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((
        ns.to_string(),
        name.to_string(),
        v["rv"].as_u64().ok_or_else(bad)?,
    ))
}

impl Space {
    /// One object.
    pub fn get_object(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> ApiResult<StoredObject> {
        self.store
            .get(&ObjectKey::new(&r.group_resource(), namespace, name))
            .ok_or_else(|| ApiError::not_found(&r.group, &r.resource, name))
    }

    /// A page of objects (namespace `None` = all namespaces).
    pub fn list_objects(
        &self,
        r: &ResourceInfo,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListResult> {
        let after = opts
            .continue_after
            .as_ref()
            .map(|(ns, n, _)| (ns.as_str(), n.as_str()));
        let page = self
            .store
            .list(&r.group_resource(), namespace, after, opts.limit, &|o| {
                opts.matches(r, o)
            });
        // A continued list reports the resourceVersion of its first page, like a snapshot.
        let rv = opts
            .continue_after
            .as_ref()
            .map(|(_, _, rv)| *rv)
            .unwrap_or(page.rv);
        let continue_token = match (page.remaining, page.items.last()) {
            (Some(_), Some(last)) => {
                let v = last.value();
                let ns = v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                Some(encode_continue(&ns, &name, rv))
            }
            _ => None,
        };
        Ok(ListResult {
            items: page.items,
            rv,
            continue_token,
            remaining: page.remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue("ns1", "cm-3", 42);
        assert_eq!(
            decode_continue(&t).ok(),
            Some(("ns1".into(), "cm-3".into(), 42))
        );
        assert!(decode_continue("garbage!").is_err());
    }
}
