//! Builds the OpenAPI v3 definitions: structure from k8s-pb, names, descriptions, `required` and
//! kinds from k8s-openapi, pointer/omitempty/inline facts from Go, list and patch semantics from
//! the `+markers`, and the `x-proto-*` extensions that drive the protobuf decoder.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::docs;
use crate::gofacts::{self, GoField, GoStructs};
use crate::openapi::{OaDef, normalize};
use crate::pb::{Field, Message, PbType, Scalar};
use crate::special;

/// Counters printed by the generator.
#[derive(Debug, Default)]
pub struct Stats {
    pub names_from_openapi: usize,
    pub names_from_go: usize,
    pub names_camel_fallback: Vec<String>,
    pub dropped_not_in_1_33: Vec<String>,
    pub no_go_facts: Vec<String>,
    pub name_mismatch_openapi_go: Vec<String>,
    pub inline_fields: Vec<String>,
    pub list_wrappers: BTreeSet<String>,
    pub dangling: BTreeSet<String>,
    pub required_differs: Vec<String>,
}

/// Everything the builder reads.
pub struct Inputs {
    pub pb: BTreeMap<String, Message>,
    pub oa: BTreeMap<String, OaDef>,
    pub go: GoStructs,
}

fn ref_to(def: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{def}") })
}

/// `io.k8s.api.apps.v1` and `k8s.io/api/apps/v1` for a k8s-pb module path.
fn prefixes(module: &[String]) -> (String, String) {
    let segs: Vec<String> = module
        .iter()
        .map(|s| s.replace("apiextensions_apiserver", "apiextensions-apiserver"))
        .collect();
    (
        format!("io.k8s.{}", segs.join(".")),
        format!("k8s.io/{}", segs.join("/")),
    )
}

fn lower_camel(rust: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in rust.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The builder state.
pub struct Builder<'a> {
    inp: &'a Inputs,
    /// k8s-pb key -> definition name.
    names: BTreeMap<String, String>,
    /// definition name -> k8s-pb key.
    by_def: BTreeMap<String, String>,
    queue: VecDeque<String>,
    queued: BTreeSet<String>,
    pub out: BTreeMap<String, Value>,
    pub stats: Stats,
}

impl<'a> Builder<'a> {
    /// Indexes the inputs.
    pub fn new(inp: &'a Inputs) -> Builder<'a> {
        let lower: BTreeMap<String, &str> = inp
            .oa
            .keys()
            .map(|k| (k.to_lowercase(), k.as_str()))
            .collect();
        let mut names = BTreeMap::new();
        let mut by_def = BTreeMap::new();
        for (key, msg) in &inp.pb {
            let (def_prefix, go_pkg) = prefixes(&msg.module);
            let candidate = format!("{def_prefix}.{}", msg.rust_name).to_lowercase();
            let def = if let Some(d) = lower.get(&candidate) {
                d.to_string()
            } else if let Some((go_name, _)) = gofacts::find(&inp.go, &go_pkg, &msg.rust_name) {
                format!("{def_prefix}.{go_name}")
            } else {
                match msg.rust_name.as_str() {
                    "Json" => format!("{def_prefix}.JSON"),
                    n => format!("{def_prefix}.{}", n.replace("Json", "JSON")),
                }
            };
            by_def.insert(def.clone(), key.clone());
            names.insert(key.clone(), def);
        }
        Builder {
            inp,
            names,
            by_def,
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            out: BTreeMap::new(),
            stats: Stats::default(),
        }
    }

    /// Queues a definition (by name) for output.
    pub fn want(&mut self, def: &str) {
        if self.queued.insert(def.to_string()) {
            self.queue.push_back(def.to_string());
        }
    }

    /// Queues the roots: every kube-published definition of the listed group versions, plus
    /// the extras.
    pub fn want_roots(&mut self) {
        let mut roots = Vec::new();
        for (module, _) in special::GROUP_VERSIONS {
            let module: Vec<String> = module.split("::").map(String::from).collect();
            let (def_prefix, _) = prefixes(&module);
            for (name, oa) in &self.inp.oa {
                if name
                    .strip_prefix(&def_prefix)
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|r| !r.contains('.'))
                {
                    roots.push(name.clone());
                    // k8s-openapi models lists generically; kube publishes `DeploymentList`.
                    if let Some(lk) = &oa.list_kind {
                        roots.push(format!("{def_prefix}.{lk}"));
                    }
                }
            }
        }
        roots.extend(special::OPENAPI_ONLY.iter().map(|s| s.to_string()));
        roots.extend(special::GO_ONLY.iter().map(|s| s.to_string()));
        roots.extend(special::EXTRA_ROOTS.iter().map(|s| s.to_string()));
        for r in roots {
            self.want(&r);
        }
    }

    /// Builds queued definitions until the closure is complete.
    pub fn run(&mut self) -> Result<()> {
        while let Some(def) = self.queue.pop_front() {
            let schema = self
                .build(&def)
                .with_context(|| format!("building {def}"))?;
            if let Some(s) = schema {
                self.out.insert(def, s);
            }
        }
        crate::gvk::add_gvks(&self.inp.oa, &mut self.out);
        Ok(())
    }

    fn build(&mut self, def: &str) -> Result<Option<Value>> {
        if let Some((mut schema, convert)) = special::special(def) {
            let key = self
                .by_def
                .get(def)
                .with_context(|| format!("no protobuf message for {def}"))?
                .clone();
            let msg = &self.inp.pb[&key];
            let mut fields = Map::new();
            for f in &msg.fields {
                let t = self.proto_type(&f.ty)?;
                fields.insert(
                    f.tag.to_string(),
                    Value::String(if f.repeated {
                        format!("repeated:{t}")
                    } else {
                        t
                    }),
                );
            }
            let obj = schema.as_object_mut().context("special schema")?;
            if let Some(d) = self
                .inp
                .oa
                .get(def)
                .and_then(OaDef::description)
                .or_else(|| docs::description(&msg.doc))
            {
                obj.insert("description".into(), Value::String(d));
            }
            obj.insert("x-proto-convert".into(), Value::String(convert.into()));
            obj.insert("x-proto-fields".into(), Value::Object(fields));
            return Ok(Some(schema));
        }
        if special::GO_ONLY.contains(&def) {
            return self.build_from_go(def).map(Some);
        }
        if let Some(key) = self.by_def.get(def).cloned() {
            return self.build_message(def, &key).map(Some);
        }
        if let Some(oa) = self.inp.oa.get(def) {
            let schema = oa.schema.clone();
            return Ok(Some(self.fix_refs(schema)));
        }
        self.stats.dangling.insert(def.to_string());
        Ok(None)
    }

    /// k8s-openapi schemas name referenced definitions in `$ref`; make them OpenAPI refs.
    fn fix_refs(&mut self, v: Value) -> Value {
        match v {
            Value::Object(mut m) => {
                if let Some(Value::String(r)) = m.remove("$ref") {
                    self.want(&r);
                    return match m.remove("description") {
                        Some(d) => json!({"allOf": [ref_to(&r)], "description": d}),
                        None => ref_to(&r),
                    };
                }
                Value::Object(m.into_iter().map(|(k, v)| (k, self.fix_refs(v))).collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.fix_refs(v)).collect()),
            other => other,
        }
    }

    /// A message that is only `repeated <scalar> items = 1` and is a Go slice type
    /// (`meta.v1.Verbs`, `authorization.v1.ExtraValue`) marshals as a JSON array.
    fn list_wrapper(&self, key: &str) -> Option<Scalar> {
        let msg = self.inp.pb.get(key)?;
        let def = self.names.get(key)?;
        if self.inp.oa.contains_key(def) || special::special(def).is_some() {
            return None;
        }
        let (_, go_pkg) = prefixes(&msg.module);
        if gofacts::find(&self.inp.go, &go_pkg, &msg.rust_name).is_some() {
            return None;
        }
        match msg.fields.as_slice() {
            [f] if f.rust_name == "items" && f.repeated && f.tag == 1 => match &f.ty {
                PbType::Scalar(s) => Some(*s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The `x-proto-type` string of one element type.
    fn proto_type(&mut self, ty: &PbType) -> Result<String> {
        Ok(match ty {
            PbType::Scalar(s) => s.proto_name().to_string(),
            PbType::Message(key) => {
                if let Some(s) = self.list_wrapper(key) {
                    self.stats.list_wrappers.insert(key.clone());
                    format!("list:{}", s.proto_name())
                } else {
                    let def = self
                        .names
                        .get(key)
                        .with_context(|| format!("unknown message {key}"))?
                        .clone();
                    self.want(&def);
                    format!("message:{def}")
                }
            }
            PbType::Map(v) => format!("map<string,{}>", self.proto_type(v)?),
        })
    }

    /// The JSON schema of one element type (no description).
    fn type_schema(&mut self, ty: &PbType) -> Result<Value> {
        Ok(match ty {
            PbType::Scalar(s) => scalar_schema(*s),
            PbType::Message(key) => match self.list_wrapper(key) {
                Some(s) => json!({"type": "array", "items": scalar_schema(s)}),
                None => {
                    let def = self
                        .names
                        .get(key)
                        .with_context(|| format!("unknown message {key}"))?
                        .clone();
                    ref_to(&def)
                }
            },
            PbType::Map(v) => {
                json!({"type": "object", "additionalProperties": self.type_schema(v)?})
            }
        })
    }

    fn build_message(&mut self, def: &str, key: &str) -> Result<Value> {
        let inp = self.inp;
        let msg = &inp.pb[key];
        let oa = inp.oa.get(def);
        let (_, go_pkg) = prefixes(&msg.module);
        let go = gofacts::find(&inp.go, &go_pkg, &msg.rust_name).map(|(_, f)| f);
        if go.is_none() {
            self.stats.no_go_facts.push(def.to_string());
        }
        let go_by_tag: BTreeMap<u32, &GoField> = go
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f.proto_tag.map(|t| (t, f)))
                    .collect()
            })
            .unwrap_or_default();
        let mut props = Map::new();
        let mut go_required = Vec::new();
        for f in &msg.fields {
            let gf = go_by_tag.get(&f.tag).copied();
            if gf.is_some_and(|g| g.inline) {
                self.inline(def, oa, &[], f, &mut props, &mut go_required)?;
                continue;
            }
            if let Some((json, schema)) = self.field(def, oa, &[], f, gf)? {
                if gf.is_some_and(|g| !g.omitempty && !docs::markers(&f.doc).optional)
                    || docs::markers(&f.doc).required
                {
                    go_required.push(json.clone());
                }
                if props.insert(json.clone(), schema).is_some() {
                    bail!("{def}: two fields named {json}");
                }
            }
        }
        // TypeMeta is inlined in Go and absent from the protobuf message.
        if let Some(oa) = oa {
            for k in ["apiVersion", "kind"] {
                // Only where the message has no such field of its own (RoleRef.kind).
                if let (Some(p), false) = (oa.property(k), props.contains_key(k)) {
                    props.insert(k.to_string(), p.clone());
                }
            }
        } else if go.is_some_and(|fs| {
            fs.iter()
                .any(|f| f.inline && f.go_type == "struct(v1.TypeMeta)")
        }) {
            for (k, v) in type_meta_props() {
                props.entry(k).or_insert(v);
            }
        }
        let mut schema = Map::new();
        if let Some(d) = oa
            .and_then(OaDef::description)
            .or_else(|| docs::description(&msg.doc))
        {
            schema.insert("description".into(), Value::String(d));
        }
        let required: Vec<String> = match (oa, go) {
            // k8s-openapi marks `metadata` of every resource required; kube does not (Go's
            // field is `omitempty`). Report any other disagreement.
            (Some(oa), Some(_)) => {
                let mut theirs = oa.required();
                theirs.retain(|r| r != "metadata" || go_required.contains(r));
                let (mut a, mut b) = (theirs.clone(), go_required.clone());
                a.sort();
                b.sort();
                if a != b {
                    self.stats
                        .required_differs
                        .push(format!("{def}: k8s-openapi {a:?}, Go {b:?}"));
                }
                theirs
            }
            (Some(oa), None) => oa.required(),
            (None, _) => go_required,
        };
        let required: Vec<Value> = required
            .into_iter()
            .filter(|r| props.contains_key(r))
            .map(Value::String)
            .collect();
        schema.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        schema.insert("type".into(), Value::String("object".into()));
        let m = docs::markers(&msg.doc);
        if m.struct_type.as_deref() == Some("atomic") || m.map_type.as_deref() == Some("atomic") {
            schema.insert(
                "x-kubernetes-map-type".into(),
                Value::String("atomic".into()),
            );
        }
        Ok(Value::Object(schema))
    }

    /// Flattens an inlined message (`Volume.volumeSource`, `Probe.handler`) into the parent:
    /// its fields become the parent's properties with `x-proto-inline` = the path of outer tags.
    fn inline(
        &mut self,
        def: &str,
        oa: Option<&OaDef>,
        path: &[u32],
        outer: &Field,
        props: &mut Map<String, Value>,
        required: &mut Vec<String>,
    ) -> Result<()> {
        let mut path = path.to_vec();
        path.push(outer.tag);
        let PbType::Message(key) = &outer.ty else {
            bail!("inline field {} is not a message", outer.rust_name)
        };
        let inner = self
            .inp
            .pb
            .get(key)
            .with_context(|| format!("unknown inline message {key}"))?;
        let (_, go_pkg) = prefixes(&inner.module);
        let go = gofacts::find(&self.inp.go, &go_pkg, &inner.rust_name).map(|(_, f)| f);
        self.stats
            .inline_fields
            .push(format!("{def}.{} -> {key}", outer.rust_name));
        for f in &inner.fields {
            let gf = go.and_then(|fs| fs.iter().find(|g| g.proto_tag == Some(f.tag)));
            if gf.is_some_and(|g| g.inline) {
                self.inline(def, oa, &path, f, props, required)?;
                continue;
            }
            if let Some((json, schema)) = self.field(def, oa, &path, f, gf)? {
                if gf.is_some_and(|g| !g.omitempty) {
                    required.push(json.clone());
                }
                if props.insert(json.clone(), schema).is_some() {
                    bail!("{def}: two fields named {json}");
                }
            }
        }
        Ok(())
    }

    /// One property: `(json name, schema)`, or `None` when the field is not in Kubernetes 1.33.
    fn field(
        &mut self,
        def: &str,
        oa: Option<&OaDef>,
        inline_path: &[u32],
        f: &Field,
        gf: Option<&GoField>,
    ) -> Result<Option<(String, Value)>> {
        let norm = normalize(&f.rust_name);
        let go_json = gf.map(|g| g.json.clone()).filter(|j| !j.is_empty());
        let json = if let Some(j) = oa.and_then(|o| o.rust_to_json.get(&norm)) {
            self.stats.names_from_openapi += 1;
            if go_json.as_ref().is_some_and(|g| g != j) {
                self.stats
                    .name_mismatch_openapi_go
                    .push(format!("{def}.{j}"));
            }
            j.clone()
        } else if let Some(j) = go_json {
            self.stats.names_from_go += 1;
            j
        } else {
            let j = lower_camel(&f.rust_name);
            self.stats.names_camel_fallback.push(format!("{def}.{j}"));
            j
        };
        if let Some(oa) = oa
            && !oa.json_names().contains(&json)
        {
            self.stats.dropped_not_in_1_33.push(format!("{def}.{json}"));
            return Ok(None);
        }
        let published = oa.and_then(|o| o.property(&json));
        let description = published
            .and_then(|p| p.get("description"))
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| docs::description(&f.doc));
        let elem = self.type_schema(&f.ty)?;
        let mut schema = if f.repeated {
            json!({"type": "array", "items": elem})
        } else if elem.get("$ref").is_some() && description.is_some() {
            json!({"allOf": [elem]})
        } else {
            elem
        };
        let obj = schema.as_object_mut().context("schema object")?;
        if let Some(d) = description {
            obj.insert("description".into(), Value::String(d));
        }
        let m = docs::markers(&f.doc);
        let strategy = gf
            .and_then(|g| g.patch_strategy.clone())
            .or(m.patch_strategy.clone());
        let merge_key = gf
            .and_then(|g| g.patch_merge_key.clone())
            .or(m.patch_merge_key.clone());
        if let Some(s) = strategy {
            obj.insert("x-kubernetes-patch-strategy".into(), Value::String(s));
        }
        if let Some(k) = merge_key {
            obj.insert("x-kubernetes-patch-merge-key".into(), Value::String(k));
        }
        if let Some(lt) = m.list_type {
            obj.insert("x-kubernetes-list-type".into(), Value::String(lt));
        }
        if !m.list_map_keys.is_empty() {
            obj.insert("x-kubernetes-list-map-keys".into(), json!(m.list_map_keys));
        }
        if let Some(mt) = m.map_type.or(m.struct_type) {
            obj.insert("x-kubernetes-map-type".into(), Value::String(mt));
        }
        obj.insert("x-proto-tag".into(), json!(f.tag));
        obj.insert(
            "x-proto-type".into(),
            Value::String(self.proto_type(&f.ty)?),
        );
        if !inline_path.is_empty() {
            obj.insert("x-proto-inline".into(), json!(inline_path));
        }
        // A Go field that is neither a pointer nor required marshals its zero value as absent.
        let scalar = matches!(f.ty, PbType::Scalar(_)) && !f.repeated;
        let omitempty = match gf {
            Some(g) => g.omitempty && !g.pointer(),
            None => !m.required && !oa.is_some_and(|o| o.required().contains(&json)),
        };
        if scalar && omitempty {
            obj.insert("x-proto-omitempty".into(), Value::Bool(true));
        }
        Ok(Some((json, schema)))
    }

    /// A definition from Go facts alone (meta.v1.Table and friends).
    fn build_from_go(&mut self, def: &str) -> Result<Value> {
        let (pkg_def, name) = def.rsplit_once('.').context("definition name")?;
        let go_pkg = format!(
            "k8s.io/{}",
            pkg_def.trim_start_matches("io.k8s.").replace('.', "/")
        );
        let (_, fields) = gofacts::find(&self.inp.go, &go_pkg, name)
            .with_context(|| format!("no Go struct for {def}"))?;
        let mut props = Map::new();
        let mut required = Vec::new();
        for f in fields {
            if f.inline && f.go_type == "struct(v1.TypeMeta)" {
                props.extend(type_meta_props());
                continue;
            }
            if f.skipped || f.json.is_empty() {
                continue;
            }
            let schema = self.go_type_schema(pkg_def, &f.go_type)?;
            if !f.omitempty {
                required.push(Value::String(f.json.clone()));
            }
            props.insert(f.json.clone(), schema);
        }
        let mut m = Map::new();
        m.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            m.insert("required".into(), Value::Array(required));
        }
        m.insert("type".into(), Value::String("object".into()));
        Ok(Value::Object(m))
    }

    fn go_type_schema(&mut self, pkg_def: &str, t: &str) -> Result<Value> {
        let t = t.strip_prefix("ptr:").unwrap_or(t);
        Ok(match t {
            "string" => json!({"type": "string"}),
            "bool" => json!({"type": "boolean"}),
            "int32" => json!({"type": "integer", "format": "int32"}),
            "int64" => json!({"type": "integer", "format": "int64"}),
            "float64" => json!({"type": "number", "format": "double"}),
            "interface" => json!({"x-kubernetes-preserve-unknown-fields": true}),
            _ => {
                if let Some(e) = t.strip_prefix("slice:") {
                    json!({"type": "array", "items": self.go_type_schema(pkg_def, e)?})
                } else if let Some(v) = t.strip_prefix("map[string]") {
                    json!({"type": "object", "additionalProperties": self.go_type_schema(pkg_def, v)?})
                } else if let Some(s) = t.strip_prefix("struct(").and_then(|s| s.strip_suffix(')'))
                {
                    let (_, name) = s.split_once('.').context("struct name")?;
                    let def = [
                        pkg_def,
                        "io.k8s.apimachinery.pkg.apis.meta.v1",
                        "io.k8s.apimachinery.pkg.runtime",
                    ]
                    .iter()
                    .map(|p| format!("{p}.{name}"))
                    .find(|d| self.by_def.contains_key(d) || special::GO_ONLY.contains(&d.as_str()))
                    .with_context(|| format!("unknown Go struct {s}"))?;
                    self.want(&def);
                    ref_to(&def)
                } else {
                    bail!("unsupported Go type {t}")
                }
            }
        })
    }
}

fn scalar_schema(s: Scalar) -> Value {
    match s {
        Scalar::Int32 => json!({"type": "integer", "format": "int32"}),
        Scalar::Int64 => json!({"type": "integer", "format": "int64"}),
        Scalar::Bool => json!({"type": "boolean"}),
        Scalar::String => json!({"type": "string"}),
        Scalar::Bytes => json!({"type": "string", "format": "byte"}),
        Scalar::Double => json!({"type": "number", "format": "double"}),
        Scalar::Float => json!({"type": "number", "format": "float"}),
    }
}

fn type_meta_props() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}));
    m.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}));
    m
}
