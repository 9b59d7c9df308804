//! The default backend: an embedded redb database, one fsync per batch.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;
use super::backend::{Backend, Change, Loaded};

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const RV_KEY: &str = "resourceVersion";

/// A redb database file.
pub struct RedbBackend {
    db: Database,
}

impl RedbBackend {
    /// Opens (or creates) the database at `path`; fails if another process holds it.
    pub fn open(path: &Path) -> Result<RedbBackend, StoreError> {
        let open = |e: &dyn std::fmt::Display| StoreError::Open(format!("{}: {e}", path.display()));
        let db = Database::create(path).map_err(|e| open(&e))?;
        // Create the tables on first start so that `load` finds them.
        let txn = db.begin_write().map_err(|e| open(&e))?;
        txn.open_table(OBJECTS).map_err(|e| open(&e))?;
        txn.open_table(META).map_err(|e| open(&e))?;
        txn.commit().map_err(|e| open(&e))?;
        Ok(RedbBackend { db })
    }
}

impl Backend for RedbBackend {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError::Open(e.to_string());
        let txn = self.db.begin_read().map_err(|e| err(&e))?;
        let table = txn.open_table(OBJECTS).map_err(|e| err(&e))?;
        let mut objects = Vec::new();
        for entry in table.iter().map_err(|e| err(&e))? {
            let (k, v) = entry.map_err(|e| err(&e))?;
            objects.push((k.value().to_string(), v.value().to_vec()));
        }
        let meta = txn.open_table(META).map_err(|e| err(&e))?;
        let rv = meta.get(RV_KEY).map_err(|e| err(&e))?.map(|v| v.value());
        Ok(Loaded { objects, rv })
    }

    fn persist(&mut self, batch: &[Change], rv: u64) -> Result<(), StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError::Write(e.to_string());
        let mut txn = self.db.begin_write().map_err(|e| err(&e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| err(&e))?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| err(&e))?;
            for c in batch {
                match &c.value {
                    Some(v) => table.insert(c.key.as_str(), v.as_ref()).map(drop),
                    None => table.remove(c.key.as_str()).map(drop),
                }
                .map_err(|e| err(&e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| err(&e))?;
            meta.insert(RV_KEY, rv).map_err(|e| err(&e))?;
        }
        txn.commit().map_err(|e| err(&e))
    }
}
