//! The default backend: an embedded redb database behind a write-ahead log.
//!
//! Each batch is made durable by one append + `fdatasync` of the log, then applied to redb
//! without syncing. About once a second (or when the log grows large) a redb commit with
//! `Durability::Immediate` makes everything applied so far durable in the database, and the log
//! is emptied. Opening replays the log records newer than the database's last durable commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;
use super::backend::{Backend, Change, Loaded};
use super::wal::Wal;

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// Checkpoint at least this often...
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// ...or when the log is this large.
const MAX_LOG_BYTES: u64 = 64 << 20;

/// A redb database file plus its write-ahead log (`<file>.wal`).
pub struct RedbBackend {
    db: Database,
    wal: Wal,
    last_checkpoint: Instant,
}

fn write_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Write(e.to_string())
}

impl RedbBackend {
    /// Opens (or creates) the database at `path` and its log; fails if another process holds
    /// the database.
    pub fn open(path: &Path) -> Result<RedbBackend, StoreError> {
        let open = |e: &dyn std::fmt::Display| StoreError::Open(format!("{}: {e}", path.display()));
        let db = Database::create(path).map_err(|e| open(&e))?;
        // Create the tables on first start so that `load` finds them.
        let txn = db.begin_write().map_err(|e| open(&e))?;
        txn.open_table(OBJECTS).map_err(|e| open(&e))?;
        txn.open_table(META).map_err(|e| open(&e))?;
        txn.commit().map_err(|e| open(&e))?;
        let wal = Wal::open(&path.with_extension("wal"))?;
        Ok(RedbBackend {
            db,
            wal,
            last_checkpoint: Instant::now(),
        })
    }

    /// Applies a batch to the database with the given durability.
    fn apply(&self, batch: &[Change], rv: u64, durability: Durability) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(write_err)?;
        txn.set_durability(durability).map_err(write_err)?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(write_err)?;
            for c in batch {
                match &c.value {
                    Some(v) => table.insert(c.key.as_str(), v.as_ref()).map(drop),
                    None => table.remove(c.key.as_str()).map(drop),
                }
                .map_err(write_err)?;
            }
            let mut meta = txn.open_table(META).map_err(write_err)?;
            meta.insert(RV_KEY, rv).map_err(write_err)?;
        }
        txn.commit().map_err(write_err)
    }

    /// Makes everything applied so far durable in the database, then empties the log.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(write_err)?;
        txn.set_durability(Durability::Immediate)
            .map_err(write_err)?;
        txn.commit().map_err(write_err)?;
        self.wal.reset()?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}

impl Backend for RedbBackend {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError::Open(e.to_string());
        let mut objects = BTreeMap::new();
        let mut rv = {
            let txn = self.db.begin_read().map_err(|e| err(&e))?;
            let table = txn.open_table(OBJECTS).map_err(|e| err(&e))?;
            for entry in table.iter().map_err(|e| err(&e))? {
                let (k, v) = entry.map_err(|e| err(&e))?;
                objects.insert(k.value().to_string(), v.value().to_vec());
            }
            let meta = txn.open_table(META).map_err(|e| err(&e))?;
            meta.get(RV_KEY).map_err(|e| err(&e))?.map(|v| v.value())
        };
        // Batches the log holds beyond the database's last durable commit.
        let records: Vec<_> = self
            .wal
            .replay()?
            .into_iter()
            .filter(|r| rv.is_none_or(|db| r.rv > db))
            .collect();
        if !records.is_empty() {
            for r in &records {
                for c in &r.changes {
                    match &c.value {
                        Some(v) => objects.insert(c.key.clone(), v.to_vec()),
                        None => objects.remove(&c.key),
                    };
                }
                self.apply(&r.changes, r.rv, Durability::None)
                    .map_err(|e| err(&e))?;
                rv = Some(rv.unwrap_or(0).max(r.rv));
            }
            self.checkpoint().map_err(|e| err(&e))?;
        }
        Ok(Loaded {
            objects: objects.into_iter().collect(),
            rv,
        })
    }

    fn persist(&mut self, batch: &[Change], rv: u64) -> Result<(), StoreError> {
        self.wal.append(batch, rv)?;
        self.apply(batch, rv, Durability::None)?;
        if self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY || self.wal.len() >= MAX_LOG_BYTES {
            self.checkpoint()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn put(k: &str, v: &str) -> Change {
        Change {
            key: k.into(),
            value: Some(Bytes::from(v.to_string())),
        }
    }

    #[test]
    fn the_log_restores_what_the_database_did_not_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        let wal_copy = {
            let mut b = RedbBackend::open(&path).expect("open");
            b.persist(&[put("a", "1")], 1).expect("persist");
            b.checkpoint().expect("checkpoint");
            b.persist(&[put("b", "2"), put("a", "3")], 2)
                .expect("persist");
            b.persist(
                &[
                    Change {
                        key: "b".into(),
                        value: None,
                    },
                    put("c", "4"),
                ],
                3,
            )
            .expect("persist");
            std::fs::read(path.with_extension("wal")).expect("log")
        };
        // Dropping the database without a checkpoint loses its unsynced commits on a crash;
        // simulate that by restoring a database that only has the checkpointed state.
        let dir2 = tempfile::tempdir().expect("tempdir");
        let path2 = dir2.path().join("s.redb");
        {
            let mut b = RedbBackend::open(&path2).expect("open");
            b.persist(&[put("a", "1")], 1).expect("persist");
            b.checkpoint().expect("checkpoint");
        }
        std::fs::write(path2.with_extension("wal"), &wal_copy).expect("log");
        let mut b = RedbBackend::open(&path2).expect("reopen");
        let loaded = b.load().expect("load");
        assert_eq!(loaded.rv, Some(3));
        let objects: BTreeMap<_, _> = loaded.objects.into_iter().collect();
        assert_eq!(objects.get("a").map(Vec::as_slice), Some(&b"3"[..]));
        assert_eq!(objects.get("c").map(Vec::as_slice), Some(&b"4"[..]));
        assert!(!objects.contains_key("b"));
        // The replay was checkpointed: the log is empty and a second load agrees.
        assert_eq!(
            std::fs::metadata(path2.with_extension("wal"))
                .expect("log")
                .len(),
            0
        );
        drop(b);
        let mut b = RedbBackend::open(&path2).expect("reopen");
        assert_eq!(b.load().expect("load").objects.len(), 2);
    }
}
