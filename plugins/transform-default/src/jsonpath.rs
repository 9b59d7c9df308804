//! The JSONPath subset of `CustomTransform.spec.remove`.
//!
//! Upstream KubeStellar (`pkg/jsonpath/lexer.go`) accepts `$` followed by segments of the form
//! `.name` (RFC 9535 member-name-shorthand) or `["string"]` (double quotes, JavaScript escapes),
//! without whitespace. This parser reproduces that grammar and its error texts byte for byte
//! (positions are byte offsets, characters are quoted like Go's `%q`), and adds, as a documented
//! extension: `[N]` (a non-negative array index) and `[*]` / `.*` (every element of an array or
//! every member of an object; newer upstream also accepts the wildcard).

use serde_json::Value;

use crate::gostr::quote_rune;

/// One step of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A member of an object.
    Field(String),
    /// An element of an array (extension).
    Index(usize),
    /// Every element of an array or member of an object (extension).
    Wildcard,
}

/// Parses a query. `Ok(vec![])` is the query `$` (the whole object), which callers reject.
pub fn parse(source: &str) -> Result<Vec<Segment>, String> {
    let mut lexer = Lexer::new(source)?;
    let query = lexer.scan_query()?;
    if !lexer.eof {
        return Err(format!(
            "syntax error at {}: extra junk {} after last segment",
            lexer.chr_pos,
            quote_rune(lexer.chr)
        ));
    }
    Ok(query)
}

/// Removes every node that `query` selects from `root`. Steps that are missing or meet a value
/// of the wrong type select nothing, so such removals are no-ops.
pub fn remove(root: &mut Value, query: &[Segment]) {
    let Some((last, init)) = query.split_last() else {
        return;
    };
    remove_at(root, init, last);
}

fn remove_at(node: &mut Value, init: &[Segment], last: &Segment) {
    match init.split_first() {
        None => match (node, last) {
            (Value::Object(map), Segment::Field(name)) => {
                map.remove(name);
            }
            (Value::Array(items), Segment::Index(index)) if *index < items.len() => {
                items.remove(*index);
            }
            (Value::Object(map), Segment::Wildcard) => map.clear(),
            (Value::Array(items), Segment::Wildcard) => items.clear(),
            _ => {}
        },
        Some((step, rest)) => match (node, step) {
            (Value::Object(map), Segment::Field(name)) => {
                if let Some(child) = map.get_mut(name) {
                    remove_at(child, rest, last);
                }
            }
            (Value::Array(items), Segment::Index(index)) => {
                if let Some(child) = items.get_mut(*index) {
                    remove_at(child, rest, last);
                }
            }
            (Value::Object(map), Segment::Wildcard) => {
                map.values_mut().for_each(|c| remove_at(c, rest, last))
            }
            (Value::Array(items), Segment::Wildcard) => {
                items.iter_mut().for_each(|c| remove_at(c, rest, last))
            }
            _ => {}
        },
    }
}

/// Upstream's lexer, ported step for step so that positions and messages match: `chr` is the
/// character being looked at (NUL at the end), `chr_pos` its byte offset.
struct Lexer<'s> {
    source: &'s str,
    chr: char,
    chr_pos: usize,
    next_pos: usize,
    eof: bool,
}

impl<'s> Lexer<'s> {
    fn new(source: &'s str) -> Result<Self, String> {
        let mut lexer = Lexer {
            source,
            chr: '\0',
            chr_pos: 0,
            next_pos: 0,
            eof: source.is_empty(),
        };
        lexer.advance()?;
        Ok(lexer)
    }

    /// Moves to the next character; moving past the end is upstream's `EOF` error.
    fn advance(&mut self) -> Result<(), String> {
        if self.eof {
            return Err("EOF".to_owned());
        }
        self.chr_pos = self.next_pos;
        match self.source[self.chr_pos..].chars().next() {
            Some(c) => {
                self.chr = c;
                self.next_pos = self.chr_pos + c.len_utf8();
            }
            None => {
                self.chr = '\0';
                self.eof = true;
            }
        }
        Ok(())
    }

    fn scan_query(&mut self) -> Result<Vec<Segment>, String> {
        let mut query = Vec::new();
        if self.chr != '$' {
            return Err(format!(
                "syntax error at {}: missing root identifier (dollar sign)",
                self.chr_pos
            ));
        }
        self.advance()?;
        while !self.eof {
            if self.chr == '.' {
                self.advance()?;
                if self.chr == '*' && !self.eof {
                    self.advance()?;
                    query.push(Segment::Wildcard);
                    continue;
                }
                if !is_name_first(self.chr) || self.eof {
                    return Err(self.unexpected("expected member-name-shorthand"));
                }
                query.push(Segment::Field(self.next_identifier()?));
            } else if self.chr == '[' {
                self.advance()?;
                let segment = match self.chr {
                    '"' if !self.eof => Segment::Field(self.next_string()?),
                    '*' if !self.eof => {
                        self.advance()?;
                        Segment::Wildcard
                    }
                    c if c.is_ascii_digit() => Segment::Index(self.next_index()?),
                    _ => return Err(self.unexpected("expected open quote")),
                };
                if self.chr != ']' || self.eof {
                    return Err(self.unexpected("missing close bracket"));
                }
                self.advance()?;
                query.push(segment);
            } else {
                break;
            }
        }
        Ok(query)
    }

    fn unexpected(&self, what: &str) -> String {
        format!(
            "syntax error at {}: {what}, got {}",
            self.chr_pos,
            quote_rune(self.chr)
        )
    }

    fn next_identifier(&mut self) -> Result<String, String> {
        let start = self.chr_pos;
        while !self.eof {
            self.advance()?;
            if !is_name_char(self.chr) || self.eof {
                break;
            }
        }
        Ok(self.source[start..self.chr_pos].to_owned())
    }

    /// Scans a string literal (the lexer is on its opening quote) and decodes it like the
    /// JavaScript parser upstream hands it to.
    fn next_string(&mut self) -> Result<String, String> {
        let start = self.chr_pos;
        let close = self.chr;
        loop {
            self.advance()?;
            if self.eof {
                return Err(format!(
                    "syntax error at {}: missing close quote",
                    self.chr_pos
                ));
            }
            if self.chr == close {
                self.advance()?;
                let literal = &self.source[start..self.chr_pos];
                return decode_js_string(literal).map_err(|(offset, message)| {
                    format!(
                        "lexical error at {} from goja: lit: Line 1:{} {message}",
                        self.chr_pos,
                        offset + 1
                    )
                });
            }
            if self.chr == '\\' {
                self.advance()?;
                if self.eof {
                    return Err(format!("syntax error at {}: escape-EOF", self.chr_pos));
                }
            }
        }
    }

    /// Scans an array index (extension): `0` or digits without a leading zero.
    fn next_index(&mut self) -> Result<usize, String> {
        let start = self.chr_pos;
        while self.chr.is_ascii_digit() && !self.eof {
            self.advance()?;
        }
        let digits = &self.source[start..self.chr_pos];
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(format!(
                "syntax error at {start}: array index {digits:?} has a leading zero"
            ));
        }
        digits
            .parse()
            .map_err(|_| format!("syntax error at {start}: array index {digits} is too large"))
    }
}

fn is_name_first(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || ('\u{80}'..='\u{D7FF}').contains(&c) || c >= '\u{E000}'
}

fn is_name_char(c: char) -> bool {
    is_name_first(c) || c.is_ascii_digit()
}

/// Decodes a double-quoted JavaScript string literal (quotes included), as sloppy-mode
/// ECMAScript does. Errors carry the byte offset of the offending escape.
fn decode_js_string(literal: &str) -> Result<String, (usize, &'static str)> {
    let body = &literal[1..literal.len() - 1];
    let mut out = String::with_capacity(body.len());
    // UTF-16 units, so that escaped surrogate pairs combine.
    let mut units: Vec<u16> = Vec::new();
    let mut chars = body.char_indices().peekable();
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.extend(char::decode_utf16(units.drain(..)).map(|r| r.unwrap_or('\u{FFFD}')));
    };
    while let Some((i, c)) = chars.next() {
        let offset = i + 1;
        match c {
            '\n' | '\r' => return Err((offset, "Invalid or unexpected token")),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Err((offset, "Invalid or unexpected token"));
                };
                match e {
                    'u' => {
                        let code = if chars.peek().map(|&(_, c)| c) == Some('{') {
                            chars.next();
                            let mut digits = String::new();
                            loop {
                                match chars.next() {
                                    Some((_, '}')) => break,
                                    Some((_, h)) if h.is_ascii_hexdigit() => digits.push(h),
                                    _ => return Err((offset, "Invalid Unicode escape sequence")),
                                }
                            }
                            match u32::from_str_radix(&digits, 16) {
                                Ok(v) if v <= 0x10FFFF && !digits.is_empty() => v,
                                _ => return Err((offset, "Undefined Unicode code-point")),
                            }
                        } else {
                            hex_digits(&mut chars, 4)
                                .ok_or((offset, "Invalid Unicode escape sequence"))?
                        };
                        push_code_point(code, &mut units, &mut out, flush);
                        continue;
                    }
                    'x' => {
                        let code = hex_digits(&mut chars, 2)
                            .ok_or((offset, "Invalid hexadecimal escape sequence"))?;
                        push_code_point(code, &mut units, &mut out, flush);
                        continue;
                    }
                    '0'..='7' => {
                        // Legacy octal escape: up to three digits, value at most 0o377.
                        let mut value = e.to_digit(8).unwrap_or(0);
                        let max_digits = if e <= '3' { 3 } else { 2 };
                        for _ in 1..max_digits {
                            match chars.peek().and_then(|&(_, d)| d.to_digit(8)) {
                                Some(d) => {
                                    value = value * 8 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        push_code_point(value, &mut units, &mut out, flush);
                        continue;
                    }
                    '\r' => {
                        // Line continuation; `\r\n` counts as one terminator.
                        if chars.peek().map(|&(_, c)| c) == Some('\n') {
                            chars.next();
                        }
                        continue;
                    }
                    '\n' | '\u{2028}' | '\u{2029}' => continue,
                    other => {
                        flush(&mut units, &mut out);
                        out.push(match other {
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'v' => '\u{b}',
                            c => c,
                        });
                    }
                }
            }
            c => {
                flush(&mut units, &mut out);
                out.push(c);
            }
        }
    }
    flush(&mut units, &mut out);
    Ok(out)
}

fn hex_digits(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, n: usize) -> Option<u32> {
    let mut value = 0;
    for _ in 0..n {
        let digit = chars.peek().and_then(|&(_, c)| c.to_digit(16))?;
        chars.next();
        value = value * 16 + digit;
    }
    Some(value)
}

fn push_code_point(
    code: u32,
    units: &mut Vec<u16>,
    out: &mut String,
    flush: impl Fn(&mut Vec<u16>, &mut String),
) {
    if let Ok(unit) = u16::try_from(code) {
        units.push(unit);
    } else {
        flush(units, out);
        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str) -> Segment {
        Segment::Field(name.to_owned())
    }

    // Upstream TestLexer: these parse, to exactly these segments.
    #[test]
    fn upstream_good_queries() {
        assert_eq!(parse("$.xyz"), Ok(vec![field("xyz")]));
        assert_eq!(parse(r#"$["foo.bar/baz"]"#), Ok(vec![field("foo.bar/baz")]));
        assert_eq!(
            parse(r#"$["foo.bar/baz"].zork"#),
            Ok(vec![field("foo.bar/baz"), field("zork")])
        );
        assert_eq!(
            parse(r#"$.zot["foo.bar/baz"]"#),
            Ok(vec![field("zot"), field("foo.bar/baz")])
        );
        assert_eq!(
            parse(r#"$.metadata.labels["test.kubestellar.io/test-label"]"#),
            Ok(vec![
                field("metadata"),
                field("labels"),
                field("test.kubestellar.io/test-label")
            ])
        );
        assert_eq!(parse("$"), Ok(vec![]));
        assert_eq!(parse("$.é_1"), Ok(vec![field("é_1")]));
    }

    // Upstream TestLexer's bad cases, with the messages upstream's code produces.
    #[test]
    fn upstream_bad_queries_and_messages() {
        assert_eq!(parse(""), Err("EOF".to_owned()));
        assert_eq!(
            parse("'xyz"),
            Err("syntax error at 0: missing root identifier (dollar sign)".to_owned())
        );
        assert_eq!(
            parse("$."),
            Err(r"syntax error at 2: expected member-name-shorthand, got '\x00'".to_owned())
        );
        assert_eq!(
            parse("$["),
            Err(r"syntax error at 2: expected open quote, got '\x00'".to_owned())
        );
        assert_eq!(
            parse("$[]"),
            Err("syntax error at 2: expected open quote, got ']'".to_owned())
        );
        assert_eq!(
            parse("$.a b"),
            Err("syntax error at 3: extra junk ' ' after last segment".to_owned())
        );
        assert_eq!(
            parse("$..a"),
            Err("syntax error at 2: expected member-name-shorthand, got '.'".to_owned())
        );
        assert_eq!(
            parse("$['a']"),
            Err(r"syntax error at 2: expected open quote, got '\''".to_owned())
        );
        assert_eq!(
            parse(r#"$["a""#),
            Err(r"syntax error at 5: missing close bracket, got '\x00'".to_owned())
        );
        assert_eq!(
            parse(r#"$["a"x"#),
            Err("syntax error at 5: missing close bracket, got 'x'".to_owned())
        );
        assert_eq!(
            parse(r#"$["abc"#),
            Err("syntax error at 6: missing close quote".to_owned())
        );
        assert_eq!(
            parse(r#"$["ab\"#),
            Err("syntax error at 6: escape-EOF".to_owned())
        );
        assert_eq!(
            parse("$.1"),
            Err("syntax error at 2: expected member-name-shorthand, got '1'".to_owned())
        );
        assert_eq!(
            parse("$\t"),
            Err(r"syntax error at 1: extra junk '\t' after last segment".to_owned())
        );
        assert_eq!(
            parse("x"),
            Err("syntax error at 0: missing root identifier (dollar sign)".to_owned())
        );
        assert!(parse(r#"$["\x4"]"#).unwrap_err().starts_with(
            "lexical error at 7 from goja: lit: Line 1:2 Invalid hexadecimal escape sequence"
        ));
    }

    #[test]
    fn string_literals_use_javascript_escapes() {
        assert_eq!(parse(r#"$["a\"b"]"#), Ok(vec![field("a\"b")]));
        assert_eq!(
            parse(r#"$["\u0041\x42\103\/\n"]"#),
            Ok(vec![field("ABC/\n")])
        );
        assert_eq!(parse(r#"$["\ud83d\ude00"]"#), Ok(vec![field("😀")]));
        assert_eq!(parse(r#"$["\u{1F600}"]"#), Ok(vec![field("😀")]));
        assert_eq!(parse(r#"$["'"]"#), Ok(vec![field("'")]));
    }

    #[test]
    fn extension_indices_and_wildcards() {
        assert_eq!(parse("$.a[0]"), Ok(vec![field("a"), Segment::Index(0)]));
        assert_eq!(
            parse("$.a[12].b"),
            Ok(vec![field("a"), Segment::Index(12), field("b")])
        );
        assert_eq!(
            parse("$.a[*].b"),
            Ok(vec![field("a"), Segment::Wildcard, field("b")])
        );
        assert_eq!(
            parse("$.a.*.b"),
            Ok(vec![field("a"), Segment::Wildcard, field("b")])
        );
        assert_eq!(parse("$[*]"), Ok(vec![Segment::Wildcard]));
        assert_eq!(
            parse("$.a[01]"),
            Err(r#"syntax error at 4: array index "01" has a leading zero"#.to_owned())
        );
        assert_eq!(
            parse("$.a[-1]"),
            Err("syntax error at 4: expected open quote, got '-'".to_owned())
        );
        assert_eq!(
            parse("$.a[1"),
            Err(r"syntax error at 5: missing close bracket, got '\x00'".to_owned())
        );
        assert_eq!(
            parse("$.a[*"),
            Err(r"syntax error at 5: missing close bracket, got '\x00'".to_owned())
        );
        assert!(
            parse("$.a[99999999999999999999999]")
                .unwrap_err()
                .ends_with("is too large")
        );
    }

    #[test]
    fn removal_walks_maps_and_ignores_mismatches() {
        let mut doc = json!({"spec": {"suspend": true, "x": 1}, "list": [1, {"a": 1, "b": 2}, 3]});
        remove(&mut doc, &parse("$.spec.suspend").unwrap());
        assert_eq!(doc["spec"], json!({"x": 1}));
        // Missing steps and wrong types are no-ops.
        for q in [
            "$.nope.deeper",
            "$.spec.x.y",
            "$.list.a",
            "$.spec[0]",
            "$.list[9]",
            "$.spec.x[*]",
        ] {
            let before = doc.clone();
            remove(&mut doc, &parse(q).unwrap());
            assert_eq!(doc, before, "{q}");
        }
        remove(&mut doc, &parse("$.list[1].a").unwrap());
        assert_eq!(doc["list"], json!([1, {"b": 2}, 3]));
        remove(&mut doc, &parse("$.list[0]").unwrap());
        assert_eq!(doc["list"], json!([{"b": 2}, 3]));
    }

    #[test]
    fn wildcard_removal() {
        let mut doc = json!({"items": [{"a": 1, "b": 1}, {"a": 2}, 7], "m": {"x": {"a": 1}, "y": {"a": 2, "c": 3}}});
        remove(&mut doc, &parse("$.items[*].a").unwrap());
        assert_eq!(doc["items"], json!([{"b": 1}, {}, 7]));
        remove(&mut doc, &parse("$.m.*.a").unwrap());
        assert_eq!(doc["m"], json!({"x": {}, "y": {"c": 3}}));
        remove(&mut doc, &parse("$.m[*]").unwrap());
        assert_eq!(doc["m"], json!({}));
        remove(&mut doc, &parse("$.items[*]").unwrap());
        assert_eq!(doc["items"], json!([]));
    }
}
