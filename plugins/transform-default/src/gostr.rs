//! Go's string quoting and unquoting (`strconv.Quote`, `QuoteRune`, `Unquote`), so that error
//! messages and template literals read exactly as in upstream KubeStellar, which is Go.

use std::fmt::Write as _;

/// Quotes a character like Go's `%q` on a rune: `'a'`, `'\x00'`, `'\n'`, `'\u00a0'`.
pub fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Quotes a string like Go's `%q` / `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Formats a character like Go's `%#U`: `U+0041 'A'`, or `U+0000` when not printable.
pub fn unicode_point(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Appends `c` escaped as Go's `strconv` does inside a literal delimited by `quote`.
pub fn push_escaped(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `unicode.IsPrint`, approximated outside ASCII: everything but controls, spaces other
/// than U+0020, format characters and private-use characters.
pub fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let u = c as u32;
    let format = matches!(u, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB);
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    !c.is_control() && !c.is_whitespace() && !format && !private
}

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals; the error is Go's
/// `invalid syntax`. Escaped bytes that are not UTF-8 become U+FFFD.
pub fn unquote(s: &str) -> Result<String, &'static str> {
    const ERR: &str = "invalid syntax";
    let bytes = s.as_bytes();
    if bytes.len() < 2 || bytes[0] != bytes[bytes.len() - 1] {
        return Err(ERR);
    }
    let quote = bytes[0];
    let body = &s[1..s.len() - 1];
    match quote {
        b'`' => {
            if body.contains('`') {
                return Err(ERR);
            }
            Ok(body.replace('\r', ""))
        }
        b'"' | b'\'' => {
            let mut out: Vec<u8> = Vec::with_capacity(body.len());
            let mut rest = body;
            let mut count = 0;
            while !rest.is_empty() {
                let (piece, tail) = unquote_char(rest, quote as char)?;
                match piece {
                    Piece::Char(c) => {
                        if c == '\n' && quote == b'"' {
                            return Err(ERR);
                        }
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    Piece::Byte(b) => out.push(b),
                }
                rest = tail;
                count += 1;
            }
            if quote == b'\'' && count != 1 {
                return Err(ERR);
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        _ => Err(ERR),
    }
}

enum Piece {
    Char(char),
    Byte(u8),
}

/// Go's `strconv.UnquoteChar`: decodes the first character or escape of `s`.
fn unquote_char(s: &str, quote: char) -> Result<(Piece, &str), &'static str> {
    const ERR: &str = "invalid syntax";
    let mut chars = s.chars();
    let c = chars.next().ok_or(ERR)?;
    if c == quote {
        return Err(ERR);
    }
    if c != '\\' {
        return Ok((Piece::Char(c), chars.as_str()));
    }
    let e = chars.next().ok_or(ERR)?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' if e == quote => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((Piece::Char(c), rest));
    }
    match e {
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n).ok_or(ERR)?;
            let value = u32::from_str_radix(digits, 16).map_err(|_| ERR)?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ERR);
            }
            let tail = &rest[n..];
            if e == 'x' {
                // A single byte; in a rune literal it is the code point.
                let byte = u8::try_from(value).map_err(|_| ERR)?;
                return Ok((
                    if quote == '\'' {
                        Piece::Char(char::from(byte))
                    } else {
                        Piece::Byte(byte)
                    },
                    tail,
                ));
            }
            Ok((Piece::Char(char::from_u32(value).ok_or(ERR)?), tail))
        }
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2).ok_or(ERR)?);
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(ERR);
            }
            let value = u32::from_str_radix(&digits, 8).map_err(|_| ERR)?;
            let byte = u8::try_from(value).map_err(|_| ERR)?;
            Ok((
                if quote == '\'' {
                    Piece::Char(char::from(byte))
                } else {
                    Piece::Byte(byte)
                },
                &rest[2..],
            ))
        }
        _ => Err(ERR),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_go() {
        assert_eq!(quote_rune('a'), "'a'");
        assert_eq!(quote_rune('\''), r"'\''");
        assert_eq!(quote_rune('\\'), r"'\\'");
        assert_eq!(quote_rune('\0'), r"'\x00'");
        assert_eq!(quote_rune('\u{7f}'), r"'\x7f'");
        assert_eq!(quote_rune('\u{a0}'), r"'\u00a0'");
        assert_eq!(quote_rune('é'), "'é'");
        assert_eq!(quote("a\"b\n\u{1}é"), r#""a\"b\n\x01é""#);
        assert_eq!(unicode_point('!'), "U+0021 '!'");
        assert_eq!(unicode_point('\u{1}'), "U+0001");
    }

    #[test]
    fn unquoting_matches_go() {
        assert_eq!(
            unquote(r#""a\tb\x41\101\u00e9\U0001F600\"""#).as_deref(),
            Ok("a\tbAAé😀\"")
        );
        assert_eq!(unquote("`a\\n\r`").as_deref(), Ok("a\\n"));
        assert_eq!(unquote(r"'\n'").as_deref(), Ok("\n"));
        assert_eq!(unquote("'ab'"), Err("invalid syntax"));
        assert_eq!(unquote(r#""\q""#), Err("invalid syntax"));
        assert_eq!(unquote(r#""\'""#), Err("invalid syntax"));
        assert_eq!(unquote(r#""\400""#), Err("invalid syntax"));
        assert_eq!(unquote(r#""\xff""#).as_deref(), Ok("\u{FFFD}"));
        assert_eq!(unquote("\"x"), Err("invalid syntax"));
    }
}
