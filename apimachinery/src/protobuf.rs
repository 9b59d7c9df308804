//! Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`, sent by
//! kubectl >= 1.32 for `create <generator>` and `auth can-i`) into the JSON a JSON client would
//! have sent for the same object.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` envelope whose `typeMeta` names
//! the kind and whose `raw` holds the typed message. The message is read by a generic wire-format
//! reader driven by the `x-proto-*` extensions of the embedded built-in schemas
//! ([`crate::builtin`]), so every built-in kind decodes without generated code. Go's JSON rules
//! are reproduced: times as RFC 3339, int-or-string and quantities in their JSON form, embedded
//! JSON parsed, bytes in base64, zero values of non-pointer `omitempty` fields omitted.

mod convert;
mod layout;
mod wire;

use std::collections::HashMap;

use base64::Engine;
use serde_json::{Map, Value};

use layout::{Convert, FieldSpec, Layout, MessageLayout, ProtoType, Scalar};
use wire::{Reader, WireType};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Messages may nest this deep (a CRD schema of 30 levels uses about 90).
pub const MAX_DEPTH: usize = 200;

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("not a Kubernetes protobuf body: missing the k8s\\0 prefix")]
    BadMagic,
    /// A value runs past the end of its buffer.
    #[error("truncated protobuf data at offset {offset}")]
    Truncated { offset: usize },
    /// Invalid wire data: bad varint, field number or wire type, or an impossible length.
    #[error("malformed protobuf data: {0}")]
    Malformed(String),
    /// Messages nest deeper than [`MAX_DEPTH`].
    #[error("protobuf messages nest deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// The runtime.Unknown envelope lacks typeMeta.
    #[error("the protobuf envelope has no apiVersion or kind")]
    MissingTypeMeta,
    /// The kind is not a built-in kind with a protobuf form.
    #[error("no built-in kind {kind} in {api_version} can be decoded from protobuf")]
    UnknownKind { api_version: String, kind: String },
    /// A compressed (`contentEncoding`) or foreign (`contentType`) payload.
    #[error("unsupported protobuf envelope encoding: {0}")]
    UnsupportedEncoding(String),
    /// A value Go could not marshal to JSON (bad IntOrString type, NaN, out-of-range time).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// RawExtension, FieldsV1 or JSON bytes that are not JSON.
    #[error("invalid embedded JSON: {0}")]
    InvalidJson(String),
}

/// True when a `Content-Type` header names Kubernetes protobuf (parameters are ignored).
pub fn is_protobuf_content_type(ct: &str) -> bool {
    ct.split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Decodes a protobuf request body to JSON, with `apiVersion` and `kind` set.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    Decoder {
        layouts: layout::layouts(),
    }
    .envelope(body, 0)
}

fn malformed(reason: impl Into<String>) -> ProtobufError {
    ProtobufError::Malformed(reason.into())
}

struct Decoder {
    layouts: &'static HashMap<&'static str, Layout>,
}

/// A field value before its JSON conversion, for the special types.
enum Raw<'a> {
    Varint(u64),
    /// A fixed-width value: no special type uses one, so it only signals a type mismatch.
    Fixed,
    Bytes(&'a [u8]),
}

impl Decoder {
    fn envelope(&self, body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
        let rest = body
            .strip_prefix(MAGIC.as_slice())
            .ok_or(ProtobufError::BadMagic)?;
        let (mut api_version, mut kind) = (String::new(), String::new());
        let (mut raw, mut encoding, mut content_type): (&[u8], String, String) =
            (&[], String::new(), String::new());
        let mut r = Reader::new(rest);
        while !r.is_empty() {
            match r.key()? {
                (1, WireType::Len) => {
                    let mut tm = Reader::new(r.len_delimited()?);
                    while !tm.is_empty() {
                        match tm.key()? {
                            (1, WireType::Len) => api_version = utf8(tm.len_delimited()?),
                            (2, WireType::Len) => kind = utf8(tm.len_delimited()?),
                            (f, w) => tm.skip(f, w)?,
                        }
                    }
                }
                (2, WireType::Len) => raw = r.len_delimited()?,
                (3, WireType::Len) => encoding = utf8(r.len_delimited()?),
                (4, WireType::Len) => content_type = utf8(r.len_delimited()?),
                (f @ 1..=4, w) => {
                    return Err(malformed(format!(
                        "runtime.Unknown field {f} has wire type {}",
                        w.name()
                    )));
                }
                (f, w) => r.skip(f, w)?,
            }
        }
        if api_version.is_empty() || kind.is_empty() {
            return Err(ProtobufError::MissingTypeMeta);
        }
        if !encoding.is_empty() {
            return Err(ProtobufError::UnsupportedEncoding(format!(
                "contentEncoding {encoding:?}"
            )));
        }
        let mut out = Map::new();
        out.insert("apiVersion".into(), Value::String(api_version.clone()));
        out.insert("kind".into(), Value::String(kind.clone()));
        if !content_type.is_empty() && !is_protobuf_content_type(&content_type) {
            if content_type
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            {
                let Value::Object(obj) = json(raw)? else {
                    return Err(ProtobufError::InvalidJson(
                        "the embedded object is not a JSON object".into(),
                    ));
                };
                for (k, v) in obj {
                    out.entry(k).or_insert(v);
                }
                return Ok(Value::Object(out));
            }
            return Err(ProtobufError::UnsupportedEncoding(format!(
                "contentType {content_type:?}"
            )));
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version.as_str()),
        };
        let unknown = || ProtobufError::UnknownKind {
            api_version: api_version.clone(),
            kind: kind.clone(),
        };
        let def = crate::builtin::definition_name(group, version, &kind).ok_or_else(unknown)?;
        let Some(Layout::Message(layout)) = self.layouts.get(def) else {
            return Err(unknown());
        };
        self.message_into(def, layout, raw, &mut out, depth + 1)?;
        Ok(Value::Object(out))
    }

    /// Decodes the fields of one message into `out` (merging into what is there, as protobuf
    /// merges repeated occurrences of a message field).
    fn message_into(
        &self,
        def: &str,
        layout: &MessageLayout,
        buf: &[u8],
        out: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(ProtobufError::TooDeep { limit: MAX_DEPTH });
        }
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (tag, wt) = r.key()?;
            if let Some(spec) = layout.fields.get(&tag) {
                self.field((def, tag), spec, wt, &mut r, out, depth)?;
            } else if let Some(inner) = layout.inline.get(&tag) {
                if wt != WireType::Len {
                    return Err(malformed(format!(
                        "{def} field {tag}: inline message has wire type {}",
                        wt.name()
                    )));
                }
                self.message_into(def, inner, r.len_delimited()?, out, depth + 1)?;
            } else {
                r.skip(tag, wt)?;
            }
        }
        Ok(())
    }

    fn field(
        &self,
        (def, tag): (&str, u32),
        spec: &FieldSpec,
        wt: WireType,
        r: &mut Reader<'_>,
        out: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        let ctx = || format!("{def}.{} (field {tag})", spec.json);
        if let ProtoType::Map(value_ty) = &spec.ty {
            let entry = expect_len(wt, r, &ctx)?;
            let (k, v) = self
                .map_entry(value_ty, entry, depth + 1)
                .map_err(|e| wrap(e, &ctx))?;
            with_object(out, spec.json, |obj| obj.insert(k, v));
            return Ok(());
        }
        if spec.repeated {
            let mut values = Vec::new();
            match (&spec.ty, wt) {
                (ProtoType::Scalar(s), WireType::Len) if s.packable() => {
                    let mut packed = Reader::new(r.len_delimited()?);
                    while !packed.is_empty() {
                        values.push(
                            scalar(*s, s.wire_type(), &mut packed).map_err(|e| wrap(e, &ctx))?,
                        );
                    }
                }
                _ => values.push(self.value(&spec.ty, wt, r, depth, &ctx)?),
            }
            let arr = match out.entry(spec.json) {
                serde_json::map::Entry::Occupied(o) => o.into_mut(),
                serde_json::map::Entry::Vacant(v) => v.insert(Value::Array(Vec::new())),
            };
            if !arr.is_array() {
                *arr = Value::Array(Vec::new());
            }
            if let Value::Array(a) = arr {
                a.extend(values);
            }
            return Ok(());
        }
        if let ProtoType::Message(target) = spec.ty
            && let Some(Layout::Message(inner)) = self.layouts.get(target)
        {
            // A message field seen again merges into the earlier one.
            let buf = expect_len(wt, r, &ctx)?;
            return with_object(out, spec.json, |obj| {
                self.message_into(target, inner, buf, obj, depth + 1)
            });
        }
        let v = self.value(&spec.ty, wt, r, depth, &ctx)?;
        if spec.omitempty && is_zero(&v) {
            out.remove(spec.json);
        } else {
            out.insert(spec.json.to_string(), v);
        }
        Ok(())
    }

    /// One value of a (non-map) type.
    fn value(
        &self,
        ty: &ProtoType,
        wt: WireType,
        r: &mut Reader<'_>,
        depth: usize,
        ctx: &dyn Fn() -> String,
    ) -> Result<Value, ProtobufError> {
        match ty {
            ProtoType::Scalar(s) => scalar(*s, wt, r).map_err(|e| wrap(e, ctx)),
            ProtoType::Message(def) => {
                let buf = expect_len(wt, r, ctx)?;
                self.message(def, buf, depth + 1)
            }
            ProtoType::List(s) => {
                let buf = expect_len(wt, r, ctx)?;
                let mut items = Vec::new();
                let mut lr = Reader::new(buf);
                while !lr.is_empty() {
                    match lr.key()? {
                        (1, w) => items.push(scalar(*s, w, &mut lr).map_err(|e| wrap(e, ctx))?),
                        (f, w) => lr.skip(f, w)?,
                    }
                }
                Ok(Value::Array(items))
            }
            ProtoType::Map(_) => Err(malformed(format!("{}: nested map", ctx()))),
        }
    }

    /// A whole message as a JSON value.
    fn message(&self, def: &str, buf: &[u8], depth: usize) -> Result<Value, ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(ProtobufError::TooDeep { limit: MAX_DEPTH });
        }
        match self.layouts.get(def) {
            Some(Layout::Message(layout)) => {
                let mut obj = Map::new();
                self.message_into(def, layout, buf, &mut obj, depth)?;
                Ok(Value::Object(obj))
            }
            Some(Layout::Convert(conv, fields)) => self.convert(def, *conv, fields, buf, depth),
            None => Err(malformed(format!("no protobuf layout for {def}"))),
        }
    }

    /// A `map<string, V>` entry: `{ key = 1; value = 2; }`.
    fn map_entry(
        &self,
        ty: &ProtoType,
        buf: &[u8],
        depth: usize,
    ) -> Result<(String, Value), ProtobufError> {
        let mut key = String::new();
        let mut value = None;
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            match r.key()? {
                (1, WireType::Len) => key = utf8(r.len_delimited()?),
                (1, w) => return Err(malformed(format!("map key has wire type {}", w.name()))),
                (2, w) => {
                    value =
                        Some(self.value(ty, w, &mut r, depth, &|| format!("map value of {key:?}"))?)
                }
                (f, w) => r.skip(f, w)?,
            }
        }
        // An absent value is the type's zero value.
        let value = match value {
            Some(v) => v,
            None => self.zero(ty, depth)?,
        };
        Ok((key, value))
    }

    fn zero(&self, ty: &ProtoType, depth: usize) -> Result<Value, ProtobufError> {
        Ok(match ty {
            ProtoType::Scalar(Scalar::String | Scalar::Bytes) => Value::String(String::new()),
            ProtoType::Scalar(Scalar::Bool) => Value::Bool(false),
            ProtoType::Scalar(_) => Value::from(0),
            ProtoType::List(_) => Value::Array(Vec::new()),
            ProtoType::Message(def) => self.message(def, &[], depth + 1)?,
            ProtoType::Map(_) => Value::Object(Map::new()),
        })
    }

    /// The JSON form of a special message.
    fn convert(
        &self,
        def: &str,
        conv: Convert,
        specs: &HashMap<u32, FieldSpec>,
        buf: &[u8],
        depth: usize,
    ) -> Result<Value, ProtobufError> {
        // Fields by tag in wire order (repeated fields keep every occurrence).
        let mut fields: Vec<(u32, Raw<'_>)> = Vec::new();
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (tag, wt) = r.key()?;
            if !specs.contains_key(&tag) {
                r.skip(tag, wt)?;
                continue;
            }
            let raw = match wt {
                WireType::Varint => Raw::Varint(r.varint()?),
                WireType::Fixed64 => r.fixed64().map(|_| Raw::Fixed)?,
                WireType::Fixed32 => r.fixed32().map(|_| Raw::Fixed)?,
                WireType::Len => Raw::Bytes(r.len_delimited()?),
                other => {
                    return Err(malformed(format!(
                        "{def} field {tag} has wire type {}",
                        other.name()
                    )));
                }
            };
            fields.push((tag, raw));
        }
        let last = |tag: u32| fields.iter().rev().find(|(t, _)| *t == tag).map(|(_, v)| v);
        let all = |tag: u32| {
            fields
                .iter()
                .filter(move |(t, _)| *t == tag)
                .map(|(_, v)| v)
        };
        let int = |tag: u32| -> Result<i64, ProtobufError> {
            match last(tag) {
                None => Ok(0),
                Some(Raw::Varint(v)) => Ok(*v as i64),
                Some(_) => Err(malformed(format!("{def} field {tag} is not a varint"))),
            }
        };
        let bytes = |tag: u32| -> Result<Option<&[u8]>, ProtobufError> {
            match last(tag) {
                None => Ok(None),
                Some(Raw::Bytes(b)) => Ok(Some(*b)),
                Some(_) => Err(malformed(format!(
                    "{def} field {tag} is not length-delimited"
                ))),
            }
        };
        let sub_def = |tag: u32| match specs.get(&tag).map(|s| &s.ty) {
            Some(ProtoType::Message(d)) => Ok(*d),
            _ => Err(malformed(format!("{def} field {tag} is not a message"))),
        };
        match conv {
            // An empty Time is Go's zero time, which marshals as null.
            Convert::Time if buf.is_empty() => Ok(Value::Null),
            Convert::Time => convert::time(int(1)?),
            Convert::MicroTime if buf.is_empty() => Ok(Value::Null),
            Convert::MicroTime => convert::micro_time(int(1)?, int(2)? as i32),
            Convert::Duration => Ok(Value::String(convert::duration(int(1)?))),
            Convert::IntOrString => match int(1)? {
                0 => Ok(Value::from(int(2)? as i32)),
                1 => Ok(Value::String(bytes(3)?.map(utf8).unwrap_or_default())),
                t => Err(ProtobufError::InvalidValue(format!("IntOrString type {t}"))),
            },
            Convert::Quantity => match bytes(1)? {
                Some(b) if !b.is_empty() => Ok(Value::String(utf8(b))),
                _ => Ok(Value::String("0".into())),
            },
            Convert::RawJson => match bytes(1)? {
                None | Some([]) => Ok(Value::Null),
                Some(b) if b.starts_with(MAGIC) => self.envelope(b, depth + 1),
                Some(b) => json(b),
            },
            Convert::OrArray => {
                let items: Vec<&Raw<'_>> = all(2).collect();
                if !items.is_empty() {
                    let d = sub_def(2)?;
                    let mut arr = Vec::new();
                    for raw in items {
                        let Raw::Bytes(b) = raw else {
                            return Err(malformed(format!("{def} field 2")));
                        };
                        arr.push(self.message(d, b, depth + 1)?);
                    }
                    return Ok(Value::Array(arr));
                }
                match bytes(1)? {
                    Some(b) => self.message(sub_def(1)?, b, depth + 1),
                    None => Ok(Value::Null),
                }
            }
            Convert::OrBool => match bytes(2)? {
                Some(b) => self.message(sub_def(2)?, b, depth + 1),
                None => Ok(Value::Bool(int(1)? != 0)),
            },
            Convert::OrStringArray => {
                let items: Vec<Value> = all(2)
                    .map(|raw| match raw {
                        Raw::Bytes(b) => Ok(Value::String(utf8(b))),
                        _ => Err(malformed(format!("{def} field 2 is not a string"))),
                    })
                    .collect::<Result<_, _>>()?;
                if !items.is_empty() {
                    return Ok(Value::Array(items));
                }
                match bytes(1)? {
                    Some(b) => self.message(sub_def(1)?, b, depth + 1),
                    None => Ok(Value::Null),
                }
            }
        }
    }
}

impl Scalar {
    /// Numeric and bool scalars may be packed into one length-delimited value.
    fn packable(self) -> bool {
        !matches!(self, Scalar::String | Scalar::Bytes)
    }

    fn wire_type(self) -> WireType {
        match self {
            Scalar::Int32 | Scalar::Int64 | Scalar::Bool => WireType::Varint,
            Scalar::Double => WireType::Fixed64,
            Scalar::Float => WireType::Fixed32,
            Scalar::String | Scalar::Bytes => WireType::Len,
        }
    }
}

fn scalar(s: Scalar, wt: WireType, r: &mut Reader<'_>) -> Result<Value, ProtobufError> {
    if wt != s.wire_type() {
        return Err(malformed(format!(
            "wire type {}, expected {}",
            wt.name(),
            s.wire_type().name()
        )));
    }
    Ok(match s {
        // int32 is sent as a sign-extended varint; keep the low 32 bits as Go does.
        Scalar::Int32 => Value::from(r.varint()? as i32),
        Scalar::Int64 => Value::from(r.varint()? as i64),
        Scalar::Bool => Value::Bool(r.varint()? != 0),
        Scalar::Double => convert::float(f64::from_bits(r.fixed64()?))?,
        Scalar::Float => convert::float(f64::from(f32::from_bits(r.fixed32()?)))?,
        Scalar::String => Value::String(utf8(r.len_delimited()?)),
        Scalar::Bytes => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(r.len_delimited()?))
        }
    })
}

fn expect_len<'a>(
    wt: WireType,
    r: &mut Reader<'a>,
    ctx: &dyn Fn() -> String,
) -> Result<&'a [u8], ProtobufError> {
    if wt != WireType::Len {
        return Err(malformed(format!(
            "{}: wire type {}, expected length-delimited",
            ctx(),
            wt.name()
        )));
    }
    r.len_delimited()
}

/// Adds where a scalar error happened.
fn wrap(e: ProtobufError, ctx: &dyn Fn() -> String) -> ProtobufError {
    match e {
        ProtobufError::Malformed(m) => ProtobufError::Malformed(format!("{}: {m}", ctx())),
        ProtobufError::InvalidValue(m) => ProtobufError::InvalidValue(format!("{}: {m}", ctx())),
        other => other,
    }
}

/// Runs `f` on the object at `key`, created (or replacing a non-object) when needed.
fn with_object<T>(
    out: &mut Map<String, Value>,
    key: &str,
    f: impl FnOnce(&mut Map<String, Value>) -> T,
) -> T {
    if !matches!(out.get(key), Some(Value::Object(_))) {
        out.insert(key.to_string(), Value::Object(Map::new()));
    }
    match out.get_mut(key) {
        Some(Value::Object(o)) => f(o),
        _ => {
            let mut fresh = Map::new();
            let result = f(&mut fresh);
            out.insert(key.to_string(), Value::Object(fresh));
            result
        }
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Go does not validate UTF-8 in protobuf strings; its JSON encoder replaces invalid bytes.
fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(b: &[u8]) -> Result<Value, ProtobufError> {
    serde_json::from_slice(b).map_err(|e| ProtobufError::InvalidJson(e.to_string()))
}
