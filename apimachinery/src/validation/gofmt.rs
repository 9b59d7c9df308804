//! Go's `fmt` renderings that kube's error messages are made of (`%q`, `%v`, `%#v`), so that
//! our messages are byte-for-byte what kubectl users know.

use serde_json::Value;

/// Go's `strconv.Quote`: a double-quoted string with Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_printable(c) => out.push(c),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the ASCII space.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Format characters (category Cf) that Go refuses to print raw.
    !matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// Go's `%v` (shortest `%g`) for a float64: `1`, `0.5`, `1e+06`, `1.5e-07`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    // strconv's %g with the shortest precision switches to exponent form at 1e6 and below 1e-4.
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// A JSON number rendered as Go prints the int64 or float64 it decodes to.
pub fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        // Beyond int64 the unstructured decoder falls back to float64.
        go_float(u as f64)
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go's `%v` of a decoded JSON value as a field error's bad value (`null` becomes `"null"`, as
/// `field.Error` does). `typed` renders string lists and maps as Go's typed `[]string` and
/// `map[string]string` rather than the unstructured `[]interface {}`.
pub fn go_value(v: &Value, typed: bool) -> String {
    match v {
        Value::Null => go_quote("null"),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(_) | Value::Object(_) => go_sharp(v, typed),
    }
}

/// Go's `%#v` of a decoded JSON value.
pub fn go_sharp(v: &Value, typed: bool) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let all_strings = items.iter().all(Value::is_string);
            let head = if typed && all_strings {
                "[]string"
            } else {
                "[]interface {}"
            };
            let body: Vec<String> = items.iter().map(|i| go_sharp(i, typed)).collect();
            format!("{head}{{{}}}", body.join(", "))
        }
        Value::Object(map) => {
            let all_strings = map.values().all(Value::is_string);
            let head = if typed && all_strings {
                "map[string]string"
            } else {
                "map[string]interface {}"
            };
            // serde_json maps iterate in key order, as Go's fmt prints maps.
            let body: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_sharp(v, typed)))
                .collect();
            format!("{head}{{{}}}", body.join(", "))
        }
    }
}

/// Go's `encoding/json` rendering of a value (numbers without a trailing `.0`).
pub fn go_json(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_json).collect::<Vec<_>>().join(",")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), go_json(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1000000.0), "1e+06");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
    }

    #[test]
    fn quoting_and_composites_print_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
        assert_eq!(go_value(&Value::Null, false), "\"null\"");
        assert_eq!(
            go_value(&json!({"b": 1, "a": "x"}), false),
            "map[string]interface {}{\"a\":\"x\", \"b\":1}"
        );
        assert_eq!(go_value(&json!(["a", "b"]), true), "[]string{\"a\", \"b\"}");
        assert_eq!(go_value(&json!([]), true), "[]string{}");
        assert_eq!(
            go_value(&json!([null, 1.5]), false),
            "[]interface {}{interface {}(nil), 1.5}"
        );
        assert_eq!(
            go_json(&json!({"a": [1.0, "x", true]})),
            "{\"a\":[1,\"x\",true]}"
        );
    }
}
