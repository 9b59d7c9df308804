//! Server-side apply and `metadata.managedFields`, as sigs.k8s.io/structured-merge-diff and
//! kube-apiserver's field manager implement them.
//!
//! - [`apply`]: merges an applied configuration into the live object (maps granular unless
//!   atomic; lists atomic, set or map per their list type), removes what the manager applied
//!   before and no longer applies (unless someone else owns it), refuses to change fields other
//!   managers own unless forced, and records the manager's `Apply` entry.
//! - [`record_update`]: after any other write (create, update, merge/JSON/strategic patch),
//!   gives the changed fields to the writer's `Update` entry.
//!
//! Callers' duties (what kube-apiserver does around its field manager):
//! - pass objects as they are (or will be) stored; `metadata.resourceVersion`, `uid`,
//!   `creationTimestamp`, `generation`, `name`, `namespace`, `apiVersion` and `kind` are never
//!   owned, so bumping them after recording is fine;
//! - for a resource with a status subresource, strip `status` from a main-resource apply
//!   configuration (and keep the old status in main-resource updates); for the `/status`
//!   subresource, pass only `status` changes;
//! - compare the result with the live object: an identical result is a no-op that must keep
//!   the resourceVersion (apply does not touch timestamps when nothing changed).

mod conflict;
mod managed;
mod typed;

use serde_json::{Map, Value};

pub use conflict::{ApplyError, Conflict};
use managed::{Entry, Managed, ManagerId};

use crate::fieldset::{FieldSet, go_json, path_string};
use crate::schema::Schema;

/// The annotation `kubectl apply` (client-side) keeps its configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream limit on the total size of an object's annotations.
const ANNOTATIONS_SIZE_LIMIT: usize = 256 * 1024;
/// The manager kube attributes fields to when an object without managedFields is first applied.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// A server-side apply request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The `fieldManager` query parameter.
    pub manager: String,
    /// The `force` query parameter: take conflicting fields instead of failing.
    pub force: bool,
    /// The request's `group/version` (`apps/v1`, `v1`).
    pub api_version: String,
    /// `status`, `scale`, ... when applying to a subresource.
    pub subresource: Option<String>,
    /// The request time, RFC 3339 in seconds (`2026-11-01T10:00:00Z`).
    pub now: String,
}

/// A non-apply write (create, update, patch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateOptions {
    /// The writer: the `fieldManager` parameter, else what kube derives from the user agent.
    pub manager: String,
    /// The request's `group/version`.
    pub api_version: String,
    /// `status`, `scale`, ... when writing a subresource.
    pub subresource: Option<String>,
    /// The request time, RFC 3339 in seconds.
    pub now: String,
}

/// The manager kube-apiserver records for a non-apply write without `fieldManager`: the user
/// agent up to its first `/`, printable characters only, at most 128 bytes (`kubectl/v1.33.0
/// (linux/amd64) ...` gives `kubectl`; kube-rs sends no user agent, which gives `""`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let mut out = String::new();
    for c in user_agent.split('/').next().unwrap_or_default().chars() {
        if c.is_control() {
            continue;
        }
        if out.len() >= 128 {
            break;
        }
        out.push(c);
    }
    out
}

/// The field set of a value under a schema (leaves, list items, map entries that are not
/// declared fields), as managedFields record them. Malformed lists count as one leaf.
pub fn fields_of(value: &Value, schema: &Schema) -> FieldSet {
    typed::field_set(value, schema, false).unwrap_or_default()
}

/// Applies `config` for `opts.manager` to `live` (`None` creates). Returns the new object with
/// its managedFields; when nothing changes it is equal to `live`.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    opts: &ApplyOptions,
    schema: &Schema,
) -> Result<Value, ApplyError> {
    if !config.is_object() {
        return Err(ApplyError::BadRequest(
            "the applied configuration is not a JSON object".into(),
        ));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let subresource = opts.subresource.as_deref().unwrap_or_default();
    let (live_obj, mut managed) = match live {
        None => (Value::Object(Map::new()), Managed::new()),
        Some(l) => {
            let managed = managed::decode(l.pointer("/metadata/managedFields"))
                .map_err(ApplyError::ManagedFields)?;
            (without_managed_fields(l), managed)
        }
    };
    if live.is_some() && managed.is_empty() {
        // An object nobody tracked yet: its current fields belong to a placeholder updater.
        let id = ManagerId::update(BEFORE_FIRST_APPLY, &opts.api_version, subresource);
        record(
            &typed::zero_object(schema),
            &live_obj,
            &mut managed,
            &id,
            &opts.api_version,
            &opts.now,
            schema,
        );
    }
    let applier = ManagerId::apply(&opts.manager, subresource);
    let config_set = typed::field_set(config, schema, true).map_err(ApplyError::InvalidConfig)?;
    let step = |force: bool| {
        apply_once(
            &live_obj,
            config,
            &config_set,
            &managed,
            &applier,
            opts,
            force,
            schema,
        )
    };
    let (mut object, mut managed) = match step(opts.force) {
        Err(ApplyError::Conflicts(conflicts)) if opts.manager == "kubectl" => {
            // kubectl moving from client-side to server-side apply: fields still as its
            // last-applied annotation says may be taken from the client-side manager.
            match allowed_from_last_applied(&live_obj, &opts.api_version, schema) {
                Some(allowed) => {
                    let remaining: Vec<Conflict> = conflicts
                        .iter()
                        .filter(|c| !allowed.contains(&c.field))
                        .cloned()
                        .collect();
                    if remaining.is_empty() {
                        step(true)?
                    } else {
                        return Err(ApplyError::Conflicts(remaining));
                    }
                }
                None => return Err(ApplyError::Conflicts(conflicts)),
            }
        }
        other => other?,
    };
    if opts.manager == "kubectl" {
        update_last_applied(&mut object, config);
    }
    managed::cap_updates(&mut managed, managed::MAX_UPDATE_MANAGERS);
    set_managed_fields(&mut object, &managed);
    Ok(object)
}

/// One attempt of upstream `Updater.Apply` plus the timestamp rule of `managedFieldsUpdater`.
#[allow(clippy::too_many_arguments)]
fn apply_once(
    live: &Value,
    config: &Value,
    config_set: &FieldSet,
    managed: &Managed,
    applier: &ManagerId,
    opts: &ApplyOptions,
    force: bool,
    schema: &Schema,
) -> Result<(Value, Managed), ApplyError> {
    let mut object = typed::merge(live, config, schema);
    let mut managers = managed.clone();
    let last = managers.insert(
        applier.clone(),
        Entry {
            api_version: opts.api_version.clone(),
            time: None,
            set: config_set.clone(),
        },
    );
    let last_time = last.as_ref().and_then(|e| e.time.clone());
    if let Some(last) = last.filter(|e| !e.set.is_empty()) {
        // Remove what the applier applied last time and no one (itself included) owns now.
        let mut owned = FieldSet::new();
        for e in managers.values() {
            owned.union_in_place(&e.set);
        }
        let to_remove =
            typed::ensure_named(&last.set, schema).difference(&typed::ensure_named(&owned, schema));
        typed::remove(&mut object, &to_remove, schema);
    }

    let cmp = typed::compare(live, &object, schema);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    let mut taken: Vec<(ManagerId, FieldSet)> = Vec::new();
    for (id, e) in &managers {
        if id == applier {
            continue;
        }
        let clash = e.set.intersection(&changed);
        if !clash.is_empty() {
            conflicts.extend(clash.paths().iter().map(|p| {
                (
                    id.identifier(),
                    Conflict::new(id, &e.api_version, path_string(p)),
                )
            }));
            taken.push((id.clone(), clash));
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.0.cmp(&b.0));
        return Err(ApplyError::Conflicts(
            conflicts.into_iter().map(|(_, c)| c).collect(),
        ));
    }
    for (id, clash) in taken {
        if let Some(e) = managers.get_mut(&id) {
            e.set = e.set.difference(&clash);
        }
    }
    for (id, e) in managers.iter_mut() {
        if id != applier {
            e.set = e.set.difference(&cmp.removed);
        }
    }
    managed::strip_meta(&mut managers);
    if let Some(e) = managers.get_mut(applier) {
        e.time = if object != *live {
            Some(opts.now.clone())
        } else {
            last_time
        };
    }
    Ok((object, managers))
}

/// Records a non-apply write of `new` (after it replaced `old`, `None` for a create) in `new`'s
/// managedFields. Never fails: like kube's `UpdateNoErrors`, managedFields it cannot make sense
/// of are dropped.
pub fn record_update(old: Option<&Value>, new: &mut Value, opts: &UpdateOptions, schema: &Schema) {
    let subresource = opts.subresource.as_deref().unwrap_or_default();
    let live_managed = || {
        old.and_then(|o| managed::decode(o.pointer("/metadata/managedFields")).ok())
            .unwrap_or_default()
    };
    let requested = new.pointer("/metadata/managedFields");
    let mut managed = if !subresource.is_empty() {
        // Subresource writes cannot set managedFields.
        live_managed()
    } else if managed::is_reset(requested) {
        Managed::new()
    } else {
        match managed::decode(requested) {
            Ok(m) if !m.is_empty() => m,
            _ => live_managed(),
        }
    };
    let new_obj = without_managed_fields(new);
    *new = new_obj.clone();
    if managed.is_empty() && old.is_some() {
        // kube does not start tracking on an update of an untracked (or reset) object.
        return;
    }
    // A create compares with the type's zero value, as kube does with a new empty object.
    let old_obj = old
        .map(without_managed_fields)
        .unwrap_or_else(|| typed::zero_object(schema));
    let id = ManagerId::update(&opts.manager, &opts.api_version, subresource);
    record(
        &old_obj,
        &new_obj,
        &mut managed,
        &id,
        &opts.api_version,
        &opts.now,
        schema,
    );
    managed::cap_updates(&mut managed, managed::MAX_UPDATE_MANAGERS);
    set_managed_fields(new, &managed);
}

/// Upstream `Updater.Update` with the `current-operation` manager of `managedFieldsUpdater`:
/// fields changed from `old` to `new` move to `id`, whose timestamp is set when it took any.
fn record(
    old: &Value,
    new: &Value,
    managed: &mut Managed,
    id: &ManagerId,
    api_version: &str,
    now: &str,
    schema: &Schema,
) {
    let cmp = typed::compare(old, new, schema);
    let changed = cmp.modified.union(&cmp.added);
    for e in managed.values_mut() {
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    let mut current: Managed = Managed::new();
    current.insert(
        id.clone(),
        Entry {
            api_version: api_version.to_string(),
            time: None,
            set: changed.difference(&cmp.removed),
        },
    );
    managed::strip_meta(&mut current);
    managed::strip_meta(managed);
    if let Some(cur) = current.remove(id) {
        let set = match managed.get(id) {
            Some(prev) => cur.set.union(&prev.set),
            None => cur.set,
        };
        managed.insert(
            id.clone(),
            Entry {
                api_version: api_version.to_string(),
                time: Some(now.to_string()),
                set,
            },
        );
    }
}

/// A copy of `obj` without `metadata.managedFields`.
fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    out
}

/// Writes the encoded managers into `obj` (removing the field when there are none).
fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    let encoded = managed::encode(managed);
    let Some(obj) = obj.as_object_mut() else {
        return;
    };
    match encoded {
        Some(list) => {
            let meta = obj
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("managedFields".into(), list);
            }
        }
        None => {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
    }
}

/// The last-applied annotation of an object, when set and not empty.
fn last_applied(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Upstream `lastAppliedManager.allowedConflictsFromLastApplied`: the fields of the
/// last-applied configuration whose values the live object still has (as kube paths).
fn allowed_from_last_applied(
    live: &Value,
    api_version: &str,
    schema: &Schema,
) -> Option<Vec<String>> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    let set = typed::field_set(&last, schema, true).ok()?;
    let cmp = typed::compare(&last, live, schema);
    let allowed = set
        .difference(&cmp.modified)
        .difference(&cmp.added)
        .difference(&cmp.removed);
    Some(allowed.paths().iter().map(|p| path_string(p)).collect())
}

/// Upstream `lastAppliedUpdater`: after a `kubectl` server-side apply, an object that has the
/// client-side annotation gets it rewritten to the applied configuration, so that a later
/// client-side apply sees what server-side apply did.
fn update_last_applied(object: &mut Value, config: &Value) {
    if last_applied(object).is_none() {
        return;
    }
    let mut cfg = config.clone();
    if let Some(Value::Object(ann)) = cfg.pointer_mut("/metadata/annotations") {
        ann.remove(LAST_APPLIED_ANNOTATION);
    }
    // Go's json.Encoder ends the document with a newline, as kubectl's own annotation does.
    let value = format!("{}\n", go_json(&cfg));
    let Some(ann) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    ann.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(value));
    let size: usize = ann
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_SIZE_LIMIT {
        ann.remove(LAST_APPLIED_ANNOTATION);
    }
}
