//! Apply errors, with kube-apiserver's conflict message and `Status` causes (kubectl prints the
//! message after `Error from server (Conflict):`).

use serde_json::{Value, json};

use super::managed::ManagerId;

/// A field of the applied configuration that another manager owns with a different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name (`kubectl-client-side-apply`).
    pub manager: String,
    /// Its operation: `Apply` or `Update`.
    pub operation: String,
    /// Its API version (shown for updaters only).
    pub api_version: String,
    /// Its subresource, if it wrote one (`status`).
    pub subresource: Option<String>,
    /// The field as kube prints paths (`.spec.replicas`, `.spec.ports[port=80,protocol="TCP"]`).
    pub field: String,
}

impl Conflict {
    pub(crate) fn new(id: &ManagerId, api_version: &str, field: String) -> Conflict {
        Conflict {
            manager: id.manager.clone(),
            operation: id.operation.clone(),
            api_version: api_version.to_string(),
            subresource: (!id.subresource.is_empty()).then(|| id.subresource.clone()),
            field,
        }
    }

    fn id(&self) -> ManagerId {
        let sub = self.subresource.as_deref().unwrap_or_default();
        if self.operation == super::managed::APPLY {
            ManagerId::apply(&self.manager, sub)
        } else {
            ManagerId::update(&self.manager, &self.api_version, sub)
        }
    }

    /// The manager as kube prints it: `"kubectl"`, `"x" using apps/v1`,
    /// `"x" with subresource "status" using apps/v1`.
    pub fn manager_description(&self) -> String {
        self.id().describe()
    }

    /// The cause message: `conflict with "x" using apps/v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }
}

/// Why an apply was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (HTTP 409 unless `force`).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request itself is malformed (HTTP 400): not an object, or it sets managedFields.
    #[error("{0}")]
    BadRequest(String),
    /// The configuration does not fit the schema: a list item without its key fields, duplicate
    /// keys (kube answers 500 with this text).
    #[error("failed to create typed patch object: {0}")]
    InvalidConfig(String),
    /// The live object's managedFields cannot be decoded (kube answers 500).
    #[error("failed to decode managed fields: {0}")]
    ManagedFields(String),
}

impl ApplyError {
    /// The HTTP status kube-apiserver answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::InvalidConfig(_) | ApplyError::ManagedFields(_) => 500,
        }
    }

    /// The `details.causes` of the conflict `Status`: `{reason: FieldManagerConflict, message,
    /// field}` per conflict (empty for other errors).
    pub fn causes(&self) -> Vec<Value> {
        match self {
            ApplyError::Conflicts(c) => c
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message(), "field": c.field}))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The whole `Status` object kube-apiserver returns for this error.
    pub fn to_status(&self) -> Value {
        let (reason, details) = match self {
            ApplyError::Conflicts(_) => ("Conflict", json!({"causes": self.causes()})),
            ApplyError::BadRequest(_) => ("BadRequest", json!({})),
            _ => ("InternalError", json!({})),
        };
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.to_string(), "reason": reason, "code": self.status_code()
        });
        if details.as_object().is_some_and(|d| !d.is_empty()) {
            status["details"] = details;
        }
        status
    }
}

/// Upstream `getConflictMessage`.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: {}: {}", c.message(), c.field);
    }
    // Group by manager identifier, managers sorted, fields in their original order.
    let mut groups: Vec<(String, String, Vec<&str>)> = Vec::new();
    for c in conflicts {
        let id = c.id();
        let key = id.identifier();
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, fields)) => fields.push(&c.field),
            None => groups.push((key, id.describe(), vec![&c.field])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (_, who, fields) in groups {
        lines.push(format!("conflicts with {who}:"));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
