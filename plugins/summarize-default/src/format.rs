//! Number rendering exactly as upstream KubeStellar (Go) renders CombinedStatus numbers.
//!
//! Upstream formats doubles with `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest decimal
//! digits that round-trip, in plain notation unless the decimal exponent is below -4 or at
//! least 6 (Go fixes the `%e` threshold at 6 when the precision is "shortest"), in which case
//! it uses `d.ddde±XX` with at least two exponent digits. Infinities are `+Inf` / `-Inf`.

/// Formats `v` like Go's `strconv.FormatFloat(v, 'g', -1, 64)`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let negative = v.is_sign_negative();
    // Rust's `{:e}` prints the shortest round-trip digits, like Go's shortest mode.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = if digits.is_empty() {
        "0".to_owned()
    } else {
        digits
    };

    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        push_plain(&mut out, &digits, exp);
    } else {
        push_exponent(&mut out, &digits, exp);
    }
    out
}

/// `%f` with exactly as many fraction digits as needed (Go's `fmtF` in shortest mode).
fn push_plain(out: &mut String, digits: &str, exp: i32) {
    // The decimal point sits after `exp + 1` digits.
    let point = exp + 1;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let point = point as usize;
    if digits.len() <= point {
        out.push_str(digits);
        for _ in digits.len()..point {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..point]);
        out.push('.');
        out.push_str(&digits[point..]);
    }
}

/// `%e` with shortest digits and a two-digit minimum exponent (Go's `fmtE`).
fn push_exponent(out: &mut String, digits: &str, exp: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let magnitude = exp.unsigned_abs();
    if magnitude < 10 {
        out.push('0');
    }
    out.push_str(&magnitude.to_string());
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn matches_go_format_float_g_shortest() {
        // Expected strings are what Go 1.22 prints for strconv.FormatFloat(v, 'g', -1, 64).
        let cases: &[(f64, &str)] = &[
            (2.0, "2"),
            (0.5, "0.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (-2.5, "-2.5"),
            (10.0, "10"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e-5, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123.456, "123.456"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float(*v), *want, "formatting {v:?}");
        }
    }
}
