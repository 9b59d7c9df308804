//! Go struct facts (`go-fields.json`, written by `extract-go-fields.py` from a kubectl binary):
//! which fields are pointers, which have `omitempty`, which are inlined, their JSON names and
//! patch tags. The protobufs cannot tell these apart, and Go's JSON output depends on them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

/// One Go struct field.
#[derive(Clone, Debug, Default)]
pub struct GoField {
    /// E.g. `ptr:int32`, `string`, `slice:struct(v1.Container)`, `map[string]string`.
    pub go_type: String,
    /// JSON name; empty for inlined (`json:",inline"`) or untagged fields.
    pub json: String,
    pub omitempty: bool,
    pub inline: bool,
    /// `json:"-"`: never marshalled.
    pub skipped: bool,
    pub proto_tag: Option<u32>,
    pub patch_strategy: Option<String>,
    pub patch_merge_key: Option<String>,
}

impl GoField {
    /// A pointer (`*int32`, `*LabelSelector`): present on the wire only when set.
    pub fn pointer(&self) -> bool {
        self.go_type.starts_with("ptr:")
    }
}

/// Go structs keyed by `k8s.io/api/apps/v1.DeploymentSpec`.
pub type GoStructs = BTreeMap<String, Vec<GoField>>;

/// Reads `go-fields.json`.
pub fn read(path: &Path) -> Result<GoStructs> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let raw: BTreeMap<String, Vec<Vec<String>>> = serde_json::from_str(&text)?;
    Ok(raw
        .into_iter()
        .map(|(k, fields)| {
            let fields = fields
                .into_iter()
                .filter_map(|f| {
                    let [_go_name, go_type, tag] = <[String; 3]>::try_from(f).ok()?;
                    Some(parse_field(go_type, &tag))
                })
                .collect();
            (k, fields)
        })
        .collect())
}

fn parse_field(go_type: String, tag: &str) -> GoField {
    let tags = struct_tags(tag);
    let mut f = GoField {
        go_type,
        ..GoField::default()
    };
    if let Some(json) = tags.get("json") {
        let mut parts = json.split(',');
        f.json = parts.next().unwrap_or_default().to_string();
        for opt in parts {
            match opt {
                "omitempty" => f.omitempty = true,
                "inline" => f.inline = true,
                _ => {}
            }
        }
        f.skipped = f.json == "-";
    } else {
        f.skipped = true;
    }
    if let Some(pb) = tags.get("protobuf") {
        f.proto_tag = pb.split(',').nth(1).and_then(|n| n.parse().ok());
    }
    f.patch_strategy = tags.get("patchStrategy").cloned();
    f.patch_merge_key = tags.get("patchMergeKey").cloned();
    f
}

/// Parses a Go struct tag: `json:"a,omitempty" protobuf:"bytes,1,opt,name=a"`.
fn struct_tags(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag.trim();
    while let Some((key, after)) = rest.split_once(":\"") {
        let Some(end) = after.find('"') else { break };
        out.insert(key.trim().to_string(), after[..end].to_string());
        rest = after[end + 1..].trim_start();
    }
    out
}

/// Looks a struct up by package path and a name compared case-insensitively (k8s-pb writes
/// `HttpGetAction` for Go's `HTTPGetAction`). Returns the Go name too.
pub fn find<'a>(
    structs: &'a GoStructs,
    pkg: &str,
    name: &str,
) -> Option<(String, &'a Vec<GoField>)> {
    let exact = format!("{pkg}.{name}");
    if let Some(f) = structs.get(&exact) {
        return Some((name.to_string(), f));
    }
    let prefix = format!("{pkg}.");
    let lower = name.to_lowercase();
    structs.iter().find_map(|(k, v)| {
        let n = k.strip_prefix(&prefix)?;
        (!n.contains('.') && n.to_lowercase() == lower).then(|| (n.to_string(), v))
    })
}
