//! Doc comments of k8s-pb: the `+marker` lines (list, map and patch semantics) and the
//! description text, formatted the way kube-openapi formats Go comments.

/// The code-generation markers of one field or type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Markers {
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub patch_strategy: Option<String>,
    pub patch_merge_key: Option<String>,
    pub map_type: Option<String>,
    pub struct_type: Option<String>,
    pub optional: bool,
    pub required: bool,
}

/// Reads `+name=value` markers (also the `+k8s:name=value` spelling).
pub fn markers(doc: &[String]) -> Markers {
    let mut m = Markers::default();
    for line in doc {
        let Some(marker) = line.trim().strip_prefix('+') else {
            continue;
        };
        let marker = marker.strip_prefix("k8s:").unwrap_or(marker);
        let (name, value) = marker.split_once('=').unwrap_or((marker, ""));
        let value = value.trim().to_string();
        match name.trim() {
            "listType" => m.list_type = Some(value),
            "listMapKey" if !m.list_map_keys.contains(&value) => m.list_map_keys.push(value),
            "patchStrategy" => m.patch_strategy = Some(value),
            "patchMergeKey" => m.patch_merge_key = Some(value),
            "mapType" => m.map_type = Some(value),
            "structType" => m.struct_type = Some(value),
            "optional" => m.optional = true,
            "required" => m.required = true,
            _ => {}
        }
    }
    m
}

/// The description kube-openapi would publish for a doc comment: text after `---` dropped,
/// `+marker` and `TODO` lines dropped, lines joined with spaces, blank lines kept as paragraph
/// breaks, indented lines kept on their own line. Also undoes prost's rustdoc escapes.
pub fn description(doc: &[String]) -> Option<String> {
    let mut buf = String::new();
    for raw in doc {
        let line = unescape(raw);
        let line = line.trim_end();
        if line.trim() == "---" {
            break;
        }
        let leading = line.trim_start();
        if line.is_empty() {
            buf.pop();
            buf.push_str("\n\n");
        } else if leading.starts_with("TODO") || leading.starts_with('+') {
            continue;
        } else if line.starts_with(' ') || line.starts_with('\t') {
            buf.pop();
            buf.push('\n');
            buf.push_str(line);
            buf.push('\n');
        } else {
            buf.push_str(line);
            buf.push(' ');
        }
    }
    let out = buf.trim_start_matches('\n');
    let out = out.strip_suffix("\n\n").unwrap_or(out);
    let out = out.strip_suffix('\n').unwrap_or(out);
    let out = out.strip_suffix(' ').unwrap_or(out);
    (!out.is_empty()).then(|| out.to_string())
}

/// prost writes `<https://x>` for bare URLs and escapes `[`, `]`.
fn unescape(line: &str) -> String {
    let mut s = line.replace("\\[", "[").replace("\\]", "]");
    while let Some(start) = s.find("<http") {
        let Some(len) = s[start..].find('>') else {
            break;
        };
        let url = s[start + 1..start + len].to_string();
        s.replace_range(start..start + len + 1, &url);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn description_joins_and_drops_markers() {
        let d = description(&lines(
            "Standard object's metadata.\nMore info: <https://example.com/x>\n+optional\n\nSecond.\n---\nTODO: hidden",
        ));
        assert_eq!(
            d.as_deref(),
            Some("Standard object's metadata. More info: https://example.com/x\n\nSecond.")
        );
    }

    #[test]
    fn markers_are_read() {
        let m = markers(&lines(
            "x\n+listType=map\n+listMapKey=port\n+listMapKey=protocol\n+k8s:optional",
        ));
        assert_eq!(m.list_type.as_deref(), Some("map"));
        assert_eq!(m.list_map_keys, vec!["port", "protocol"]);
        assert!(m.optional);
    }
}
