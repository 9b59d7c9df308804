//! Server-side apply (`application/apply-patch+yaml`): merges the applied configuration
//! with managedFields bookkeeping and conflict detection, creating the object if absent.

use kubestellar_apimachinery::apply;
use serde_json::{Value, json};

use super::write::{MAX_RETRIES, schema_of};
use super::{Subresource, WriteOptions, WriteOutcome, commit_error, now};
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceInfo;
use crate::space::Space;
use crate::store::{CommitError, ObjectKey, Precondition};

impl Space {
    /// Server-side apply: creates the object if absent.
    pub(super) async fn server_side_apply(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        config: Value,
        opts: &WriteOptions,
        sub: Subresource,
    ) -> ApiResult<WriteOutcome> {
        let Some(manager) = opts.field_manager.clone().filter(|m| !m.is_empty()) else {
            return Err(ApiError::invalid(
                &r.group,
                &r.resource,
                &r.kind,
                name,
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: is required for apply patch".into(),
                    field: "fieldManager".into(),
                }],
            ));
        };
        let mut config = config;
        let mut warnings = Vec::new();
        self.check_identity(r, namespace, Some(name), &mut config)?;
        let clean = self.check_unknown_fields(r, &config, opts.field_validation, &mut warnings)?;
        let schema = schema_of(r);
        let key = ObjectKey::new(&r.group_resource(), namespace, name);
        let aopts = |now: String| apply::ApplyOptions {
            manager: manager.clone(),
            force: opts.force,
            api_version: r.api_version(),
            subresource: sub.name().map(String::from),
            now,
        };
        let _turn = self.allocation_turn(r, sub).await;
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.store.get(&key) else {
                if sub != Subresource::Main {
                    return Err(ApiError::not_found(&r.group, &r.resource, name));
                }
                // Create through apply.
                let mut cfg = config.clone();
                if r.has_status
                    && let Some(o) = cfg.as_object_mut()
                {
                    o.remove("status");
                }
                let mut obj = apply::apply(None, &cfg, &aopts(now()), &schema)
                    .map_err(|e| apply_error(e, r, name))?;
                if r.namespaced {
                    self.check_namespace_accepts(r, namespace, name)?;
                }
                self.prepare_create(r, &mut obj)?;
                self.finish(r, None, &mut obj, Subresource::Main, !clean)?;
                if opts.dry_run {
                    return Ok(WriteOutcome {
                        object: self.present(r, obj),
                        code: 201,
                        warnings,
                        raw: None,
                    });
                }
                match self
                    .store
                    .commit(&key, Precondition::Absent, Some(obj))
                    .await
                {
                    Ok(c) => {
                        self.after_commit(r);
                        return Ok(WriteOutcome {
                            object: self.present(r, c.value.unwrap_or(Value::Null)),
                            code: 201,
                            warnings,
                            raw: c.new.map(|n| n.json),
                        });
                    }
                    Err(CommitError::AlreadyExists) => continue,
                    Err(e) => return Err(commit_error(e, r, &key)),
                }
            };
            let old = cur.value();
            let mut cfg = config.clone();
            // The main resource does not own status and vice versa.
            if r.has_status {
                match sub {
                    Subresource::Main => {
                        if let Some(o) = cfg.as_object_mut() {
                            o.remove("status");
                        }
                    }
                    _ => {
                        let mut only = json!({"apiVersion": cfg["apiVersion"], "kind": cfg["kind"], "metadata": {"name": name}});
                        if !namespace.is_empty() {
                            only["metadata"]["namespace"] = json!(namespace);
                        }
                        if let Some(s) = cfg.get("status") {
                            only["status"] = s.clone();
                        }
                        cfg = only;
                    }
                }
            }
            if let Some(rv) = cfg["metadata"]["resourceVersion"].as_str()
                && rv != cur.rv.to_string()
            {
                return Err(ApiError::conflict(&r.group, &r.resource, name));
            }
            let applied = apply::apply(Some(&old), &cfg, &aopts(now()), &schema)
                .map_err(|e| apply_error(e, r, name))?;
            let mf = applied["metadata"].get("managedFields").cloned();
            let mut new = self.merge_update(r, &old, applied, sub, mf)?;
            self.finish(r, Some(&old), &mut new, sub, !clean)?;
            self.bump_generation(r, &old, &mut new);
            match self.commit_update(r, &key, &old, new, cur.rv, opts).await {
                Err(ApiError {
                    code: 409,
                    reason: "Conflict",
                    ..
                }) => continue,
                Ok(mut out) => {
                    out.warnings.extend(warnings);
                    return Ok(out);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::conflict(&r.group, &r.resource, name))
    }
}

fn apply_error(e: apply::ApplyError, r: &ResourceInfo, name: &str) -> ApiError {
    match &e {
        apply::ApplyError::Conflicts(conflicts) => {
            let mut err = ApiError::conflict_msg(&r.group, &r.resource, name, e.to_string());
            err.details.causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: c.message(),
                    field: c.field.clone(),
                })
                .collect();
            err
        }
        apply::ApplyError::BadRequest(m) => ApiError::bad_request(m.clone()),
        // kube answers 500 for these; they come from the request, so say so with a 4xx.
        apply::ApplyError::InvalidConfig(_) | apply::ApplyError::ManagedFields(_) => {
            ApiError::new(422, "Invalid", e.to_string())
        }
    }
}
