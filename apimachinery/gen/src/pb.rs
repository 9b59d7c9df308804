//! Reads the prost structs of the `k8s-pb` crate: message names, doc comments, fields with their
//! proto tags and wire types.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Lit, Meta, Token};

/// A proto scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Int32,
    Int64,
    Bool,
    String,
    Bytes,
    Double,
    Float,
}

impl Scalar {
    fn parse(s: &str) -> Option<Scalar> {
        Some(match s.trim() {
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

    /// The name used in `x-proto-type`.
    pub fn proto_name(self) -> &'static str {
        match self {
            Scalar::Int32 => "int32",
            Scalar::Int64 => "int64",
            Scalar::Bool => "bool",
            Scalar::String => "string",
            Scalar::Bytes => "bytes",
            Scalar::Double => "double",
            Scalar::Float => "float",
        }
    }
}

/// The type of a field (of one element, for repeated fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PbType {
    Scalar(Scalar),
    /// A message, by its key (`api::apps::v1::Deployment`).
    Message(String),
    /// `map<string, V>`; V is a scalar or a message.
    Map(Box<PbType>),
}

/// One field of a message.
#[derive(Clone, Debug)]
pub struct Field {
    /// The rust field name without `r#`.
    pub rust_name: String,
    pub doc: Vec<String>,
    pub tag: u32,
    pub repeated: bool,
    pub ty: PbType,
}

/// One prost message.
#[derive(Clone, Debug)]
pub struct Message {
    /// Module path, e.g. `["api", "apps", "v1"]`.
    pub module: Vec<String>,
    /// The rust struct name (k8s-pb changes the case of acronyms: `HttpGetAction`).
    pub rust_name: String,
    pub doc: Vec<String>,
    pub fields: Vec<Field>,
}

impl Message {
    /// `api::apps::v1::Deployment`.
    pub fn key(&self) -> String {
        format!("{}::{}", self.module.join("::"), self.rust_name)
    }
}

/// Reads every `mod.rs` under `src` of the k8s-pb crate. Keys are `module::Name`.
pub fn read_crate(src: &Path) -> Result<BTreeMap<String, Message>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "mod.rs") {
                let rel = path
                    .parent()
                    .and_then(|p| p.strip_prefix(src).ok())
                    .context("module path")?;
                let module: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if module.is_empty() {
                    continue;
                }
                let text = std::fs::read_to_string(&path)?;
                let file = syn::parse_file(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                for item in file.items {
                    if let syn::Item::Struct(s) = item {
                        if !derives_message(&s.attrs) {
                            continue;
                        }
                        let msg = read_message(&module, &s)
                            .with_context(|| format!("{}::{}", module.join("::"), s.ident))?;
                        out.insert(msg.key(), msg);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn derives_message(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("derive")
            && a.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
                .is_ok_and(|paths| {
                    paths
                        .iter()
                        .any(|p| p.segments.last().is_some_and(|s| s.ident == "Message"))
                })
    })
}

/// The lines of `///` comments (without the single leading space).
pub fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    let mut out = Vec::new();
    for a in attrs {
        if let Meta::NameValue(nv) = &a.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            let v = s.value();
            out.push(v.strip_prefix(' ').unwrap_or(&v).to_string());
        }
    }
    out
}

fn read_message(module: &[String], s: &syn::ItemStruct) -> Result<Message> {
    let mut fields = Vec::new();
    if let syn::Fields::Named(named) = &s.fields {
        for f in &named.named {
            let Some(ident) = &f.ident else { continue };
            let Some(attr) = f.attrs.iter().find(|a| a.path().is_ident("prost")) else {
                bail!("field {ident} has no #[prost] attribute");
            };
            let metas = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
            let mut tag = None;
            let mut repeated = false;
            let mut ty = None;
            for m in metas {
                match m {
                    Meta::Path(p) => {
                        let name = p.get_ident().map(|i| i.to_string()).unwrap_or_default();
                        match name.as_str() {
                            "repeated" => repeated = true,
                            "optional" | "boxed" | "required" => {}
                            "message" => ty = Some(PbType::Message(message_key(module, &f.ty)?)),
                            other => match Scalar::parse(other) {
                                Some(sc) => ty = Some(PbType::Scalar(sc)),
                                None => bail!("unknown prost flag {other}"),
                            },
                        }
                    }
                    Meta::NameValue(nv) => {
                        let name = nv
                            .path
                            .get_ident()
                            .map(|i| i.to_string())
                            .unwrap_or_default();
                        let value = match &nv.value {
                            Expr::Lit(syn::ExprLit {
                                lit: Lit::Str(s), ..
                            }) => s.value(),
                            _ => bail!("unexpected prost value for {name}"),
                        };
                        match name.as_str() {
                            "tag" => tag = Some(value.parse::<u32>()?),
                            "bytes" => ty = Some(PbType::Scalar(Scalar::Bytes)),
                            "packed" => {}
                            "map" | "btree_map" | "hash_map" => {
                                let (k, v) = value.split_once(',').context("map type")?;
                                if k.trim() != "string" {
                                    bail!("map key {k} is not string");
                                }
                                let v = v.trim();
                                let vt = if v == "message" {
                                    PbType::Message(message_key(module, &f.ty)?)
                                } else {
                                    PbType::Scalar(Scalar::parse(v).context("map value")?)
                                };
                                ty = Some(PbType::Map(Box::new(vt)));
                            }
                            other => bail!("unknown prost key {other}"),
                        }
                    }
                    Meta::List(_) => bail!("unexpected prost list"),
                }
            }
            let ident = ident.to_string();
            fields.push(Field {
                rust_name: ident.strip_prefix("r#").unwrap_or(&ident).to_string(),
                doc: doc_lines(&f.attrs),
                tag: tag.context("no tag")?,
                repeated,
                ty: ty.context("no type")?,
            });
        }
    }
    Ok(Message {
        module: module.to_vec(),
        rust_name: s.ident.to_string(),
        doc: doc_lines(&s.attrs),
        fields,
    })
}

/// The key of the message a field refers to, from its rust type
/// (`Option<super::super::meta::v1::Time>`, `Vec<X>`, `BTreeMap<String, X>`, `Option<Box<X>>`).
fn message_key(module: &[String], ty: &syn::Type) -> Result<String> {
    let path = innermost(ty).context("no type path")?;
    let mut base: Vec<String> = module.to_vec();
    let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let mut rest = &segs[..];
    if rest.first().is_some_and(|s| s == "crate") {
        base.clear();
        rest = &rest[1..];
    }
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Ok(base.join("::"))
}

fn innermost(ty: &syn::Type) -> Option<&syn::Path> {
    let syn::Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    let args: Vec<&syn::Type> = match &last.arguments {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    match last.ident.to_string().as_str() {
        "Option" | "Vec" | "Box" => innermost(args.first()?),
        "BTreeMap" | "HashMap" => innermost(args.get(1)?),
        _ => Some(&tp.path),
    }
}
