//! The protobuf wire format: a bounds-checked reader that never allocates based on lengths it
//! reads (every length is checked against what is left of the buffer).

use super::ProtobufError;

/// How a field's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    StartGroup,
    EndGroup,
    Fixed32,
}

impl WireType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::StartGroup => "start-group",
            WireType::EndGroup => "end-group",
            WireType::Fixed32 => "fixed32",
        }
    }
}

/// Groups (deprecated, never used by Kubernetes) may only nest this deep in skipped data.
const MAX_GROUP_DEPTH: usize = 32;

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(reason: impl Into<String>) -> ProtobufError {
    ProtobufError::Malformed(reason.into())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ProtobufError::Truncated { offset: self.pos });
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(malformed(format!(
                    "varint longer than 64 bits at offset {}",
                    self.pos - 1
                )));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(malformed(format!(
            "varint longer than 10 bytes at offset {}",
            self.pos
        )))
    }

    /// A field key: (field number, wire type).
    pub(crate) fn key(&mut self) -> Result<(u32, WireType), ProtobufError> {
        let at = self.pos;
        let key = self.varint()?;
        let wt = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            other => {
                return Err(malformed(format!(
                    "invalid wire type {other} at offset {at}"
                )));
            }
        };
        let field = key >> 3;
        if field == 0 || field > (1 << 29) - 1 {
            return Err(malformed(format!(
                "invalid field number {field} at offset {at}"
            )));
        }
        Ok((field as u32, wt))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(ProtobufError::Truncated { offset: self.pos });
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The bytes of a length-delimited value.
    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], ProtobufError> {
        let at = self.pos;
        let n = self.varint()?;
        let left = self.buf.len() - self.pos;
        if n > left as u64 {
            return Err(malformed(format!(
                "length {n} at offset {at} exceeds the {left} bytes left"
            )));
        }
        self.take(n as usize)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn fixed32(&mut self) -> Result<u32, ProtobufError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    /// Skips the value of an unknown field.
    pub(crate) fn skip(&mut self, field: u32, wt: WireType) -> Result<(), ProtobufError> {
        self.skip_nested(field, wt, 0)
    }

    fn skip_nested(&mut self, field: u32, wt: WireType, depth: usize) -> Result<(), ProtobufError> {
        match wt {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
            WireType::Len => self.len_delimited().map(drop),
            WireType::EndGroup => Err(malformed(format!("unexpected end-group for field {field}"))),
            WireType::StartGroup => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(ProtobufError::TooDeep {
                        limit: MAX_GROUP_DEPTH,
                    });
                }
                loop {
                    if self.is_empty() {
                        return Err(ProtobufError::Truncated { offset: self.pos });
                    }
                    let (f, w) = self.key()?;
                    if w == WireType::EndGroup {
                        if f != field {
                            return Err(malformed(format!(
                                "end-group {f} does not close group {field}"
                            )));
                        }
                        return Ok(());
                    }
                    self.skip_nested(f, w, depth + 1)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_and_overflow_is_rejected() {
        assert_eq!(Reader::new(&[0x96, 0x01]).varint().ok(), Some(150));
        assert_eq!(
            Reader::new(&[0xff; 9].iter().copied().chain([0x01]).collect::<Vec<_>>())
                .varint()
                .ok(),
            Some(u64::MAX)
        );
        assert!(matches!(
            Reader::new(&[0xff; 10]).varint(),
            Err(ProtobufError::Malformed(_))
        ));
        assert!(matches!(
            Reader::new(&[0x80]).varint(),
            Err(ProtobufError::Truncated { .. })
        ));
    }

    #[test]
    fn lengths_beyond_the_buffer_are_rejected_without_allocating() {
        // field 1, LEN, length 2^62
        let mut r = Reader::new(&[0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
        assert_eq!(r.key().ok(), Some((1, WireType::Len)));
        assert!(matches!(
            r.len_delimited(),
            Err(ProtobufError::Malformed(_))
        ));
    }

    #[test]
    fn groups_are_skipped_and_bounded() {
        // field 1 start-group, field 2 varint 5, field 1 end-group, field 3 varint 7
        let mut r = Reader::new(&[0x0b, 0x10, 0x05, 0x0c, 0x18, 0x07]);
        let (f, w) = r.key().expect("key");
        r.skip(f, w).expect("skips group");
        assert_eq!(r.key().ok(), Some((3, WireType::Varint)));
        let deep: Vec<u8> = std::iter::repeat_n(0x0b, 100).collect();
        let mut r = Reader::new(&deep);
        let (f, w) = r.key().expect("key");
        assert!(matches!(r.skip(f, w), Err(ProtobufError::TooDeep { .. })));
    }
}
