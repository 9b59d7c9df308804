//! The semantics of reading and writing objects, shared by the HTTP handlers and the space's own
//! controllers: server-set metadata, status/main split, generation, finalizers, preconditions,
//! admission of special kinds, validation, managed fields, no-op detection.

pub(crate) mod admission;
mod checks;
mod config_data;
pub mod continuation;
pub(crate) mod delete;
mod patch;
mod read;
mod scale;
mod services;
mod ssa;
mod write;

pub use delete::DeleteOptions;
pub use patch::PatchType;
pub use read::{ListOptions, ListResult};

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::store::{CommitError, ObjectKey};

/// How unknown fields in a request body are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter (absent = Warn, as kube-apiserver).
    pub fn parse(v: Option<&str>) -> ApiResult<FieldValidation> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(o) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {o} (supported values: Ignore, Warn, Strict)"
            ))),
        }
    }
}

/// Options common to every write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// Server-side apply `force`.
    pub force: bool,
}

/// Which part of an object a write addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
    Scale,
}

impl Subresource {
    /// Parses a path's subresource segment for a resource.
    pub fn parse(sub: Option<&str>, r: &ResourceInfo) -> ApiResult<Subresource> {
        match sub {
            None => Ok(Subresource::Main),
            Some("status") if r.has_status => Ok(Subresource::Status),
            Some("scale") if r.scale.is_some() => Ok(Subresource::Scale),
            Some(_) => Err(ApiError::no_route()),
        }
    }

    fn name(self) -> Option<&'static str> {
        match self {
            Subresource::Main => None,
            Subresource::Status => Some("status"),
            Subresource::Scale => Some("scale"),
        }
    }
}

/// The result of a write.
#[derive(Clone, Debug)]
pub struct WriteOutcome {
    pub object: Value,
    /// 200 or 201.
    pub code: u16,
    /// Texts for `Warning:` response headers.
    pub warnings: Vec<String>,
    /// The stored JSON of `object`, when the answer can be sent as is (saves serializing).
    pub raw: Option<bytes::Bytes>,
}

/// Current time as kube prints it (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `metadata` map of an object, created if missing.
pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let o = obj.as_object_mut().expect("just made an object");
    let m = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("just made an object")
}

/// Maps a store refusal to the API error kubectl expects.
pub(crate) fn commit_error(e: CommitError, r: &ResourceInfo, key: &ObjectKey) -> ApiError {
    match e {
        CommitError::AlreadyExists => ApiError::already_exists(&r.group, &r.resource, &key.name),
        CommitError::NotFound => ApiError::not_found(&r.group, &r.resource, &key.name),
        CommitError::Conflict => ApiError::conflict(&r.group, &r.resource, &key.name),
        CommitError::Store(s) => {
            let mut e = ApiError::internal(s);
            e.code = 500;
            e
        }
    }
}

/// The object with parts that do not count as a change removed, for no-op detection: the
/// resourceVersion and the times in managedFields.
pub(crate) fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    v
}

/// True when `a` and `b` differ outside `metadata` (and outside `status` when `ignore_status`).
pub(crate) fn spec_changed(a: &Value, b: &Value, ignore_status: bool) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            if ignore_status {
                o.remove("status");
            }
        }
        v
    };
    strip(a) != strip(b)
}

/// Reads a JSONPath-like `.a.b.c` path (used by `/scale` and printer columns).
pub(crate) fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

/// Writes at a `.a.b.c` path, creating objects on the way.
pub(crate) fn set_path(v: &mut Value, path: &str, value: Value) {
    let segs: Vec<&str> = path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect();
    let mut cur = v;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let o = cur.as_object_mut().expect("just made an object");
        if i + 1 == segs.len() {
            o.insert(seg.to_string(), value);
            return;
        }
        cur = o
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}
