//! A single validating pass over JSON text that keeps the raw text of the identity fields
//! (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`) and skips everything else
//! byte by byte, without serde's per-token machinery. It is the fast path of the host's
//! output check, which runs on every plugin call.
//!
//! It is stricter than serde_json, never looser: when it accepts a text, serde_json accepts it
//! too and reads the same identity. Whatever it is unsure about (escaped member names at the
//! levels it reads, `\u` surrogates, nesting deeper than [`MAX_DEPTH`], any error) makes it
//! return `None`, and the caller falls back to serde_json, which also words the error.

/// Nesting the scanner follows; deeper texts go to serde_json (whose limit is 128).
const MAX_DEPTH: u32 = 100;

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
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    s.ws();
    // Anything but an object is an error the caller words through serde_json.
    if s.peek()? != b'{' {
        return None;
    }
    let mut id = RawIdentity::default();
    s.object(1, |s, key| {
        match key {
            Key::Plain("apiVersion") => id.api_version = Some(s.raw_value(1)?),
            Key::Plain("kind") => id.kind = Some(s.raw_value(1)?),
            Key::Plain("metadata") => {
                // serde reads the last `metadata` only; one that is not an object names
                // nothing (left to serde_json, which also checks a scalar's range).
                if s.peek()? != b'{' {
                    return None;
                }
                (id.name, id.namespace) = (None, None);
                s.object(2, |s, key| {
                    match key {
                        Key::Plain("name") => id.name = Some(s.raw_value(2)?),
                        Key::Plain("namespace") => id.namespace = Some(s.raw_value(2)?),
                        Key::Plain(_) => s.value(2)?,
                        Key::Escaped => return None,
                    }
                    Some(())
                })?;
            }
            Key::Plain(_) => s.value(1)?,
            Key::Escaped => return None,
        }
        Some(())
    })?;
    s.ws();
    (s.i == s.b.len()).then_some(id)
}

/// A member name: without escapes (its text is its value), or with some.
enum Key<'a> {
    Plain(&'a str),
    Escaped,
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// Expects `byte` (after whitespace).
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// Skips one value (after whitespace) and returns its text.
    fn raw_value(&mut self, depth: u32) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        self.value(depth)?;
        self.text.get(start..self.i)
    }

    /// Skips one value (after whitespace). `depth` is the nesting it is found at.
    fn value(&mut self, depth: u32) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth + 1, |s, _| s.value(depth + 1)),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Reads an object whose `{` is next; `member` reads each value (its key given).
    fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Self, Key<'a>) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.i + 1;
            let escaped = self.string()?;
            let key = if escaped {
                Key::Escaped
            } else {
                Key::Plain(self.text.get(start..self.i - 1)?)
            };
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips an array whose `[` is next.
    fn array(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips a string whose `"` is next; returns whether it had escapes. Control characters
    /// are refused, as JSON requires; the text is UTF-8 already (`&str`).
    fn string(&mut self) -> Option<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the first quote, backslash or control character.
            while let Some(block) = self.b.get(self.i..self.i + 8) {
                let found = special(u64::from_le_bytes(block.try_into().ok()?));
                if found != 0 {
                    self.i += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.text.get(self.i + 1..self.i + 5)?;
                            let unit = u16::from_str_radix(hex, 16).ok()?;
                            // `from_str_radix` takes a sign; JSON does not.
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit())
                                || (0xD800..=0xDFFF).contains(&unit)
                            {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                0..=0x1F => return None,
                _ => {}
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

/// Nonzero when a byte of `word` is `"`, `\` or below 0x20 (exact for the lowest such byte).
fn special(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let eq = |byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x
    };
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    (eq(b'"') | eq(b'\\') | below_space) & HIGHS
}
