//! Go's `fmt` for the values templates have: `%v` printing, `print`, `println` and `printf`
//! with flags, width and precision. Not supported (printed as a bad verb): hexadecimal and
//! binary float formats and explicit argument indexes (`%[1]d`).

use std::fmt::Write as _;

use super::float::strconv_float;
use super::value::Value;
use crate::gostr;

/// Widths and precisions beyond this are ignored, as Go does for absurd numbers.
const MAX_WIDTH: usize = 1_000_000;

/// Appends `v` formatted like Go's `%v`.
pub fn write_value(out: &mut String, v: &Value<'_>) {
    print_arg(out, v, 'v', &Spec::default());
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub fn sprint(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !arg.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        write_value(&mut out, arg);
    }
    out
}

/// Go's `fmt.Sprintln`: spaces between all operands and a final newline.
pub fn sprintln(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(&mut out, arg);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf`, including its in-band error markers (`%!d(string=x)`, `%!s(MISSING)`).
pub fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::with_capacity(format.len());
    let bytes = format.as_bytes();
    let mut arg_num = 0;
    let mut i = 0;
    while i < format.len() {
        let lit_end = format[i..].find('%').map_or(format.len(), |x| i + x);
        out.push_str(&format[i..lit_end]);
        i = lit_end;
        if i >= format.len() {
            break;
        }
        i += 1;
        let mut spec = Spec::default();
        while i < bytes.len() {
            match bytes[i] {
                b'#' => spec.sharp = true,
                b'0' => spec.zero = !spec.minus,
                b'+' => spec.plus = true,
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        if bytes.get(i) == Some(&b'*') {
            i += 1;
            match args.get(arg_num).and_then(int_arg) {
                Some(w) if w.unsigned_abs() <= MAX_WIDTH as u64 => {
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = usize::try_from(w.unsigned_abs()).ok();
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            let (n, next) = parse_num(bytes, i);
            spec.width = n;
            i = next;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if bytes.get(i) == Some(&b'*') {
                i += 1;
                match args.get(arg_num).and_then(int_arg) {
                    Some(p) if p < 0 => spec.prec = None,
                    Some(p) if p <= MAX_WIDTH as i64 => spec.prec = usize::try_from(p).ok(),
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let (n, next) = parse_num(bytes, i);
                spec.prec = Some(n.unwrap_or(0));
                i = next;
            }
        }
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if let Some(arg) = args.get(arg_num) {
            print_arg(&mut out, arg, verb, &spec);
            arg_num += 1;
        } else {
            let _ = write!(out, "%!{verb}(MISSING)");
        }
    }
    if arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, arg) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = arg {
                out.push_str("<nil>");
            } else {
                out.push_str(arg.type_name());
                out.push('=');
                write_value(&mut out, arg);
            }
        }
        out.push(')');
    }
    out
}

fn int_arg(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::Byte(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn parse_num(bytes: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
        i += 1;
    }
    if i == start || n > MAX_WIDTH {
        (None, i)
    } else {
        (Some(n), i)
    }
}

fn print_arg(out: &mut String, v: &Value<'_>, verb: char, spec: &Spec) {
    if verb == 'T' {
        pad(out, v.type_name(), spec, false);
        return;
    }
    match v {
        Value::Nil if verb == 'v' => pad(out, "<nil>", spec, false),
        Value::Bool(b) if verb == 'v' || verb == 't' => {
            pad(out, if *b { "true" } else { "false" }, spec, false)
        }
        Value::Int(n) => fmt_integer(out, *n < 0, n.unsigned_abs(), verb, spec, v),
        Value::Byte(b) => fmt_integer(out, false, u64::from(*b), verb, spec, v),
        Value::Float(f) if matches!(verb, 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G') => {
            fmt_float(out, *f, verb, spec)
        }
        Value::Str(s) if matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') => {
            fmt_string(out, s, verb, spec)
        }
        Value::Map(m) if verb == 'v' || verb == 's' => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb, spec);
                out.push(':');
                fmt_string(out, val, verb, spec);
            }
            out.push(']');
        }
        _ => bad_verb(out, v, verb),
    }
}

fn bad_verb(out: &mut String, v: &Value<'_>, verb: char) {
    let _ = write!(out, "%!{verb}(");
    if let Value::Nil = v {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        write_value(out, v);
    }
    out.push(')');
}

/// Pads to the width (counted in characters); `numeric_zero` allows zero padding.
fn pad(out: &mut String, s: &str, spec: &Spec, no_zero: bool) {
    let len = s.chars().count();
    let fill = spec.width.map_or(0, |w| w.saturating_sub(len));
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if spec.zero && !no_zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

fn fmt_string(out: &mut String, s: &str, verb: char, spec: &Spec) {
    let s = match spec.prec {
        Some(p) if verb != 'x' && verb != 'X' => match s.char_indices().nth(p) {
            Some((end, _)) => &s[..end],
            None => s,
        },
        _ => s,
    };
    match verb {
        'q' if spec.sharp
            && !s.contains('`')
            && s.chars().all(|c| c == '\t' || (gostr::is_print(c))) =>
        {
            pad(out, &format!("`{s}`"), spec, false);
        }
        'q' => pad(out, &gostr::quote(s), spec, false),
        'v' if spec.sharp => pad(out, &gostr::quote(s), spec, false),
        'x' | 'X' => {
            let bytes = match spec.prec {
                Some(p) => &s.as_bytes()[..p.min(s.len())],
                None => s.as_bytes(),
            };
            let mut hex = String::with_capacity(bytes.len() * 2 + 2);
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(hex, "{b:02x}");
                } else {
                    let _ = write!(hex, "{b:02X}");
                }
            }
            pad(out, &hex, spec, false);
        }
        _ => pad(out, s, spec, false),
    }
}

fn fmt_integer(out: &mut String, negative: bool, u: u64, verb: char, spec: &Spec, v: &Value<'_>) {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(u)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, c.encode_utf8(&mut [0; 4]), spec, true);
            return;
        }
        'q' => {
            let c = u32::try_from(u)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &gostr::quote_rune(c), spec, true);
            return;
        }
        'U' => {
            let mut s = format!("U+{u:04X}");
            if spec.sharp
                && let Some(c) = u32::try_from(u)
                    .ok()
                    .and_then(char::from_u32)
                    .filter(|c| gostr::is_print(*c))
            {
                let _ = write!(s, " '{c}'");
            }
            pad(out, &s, spec, true);
            return;
        }
        _ => return bad_verb(out, v, verb),
    };
    let mut digits = match (base, upper) {
        (2, _) => format!("{u:b}"),
        (8, _) => format!("{u:o}"),
        (16, false) => format!("{u:x}"),
        (16, true) => format!("{u:X}"),
        _ => u.to_string(),
    };
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let min_digits = match spec.prec {
        Some(0) if u == 0 => {
            pad(
                out,
                "",
                &Spec {
                    zero: false,
                    ..spec.clone()
                },
                true,
            );
            return;
        }
        Some(p) => p,
        None if spec.zero && !spec.minus && spec.width.is_some() => spec
            .width
            .unwrap_or(0)
            .saturating_sub(usize::from(!sign.is_empty())),
        None => 0,
    };
    if digits.len() < min_digits {
        digits.insert_str(0, &"0".repeat(min_digits - digits.len()));
    }
    let prefix = match (spec.sharp, base, verb) {
        (_, 8, 'O') => "0o",
        (true, 2, _) => "0b",
        (true, 8, _) if !digits.starts_with('0') => "0",
        (true, 16, _) if upper => "0X",
        (true, 16, _) => "0x",
        _ => "",
    };
    pad(out, &format!("{sign}{prefix}{digits}"), spec, true);
}

fn fmt_float(out: &mut String, f: f64, verb: char, spec: &Spec) {
    let (conv, default_prec) = match verb {
        'v' => ('g', None),
        'g' | 'G' => (verb, None),
        'F' => ('f', Some(6)),
        _ => (verb, Some(6)),
    };
    // Go prints +Inf with its sign always, NaN with one only when asked; neither zero-padded.
    if f.is_nan() {
        pad(
            out,
            if spec.plus {
                "+NaN"
            } else if spec.space {
                " NaN"
            } else {
                "NaN"
            },
            spec,
            true,
        );
        return;
    }
    if f.is_infinite() {
        let s = if f < 0.0 {
            "-Inf"
        } else if spec.space && !spec.plus {
            " Inf"
        } else {
            "+Inf"
        };
        pad(out, s, spec, true);
        return;
    }
    let num = strconv_float(f, conv, spec.prec.or(default_prec));
    let (sign, body) = match num.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None if spec.plus => ("+", num.as_str()),
        None if spec.space => (" ", num.as_str()),
        None => ("", num.as_str()),
    };
    if spec.zero && !spec.minus && spec.width.is_some_and(|w| w > sign.len() + body.len()) {
        out.push_str(sign);
        let fill = spec.width.unwrap_or(0) - sign.len() - body.len();
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(body);
        return;
    }
    pad(out, &format!("{sign}{body}"), spec, true);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn s(v: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(v))
    }

    #[test]
    fn verbs_match_go() {
        let i = Value::Int;
        assert_eq!(sprintf("%s-%d", &[s("a"), i(3)]), "a-3");
        assert_eq!(
            sprintf("%5s|%-5s|%.2s", &[s("ab"), s("cd"), s("xyz")]),
            "   ab|cd   |xy"
        );
        assert_eq!(
            sprintf(
                "%05d|%+d|% d|%x|%X|%#x|%o|%#o|%b|%O",
                &[
                    i(42),
                    i(5),
                    i(5),
                    i(255),
                    i(255),
                    i(255),
                    i(8),
                    i(8),
                    i(5),
                    i(8)
                ]
            ),
            "00042|+5| 5|ff|FF|0xff|10|010|101|0o10"
        );
        assert_eq!(
            sprintf(
                "%-5d|%.3d|%c|%q|%U|%#U",
                &[i(-7), i(7), i(65), i(65), i(65), i(65)]
            ),
            "-7   |007|A|'A'|U+0041|U+0041 'A'"
        );
        assert_eq!(
            sprintf(
                "%q|%x|% x|%#v|%v",
                &[s("a\"b"), s("hi"), s("hi"), s("x"), Value::Bool(true)]
            ),
            r#""a\"b"|6869|68 69|"x"|true"#
        );
        assert_eq!(sprintf("%d %s", &[s("x")]), "%!d(string=x) %!s(MISSING)");
        assert_eq!(
            sprintf("%d", &[i(1), s("x"), Value::Nil]),
            "1%!(EXTRA string=x, <nil>)"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%", &[]), "%!(NOVERB)");
        assert_eq!(sprintf("%*d|%-*d|", &[i(4), i(1), i(3), i(2)]), "   1|2  |");
        assert_eq!(
            sprintf("%T %T %v", &[i(1), s(""), Value::Nil]),
            "int string <nil>"
        );
    }

    #[test]
    fn floats_match_go() {
        let f = Value::Float;
        assert_eq!(
            sprintf(
                "%v %v %v %v %v",
                &[f(1.5), f(1e6), f(123456789.0), f(1e-5), f(100000.0)]
            ),
            "1.5 1e+06 1.23456789e+08 1e-05 100000"
        );
        assert_eq!(
            sprintf(
                "%f %.2f %e %.3E %g %.3g",
                &[
                    f(3.14259),
                    f(2.005),
                    f(1234.5),
                    f(0.000123),
                    f(0.1),
                    f(1234.0)
                ]
            ),
            "3.142590 2.00 1.234500e+03 1.230E-04 0.1 1.23e+03"
        );
        assert_eq!(
            sprintf(
                "%08.3f|%+.1f|%v|%v",
                &[f(-3.14259), f(2.0), f(f64::INFINITY), f(f64::NAN)]
            ),
            "-003.143|+2.0|+Inf|NaN"
        );
        assert_eq!(sprintf("%v %v", &[f(0.0), f(-0.0)]), "0 -0");
        assert_eq!(sprintf("%d", &[f(1.0)]), "%!d(float64=1)");
    }

    #[test]
    fn print_spacing() {
        assert_eq!(
            sprint(&[s("a"), Value::Int(1), Value::Int(2), s("b")]),
            "a1 2b"
        );
        assert_eq!(sprintln(&[s("a"), Value::Int(1)]), "a 1\n");
        let m: super::super::value::Data = [
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]
        .into();
        assert_eq!(sprint(&[Value::Map(&m)]), "map[a:1 b:2]");
    }
}
