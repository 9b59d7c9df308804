//! Go's JSON forms of values whose protobuf form differs: times, durations and floats.

use chrono::DateTime;
use serde_json::Value;

use super::ProtobufError;

fn invalid(reason: impl Into<String>) -> ProtobufError {
    ProtobufError::InvalidValue(reason.into())
}

/// `metav1.Time`: RFC 3339 in UTC with seconds precision (`2026-01-02T15:04:05Z`).
pub(crate) fn time(seconds: i64) -> Result<Value, ProtobufError> {
    let t = DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| invalid(format!("time {seconds}s out of range")))?;
    check_year(t.format("%Y").to_string())?;
    Ok(Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// `metav1.MicroTime`: RFC 3339 in UTC with six fractional digits.
pub(crate) fn micro_time(seconds: i64, nanos: i32) -> Result<Value, ProtobufError> {
    let nanos =
        u32::try_from(nanos).map_err(|_| invalid(format!("negative nanoseconds {nanos}")))?;
    let t = DateTime::from_timestamp(seconds, nanos)
        .ok_or_else(|| invalid(format!("time {seconds}s {nanos}ns out of range")))?;
    check_year(t.format("%Y").to_string())?;
    Ok(Value::String(
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    ))
}

/// Go's RFC 3339 layout writes four-digit years only.
fn check_year(year: String) -> Result<(), ProtobufError> {
    match year.parse::<i32>() {
        Ok(y) if (0..=9999).contains(&y) => Ok(()),
        _ => Err(invalid(format!("year {year} outside of [0,9999]"))),
    }
}

/// `metav1.Duration`: Go's `time.Duration.String()` (`1h2m3.5s`, `1.5ms`, `0s`).
pub(crate) fn duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".to_string(),
            u if u < 1_000 => ("ns", 0),
            u if u < 1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (frac, int) = fraction(u, prec);
        u = int;
        out.push_str(&u.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (frac, secs) = fraction(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        let m = u % 60;
        let h = u / 60;
        if h > 0 {
            out.push_str(&format!("{h}h{m}m"));
        } else if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg { format!("-{out}") } else { out }
}

/// Splits `v / 10^prec` into the fraction text (`.25`, trailing zeros and a zero fraction
/// dropped) and the integer part.
fn fraction(mut v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut print = false;
    for _ in 0..prec {
        let d = (v % 10) as u8;
        print = print || d != 0;
        if print {
            digits.push(char::from(b'0' + d));
        }
        v /= 10;
    }
    if digits.is_empty() {
        return (String::new(), v);
    }
    digits.push('.');
    (digits.into_iter().rev().collect(), v)
}

/// A float as Go writes it: integral values as integers (so that they compare equal to what a
/// JSON client sends); NaN and infinities are errors, as in Go.
pub(crate) fn float(f: f64) -> Result<Value, ProtobufError> {
    if !f.is_finite() {
        return Err(invalid(format!("unsupported float value {f}")));
    }
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Ok(Value::from(f as i64));
    }
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| invalid(format!("unsupported float value {f}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-90_000_000_000, "-1m30s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (n, want) in cases {
            assert_eq!(duration(n), want, "{n}ns");
        }
    }

    #[test]
    fn times_format_like_go() {
        assert_eq!(
            time(1_767_366_245).ok(),
            Some(Value::from("2026-01-02T15:04:05Z"))
        );
        assert_eq!(
            micro_time(1_767_366_245, 123_456_789).ok(),
            Some(Value::from("2026-01-02T15:04:05.123456Z"))
        );
        assert_eq!(
            micro_time(0, 0).ok(),
            Some(Value::from("1970-01-01T00:00:00.000000Z"))
        );
        assert!(time(i64::MAX).is_err());
        assert!(time(300_000_000_000).is_err(), "year > 9999");
        assert!(micro_time(0, -1).is_err());
    }

    #[test]
    fn floats_are_integers_when_integral() {
        assert_eq!(float(5.0).ok(), Some(Value::from(5)));
        assert_eq!(float(0.5).ok(), Some(Value::from(0.5)));
        assert!(float(f64::NAN).is_err());
    }
}
