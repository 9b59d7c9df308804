//! The JSONPath subset CRD `additionalPrinterColumns` use: `.a.b`, `.a[0]`, `.a[*].b`,
//! `.a[?(@.type=="Ready")].status` (also `!=`), with or without a leading `$`/`{}`.

use serde_json::Value;

enum Step {
    Field(String),
    Index(usize),
    All,
    Filter {
        path: Vec<String>,
        value: String,
        equal: bool,
    },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut steps = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j > start {
                    steps.push(Step::Field(chars[start..j].iter().collect()));
                }
                i = j;
            }
            '[' => {
                let close = chars[i..].iter().position(|&c| c == ']')? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|s| s.strip_suffix(')')) {
                    let (lhs, rhs, equal) = match f.split_once("==") {
                        Some((l, r)) => (l, r, true),
                        None => {
                            let (l, r) = f.split_once("!=")?;
                            (l, r, false)
                        }
                    };
                    let path = lhs
                        .trim()
                        .strip_prefix("@.")?
                        .split('.')
                        .map(String::from)
                        .collect();
                    let value = rhs
                        .trim()
                        .trim_matches(|c| c == '"' || c == '\'')
                        .to_string();
                    steps.push(Step::Filter { path, value, equal });
                } else {
                    // `['status\.kubestellar\.io/api-group']`: escaped dots are literal dots.
                    let key = inner
                        .trim_matches(|c| c == '"' || c == '\'')
                        .replace("\\.", ".");
                    steps.push(Step::Field(key));
                }
                i = close + 1;
            }
            _ => {
                let start = i;
                let mut j = i;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                steps.push(Step::Field(chars[start..j].iter().collect()));
                i = j;
            }
        }
    }
    Some(steps)
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// All values the path selects (empty when it does not parse or nothing matches).
pub fn eval<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse(path) else {
        return Vec::new();
    };
    let mut cur = vec![v];
    for step in &steps {
        let mut next = Vec::new();
        for c in cur {
            match step {
                Step::Field(f) => next.extend(c.get(f.as_str())),
                Step::Index(n) => next.extend(c.get(*n)),
                Step::All => match c {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(o) => next.extend(o.values()),
                    _ => {}
                },
                Step::Filter { path, value, equal } => {
                    if let Value::Array(a) = c {
                        for item in a {
                            let mut x = Some(item);
                            for seg in path {
                                x = x.and_then(|x| x.get(seg.as_str()));
                            }
                            let matched = x.is_some_and(|x| scalar_string(x) == *value);
                            if matched == *equal {
                                next.push(item);
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_printer_column_paths() {
        let o = json!({"spec": {"size": 3, "items": [{"n": 1}, {"n": 2}]},
                       "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(eval(&o, ".spec.size"), vec![&json!(3)]);
        assert_eq!(eval(&o, ".spec.items[1].n"), vec![&json!(2)]);
        assert_eq!(eval(&o, ".spec.items[*].n").len(), 2);
        assert_eq!(
            eval(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![&json!("True")]
        );
        assert_eq!(
            eval(&o, "{.status.conditions[?(@.type=='Synced')].status}"),
            vec![&json!("False")]
        );
        assert!(eval(&o, ".nope.x").is_empty());
        let l = json!({"metadata": {"labels": {"status.kubestellar.io/name": "n"}}});
        assert_eq!(
            eval(&l, ".metadata.labels['status\\.kubestellar\\.io/name']"),
            vec![&json!("n")]
        );
    }
}
