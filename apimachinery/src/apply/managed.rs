//! `metadata.managedFields`: decoding into per-manager field sets, encoding back in kube's
//! order, and the bookkeeping kube-apiserver's field manager does around server-side apply
//! (metadata fields nobody owns, the cap on update entries, manager identities).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::fieldset::{FieldSet, PathElement, go_json, go_quote};

/// The `Apply` operation.
pub(crate) const APPLY: &str = "Apply";
/// The `Update` operation.
pub(crate) const UPDATE: &str = "Update";
/// The manager that receives old update entries beyond the cap (upstream
/// `DefaultMaxUpdateManagers` = 10).
const ANCIENT_CHANGES: &str = "ancient-changes";
pub(crate) const MAX_UPDATE_MANAGERS: usize = 10;

/// What identifies a managedFields entry (upstream `BuildManagerIdentifier`): manager,
/// operation, subresource, and the API version for updates only (an applier keeps one entry
/// whatever version it applies with).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ManagerId {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: String,
}

impl ManagerId {
    /// An applier's identity.
    pub fn apply(manager: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: manager.to_string(),
            operation: APPLY.to_string(),
            api_version: String::new(),
            subresource: subresource.to_string(),
        }
    }

    /// An updater's identity.
    pub fn update(manager: &str, api_version: &str, subresource: &str) -> ManagerId {
        ManagerId {
            manager: manager.to_string(),
            operation: UPDATE.to_string(),
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }

    /// The identifier string upstream keys managers by (JSON of the entry's identity fields);
    /// conflict messages sort managers by it.
    pub fn identifier(&self) -> String {
        let mut fields = Vec::new();
        for (k, v) in [
            ("manager", &self.manager),
            ("operation", &self.operation),
            ("apiVersion", &self.api_version),
            ("subresource", &self.subresource),
        ] {
            if !v.is_empty() {
                fields.push(format!("\"{k}\":{}", go_json(&Value::String(v.clone()))));
            }
        }
        format!("{{{}}}", fields.join(","))
    }

    /// Upstream `printManager`: `"kubectl"`, `"x" with subresource "status"`, `"x" using apps/v1`.
    pub fn describe(&self) -> String {
        let mut s = go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {}", go_quote(&self.subresource));
        }
        if self.operation == UPDATE {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// One manager's entry.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub api_version: String,
    pub time: Option<String>,
    pub set: FieldSet,
}

/// All managers of an object.
pub(crate) type Managed = BTreeMap<ManagerId, Entry>;

/// Upstream `isResetManagedFields`: an empty list, or one empty entry, asks to clear them.
pub(crate) fn is_reset(list: Option<&Value>) -> bool {
    match list {
        Some(Value::Array(a)) => {
            a.is_empty() || (a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
        }
        _ => false,
    }
}

/// Decodes `metadata.managedFields`, with upstream's validation messages.
pub(crate) fn decode(list: Option<&Value>) -> Result<Managed, String> {
    let mut out = Managed::new();
    let entries = match list {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("managedFields is not a list".to_string()),
    };
    for (i, e) in entries.iter().enumerate() {
        let s = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let operation = s("operation");
        if operation != APPLY && operation != UPDATE {
            return Err("operation must be `Apply` or `Update`".to_string());
        }
        let api_version = s("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match s("fieldsType").as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    go_quote(other)
                ));
            }
        }
        let set = match e.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v)
                .map_err(|err| format!("error decoding versioned set: {err}"))?,
        };
        let manager = s("manager");
        let subresource = s("subresource");
        let id = if operation == APPLY {
            ManagerId::apply(&manager, &subresource)
        } else {
            ManagerId::update(&manager, &api_version, &subresource)
        };
        let time = e.get("time").and_then(Value::as_str).map(String::from);
        out.insert(
            id,
            Entry {
                api_version,
                time,
                set,
            },
        );
    }
    Ok(out)
}

fn unix_seconds(t: &Option<String>) -> i64 {
    t.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Encodes managers as `metadata.managedFields` in upstream's order (operation, time, manager,
/// apiVersion, subresource); `None` when there are none.
pub(crate) fn encode(managed: &Managed) -> Option<Value> {
    if managed.is_empty() {
        return None;
    }
    let mut entries: Vec<(&ManagerId, &Entry)> = managed.iter().collect();
    entries.sort_by(|(a, ea), (b, eb)| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| unix_seconds(&ea.time).cmp(&unix_seconds(&eb.time)))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| ea.api_version.cmp(&eb.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let list = entries
        .into_iter()
        .map(|(id, e)| {
            let mut m = Map::new();
            if !id.manager.is_empty() {
                m.insert("manager".into(), json!(id.manager));
            }
            m.insert("operation".into(), json!(id.operation));
            m.insert("apiVersion".into(), json!(e.api_version));
            if let Some(t) = &e.time {
                m.insert("time".into(), json!(t));
            }
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), e.set.to_fields_v1());
            if !id.subresource.is_empty() {
                m.insert("subresource".into(), json!(id.subresource));
            }
            Value::Object(m)
        })
        .collect();
    Some(Value::Array(list))
}

/// Upstream `stripMetaManager`: type and object metadata nobody owns. Only these exact paths
/// are dropped (`metadata.labels.x` stays owned).
pub(crate) fn strip_meta(managed: &mut Managed) {
    let f = |n: &str| PathElement::Field(n.to_string());
    let mut strip = FieldSet::new();
    strip.insert(&[f("apiVersion")]);
    strip.insert(&[f("kind")]);
    strip.insert(&[f("metadata")]);
    for m in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        strip.insert(&[f("metadata"), f(m)]);
    }
    for e in managed.values_mut() {
        e.set = e.set.difference(&strip);
    }
    managed.retain(|_, e| !e.set.is_empty());
}

/// Upstream `capManagersManager`: merges the oldest update entries into one `ancient-changes`
/// entry per API version until at most `max` update entries remain.
pub(crate) fn cap_updates(managed: &mut Managed, max: usize) {
    let mut updaters: Vec<ManagerId> = managed
        .keys()
        .filter(|id| id.operation == UPDATE)
        .cloned()
        .collect();
    if updaters.len() <= max {
        return;
    }
    updaters.sort_by(|a, b| {
        let (ta, tb) = (
            managed.get(a).map(|e| unix_seconds(&e.time)),
            managed.get(b).map(|e| unix_seconds(&e.time)),
        );
        ta.cmp(&tb)
            .then_with(|| a.identifier().cmp(&b.identifier()))
    });
    let mut first_of_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= max {
            break;
        }
        let Some(entry) = managed.get(&id).cloned() else {
            continue;
        };
        let version = entry.api_version.clone();
        let bucket = ManagerId::update(ANCIENT_CHANGES, &version, "");
        match first_of_version.get(&version) {
            Some(first) => {
                if !managed.contains_key(&bucket)
                    && let Some(first_entry) = managed.remove(first)
                {
                    managed.insert(bucket.clone(), first_entry);
                }
                if let Some(b) = managed.get_mut(&bucket) {
                    b.set = entry.set.union(&b.set);
                    // The merged update is more recent than the bucket's entries so far.
                    b.time = entry.time.clone();
                    b.api_version = version;
                }
                managed.remove(&id);
                length -= 1;
            }
            None => {
                first_of_version.insert(version, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_descriptions_match_print_manager() {
        assert_eq!(ManagerId::apply("kubectl", "").describe(), "\"kubectl\"");
        assert_eq!(
            ManagerId::update("kubectl-client-side-apply", "apps/v1", "").describe(),
            "\"kubectl-client-side-apply\" using apps/v1"
        );
        assert_eq!(
            ManagerId::update("kcm", "apps/v1", "status").describe(),
            "\"kcm\" with subresource \"status\" using apps/v1"
        );
        assert_eq!(
            ManagerId::update("m", "v1", "").identifier(),
            r#"{"manager":"m","operation":"Update","apiVersion":"v1"}"#
        );
    }

    #[test]
    fn decode_validates_like_upstream() {
        let bad_op = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
        assert_eq!(
            decode(Some(&bad_op)).err().as_deref(),
            Some("operation must be `Apply` or `Update`")
        );
        let no_type = json!([{"manager": "m", "operation": "Update", "apiVersion": "v1"}]);
        assert_eq!(
            decode(Some(&no_type)).err().as_deref(),
            Some("missing fieldsType in managed fields entry 0")
        );
        assert!(is_reset(Some(&json!([{}]))) && is_reset(Some(&json!([]))) && !is_reset(None));
    }

    #[test]
    fn cap_merges_oldest_updates_per_version() {
        let mut managed = Managed::new();
        for i in 0..12 {
            let mut set = FieldSet::new();
            set.insert(&[PathElement::Field(format!("f{i}"))]);
            managed.insert(
                ManagerId::update(&format!("m{i:02}"), "v1", ""),
                Entry {
                    api_version: "v1".into(),
                    time: Some(format!("2026-01-01T00:00:{i:02}Z")),
                    set,
                },
            );
        }
        cap_updates(&mut managed, MAX_UPDATE_MANAGERS);
        assert_eq!(managed.len(), 10);
        let bucket = managed
            .get(&ManagerId::update(ANCIENT_CHANGES, "v1", ""))
            .expect("bucket");
        assert_eq!(bucket.set.len(), 3);
        assert_eq!(bucket.time.as_deref(), Some("2026-01-01T00:00:02Z"));
        assert!(!managed.contains_key(&ManagerId::update("m00", "v1", "")));
        assert!(managed.contains_key(&ManagerId::update("m03", "v1", "")));
    }
}
