//! String formats the apiserver checks in custom resources (kube-openapi's `strfmt` registry,
//! restricted to the formats CRDs keep).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use base64::Engine;
use regex::Regex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("format patterns are constants that compile")
}

static UUID: LazyLock<Regex> =
    LazyLock::new(|| re("(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID_VERSIONED: LazyLock<Regex> = LazyLock::new(|| {
    re("(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?([345])[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| re(r"^[^@\s]+@[^@\s]+$"));
static MAC: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{2}[:-]){7}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{4}\.){2}([0-9A-Fa-f]{4})$",
    )
});
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+$"));
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
});
static HEX_COLOR: LazyLock<Regex> = LazyLock::new(|| re("^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static BSON_OBJECT_ID: LazyLock<Regex> = LazyLock::new(|| re("^[0-9a-fA-F]{24}$"));

/// Whether `value` is valid for `format`; `None` when the format is not checked.
pub(super) fn check(format: &str, value: &str) -> Option<bool> {
    Some(match format {
        "date-time" | "datetime" => DATE_TIME.is_match(value) && date_time_parses(value),
        "date" => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok(),
        "uuid" => UUID.is_match(value),
        "uuid3" | "uuid4" | "uuid5" => {
            let want = &format[4..];
            UUID_VERSIONED
                .captures(value)
                .and_then(|c| c.get(1))
                .is_some_and(|m| m.as_str() == want)
        }
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(value),
        "hostname" => is_hostname(value),
        "email" => EMAIL.is_match(value),
        "mac" => MAC.is_match(value),
        "duration" => DURATION.is_match(value.trim()),
        "hexcolor" => HEX_COLOR.is_match(value),
        "bsonobjectid" => BSON_OBJECT_ID.is_match(value),
        _ => return None,
    })
}

fn date_time_parses(value: &str) -> bool {
    let normalized = value.replace(['t', ' '], "T").replace('z', "Z");
    chrono::DateTime::parse_from_rfc3339(&normalized).is_ok()
        || chrono::NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M").is_ok()
        || chrono::DateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f%z").is_ok()
}

/// RFC 1123 host names, allowing Unicode letters as go-openapi's `strfmt` does.
fn is_hostname(value: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().count() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    value.len() <= 255 && value.split('.').all(label_ok)
}

fn is_cidr(value: &str) -> bool {
    let Some((ip, bits)) = value.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    if ip.parse::<Ipv4Addr>().is_ok() {
        bits <= 32
    } else {
        ip.parse::<Ipv6Addr>().is_ok() && bits <= 128
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn formats_accept_and_reject() {
        for (f, ok, bad) in [
            ("date-time", "2024-05-01T10:00:00Z", "yesterday"),
            (
                "date-time",
                "2024-05-01T10:00:00.5+02:00",
                "2024-13-01T10:00:00Z",
            ),
            ("date", "2024-05-01", "2024-5-1x"),
            ("byte", "aGVsbG8=", "not base64!"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
            (
                "uuid4",
                "123e4567-e89b-42d3-a456-426614174000",
                "123e4567-e89b-12d3-a456-426614174000",
            ),
            ("ipv4", "10.0.0.1", "10.0.0.256"),
            ("ipv6", "::1", "1:::2"),
            ("cidr", "10.0.0.0/8", "10.0.0.0/33"),
            ("hostname", "example.com", "-bad-.com"),
            ("duration", "1h30m", "soon"),
        ] {
            assert_eq!(check(f, ok), Some(true), "{f} should accept {ok}");
            assert_eq!(check(f, bad), Some(false), "{f} should reject {bad}");
        }
        assert_eq!(check("int32", "x"), None);
    }
}
