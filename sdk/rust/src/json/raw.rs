//! A validating pass over JSON text that does not decode it: member names come out as borrowed
//! `&str` and values as their raw text, everything else is skipped byte by byte (eight bytes
//! at a time inside strings), without serde's per-token machinery. For code on a hot path that
//! needs a few members of a large object, such as the host's output check or a transformer that
//! copies most of an object through; it runs nearly as fast compiled to WebAssembly as natively.
//!
//! It is stricter than serde_json, never looser: what it accepts, serde_json accepts too and
//! reads the same way. Whatever it is unsure about (`\u` surrogates, nesting deeper than
//! [`MAX_DEPTH`], any error) makes it return `None`; the caller then falls back to serde_json,
//! which also words the error.
//!
//! ```
//! use kubestellar_plugin_sdk::json::raw::{Key, Scanner};
//!
//! let mut s = Scanner::new(r#"{"kind":"ConfigMap","data":{"a":"b"}}"#);
//! let mut kind = None;
//! s.object(|s, key| {
//!     match key {
//!         Key::Plain("kind") => kind = Some(s.raw_value()?),
//!         _ => s.skip_value()?,
//!     }
//!     Some(())
//! })
//! .and_then(|()| s.end())
//! .unwrap();
//! assert_eq!(kind, Some(r#""ConfigMap""#));
//! assert!(s.compact());
//! ```

/// Nesting the scanner follows; deeper texts are refused (serde_json's limit is 128).
pub const MAX_DEPTH: u32 = 100;

/// A member name: without escapes (its text is its value), or with some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A name without escapes, as written.
    Plain(&'a str),
    /// A name with escapes (decode it with serde_json if it matters).
    Escaped,
}

/// A position in a JSON text; see the module documentation.
pub struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
    spaced: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
            depth: 0,
            spaced: false,
        }
    }

    /// The next byte after whitespace, if any.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Byte offset of the scanner in the text.
    pub fn position(&self) -> usize {
        self.i
    }

    /// The text from `start` (an earlier [`Self::position`]) to here.
    pub fn since(&self, start: usize) -> Option<&'a str> {
        self.text.get(start..self.i)
    }

    /// True when no whitespace was skipped so far (the text read is compact JSON).
    pub fn compact(&self) -> bool {
        !self.spaced
    }

    /// Succeeds when only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// Skips one value and returns its text.
    pub fn raw_value(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        self.skip_value()?;
        self.text.get(start..self.i)
    }

    /// Skips one value. Nested objects and arrays are followed in this one loop, not by
    /// recursion: in a wasm guest every call pays entry checks (stack and epoch), and a large
    /// object holds hundreds of values.
    pub fn skip_value(&mut self) -> Option<()> {
        // The containers open inside the value, innermost in bit 0: 1 for an object, 0 for an
        // array. MAX_DEPTH < 128, so they fit.
        let mut open: u128 = 0;
        let mut nested: u32 = 0;
        loop {
            // A value is next.
            match self.peek()? {
                c @ (b'{' | b'[') => {
                    self.i += 1;
                    nested += 1;
                    if self.depth + nested > MAX_DEPTH {
                        return None;
                    }
                    let object = c == b'{';
                    open = open << 1 | u128::from(object);
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? != close {
                        if object {
                            self.member_name()?;
                        }
                        continue;
                    }
                    self.i += 1;
                    nested -= 1;
                    open >>= 1;
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: commas and closing brackets until the next value, or the end of
            // the outermost one.
            loop {
                if nested == 0 {
                    return Some(());
                }
                let object = open & 1 == 1;
                let next = self.peek()?;
                self.i += 1;
                match (next, object) {
                    (b',', true) => {
                        self.member_name()?;
                        break;
                    }
                    (b',', false) => break,
                    (b'}', true) | (b']', false) => {
                        nested -= 1;
                        open >>= 1;
                    }
                    _ => return None,
                }
            }
        }
    }

    /// Skips a member name and its colon.
    #[inline(always)]
    fn member_name(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.string()?;
        self.eat(b':')
    }

    /// Reads an object (the next value must be one); `member` must consume each member's value
    /// (with [`Self::raw_value`], [`Self::skip_value`], [`Self::object`], ...).
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Key<'a>) -> Option<()>,
    ) -> Option<()> {
        if self.enter(b'{', b'}')? {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let start = self.i + 1;
            let key = if self.string()? {
                Key::Escaped
            } else {
                Key::Plain(self.text.get(start..self.i - 1)?)
            };
            self.eat(b':')?;
            member(self, key)?;
            if self.after_element(b'}')? {
                return Some(());
            }
        }
    }

    /// Enters an object or array whose `open` byte is next; true when it is empty (its `close`
    /// byte is read too).
    #[inline(always)]
    fn enter(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.peek()? != close {
            return Some(false);
        }
        self.i += 1;
        self.depth -= 1;
        Some(true)
    }

    /// After an element of an object or array: false after a comma, true at its `close` byte.
    #[inline(always)]
    fn after_element(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        self.i += 1;
        if next == b',' {
            Some(false)
        } else if next == close {
            self.depth -= 1;
            Some(true)
        } else {
            None
        }
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
            self.spaced = true;
        }
    }

    /// Expects `byte` (after whitespace).
    #[inline(always)]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// Skips a string whose `"` is next; returns whether it had escapes. Control characters
    /// are refused, as JSON requires; the text is UTF-8 already (`&str`).
    #[inline(always)]
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
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    match *self.b.get(self.i)? {
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
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match *self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    /// Skips one value of `text` and expects only whitespace after it.
    fn skips(text: &str) -> bool {
        let mut s = Scanner::new(text);
        s.skip_value().and_then(|()| s.end()).is_some()
    }

    #[test]
    fn nesting_is_followed_up_to_max_depth() {
        let nest =
            |n: usize, open: &str, close: &str| format!("{}1{}", open.repeat(n), close.repeat(n));
        let depth = MAX_DEPTH as usize;
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            assert!(skips(&nest(depth, open, close)), "{open} x {depth}");
            assert!(!skips(&nest(depth + 1, open, close)), "{open} x {depth}+1");
        }
        // Depth counts the containers entered with `object` around the skipped value too.
        let inner = nest(depth - 1, "[", "]");
        let mut s = Scanner::new(&inner);
        assert!(s.skip_value().is_some());
        let outer = format!("{{\"x\":{inner}}}");
        let mut s = Scanner::new(&outer);
        assert!(s.object(|s, _| s.skip_value()).is_some());
        let outer = format!("{{\"x\":[{inner}]}}");
        let mut s = Scanner::new(&outer);
        assert!(s.object(|s, _| s.skip_value()).is_none());
    }

    #[test]
    fn skipping_accepts_what_serde_accepts() {
        let texts = [
            "1",
            "-0.5e+3",
            "\"a\\u00e9\\n\"",
            "true",
            "null",
            "[]",
            "{}",
            "[1,[2,[3]],{}]",
            r#"{"a":{"b":[{"c":null}],"d":"e"},"f":[]}"#,
            " [ 1 , { \"a\" : [ ] } ] ",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{,}",
            "[1}",
            "{\"a\":1]",
            "[[]",
            "{\"a\":1}}",
            "{1:2}",
            "[01]",
            "\"\\x\"",
            "[tru]",
            "[1 2]",
            "{\"a\" 1}",
            "",
            "]",
            "[\"\u{1}\"]",
        ];
        for text in texts {
            let serde = serde_json::from_str::<serde_json::Value>(text).is_ok();
            assert_eq!(skips(text), serde, "{text:?}");
        }
    }
}
