//! Go's float formatting (`strconv.FormatFloat`), on top of Rust's exact shortest and
//! fixed-precision conversions.

/// Go's `strconv.FormatFloat(f, conv, prec, 64)` for `e`, `E`, `f`, `g`, `G`; `None` is the
/// shortest representation that reads back exactly (Go's precision -1).
pub fn strconv_float(f: f64, conv: char, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let neg = if f.is_sign_negative() { "-" } else { "" };
    let a = f.abs();
    let upper = conv.is_ascii_uppercase();
    let body = match conv.to_ascii_lowercase() {
        'e' => {
            let s = match prec {
                Some(p) => format!("{a:.p$e}"),
                None => format!("{a:e}"),
            };
            go_exponent(&s, upper)
        }
        'f' => match prec {
            Some(p) => format!("{a:.p$}"),
            None => format!("{a}"),
        },
        _ => {
            // Decimal digits (trailing zeros trimmed) and the exponent of the first digit.
            let s = match prec {
                Some(p) => format!("{a:.*e}", p.max(1) - 1),
                None => format!("{a:e}"),
            };
            let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
            let exp: i64 = exp.parse().unwrap_or(0);
            let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            while digits.len() > 1 && digits.ends_with('0') {
                digits.pop();
            }
            let nd = i64::try_from(digits.len()).unwrap_or(i64::MAX);
            let dp = exp + 1;
            let eprec = match prec {
                None => 6,
                Some(p) => {
                    let p = i64::try_from(p.max(1)).unwrap_or(i64::MAX);
                    if p > nd && nd >= dp { nd } else { p }
                }
            };
            if exp < -4 || exp >= eprec {
                let mut m = digits[..1].to_owned();
                if digits.len() > 1 {
                    m.push('.');
                    m.push_str(&digits[1..]);
                }
                go_exponent(&format!("{m}e{exp}"), upper)
            } else if dp <= 0 {
                format!(
                    "0.{}{digits}",
                    "0".repeat(usize::try_from(-dp).unwrap_or(0))
                )
            } else if dp >= nd {
                format!(
                    "{digits}{}",
                    "0".repeat(usize::try_from(dp - nd).unwrap_or(0))
                )
            } else {
                let dp = usize::try_from(dp).unwrap_or(0);
                format!("{}.{}", &digits[..dp], &digits[dp..])
            }
        }
    };
    format!("{neg}{body}")
}

/// Rewrites Rust's `1.5e-7` exponent as Go's `1.5e-07`.
fn go_exponent(s: &str, upper: bool) -> String {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let e: i64 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!(
        "{m}{}{sign}{:02}",
        if upper { 'E' } else { 'e' },
        e.unsigned_abs()
    )
}
