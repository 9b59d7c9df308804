//! Create, update (PUT), patch (merge, JSON, strategic, server-side apply), and `/scale`.

use kubestellar_apimachinery::{apply, schema::Schema, strategic, structural};
use serde_json::{Value, json};

use super::{
    FieldValidation, Subresource, WriteOptions, WriteOutcome, admission, commit_error, comparable,
    get_path, meta_mut, now, set_path, spec_changed,
};
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::ResourceInfo;
use crate::space::Space;
use crate::store::{CommitError, ObjectKey, Precondition};

/// The `Content-Type` of a PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    /// From a `Content-Type` header.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

const MAX_RETRIES: usize = 16;

fn schema_of(r: &ResourceInfo) -> Schema {
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
    async fn guaranteed_update(
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
    async fn commit_update(
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

    /// Server-side apply: creates the object if absent.
    async fn server_side_apply(
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

    /// Builds the object an update stores from the old object and the requested one: immutable
    /// metadata kept, status or main part taken from the old object as the subresource says.
    /// `managed_fields` replaces the old object's managedFields (server-side apply computes
    /// them itself); otherwise the old ones are kept for `record_update` to adjust.
    fn merge_update(
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
    fn bump_generation(&self, r: &ResourceInfo, old: &Value, new: &mut Value) {
        if crate::defaults::tracks_generation(r) && spec_changed(old, new, r.has_status) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            meta_mut(new).insert("generation".into(), json!(g));
        }
    }

    /// Server rules applied to every stored version: admission of special kinds, defaulting,
    /// pruning and validation.
    fn finish(
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
    fn prepare_create(&self, r: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
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

    /// The body's apiVersion, kind, name and namespace must fit the URL.
    pub(crate) fn check_identity(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: Option<&str>,
        obj: &mut Value,
    ) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
            && !av.is_empty()
            && av != r.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                r.api_version()
            )));
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && !k.is_empty()
            && k != r.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                r.kind
            )));
        }
        let m = meta_mut(obj);
        if r.namespaced {
            match m.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(namespace));
                }
            }
        } else {
            m.remove("namespace");
        }
        if let Some(name) = name {
            match m.get("name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
                _ => {
                    m.insert("name".into(), json!(name));
                }
            }
        }
        Ok(())
    }

    /// Reports unknown fields as `mode` says; true when the body is known to have none (so
    /// that pruning can be skipped).
    fn check_unknown_fields(
        &self,
        r: &ResourceInfo,
        obj: &Value,
        mode: FieldValidation,
        warnings: &mut Vec<String>,
    ) -> ApiResult<bool> {
        if mode == FieldValidation::Ignore {
            return Ok(false);
        }
        let Some(schema) = &r.schema else {
            return Ok(true);
        };
        let unknown = structural::unknown_fields(obj, schema);
        let clean = unknown.is_empty();
        report_unknown(unknown, mode, warnings)?;
        Ok(clean)
    }

    /// Unknown fields in a merge or strategic patch (directives are not fields); true when
    /// there are none.
    fn check_unknown_fields_patch(
        &self,
        r: &ResourceInfo,
        patch: &Value,
        mode: FieldValidation,
        warnings: &mut Vec<String>,
    ) -> ApiResult<bool> {
        if mode == FieldValidation::Ignore {
            return Ok(false);
        }
        let Some(schema) = &r.schema else {
            return Ok(true);
        };
        let cleaned = strip_directives(patch);
        let unknown = structural::unknown_fields(&cleaned, schema);
        let clean = unknown.is_empty();
        report_unknown(unknown, mode, warnings)?;
        Ok(clean)
    }

    fn assign_name(&self, r: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
        let m = meta_mut(obj);
        let has_name = m
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if has_name {
            return Ok(());
        }
        match m.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", random_suffix());
                m.insert("name".into(), json!(name));
                Ok(())
            }
            _ => Err(ApiError::invalid(
                &r.group,
                &r.resource,
                &r.kind,
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            )),
        }
    }

    /// A namespaced create needs an existing, active namespace.
    pub(crate) fn check_namespace_accepts(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> ApiResult<()> {
        let gr = crate::registry::GroupResource {
            group: String::new(),
            resource: "namespaces".into(),
        };
        match self.store.get(&ObjectKey::new(&gr, "", namespace)) {
            None => Err(ApiError::not_found("", "namespaces", namespace)),
            Some(ns) if ns.meta.deleting => Err(ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                crate::error::qualified(&r.group, &r.resource)
            ))
            .with_details(&r.group, &r.resource, name)),
            Some(_) => Ok(()),
        }
    }

    /// Work after a commit that changes what is served.
    fn after_commit(&self, r: &ResourceInfo) {
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

    /// `/scale` reads.
    pub fn get_scale(&self, r: &ResourceInfo, namespace: &str, name: &str) -> ApiResult<Value> {
        let key = ObjectKey::new(&r.group_resource(), namespace, name);
        let obj = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(&r.group, &r.resource, name))?
            .value();
        Ok(scale_of(r, &obj))
    }

    async fn write_scale(
        &self,
        r: &ResourceInfo,
        namespace: &str,
        name: &str,
        w: ScaleWrite,
        opts: &WriteOptions,
    ) -> ApiResult<WriteOutcome> {
        let Some(si) = r.scale.clone() else {
            return Err(ApiError::no_route());
        };
        let schema = Schema::any();
        let out = self
            .guaranteed_update(
                r,
                namespace,
                name,
                None,
                opts,
                Subresource::Main,
                false,
                |old| {
                    let current = scale_of(r, old);
                    let wanted = match &w {
                        ScaleWrite::Replace(s) => {
                            if let Some(rv) = s["metadata"]["resourceVersion"].as_str()
                                && Some(rv) != old["metadata"]["resourceVersion"].as_str()
                            {
                                return Err(ApiError::conflict(&r.group, &r.resource, name));
                            }
                            s.clone()
                        }
                        ScaleWrite::Patch(kind, p) => apply_patch(*kind, &current, p, &schema)?,
                    };
                    let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
                    if replicas < 0 {
                        return Err(ApiError::invalid(
                            "autoscaling",
                            "scale",
                            "Scale",
                            name,
                            vec![Cause {
                                reason: "FieldValueInvalid".into(),
                                message: format!(
                                    "Invalid value: {replicas}: must be greater than or equal to 0"
                                ),
                                field: "spec.replicas".into(),
                            }],
                        ));
                    }
                    let mut new = old.clone();
                    set_path(&mut new, &si.spec_replicas_path, json!(replicas));
                    Ok(new)
                },
            )
            .await?;
        Ok(WriteOutcome {
            object: scale_of(r, &out.object),
            code: 200,
            warnings: out.warnings,
            raw: None,
        })
    }
}

enum ScaleWrite {
    Replace(Value),
    Patch(PatchType, Value),
}

/// An `autoscaling/v1 Scale` for an object.
fn scale_of(r: &ResourceInfo, obj: &Value) -> Value {
    let si = r.scale.clone();
    let (spec_path, status_path, sel_path) = match &si {
        Some(s) => (
            s.spec_replicas_path.as_str(),
            s.status_replicas_path.as_str(),
            s.label_selector_path.as_deref(),
        ),
        None => (".spec.replicas", ".status.replicas", None),
    };
    let m = &obj["metadata"];
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": get_path(obj, spec_path).cloned().unwrap_or(json!(0))},
        "status": {"replicas": get_path(obj, status_path).cloned().unwrap_or(json!(0))},
    });
    let selector = sel_path
        .and_then(|p| get_path(obj, p))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            // Built-ins keep a structured selector in spec.selector; render it as a string.
            obj["spec"]["selector"]["matchLabels"]
                .as_object()
                .map(|ml| {
                    ml.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
        });
    if let Some(s) = selector {
        scale["status"]["selector"] = json!(s);
    }
    if m["namespace"].is_null()
        && let Some(o) = scale["metadata"].as_object_mut()
    {
        o.remove("namespace");
    }
    scale
}

/// Applies a merge, JSON or strategic patch to `old`.
fn apply_patch(kind: PatchType, old: &Value, patch: &Value, schema: &Schema) -> ApiResult<Value> {
    let invalid = |msg: String| ApiError::new(422, "Invalid", msg);
    match kind {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            let mut doc = old.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let mut doc = old.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                invalid(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            Ok(doc)
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            strategic::strategic_merge_patch(old, patch, schema).map_err(|e| invalid(e.to_string()))
        }
        PatchType::Apply => Err(ApiError::internal(
            "apply patches are handled by server_side_apply",
        )),
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

fn update_options(r: &ResourceInfo, opts: &WriteOptions, sub: Subresource) -> apply::UpdateOptions {
    apply::UpdateOptions {
        manager: manager(opts),
        api_version: r.api_version(),
        subresource: sub.name().map(String::from),
        now: now(),
    }
}

fn report_unknown(
    unknown: Vec<String>,
    mode: FieldValidation,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if unknown.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match mode {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            texts.join(", ")
        ))),
        FieldValidation::Warn => {
            warnings.extend(texts);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}

/// Removes strategic-merge directives (`$patch`, `$setElementOrder/...`) so that only fields remain.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
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

/// Five characters like kube's `generateName` suffixes.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let id = uuid::Uuid::new_v4();
    id.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
