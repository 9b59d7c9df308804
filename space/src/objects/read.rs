//! Reads: get, and list with label/field selectors and `limit`/`continue` pagination.

use kubestellar_apimachinery::selectors::{self, FieldSelector, LabelSelector};
use serde_json::Value;

use super::continuation::Token;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::request::Query;
use crate::space::Space;
use crate::store::{ObjectKey, StoredObject};

/// Parsed list/watch options.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector`
    pub label_selector: Option<LabelSelector>,
    /// `fieldSelector`
    pub field_selector: Option<FieldSelector>,
    /// `limit` (0: everything).
    pub limit: usize,
    /// `continue`
    pub continue_token: Option<Token>,
}

/// A page of a list.
pub struct ListResult {
    /// The page's objects.
    pub items: Vec<StoredObject>,
    /// The list's resourceVersion (the first page's, for continued lists).
    pub rv: u64,
    /// The token of the next page.
    pub continue_token: Option<String>,
    /// Items after this page.
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
        let continue_token = match q.get("continue").filter(|c| !c.is_empty()) {
            Some(c) => Some(Token::decode(c)?),
            None => None,
        };
        Ok(ListOptions {
            label_selector,
            field_selector,
            limit,
            continue_token,
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
        let gr = r.group_resource();
        let (cut, rv) = match &opts.continue_token {
            Some(t) => (
                self.continuations
                    .next_page(&gr, namespace, t, opts.limit)?,
                t.rv,
            ),
            None => {
                let all = self
                    .store
                    .list(&gr, namespace, None, 0, &|o| opts.matches(r, o));
                let rv = all.rv;
                (
                    self.continuations
                        .first_page(&gr, namespace, rv, all.items, opts.limit),
                    rv,
                )
            }
        };
        Ok(ListResult {
            items: cut.items,
            rv,
            continue_token: cut.next.map(|t| t.encode()),
            remaining: cut.remaining,
        })
    }
}
