//! The fast path of the host's output check, which runs on every plugin call: one pass of
//! [`crate::json::raw::Scanner`] over the text that keeps the raw text of the identity fields
//! (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`) and skips everything else.
//! Whatever the scanner is unsure about, and escaped member names at the levels read here, make
//! it return `None`, and the caller falls back to serde_json, which also words the error.

use crate::json::raw::{Key, Scanner};

/// Raw JSON text of the identity fields; the last occurrence of a repeated member counts.
#[derive(Default)]
pub(super) struct RawIdentity<'a> {
    pub api_version: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub name: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

/// Scans a whole JSON text that must be an object (surrounding whitespace allowed, nothing
/// else after it) and returns its identity fields.
pub(super) fn scan(text: &str) -> Option<RawIdentity<'_>> {
    let mut s = Scanner::new(text);
    // Anything but an object is an error the caller words through serde_json.
    if s.peek()? != b'{' {
        return None;
    }
    let mut id = RawIdentity::default();
    s.object(|s, key| {
        match key {
            Key::Plain("apiVersion") => id.api_version = Some(s.raw_value()?),
            Key::Plain("kind") => id.kind = Some(s.raw_value()?),
            Key::Plain("metadata") => {
                // serde reads the last `metadata` only; one that is not an object names
                // nothing (left to serde_json, which also checks a scalar's range).
                if s.peek()? != b'{' {
                    return None;
                }
                (id.name, id.namespace) = (None, None);
                s.object(|s, key| {
                    match key {
                        Key::Plain("name") => id.name = Some(s.raw_value()?),
                        Key::Plain("namespace") => id.namespace = Some(s.raw_value()?),
                        Key::Plain(_) => s.skip_value()?,
                        Key::Escaped => return None,
                    }
                    Some(())
                })?;
            }
            Key::Plain(_) => s.skip_value()?,
            Key::Escaped => return None,
        }
        Some(())
    })?;
    s.end()?;
    Some(id)
}
