//! A write-ahead log: batches of changes appended to one file and made durable with one
//! `fdatasync` each (a sequential append syncs much faster than a B-tree commit, which writes
//! and syncs pages all over its file). The database behind it catches up lazily and the log is
//! emptied at each checkpoint.
//!
//! Record: `len: u32 LE | checksum: u64 LE (FNV-1a of body) | body`, where body is
//! `rv: u64 | count: u32 | count × (key_len: u32 | key | tag: u8 (1 put, 0 delete) |
//! [value_len: u32 | value])`, integers little-endian. Replay stops at the first record that is
//! truncated or fails its checksum: that is a write the crash interrupted, never acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use bytes::Bytes;

use super::StoreError;
use super::backend::Change;

/// The log file.
pub struct Wal {
    file: File,
    len: u64,
}

/// One replayed batch.
pub struct Record {
    /// The store's resourceVersion after the batch.
    pub rv: u64,
    /// Its changes, in order.
    pub changes: Vec<Change>,
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn encode(batch: &[Change], rv: u64) -> Vec<u8> {
    let size: usize = batch
        .iter()
        .map(|c| 9 + c.key.len() + c.value.as_ref().map_or(0, |v| v.len() + 4))
        .sum();
    let mut body = Vec::with_capacity(12 + size);
    body.extend_from_slice(&rv.to_le_bytes());
    body.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for c in batch {
        body.extend_from_slice(&(c.key.len() as u32).to_le_bytes());
        body.extend_from_slice(c.key.as_bytes());
        match &c.value {
            Some(v) => {
                body.push(1);
                body.extend_from_slice(&(v.len() as u32).to_le_bytes());
                body.extend_from_slice(v);
            }
            None => body.push(0),
        }
    }
    let mut rec = Vec::with_capacity(12 + body.len());
    rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
    rec.extend_from_slice(&fnv1a(&body).to_le_bytes());
    rec.extend_from_slice(&body);
    rec
}

/// Reads little-endian integers and byte strings off a slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn decode(body: &[u8]) -> Option<Record> {
    let mut c = Cursor(body);
    let rv = c.u64()?;
    let count = c.u32()? as usize;
    let mut changes = Vec::with_capacity(count.min(body.len()));
    for _ in 0..count {
        let klen = c.u32()? as usize;
        let key = String::from_utf8(c.take(klen)?.to_vec()).ok()?;
        let value = match c.take(1)?[0] {
            1 => {
                let vlen = c.u32()? as usize;
                Some(Bytes::copy_from_slice(c.take(vlen)?))
            }
            0 => None,
            _ => return None,
        };
        changes.push(Change { key, value });
    }
    c.0.is_empty().then_some(Record { rv, changes })
}

/// The next intact record, or `None` at the end or at a torn or corrupt record.
fn next_record(c: &mut Cursor<'_>) -> Option<Record> {
    let len = c.u32()?;
    let sum = c.u64()?;
    let body = c.take(len as usize)?;
    if fnv1a(body) != sum {
        return None;
    }
    decode(body)
}

impl Wal {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Wal, StoreError> {
        let open = |e: std::io::Error| StoreError::Open(format!("{}: {e}", path.display()));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(open)?;
        let len = file.metadata().map_err(open)?.len();
        Ok(Wal { file, len })
    }

    /// Every complete record, in order (stops at a torn or corrupt tail).
    pub fn replay(&mut self) -> Result<Vec<Record>, StoreError> {
        let mut data = Vec::new();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_end(&mut data))
            .map_err(|e| StoreError::Open(format!("reading the write-ahead log: {e}")))?;
        let mut out = Vec::new();
        let mut c = Cursor(&data);
        while let Some(r) = next_record(&mut c) {
            out.push(r);
        }
        Ok(out)
    }

    /// Appends a batch and waits until it is on disk.
    pub fn append(&mut self, batch: &[Change], rv: u64) -> Result<(), StoreError> {
        let rec = encode(batch, rv);
        let err = |e: std::io::Error| StoreError::Write(format!("write-ahead log: {e}"));
        self.file.write_all(&rec).map_err(err)?;
        self.file.sync_data().map_err(err)?;
        self.len += rec.len() as u64;
        Ok(())
    }

    /// Bytes in the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Empties the log (after its records are durable elsewhere).
    pub fn reset(&mut self) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .map_err(|e| StoreError::Write(format!("truncating the write-ahead log: {e}")))?;
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Change {
        Change {
            key: k.into(),
            value: Some(Bytes::from(v.to_string())),
        }
    }

    #[test]
    fn replays_complete_records_and_ignores_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        {
            let mut w = Wal::open(&path).expect("open");
            w.append(
                &[
                    put("a", "1"),
                    Change {
                        key: "b".into(),
                        value: None,
                    },
                ],
                7,
            )
            .expect("append");
            w.append(&[put("c", "3")], 8).expect("append");
        }
        // A crash in the middle of a third append.
        let full = std::fs::read(&path).expect("read");
        let third = encode(&[put("d", "4")], 9);
        std::fs::write(&path, [&full[..], &third[..third.len() - 3]].concat()).expect("write");
        let mut w = Wal::open(&path).expect("reopen");
        let recs = w.replay().expect("replay");
        assert_eq!(recs.iter().map(|r| r.rv).collect::<Vec<_>>(), [7, 8]);
        assert_eq!(recs[0].changes[0].key, "a");
        assert!(recs[0].changes[1].value.is_none());
        // A flipped byte ends the replay there.
        let mut bad = full.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        std::fs::write(&path, &bad).expect("write");
        let recs = Wal::open(&path).expect("reopen").replay().expect("replay");
        assert_eq!(recs.len(), 1);
        // Reset empties it; appends continue from the start.
        w.reset().expect("reset");
        w.append(&[put("e", "5")], 10).expect("append");
        let recs = w.replay().expect("replay");
        assert_eq!((recs.len(), recs[0].rv), (1, 10));
    }
}
