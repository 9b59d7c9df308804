//! Deletion: preconditions, finalizers, propagation policies, namespace termination.

use serde_json::{Value, json};

use super::{WriteOutcome, commit_error, meta_mut, now};
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::space::Space;
use crate::store::{CommitError, ObjectKey, Precondition};

/// Finalizer that makes the garbage collector delete dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer that makes the garbage collector orphan dependents first.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// `DeleteOptions`, from the body and/or the query.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body (may be empty) plus query overrides.
    pub fn parse(body: &Value, query: &crate::request::Query) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions {
            propagation: body["propagationPolicy"].as_str().map(String::from),
            precondition_uid: body["preconditions"]["uid"].as_str().map(String::from),
            precondition_rv: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(String::from),
            dry_run: body["dryRun"]
                .as_array()
                .is_some_and(|a| a.iter().any(|d| d == "All")),
        };
        if body["orphanDependents"].as_bool() == Some(true) && o.propagation.is_none() {
            o.propagation = Some("Orphan".into());
        }
        if let Some(p) = query.get("propagationPolicy") {
            o.propagation = Some(p.to_string());
        }
        if query.get("dryRun") == Some("All") {
            o.dry_run = true;
        }
        if let Some(p) = &o.propagation
            && !matches!(p.as_str(), "Background" | "Foreground" | "Orphan")
        {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        Ok(o)
    }
}

impl Space {
    /// Deletes an object: at once, or by marking it for deletion while finalizers remain.
    pub async fn delete(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<WriteOutcome> {
        let key = ObjectKey::new(&r.group_resource(), namespace, name);
        for _ in 0..16 {
            let Some(cur) = self.store.get(&key) else {
                return Err(ApiError::not_found(&r.group, &r.resource, name));
            };
            let old = cur.value();
            if let Some(uid) = &opts.precondition_uid
                && Some(uid.as_str()) != old["metadata"]["uid"].as_str()
            {
                return Err(ApiError::conflict_msg(
                    &r.group,
                    &r.resource,
                    name,
                    format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        old["metadata"]["uid"].as_str().unwrap_or_default()
                    ),
                ));
            }
            if let Some(rv) = &opts.precondition_rv
                && *rv != cur.rv.to_string()
            {
                return Err(ApiError::conflict_msg(
                    &r.group,
                    &r.resource,
                    name,
                    format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        cur.rv
                    ),
                ));
            }
            let mut new = old.clone();
            let mut finalizers: Vec<String> = cur.meta.finalizers.clone();
            match opts.propagation.as_deref() {
                Some("Foreground") if !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) => {
                    finalizers.push(FOREGROUND_FINALIZER.into())
                }
                Some("Orphan") if !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) => {
                    finalizers.push(ORPHAN_FINALIZER.into())
                }
                _ => {}
            }
            let is_namespace = r.group.is_empty() && r.resource == "namespaces";
            let graceful = is_namespace || !finalizers.is_empty();
            if !graceful {
                if opts.dry_run {
                    return Ok(WriteOutcome {
                        object: self.present(r, old),
                        code: 200,
                        warnings: Vec::new(),
                        raw: None,
                    });
                }
                return match self
                    .store
                    .commit(&key, Precondition::ResourceVersion(cur.rv), None)
                    .await
                {
                    Ok(c) => {
                        self.after_delete(r);
                        let mut gone = old;
                        meta_mut(&mut gone)
                            .insert("resourceVersion".into(), json!(c.rv.to_string()));
                        Ok(WriteOutcome {
                            object: self.present(r, gone),
                            code: 200,
                            warnings: Vec::new(),
                            raw: None,
                        })
                    }
                    Err(CommitError::Conflict) => continue,
                    Err(e) => Err(commit_error(e, r, &key)),
                };
            }
            if cur.meta.deleting && finalizers == cur.meta.finalizers {
                // Already being deleted: nothing more to record.
                return Ok(WriteOutcome {
                    object: self.present(r, old),
                    code: 200,
                    warnings: Vec::new(),
                    raw: None,
                });
            }
            let m = meta_mut(&mut new);
            if !cur.meta.deleting {
                m.insert("deletionTimestamp".into(), json!(now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            if !finalizers.is_empty() {
                m.insert("finalizers".into(), json!(finalizers));
            }
            if is_namespace {
                new["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok(WriteOutcome {
                    object: self.present(r, new),
                    code: 200,
                    warnings: Vec::new(),
                    raw: None,
                });
            }
            return match self
                .store
                .commit(&key, Precondition::ResourceVersion(cur.rv), Some(new))
                .await
            {
                Ok(c) => {
                    let obj = c.new.map(|n| n.value()).unwrap_or(Value::Null);
                    // 202 would also be right for a deletion that continues; kubectl accepts 200.
                    Ok(WriteOutcome {
                        object: self.present(r, obj),
                        code: 200,
                        warnings: Vec::new(),
                        raw: None,
                    })
                }
                Err(CommitError::Conflict) => continue,
                Err(e) => Err(commit_error(e, r, &key)),
            };
        }
        Err(ApiError::conflict(&r.group, &r.resource, name))
    }

    fn after_delete(&self, r: &ResourceInfo) {
        if r.group == "apiextensions.k8s.io" && r.resource == "customresourcedefinitions" {
            self.refresh_crds();
        }
    }
}
