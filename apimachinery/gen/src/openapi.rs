//! Reads the `k8s-openapi` crate (one module per Kubernetes version): for every definition its
//! JSON property names (from the Deserialize impls), descriptions and `required` list (from the
//! schemars impls, which carry kube's published text verbatim) and group/version/kind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use serde_json::{Map, Value};

/// What k8s-openapi knows about one definition.
#[derive(Clone, Debug, Default)]
pub struct OaDef {
    /// Normalized rust field name (see [`normalize`]) to JSON property name.
    pub rust_to_json: BTreeMap<String, String>,
    /// The published schema (descriptions, `required`, property types), `$ref`s resolved to
    /// definition names.
    pub schema: Value,
    /// `(group, version, kind)` for resource kinds.
    pub gvk: Option<(String, String, String)>,
    /// The kind of the list of this resource (`DeploymentList`).
    pub list_kind: Option<String>,
}

impl OaDef {
    /// The description of the definition.
    pub fn description(&self) -> Option<String> {
        self.schema
            .get("description")
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// The published property schema for a JSON name.
    pub fn property(&self, json: &str) -> Option<&Value> {
        self.schema.get("properties").and_then(|p| p.get(json))
    }

    /// The `required` list.
    pub fn required(&self) -> Vec<String> {
        self.schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every JSON property name.
    pub fn json_names(&self) -> BTreeSet<String> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Lower-case, without underscores and `r#`: how rust field names of the two crates are compared.
pub fn normalize(rust_name: &str) -> String {
    rust_name
        .trim_start_matches("r#")
        .trim_end_matches('_')
        .replace('_', "")
        .to_lowercase()
}

/// Reads every definition under `dir` (e.g. `k8s-openapi-0.29.0/src/v1_33`). Keyed by
/// definition name.
pub fn read_version(dir: &Path) -> Result<BTreeMap<String, OaDef>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    // First pass: rust path (`api::core::v1::EnvVar`) -> definition name, for `subschema_for`.
    let mut parsed = Vec::new();
    let mut rust_paths = BTreeMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let Some(name) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// Generated from definition "))
        else {
            continue;
        };
        let name = name.trim().to_string();
        let file = syn::parse_file(&text).with_context(|| format!("parsing {}", path.display()))?;
        let module: Vec<String> = path
            .parent()
            .and_then(|p| p.strip_prefix(dir).ok())
            .map(|r| {
                r.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for item in &file.items {
            let ident = match item {
                syn::Item::Struct(s) => &s.ident,
                syn::Item::Enum(e) => &e.ident,
                _ => continue,
            };
            rust_paths.insert(format!("{}::{}", module.join("::"), ident), name.clone());
        }
        parsed.push((name, text, file));
    }
    let mut out = BTreeMap::new();
    for (name, text, file) in parsed {
        let mut def = OaDef::default();
        for line in text.lines() {
            let line = line.trim();
            if let Some((json, rest)) = line
                .strip_prefix('"')
                .and_then(|l| l.split_once("\" => Field::Key_"))
            {
                let rust = rest.trim_end_matches(',');
                def.rust_to_json.insert(normalize(rust), json.to_string());
            }
        }
        for item in &file.items {
            let syn::Item::Impl(imp) = item else { continue };
            let Some((_, tr, _)) = &imp.trait_ else {
                continue;
            };
            let Some(last) = tr.segments.last() else {
                continue;
            };
            match last.ident.to_string().as_str() {
                "Resource" => {
                    let c = consts(imp);
                    if let (Some(g), Some(v), Some(k)) =
                        (c.get("GROUP"), c.get("VERSION"), c.get("KIND"))
                    {
                        def.gvk = Some((g.clone(), v.clone(), k.clone()));
                    }
                }
                "ListableResource" => def.list_kind = consts(imp).get("LIST_KIND").cloned(),
                "JsonSchema" => {
                    if let Some(tokens) = schema_macro(imp) {
                        def.schema = tokens_to_json(tokens, &rust_paths)
                            .with_context(|| format!("schema of {name}"))?;
                    }
                }
                _ => {}
            }
        }
        out.insert(name, def);
    }
    Ok(out)
}

fn consts(imp: &syn::ItemImpl) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for it in &imp.items {
        if let syn::ImplItem::Const(c) = it
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &c.expr
        {
            out.insert(c.ident.to_string(), s.value());
        }
    }
    out
}

/// The token stream inside `crate::schemars::json_schema!( ... )` of `fn json_schema`.
fn schema_macro(imp: &syn::ItemImpl) -> Option<TokenStream> {
    for it in &imp.items {
        let syn::ImplItem::Fn(f) = it else { continue };
        if f.sig.ident != "json_schema" {
            continue;
        }
        for stmt in &f.block.stmts {
            let mac = match stmt {
                syn::Stmt::Expr(syn::Expr::Macro(m), _) => &m.mac,
                syn::Stmt::Macro(m) => &m.mac,
                _ => continue,
            };
            if mac
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "json_schema")
            {
                return Some(mac.tokens.clone());
            }
        }
    }
    None
}

/// Converts the JSON-like tokens of `json_schema!` to JSON. Rust blocks in parentheses
/// (`(__gen.subschema_for::<crate::api::core::v1::EnvVar>())`, optionally inserting a
/// description) become `{"$ref": "<definition name>", "description": ...}`.
fn tokens_to_json(ts: TokenStream, rust_paths: &BTreeMap<String, String>) -> Result<Value> {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    let [tt] = tokens.as_slice() else {
        bail!("expected one token tree, got {}", tokens.len())
    };
    value(tt, rust_paths)
}

fn value(tt: &TokenTree, rust_paths: &BTreeMap<String, String>) -> Result<Value> {
    Ok(match tt {
        TokenTree::Literal(l) => literal(l)?,
        TokenTree::Ident(i) => match i.to_string().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            other => bail!("unexpected identifier {other}"),
        },
        TokenTree::Group(g) => match g.delimiter() {
            Delimiter::Brace => {
                let mut map = Map::new();
                for item in split_commas(g.stream()) {
                    let [TokenTree::Literal(k), TokenTree::Punct(colon), rest @ ..] =
                        item.as_slice()
                    else {
                        bail!("bad object entry");
                    };
                    if colon.as_char() != ':' {
                        bail!("bad object entry");
                    }
                    let key = match literal(k)? {
                        Value::String(s) => s,
                        _ => bail!("non-string key"),
                    };
                    map.insert(key, values(rest, rust_paths)?);
                }
                Value::Object(map)
            }
            Delimiter::Bracket => {
                let mut arr = Vec::new();
                for item in split_commas(g.stream()) {
                    arr.push(values(&item, rust_paths)?);
                }
                Value::Array(arr)
            }
            Delimiter::Parenthesis => rust_block(g.stream(), rust_paths)?,
            Delimiter::None => bail!("unexpected invisible group"),
        },
        TokenTree::Punct(p) => bail!("unexpected punctuation {p}"),
    })
}

/// One value: a single token tree, or a bare rust expression such as
/// `__gen.subschema_for::<crate::apimachinery::pkg::apis::meta::v1::ObjectMeta>()`.
fn values(tokens: &[TokenTree], rust_paths: &BTreeMap<String, String>) -> Result<Value> {
    match tokens {
        [tt] => value(tt, rust_paths),
        [] => bail!("missing value"),
        _ => rust_block(tokens.iter().cloned().collect(), rust_paths),
    }
}

fn literal(l: &proc_macro2::Literal) -> Result<Value> {
    let text = l.to_string();
    if let Ok(s) = syn::parse_str::<syn::LitStr>(&text) {
        return Ok(Value::String(s.value()));
    }
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = text.parse::<f64>() {
        return Ok(Value::from(f));
    }
    bail!("unsupported literal {text}")
}

fn split_commas(ts: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut out = vec![Vec::new()];
    for tt in ts {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Vec::new()),
            _ => out.last_mut().map(|v| v.push(tt)).unwrap_or(()),
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// `({ let mut s = __gen.subschema_for::<P>(); s.ensure_object().insert("description".into(), "..".into()); s })`
fn rust_block(ts: TokenStream, rust_paths: &BTreeMap<String, String>) -> Result<Value> {
    let mut flat = Vec::new();
    flatten(ts, &mut flat);
    let mut map = Map::new();
    // The type path follows `subschema_for :: <` up to `>`.
    if let Some(pos) = flat
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "subschema_for"))
    {
        let mut segs = Vec::new();
        for t in &flat[pos + 1..] {
            match t {
                TokenTree::Ident(i) => segs.push(i.to_string()),
                TokenTree::Punct(p) if p.as_char() == '>' => break,
                _ => {}
            }
        }
        let path = segs
            .iter()
            .skip_while(|s| *s == "crate")
            .cloned()
            .collect::<Vec<_>>()
            .join("::");
        let def = rust_paths
            .get(&path)
            .with_context(|| format!("unknown type {path}"))?;
        map.insert("$ref".into(), Value::String(def.clone()));
    } else {
        bail!("rust block without subschema_for");
    }
    let lits: Vec<Value> = flat
        .iter()
        .filter_map(|t| match t {
            TokenTree::Literal(l) => literal(l).ok(),
            _ => None,
        })
        .collect();
    if let Some(i) = lits.iter().position(|v| v.as_str() == Some("description"))
        && let Some(Value::String(d)) = lits.get(i + 1)
    {
        map.insert("description".into(), Value::String(d.clone()));
    }
    Ok(Value::Object(map))
}

fn flatten(ts: TokenStream, out: &mut Vec<TokenTree>) {
    for tt in ts {
        match tt {
            TokenTree::Group(g) => flatten(g.stream(), out),
            other => out.push(other),
        }
    }
}
