//! Create, update (PUT), patch (merge, JSON, strategic, server-side apply), and `/scale`.

use kubestellar_apimachinery::{apply, schema::Schema, structural};
use serde_json::{Value, json};

use super::patch::{PatchType, apply_patch};
use super::scale::ScaleWrite;
use super::{
    Subresource, WriteOptions, WriteOutcome, admission, commit_error, comparable, meta_mut, now,
    spec_changed,
};
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceInfo;
use crate::space::Space;
use crate::store::{CommitError, ObjectKey, Precondition};

/// Attempts of a read-modify-write before giving up with a Conflict.
pub(super) const MAX_RETRIES: usize = 16;

/// The schema of a resource, or one that accepts anything.
pub(super) fn schema_of(r: &ResourceInfo) -> Schema {
    r.schema.clone().unwrap_or_else(Schema::any)
}

/// The field manager for a write: the requested one, else `fallback` (derived from the
/// User-Agent by the HTTP layer, or the internal controller's name).
fn manager(opts: &WriteOptions) -> String {
    opts.field_manager
        .clone()
        .unwrap_or_else(|| "unknown".to_string())
}

impl Space {
    /// Creates an object (POST).
    pub async fn create(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<WriteOutcome> {
        let mut obj = body;
        let mut warnings = Vec::new();
        self.check_identity(r, namespace, None, &mut obj)?;
        let clean = self.check_unknown_fields(r, &obj, opts.field_validation, &mut warnings)?;
        self.assign_name(r, &mut obj)?;
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = ObjectKey::new(&r.group_resource(), namespace, &name);
        if r.namespaced {
            self.check_namespace_accepts(r, namespace, &name)?;
        }
        self.prepare_create(r, &mut obj)?;
        let _turn = self.allocation_turn(r, Subresource::Main).await;
        self.finish(r, None, &mut obj, Subresource::Main, !clean)?;
        apply::record_update(
            None,
            &mut obj,
            &update_options(r, opts, Subresource::Main),
            &schema_of(r),
        );
        if opts.dry_run {
            if self.store.get(&key).is_some() {
                return Err(ApiError::already_exists(&r.group, &r.resource, &name));
            }
            return Ok(WriteOutcome {
                object: self.present(r, obj),
                code: 201,
                warnings,
                raw: None,
            });
        }
        let c = self
            .store
            .commit(&key, Precondition::Absent, Some(obj))
            .await
            .map_err(|e| commit_error(e, r, &key))?;
        self.after_commit(r);
        Ok(WriteOutcome {
            object: self.present(r, c.value.unwrap_or(Value::Null)),
            code: 201,
            warnings,
            raw: c.new.map(|n| n.json),
        })
    }

    /// Replaces an object (PUT), or its status.
    pub async fn update(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        body: Value,
        opts: &WriteOptions,
        sub: Subresource,
    ) -> ApiResult<WriteOutcome> {
        if sub == Subresource::Scale {
            return self
                .write_scale(r, namespace, name, ScaleWrite::Replace(body), opts)
                .await;
        }
        let mut body = body;
        let mut warnings = Vec::new();
        self.check_identity(r, namespace, Some(name), &mut body)?;
        let clean = self.check_unknown_fields(r, &body, opts.field_validation, &mut warnings)?;
        let wanted_rv = requested_rv(&body)?;
        let mut out = self
            .guaranteed_update(r, namespace, name, wanted_rv, opts, sub, !clean, |_old| {
                Ok(body.clone())
            })
            .await?;
        out.warnings.extend(warnings);
        Ok(out)
    }

    /// Patches an object or its status.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        kind: PatchType,
        patch: Value,
        opts: &WriteOptions,
        sub: Subresource,
    ) -> ApiResult<WriteOutcome> {
        if kind == PatchType::Strategic && r.is_custom() {
            // kubectl prefixes this with "application/strategic-merge-patch+json is not
            // supported by <gvk>" itself.
            return Err(ApiError::unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        if sub == Subresource::Scale {
            return self
                .write_scale(r, namespace, name, ScaleWrite::Patch(kind, patch), opts)
                .await;
        }
        if kind == PatchType::Apply {
            return self
                .server_side_apply(r, namespace, name, patch, opts, sub)
                .await;
        }
        let mut warnings = Vec::new();
        let clean = kind != PatchType::Json
            && self.check_unknown_fields_patch(r, &patch, opts.field_validation, &mut warnings)?;
        let schema = schema_of(r);
        let mut out = self
            .guaranteed_update(r, namespace, name, None, opts, sub, !clean, |old| {
                let patched = apply_patch(kind, old, &patch, &schema)?;
                // A resourceVersion in the patch is a precondition.
                if let Some(rv) = patched["metadata"]["resourceVersion"].as_str()
                    && Some(rv) != old["metadata"]["resourceVersion"].as_str()
                {
                    return Err(ApiError::conflict(&r.group, &r.resource, name));
                }
                Ok(patched)
            })
            .await?;
        out.warnings.extend(warnings);
        Ok(out)
    }

    /// The common read-modify-write loop: reads the object, computes the new one with `f`,
    /// applies the server's rules and commits if the object did not change meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn guaranteed_update(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        wanted_rv: Option<u64>,
        opts: &WriteOptions,
        sub: Subresource,
        prune: bool,
        f: impl Fn(&Value) -> ApiResult<Value>,
    ) -> ApiResult<WriteOutcome> {
        let key = ObjectKey::new(&r.group_resource(), namespace, name);
        let _turn = self.allocation_turn(r, sub).await;
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.store.get(&key) else {
                return Err(ApiError::not_found(&r.group, &r.resource, name));
            };
            if let Some(want) = wanted_rv
                && want != cur.rv
            {
                return Err(ApiError::conflict(&r.group, &r.resource, name));
            }
            let old = cur.value();
            let requested = f(&old)?;
            let mut new = self.merge_update(r, &old, requested, sub, None)?;
            self.finish(r, Some(&old), &mut new, sub, prune)?;
            self.bump_generation(r, &old, &mut new);
            apply::record_update(
                Some(&old),
                &mut new,
                &update_options(r, opts, sub),
                &schema_of(r),
            );
            match self.commit_update(r, &key, &old, new, cur.rv, opts).await {
                Err(ApiError {
                    code: 409,
                    reason: "Conflict",
                    ..
                }) if wanted_rv.is_none() => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(&r.group, &r.resource, name))
    }

    /// Commits an update unless it changes nothing; removes the object when its last finalizer
    /// went away during deletion.
    pub(super) async fn commit_update(
        &self,
        r: &ResourceInfo,
        key: &ObjectKey,
        old: &Value,
        new: Value,
        rv: u64,
        opts: &WriteOptions,
    ) -> ApiResult<WriteOutcome> {
        if comparable(&new) == comparable(old) {
            return Ok(WriteOutcome {
                object: self.present(r, old.clone()),
                code: 200,
                warnings: Vec::new(),
                raw: None,
            });
        }
        let finalized = new["metadata"]["deletionTimestamp"].is_string()
            && new["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty())
            && !admission::blocks_removal(r, &new);
        if opts.dry_run {
            return Ok(WriteOutcome {
                object: self.present(r, new),
                code: 200,
                warnings: Vec::new(),
                raw: None,
            });
        }
        let (value, gone) = if finalized {
            (None, Some(new))
        } else {
            (Some(new), None)
        };
        match self
            .store
            .commit(key, Precondition::ResourceVersion(rv), value)
            .await
        {
            Ok(c) => {
                self.after_commit(r);
                let (obj, raw) = match (c.value, gone) {
                    (Some(v), _) => (v, c.new.map(|n| n.json)),
                    (None, gone) => {
                        let mut gone = gone.unwrap_or(Value::Null);
                        meta_mut(&mut gone)
                            .insert("resourceVersion".into(), json!(c.rv.to_string()));
                        (gone, None)
                    }
                };
                Ok(WriteOutcome {
                    object: self.present(r, obj),
                    code: 200,
                    warnings: Vec::new(),
                    raw,
                })
            }
            Err(CommitError::NotFound) => {
                Err(ApiError::not_found(&r.group, &r.resource, &key.name))
            }
            Err(e) => Err(commit_error(e, r, key)),
        }
    }

    /// Builds the object an update stores from the old object and the requested one: immutable
    /// metadata kept, status or main part taken from the old object as the subresource says.
    /// `managed_fields` replaces the old object's managedFields (server-side apply computes
    /// them itself); otherwise the old ones are kept for `record_update` to adjust.
    pub(super) fn merge_update(
        &self,
        r: &ResourceInfo,
        old: &Value,
        requested: Value,
        sub: Subresource,
        managed_fields: Option<Value>,
    ) -> ApiResult<Value> {
        let mut new = match sub {
            Subresource::Status => {
                let mut n = old.clone();
                match requested.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(o) = n.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                n
            }
            _ => {
                let mut n = requested;
                if r.has_status {
                    match old.get("status") {
                        Some(s) => n["status"] = s.clone(),
                        None => {
                            if let Some(o) = n.as_object_mut() {
                                o.remove("status");
                            }
                        }
                    }
                }
                n
            }
        };
        let om = &old["metadata"];
        let m = meta_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match om.get(k) {
                Some(v) => m.insert(k.into(), v.clone()),
                None => m.remove(k),
            };
        }
        m.insert("name".into(), om["name"].clone());
        if om.get("namespace").is_some() {
            m.insert("namespace".into(), om["namespace"].clone());
        }
        m.remove("selfLink");
        match managed_fields.or_else(|| om.get("managedFields").cloned()) {
            Some(mf) => m.insert("managedFields".into(), mf),
            None => m.remove("managedFields"),
        };
        if let Some(rv) = om.get("resourceVersion") {
            m.insert("resourceVersion".into(), rv.clone());
        }
        // No new finalizers once deletion started.
        if om["deletionTimestamp"].is_string() {
            let before: Vec<&str> = om["finalizers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let added: Vec<String> = new["metadata"]["finalizers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter(|f| !before.contains(f))
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &r.group,
                    &r.resource,
                    &r.kind,
                    om["name"].as_str().unwrap_or_default(),
                    vec![Cause {
                        reason: "FieldValueForbidden".into(),
                        message: format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                        field: "metadata.finalizers".into(),
                    }],
                ));
            }
        }
        Ok(new)
    }

    /// Bumps `metadata.generation` when the update changed anything outside metadata (and
    /// status, for resources with a status subresource). Runs after defaulting so that
    /// re-defaulted fields do not count as changes.
    pub(super) fn bump_generation(&self, r: &ResourceInfo, old: &Value, new: &mut Value) {
        if crate::defaults::tracks_generation(r) && spec_changed(old, new, r.has_status) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            meta_mut(new).insert("generation".into(), json!(g));
        }
    }

    /// Server rules applied to every stored version: admission of special kinds, defaulting,
    /// pruning and validation.
    pub(super) fn finish(
        &self,
        r: &ResourceInfo,
        old: Option<&Value>,
        obj: &mut Value,
        sub: Subresource,
        prune: bool,
    ) -> ApiResult<()> {
        let o = obj
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the object must be a JSON object"))?;
        o.insert("apiVersion".into(), json!(r.api_version()));
        o.insert("kind".into(), json!(r.kind));
        if sub == Subresource::Main {
            admission::mutate(self, r, old, obj)?;
            crate::defaults::apply(r, obj);
        }
        if let Some(schema) = &r.schema {
            if r.is_custom() {
                structural::apply_defaults(obj, schema);
            }
            // Built-ins: what kube's typed decoder drops; custom resources: structural pruning.
            // Skipped when the request was checked and found clean.
            if prune {
                structural::prune(obj, schema);
            }
        }
        admission::validate(self, r, old, obj)
    }

    /// Metadata only a create sets.
    pub(super) fn prepare_create(&self, r: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
        if r.has_status
            && let Some(o) = obj.as_object_mut()
        {
            o.remove("status");
        }
        crate::defaults::initial_status(r, obj);
        let m = meta_mut(obj);
        // managedFields sent with a create are kept, as kube does (`record_update` decides).
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
        ] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        if crate::defaults::tracks_generation(r) {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
        Ok(())
    }

    /// Work after a commit that changes what is served.
    pub(super) fn after_commit(&self, r: &ResourceInfo) {
        if r.group == "apiextensions.k8s.io" && r.resource == "customresourcedefinitions" {
            self.refresh_crds();
        }
    }

    /// The object as returned to a client of `r`'s version.
    pub(crate) fn present(&self, r: &ResourceInfo, mut obj: Value) -> Value {
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(r.api_version()));
        }
        obj
    }
}

fn update_options(r: &ResourceInfo, opts: &WriteOptions, sub: Subresource) -> apply::UpdateOptions {
    apply::UpdateOptions {
        manager: manager(opts),
        api_version: r.api_version(),
        subresource: sub.name().map(String::from),
        now: now(),
    }
}

/// The `metadata.resourceVersion` a PUT body requires, if any.
fn requested_rv(body: &Value) -> ApiResult<Option<u64>> {
    match body["metadata"]["resourceVersion"].as_str() {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}"))),
    }
}
