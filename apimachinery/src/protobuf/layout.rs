//! The protobuf layout of every built-in message, read once from the `x-proto-*` extensions of
//! the embedded OpenAPI document (see `apimachinery/gen/README.md` for their meaning).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// A proto scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    Int32,
    Int64,
    Bool,
    String,
    Bytes,
    Double,
    Float,
}

/// The type of one value (one element, for repeated fields).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ProtoType {
    Scalar(Scalar),
    /// A message, by definition name.
    Message(&'static str),
    /// A message `{ repeated <scalar> items = 1; }` that JSON writes as an array (`Verbs`).
    List(Scalar),
    /// `map<string, V>`.
    Map(Box<ProtoType>),
}

/// One field: where it goes in JSON and how it is encoded.
#[derive(Clone, Debug)]
pub(crate) struct FieldSpec {
    pub json: &'static str,
    pub ty: ProtoType,
    pub repeated: bool,
    /// A zero scalar is omitted (Go: non-pointer field with `omitempty`).
    pub omitempty: bool,
}

/// The fields of a message by tag, and the messages Go inlines into it, by their outer tag.
#[derive(Clone, Debug, Default)]
pub(crate) struct MessageLayout {
    pub fields: HashMap<u32, FieldSpec>,
    pub inline: HashMap<u32, MessageLayout>,
}

/// How a special message becomes JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Convert {
    Time,
    MicroTime,
    Duration,
    IntOrString,
    Quantity,
    RawJson,
    OrArray,
    OrBool,
    OrStringArray,
}

/// The layout of one definition.
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    Message(MessageLayout),
    /// A special type: its converter and its own fields by tag (`json` is empty).
    Convert(Convert, HashMap<u32, FieldSpec>),
}

/// Every definition's layout.
pub(crate) fn layouts() -> &'static HashMap<&'static str, Layout> {
    static LAYOUTS: OnceLock<HashMap<&'static str, Layout>> = OnceLock::new();
    LAYOUTS.get_or_init(|| build(crate::builtin::raw_document()))
}

fn build(doc: &'static Value) -> HashMap<&'static str, Layout> {
    let mut out = HashMap::new();
    let Some(schemas) = doc.get("schemas").and_then(Value::as_object) else {
        return out;
    };
    for (name, schema) in schemas {
        if let Some(conv) = schema.get("x-proto-convert").and_then(Value::as_str) {
            let Some(conv) = parse_convert(conv) else {
                continue;
            };
            let mut fields = HashMap::new();
            if let Some(f) = schema.get("x-proto-fields").and_then(Value::as_object) {
                for (tag, t) in f {
                    let (Ok(tag), Some(t)) = (tag.parse::<u32>(), t.as_str()) else {
                        continue;
                    };
                    let (repeated, t) = match t.strip_prefix("repeated:") {
                        Some(rest) => (true, rest),
                        None => (false, t),
                    };
                    if let Some(ty) = parse_type(t) {
                        fields.insert(
                            tag,
                            FieldSpec {
                                json: "",
                                ty,
                                repeated,
                                omitempty: false,
                            },
                        );
                    }
                }
            }
            out.insert(name.as_str(), Layout::Convert(conv, fields));
            continue;
        }
        let mut layout = MessageLayout::default();
        let mut any = false;
        let props = schema.get("properties").and_then(Value::as_object);
        for (json, p) in props.into_iter().flatten() {
            let (Some(tag), Some(ty)) = (
                p.get("x-proto-tag")
                    .and_then(Value::as_u64)
                    .and_then(|t| u32::try_from(t).ok()),
                p.get("x-proto-type")
                    .and_then(Value::as_str)
                    .and_then(parse_type),
            ) else {
                continue;
            };
            any = true;
            // A `list:` value is one message that JSON writes as an array; other arrays are
            // repeated fields.
            let repeated = p.get("type").and_then(Value::as_str) == Some("array")
                && !matches!(ty, ProtoType::List(_));
            let omitempty = p
                .get("x-proto-omitempty")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut target = &mut layout;
            if let Some(path) = p.get("x-proto-inline").and_then(Value::as_array) {
                for outer in path
                    .iter()
                    .filter_map(Value::as_u64)
                    .filter_map(|t| u32::try_from(t).ok())
                {
                    target = target.inline.entry(outer).or_default();
                }
            }
            target.fields.insert(
                tag,
                FieldSpec {
                    json: json.as_str(),
                    ty,
                    repeated,
                    omitempty,
                },
            );
        }
        // Messages without fields (meta.v1.Patch) have a layout; definitions that have
        // properties but no protobuf (meta.v1.Table, version.Info) have none.
        let fieldless = props.is_none_or(|p| p.is_empty())
            && schema.get("type").and_then(Value::as_str) == Some("object");
        if any || fieldless {
            out.insert(name.as_str(), Layout::Message(layout));
        }
    }
    out
}

fn parse_convert(s: &str) -> Option<Convert> {
    Some(match s {
        "time" => Convert::Time,
        "micro-time" => Convert::MicroTime,
        "duration" => Convert::Duration,
        "int-or-string" => Convert::IntOrString,
        "quantity" => Convert::Quantity,
        "raw-json" => Convert::RawJson,
        "or-array" => Convert::OrArray,
        "or-bool" => Convert::OrBool,
        "or-string-array" => Convert::OrStringArray,
        _ => return None,
    })
}

fn parse_scalar(s: &str) -> Option<Scalar> {
    Some(match s {
        "int32" => Scalar::Int32,
        "int64" => Scalar::Int64,
        "bool" => Scalar::Bool,
        "string" => Scalar::String,
        "bytes" => Scalar::Bytes,
        "double" => Scalar::Double,
        "float" => Scalar::Float,
        _ => return None,
    })
}

/// Parses `int32`, `message:X`, `list:string`, `map<string,V>`.
pub(crate) fn parse_type(s: &'static str) -> Option<ProtoType> {
    if let Some(def) = s.strip_prefix("message:") {
        return Some(ProtoType::Message(def));
    }
    if let Some(sc) = s.strip_prefix("list:") {
        return parse_scalar(sc).map(ProtoType::List);
    }
    if let Some(v) = s
        .strip_prefix("map<string,")
        .and_then(|r| r.strip_suffix('>'))
    {
        return parse_type(v).map(|t| ProtoType::Map(Box::new(t)));
    }
    parse_scalar(s).map(ProtoType::Scalar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse() {
        assert_eq!(parse_type("int32"), Some(ProtoType::Scalar(Scalar::Int32)));
        assert_eq!(
            parse_type("list:string"),
            Some(ProtoType::List(Scalar::String))
        );
        assert_eq!(
            parse_type("map<string,message:io.k8s.apimachinery.pkg.api.resource.Quantity>"),
            Some(ProtoType::Map(Box::new(ProtoType::Message(
                "io.k8s.apimachinery.pkg.api.resource.Quantity"
            ))))
        );
        assert_eq!(parse_type("map<int32,string>"), None);
        assert_eq!(parse_type("sint32"), None);
    }

    #[test]
    fn built_in_layouts_cover_kinds_inline_fields_and_special_types() {
        let l = layouts();
        let Some(Layout::Message(probe)) = l.get("io.k8s.api.core.v1.Probe") else {
            panic!("Probe has a message layout");
        };
        // Probe inlines ProbeHandler at tag 1; httpGet is tag 2 inside it.
        assert_eq!(
            probe
                .inline
                .get(&1)
                .and_then(|h| h.fields.get(&2))
                .map(|f| f.json),
            Some("httpGet")
        );
        assert_eq!(
            probe.fields.get(&2).map(|f| f.json),
            Some("initialDelaySeconds")
        );
        assert!(matches!(
            l.get("io.k8s.apimachinery.pkg.apis.meta.v1.Time"),
            Some(Layout::Convert(Convert::Time, _))
        ));
        let Some(Layout::Message(api_resource)) =
            l.get("io.k8s.apimachinery.pkg.apis.meta.v1.APIResource")
        else {
            panic!("APIResource has a message layout");
        };
        let verbs = api_resource.fields.get(&4).expect("verbs");
        assert_eq!(
            (verbs.json, &verbs.ty, verbs.repeated),
            ("verbs", &ProtoType::List(Scalar::String), false)
        );
        assert!(l.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"));
        assert!(!l.contains_key("io.k8s.apimachinery.pkg.version.Info"));
    }
}
