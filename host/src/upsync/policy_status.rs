//! `BindingPolicy.status.upsyncErrors`: what keeps a policy's upsync from working, where the
//! user looks. Bad clauses (selectors, Secrets without `allowSecrets`), objects too large for
//! the ITS (reported by agents on their UpsyncedObjects) and mirrors the WDS refuses. Written
//! by server-side apply of that one field (field manager `Upsync`), so the binding and status
//! controllers' fields stay theirs; only when it changes, and only once the policy has a
//! status (its schema requires `observedGeneration`, which the binding controller writes).

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::clauses::compile_policy;
use super::{FIELD_MANAGER, Shared, UpsyncError, api_err, lock};
use crate::api::BindingPolicy;
use crate::binding::queue::Next;

/// Most errors listed; the rest are counted.
const MAX_ERRORS: usize = 20;

/// Sorts, deduplicates and caps a list of errors.
pub fn tidy(mut errors: Vec<String>) -> Vec<String> {
    errors.sort();
    errors.dedup();
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(format!("... and {more} more"));
    }
    errors
}

/// Recomputes and writes one policy's upsync errors.
pub(super) async fn reconcile(sh: &Arc<Shared>, name: &str) -> Result<Next, UpsyncError> {
    if !sh.policies.is_synced() || !sh.wrappers.is_synced() {
        return Ok(Next::After(std::time::Duration::from_millis(50)));
    }
    let Some(policy) = sh.policies.get("", name) else {
        return Ok(Next::Done);
    };
    let Some(status) = policy.status.as_ref() else {
        // The binding controller gives it a status first; that change requeues us.
        return Ok(Next::Done);
    };
    let mut errors = Vec::new();
    compile_policy(name, &policy.spec.upsync, &mut errors);
    for w in sh
        .wrappers
        .filter(|w| w.spec.policies.iter().any(|p| p == name))
    {
        if let Some(e) = w.status.as_ref().and_then(|s| s.error.as_ref()) {
            let s = &w.spec.source_ref;
            let what = if s.namespace.is_empty() {
                s.name.clone()
            } else {
                format!("{}/{}", s.namespace, s.name)
            };
            errors.push(format!("{} {what} from {}: {e}", s.kind, w.spec.cluster));
        }
    }
    for (policies, message) in lock(&sh.write_errors).values() {
        if policies.iter().any(|p| p == name) {
            errors.push(message.clone());
        }
    }
    let errors = tidy(errors);
    if status.upsync_errors == errors {
        return Ok(Next::Done);
    }
    let body = json!({
        "apiVersion": "control.kubestellar.io/v1alpha1",
        "kind": "BindingPolicy",
        "metadata": {"name": name},
        "status": if errors.is_empty() { json!({}) } else { json!({"upsyncErrors": errors}) },
    });
    let api: Api<BindingPolicy> = Api::all(sh.ctx.wds.clone());
    match api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(_) => Ok(Next::Done),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Next::Done),
        Err(e) => Err(api_err(format!("status of BindingPolicy {name}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_unique_and_capped() {
        assert_eq!(
            tidy(vec!["b".into(), "a".into(), "b".into()]),
            vec!["a".to_string(), "b".to_string()]
        );
        let many: Vec<String> = (0..30).map(|i| format!("e{i:02}")).collect();
        let t = tidy(many);
        assert_eq!(t.len(), MAX_ERRORS + 1);
        assert_eq!(t.last().map(String::as_str), Some("... and 10 more"));
    }
}
