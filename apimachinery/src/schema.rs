//! Structural schemas: the one description of an object's shape that decoding, patching,
//! server-side apply, validation, pruning, defaulting and `kubectl explain` all read.
//!
//! A [`Schema`] is compiled from OpenAPI v3 JSON: a CRD's `openAPIV3Schema` (self-contained), or a
//! definition of the embedded built-in document (`components/schemas`, with `$ref`s resolved
//! lazily so that recursive types such as `JSONSchemaProps` work). Cloning is cheap.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Errors while compiling a schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema is not a JSON object at {0}")]
    NotAnObject(String),
    #[error("unsupported $ref {0:?} (only #/components/schemas/... and #/definitions/...)")]
    BadRef(String),
}

/// The JSON type a schema node declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    /// No `type` given (e.g. `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`).
    Unspecified,
}

/// How a list is merged by server-side apply (`x-kubernetes-list-type`, `+listType`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// How a map is merged by server-side apply (`x-kubernetes-map-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    Granular,
    Atomic,
}

/// A list or map field's strategic-merge-patch strategy (`x-kubernetes-patch-strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PatchStrategy {
    pub merge: bool,
    pub retain_keys: bool,
}

/// A compiled schema node. Cheap to clone.
#[derive(Clone)]
pub struct Schema(Arc<Node>);

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("type", &self.0.ty)
            .field("ref", &self.0.reference)
            .finish_non_exhaustive()
    }
}

/// A set of named definitions against which `$ref`s resolve.
pub struct Definitions {
    raw: HashMap<String, Value>,
    compiled: Mutex<HashMap<String, Schema>>,
}

impl std::fmt::Debug for Definitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Definitions({} entries)", self.raw.len())
    }
}

impl Definitions {
    /// Builds a definition set from a `components/schemas` (or Swagger `definitions`) object.
    pub fn new(schemas: &serde_json::Map<String, Value>) -> Arc<Definitions> {
        Arc::new(Definitions {
            raw: schemas
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// The compiled schema of one definition, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub fn get(self: &Arc<Self>, name: &str) -> Option<Schema> {
        if let Some(s) = self.lock().get(name) {
            return Some(s.clone());
        }
        let raw = self.raw.get(name)?;
        let schema = compile(raw, Some(self), name).ok()?;
        self.lock().insert(name.to_string(), schema.clone());
        Some(schema)
    }

    /// The raw JSON of one definition.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.raw.get(name)
    }

    /// All definition names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.raw.keys().map(String::as_str)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Schema>> {
        // A poisoned cache only means another thread panicked while inserting; the map is
        // still consistent (inserts are single operations).
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Node {
    ty: Type,
    /// `$ref` target (directly or through `allOf: [{$ref}]`), resolved lazily.
    reference: Option<String>,
    defs: Option<Arc<Definitions>>,
    properties: BTreeMap<String, Schema>,
    additional_properties: Option<Schema>,
    /// `additionalProperties: false` was given explicitly.
    additional_properties_false: bool,
    items: Option<Schema>,
    required: Vec<String>,
    preserve_unknown_fields: bool,
    int_or_string: bool,
    embedded_resource: bool,
    nullable: bool,
    list_type: Option<ListType>,
    map_type: Option<MapType>,
    patch_strategy: PatchStrategy,
    patch_merge_key: Option<String>,
    description: Option<String>,
    default: Option<Value>,
    format: Option<String>,
    all_of: Vec<Schema>,
    any_of: Vec<Schema>,
    one_of: Vec<Schema>,
    not: Option<Schema>,
    /// The node's own JSON, for validation keywords this module does not model.
    raw: Value,
}

/// Compiles a self-contained schema such as a CRD version's `openAPIV3Schema`.
pub fn compile_openapi_v3(schema: &Value) -> Result<Schema, SchemaError> {
    compile(schema, None, "")
}

fn compile(v: &Value, defs: Option<&Arc<Definitions>>, path: &str) -> Result<Schema, SchemaError> {
    let obj = match v {
        Value::Object(o) => o,
        Value::Bool(true) => return Ok(Schema::any()),
        _ => return Err(SchemaError::NotAnObject(path.to_string())),
    };
    let sub = |v: &Value, p: &str| compile(v, defs, &format!("{path}.{p}"));
    let subs = |key: &str| -> Result<Vec<Schema>, SchemaError> {
        match obj.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, s)| compile(s, defs, &format!("{path}.{key}[{i}]")))
                .collect(),
            _ => Ok(Vec::new()),
        }
    };

    let mut reference = obj
        .get("$ref")
        .and_then(Value::as_str)
        .map(ref_name)
        .transpose()?;
    let mut all_of = subs("allOf")?;
    // kube-openapi writes `allOf: [{$ref: X}]` to attach a description to a reference.
    if reference.is_none()
        && let Some(Value::Array(a)) = obj.get("allOf")
        && a.len() == 1
        && let Some(r) = a[0].get("$ref").and_then(Value::as_str)
    {
        reference = Some(ref_name(r)?);
        all_of.clear();
    }

    let ty = match obj.get("type").and_then(Value::as_str) {
        Some("object") => Type::Object,
        Some("array") => Type::Array,
        Some("string") => Type::String,
        Some("integer") => Type::Integer,
        Some("number") => Type::Number,
        Some("boolean") => Type::Boolean,
        _ => Type::Unspecified,
    };
    let mut properties = BTreeMap::new();
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, p) in props {
            properties.insert(k.clone(), sub(p, k)?);
        }
    }
    let (additional_properties, additional_properties_false) = match obj.get("additionalProperties")
    {
        Some(Value::Bool(false)) => (None, true),
        Some(Value::Bool(true)) => (Some(Schema::any()), false),
        Some(p @ Value::Object(_)) => (Some(sub(p, "additionalProperties")?), false),
        _ => (None, false),
    };
    let items = match obj.get("items") {
        Some(i @ Value::Object(_)) => Some(sub(i, "items")?),
        _ => None,
    };
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    let list_type = match obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("atomic") => Some(ListType::Atomic),
        Some("set") => Some(ListType::Set),
        Some("map") => Some(ListType::Map(
            obj.get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        )),
        _ => None,
    };
    let map_type = match obj.get("x-kubernetes-map-type").and_then(Value::as_str) {
        Some("atomic") => Some(MapType::Atomic),
        Some("granular") => Some(MapType::Granular),
        _ => None,
    };
    let patch_strategy = obj
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .map(|s| PatchStrategy {
            merge: s.split(',').any(|p| p == "merge"),
            retain_keys: s.split(',').any(|p| p == "retainKeys"),
        })
        .unwrap_or_default();
    let node = Node {
        ty,
        reference,
        defs: defs.cloned(),
        properties,
        additional_properties,
        additional_properties_false,
        items,
        required: obj
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        preserve_unknown_fields: flag("x-kubernetes-preserve-unknown-fields"),
        int_or_string: flag("x-kubernetes-int-or-string"),
        embedded_resource: flag("x-kubernetes-embedded-resource"),
        nullable: flag("nullable"),
        list_type,
        map_type,
        patch_strategy,
        patch_merge_key: obj
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .map(String::from),
        description: obj
            .get("description")
            .and_then(Value::as_str)
            .map(String::from),
        default: obj.get("default").cloned(),
        format: obj.get("format").and_then(Value::as_str).map(String::from),
        all_of,
        any_of: subs("anyOf")?,
        one_of: subs("oneOf")?,
        not: match obj.get("not") {
            Some(n @ Value::Object(_)) => Some(sub(n, "not")?),
            _ => None,
        },
        raw: v.clone(),
    };
    Ok(Schema(Arc::new(node)))
}

fn ref_name(r: &str) -> Result<String, SchemaError> {
    r.strip_prefix("#/components/schemas/")
        .or_else(|| r.strip_prefix("#/definitions/"))
        .map(String::from)
        .ok_or_else(|| SchemaError::BadRef(r.to_string()))
}

impl Schema {
    /// A schema that says nothing: any JSON, unknown fields preserved, merged atomically.
    pub fn any() -> Schema {
        Schema(Arc::new(Node {
            ty: Type::Unspecified,
            reference: None,
            defs: None,
            properties: BTreeMap::new(),
            additional_properties: None,
            additional_properties_false: false,
            items: None,
            required: Vec::new(),
            preserve_unknown_fields: true,
            int_or_string: false,
            embedded_resource: false,
            nullable: true,
            list_type: None,
            map_type: None,
            patch_strategy: PatchStrategy::default(),
            patch_merge_key: None,
            description: None,
            default: None,
            format: None,
            all_of: Vec::new(),
            any_of: Vec::new(),
            one_of: Vec::new(),
            not: None,
            raw: Value::Bool(true),
        }))
    }

    /// The node a `$ref` points at, or `self` when this node is not a reference. A dangling
    /// reference resolves to [`Schema::any`].
    pub fn target(&self) -> Schema {
        match (&self.0.reference, &self.0.defs) {
            (Some(r), Some(defs)) => defs.get(r).map(|s| s.target()).unwrap_or_else(Schema::any),
            (Some(_), None) => Schema::any(),
            _ => self.clone(),
        }
    }

    /// True when this node belongs to a definitions document (the built-in OpenAPI) rather than
    /// a self-contained CRD schema. There an object without properties is opaque to kube's typed
    /// decoder (RawExtension, FieldsV1), whereas in a CRD it means "prune everything".
    pub fn is_from_definitions(&self) -> bool {
        self.0.defs.is_some()
    }

    /// The definition name this node refers to, if it is a `$ref`.
    pub fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }

    /// The declared type (of the referenced node for references).
    pub fn ty(&self) -> Type {
        self.target().0.ty
    }

    /// The schema of property `name` of an object.
    pub fn property(&self, name: &str) -> Option<Schema> {
        self.target().0.properties.get(name).cloned()
    }

    /// All declared properties of an object.
    pub fn properties(&self) -> Vec<(String, Schema)> {
        self.target()
            .0
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `additionalProperties` of a map-like object (`None` when absent or `false`).
    pub fn additional_properties(&self) -> Option<Schema> {
        self.target().0.additional_properties.clone()
    }

    /// True when `additionalProperties: false` was given.
    pub fn forbids_additional_properties(&self) -> bool {
        self.target().0.additional_properties_false
    }

    /// The schema of the value at `name` in an object: a declared property, else the
    /// `additionalProperties` schema, else `Schema::any()` when unknown fields are preserved.
    pub fn child(&self, name: &str) -> Option<Schema> {
        let t = self.target();
        if let Some(p) = t.0.properties.get(name) {
            return Some(p.clone());
        }
        if let Some(a) = &t.0.additional_properties {
            return Some(a.clone());
        }
        if t.0.preserve_unknown_fields || t.0.ty == Type::Unspecified {
            return Some(Schema::any());
        }
        None
    }

    /// The schema of a list's items.
    pub fn items(&self) -> Option<Schema> {
        self.target().0.items.clone()
    }

    /// Required property names.
    pub fn required(&self) -> Vec<String> {
        self.target().0.required.clone()
    }

    /// `x-kubernetes-preserve-unknown-fields` on this node or its target.
    pub fn preserves_unknown_fields(&self) -> bool {
        self.0.preserve_unknown_fields || self.target().0.preserve_unknown_fields
    }

    /// `x-kubernetes-int-or-string`.
    pub fn is_int_or_string(&self) -> bool {
        self.0.int_or_string || self.target().0.int_or_string
    }

    /// `x-kubernetes-embedded-resource`.
    pub fn is_embedded_resource(&self) -> bool {
        self.0.embedded_resource || self.target().0.embedded_resource
    }

    /// `nullable: true`.
    pub fn is_nullable(&self) -> bool {
        self.0.nullable || self.target().0.nullable
    }

    /// The list type; lists without an explicit type are atomic, except that a strategic merge
    /// key implies a map keyed by it (as the apiserver's structured-merge-diff models do).
    pub fn list_type(&self) -> ListType {
        if let Some(lt) = self
            .0
            .list_type
            .clone()
            .or_else(|| self.target().0.list_type.clone())
        {
            return lt;
        }
        match self.patch_merge_key() {
            Some(k) if self.patch_strategy().merge => ListType::Map(vec![k]),
            _ => ListType::Atomic,
        }
    }

    /// The map type; maps are granular unless marked atomic.
    pub fn map_type(&self) -> MapType {
        self.0
            .map_type
            .or(self.target().0.map_type)
            .unwrap_or(MapType::Granular)
    }

    /// The strategic-merge-patch strategy declared on this node (a property).
    pub fn patch_strategy(&self) -> PatchStrategy {
        let own = self.0.patch_strategy;
        if own != PatchStrategy::default() {
            own
        } else {
            self.target().0.patch_strategy
        }
    }

    /// The strategic-merge-patch merge key declared on this node (a property).
    pub fn patch_merge_key(&self) -> Option<String> {
        self.0
            .patch_merge_key
            .clone()
            .or_else(|| self.target().0.patch_merge_key.clone())
    }

    /// The description (of this node, else of its target).
    pub fn description(&self) -> Option<String> {
        self.0
            .description
            .clone()
            .or_else(|| self.target().0.description.clone())
    }

    /// The `default` value (of this node, else of its target).
    pub fn default_value(&self) -> Option<Value> {
        self.0
            .default
            .clone()
            .or_else(|| self.target().0.default.clone())
    }

    /// The `format` keyword.
    pub fn format(&self) -> Option<String> {
        self.0
            .format
            .clone()
            .or_else(|| self.target().0.format.clone())
    }

    /// `allOf` sub-schemas (excluding the `allOf: [{$ref}]` wrapper form).
    pub fn all_of(&self) -> Vec<Schema> {
        self.target().0.all_of.clone()
    }

    /// `anyOf` sub-schemas.
    pub fn any_of(&self) -> Vec<Schema> {
        self.target().0.any_of.clone()
    }

    /// `oneOf` sub-schemas.
    pub fn one_of(&self) -> Vec<Schema> {
        self.target().0.one_of.clone()
    }

    /// The `not` sub-schema.
    pub fn not(&self) -> Option<Schema> {
        self.target().0.not.clone()
    }

    /// The node's own JSON (of the target for references), for keywords not modelled here
    /// (`enum`, `pattern`, `minimum`, `maxLength`, ...).
    pub fn raw(&self) -> Value {
        self.target().0.raw.clone()
    }

    /// A keyword of the node's JSON (of this node first, then of its target).
    pub fn keyword(&self, key: &str) -> Option<Value> {
        self.0
            .raw
            .get(key)
            .cloned()
            .or_else(|| self.target().0.raw.get(key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_schema_compiles_with_list_and_map_types() {
        let s = compile_openapi_v3(&json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port", "protocol"],
                              "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "sel": {"type": "object", "x-kubernetes-map-type": "atomic",
                            "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}
            }
        }))
        .expect("compiles");
        let spec = s.property("spec").expect("spec");
        assert_eq!(spec.ty(), Type::Object);
        let ports = spec.property("ports").expect("ports");
        assert_eq!(
            ports.list_type(),
            ListType::Map(vec!["port".into(), "protocol".into()])
        );
        assert_eq!(
            ports
                .items()
                .and_then(|i| i.property("port"))
                .map(|p| p.ty()),
            Some(Type::Integer)
        );
        assert_eq!(
            spec.property("tags").map(|t| t.list_type()),
            Some(ListType::Atomic)
        );
        assert_eq!(
            spec.property("sel").map(|t| t.map_type()),
            Some(MapType::Atomic)
        );
        assert!(
            spec.property("free")
                .is_some_and(|f| f.preserves_unknown_fields())
        );
        assert!(spec.child("nope").is_none());
        assert!(
            spec.property("free")
                .and_then(|f| f.child("anything"))
                .is_some()
        );
    }

    #[test]
    fn references_resolve_lazily_and_recursively() {
        let defs = Definitions::new(
            json!({
                "T": {"type": "object", "properties": {
                    "child": {"allOf": [{"$ref": "#/components/schemas/T"}], "description": "again"},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/T"},
                              "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}
                }}
            })
            .as_object()
            .expect("object"),
        );
        let t = defs.get("T").expect("T");
        let child = t.property("child").expect("child");
        assert_eq!(child.description().as_deref(), Some("again"));
        let grandchild = child.property("child").expect("recursion");
        assert_eq!(grandchild.ty(), Type::Object);
        let items = t.property("items").expect("items");
        assert_eq!(items.list_type(), ListType::Map(vec!["name".into()]));
    }
}
