//! Precompiled-component cache on disk: compiling a Rust plugin takes ~0.1-0.7 s and an
//! interpreter plugin (Python, JavaScript) 2-14 s; loading a precompiled one takes milliseconds.
//!
//! Entries are keyed by the module's sha256 plus the engine's precompile-compatibility hash, so
//! a different wasmtime version or configuration never reads another's artifacts. An entry is
//! two files:
//!
//! * `<key>.cwasm`: the artifact exactly as `Component::serialize` wrote it, so that it can be
//!   mapped into memory (`Component::deserialize_file`) instead of read and copied;
//! * `<key>.sum`: its sha256 and size, a fingerprint of its first and last 4 KiB, and the file
//!   identity it had when written (device, inode, mtime, ctime).
//!
//! Both are written to temp files and renamed into place (artifact first); an artifact is never
//! modified in place, which is what makes mapping it sound. On lookup the artifact is used
//! directly when its identity, size and fingerprint match the `.sum` file; any difference (the
//! file was rewritten, copied, restored or damaged) falls back to hashing the whole artifact
//! against the recorded sha256. A corrupt, incompatible or unaccounted-for entry is recompiled
//! and replaced, never trusted. The directory must be writable only by the host's user (it is
//! created with mode 0700 on Unix).

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes at each end of an artifact covered by the cheap fingerprint.
const EDGE: u64 = 4096;

/// What happened when a component was looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache configured; compiled.
    Disabled,
    /// Loaded a precompiled artifact.
    Hit,
    /// Not cached yet; compiled and stored.
    Miss,
    /// An entry existed but was rejected (reason); compiled and replaced.
    Corrupt(String),
}

/// A directory of precompiled components.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// Uses (and creates) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        Ok(ComponentCache { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The artifact file of the entry for `module_sha256` (hex), for this engine.
    pub fn path_for(&self, engine: &Engine, module_sha256: &str) -> PathBuf {
        let mut h = ShaHasher(Sha256::new());
        module_sha256.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir
            .join(format!("{}.cwasm", hex::encode(h.0.finalize())))
    }

    /// Loads the precompiled component for `bytes` (whose sha256 is `module_sha256`), or
    /// compiles it with `compile` and stores the result. Failing to store only logs a warning.
    pub fn load_or_compile<E>(
        &self,
        engine: &Engine,
        module_sha256: &str,
        compile: impl FnOnce() -> Result<Component, E>,
    ) -> Result<(Component, CacheOutcome), E> {
        let path = self.path_for(engine, module_sha256);
        let outcome = match read_entry(engine, &path) {
            Ok(Some(component)) => return Ok((component, CacheOutcome::Hit)),
            Ok(None) => CacheOutcome::Miss,
            Err(reason) => {
                tracing::warn!(path = %path.display(), "ignoring precompiled plugin cache entry: {reason}");
                CacheOutcome::Corrupt(reason)
            }
        };
        let component = compile()?;
        if let Err(e) = write_entry(&path, &component) {
            tracing::warn!(path = %path.display(), "cannot store precompiled plugin: {e}");
        }
        Ok((component, outcome))
    }
}

/// The `.sum` file next to an artifact.
fn sum_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("sum")
}

/// What a `.sum` file records about its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sum {
    /// sha256 of the whole artifact (hex).
    sha256: String,
    /// Its size in bytes.
    size: u64,
    /// sha256 of its first and last [`EDGE`] bytes (hex).
    edges: String,
    /// Device, inode, size, mtime and ctime when it was written.
    identity: FileIdentity,
}

impl Sum {
    fn to_text(&self) -> String {
        format!(
            "kubestellar-cwasm-sum 1\nsha256 {}\nsize {}\nedges {}\nidentity {}\n",
            self.sha256,
            self.size,
            self.edges,
            self.identity.to_text()
        )
    }

    fn parse(text: &str) -> Option<Sum> {
        let mut lines = text.lines();
        if lines.next()? != "kubestellar-cwasm-sum 1" {
            return None;
        }
        let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
        let sha256 = field("sha256")?.to_owned();
        let size = field("size")?.parse().ok()?;
        let edges = field("edges")?.to_owned();
        let identity = FileIdentity::parse(field("identity")?)?;
        Some(Sum {
            sha256,
            size,
            edges,
            identity,
        })
    }
}

/// What changes whenever a file is replaced or written: on Unix the device, inode, size, mtime
/// and ctime (which no user can set); elsewhere the size and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity(Vec<i128>);

impl FileIdentity {
    fn of(meta: &std::fs::Metadata) -> FileIdentity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            FileIdentity(vec![
                i128::from(meta.dev()),
                i128::from(meta.ino()),
                i128::from(meta.size()),
                ns(meta.mtime(), meta.mtime_nsec()),
                ns(meta.ctime(), meta.ctime_nsec()),
            ])
        }
        #[cfg(not(unix))]
        {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(-1, |d| d.as_nanos() as i128);
            FileIdentity(vec![meta.len() as i128, mtime])
        }
    }

    fn to_text(&self) -> String {
        self.0
            .iter()
            .map(i128::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn parse(text: &str) -> Option<FileIdentity> {
        text.split(' ')
            .map(|n| n.parse().ok())
            .collect::<Option<Vec<_>>>()
            .map(FileIdentity)
    }
}

/// sha256 of the first and last [`EDGE`] bytes of `file` (of length `len`).
fn edges(file: &mut File, len: u64) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; EDGE.min(len) as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut buf)?;
    h.update(&buf);
    file.seek(SeekFrom::Start(len - buf.len() as u64))?;
    file.read_exact(&mut buf)?;
    h.update(&buf);
    Ok(hex::encode(h.finalize()))
}

/// `Ok(None)` when there is no entry; `Err(reason)` when there is one that cannot be used.
fn read_entry(engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    let sum = match std::fs::read_to_string(sum_path(path)) {
        Ok(text) => Sum::parse(&text).ok_or("unreadable checksum file")?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("no checksum file".to_owned());
        }
        Err(e) => return Err(format!("cannot read its checksum file: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    let len = meta.len();
    if len < sum.size {
        return Err(format!("truncated ({len} bytes)"));
    }
    let unchanged = len == sum.size
        && FileIdentity::of(&meta) == sum.identity
        && edges(&mut file, len).is_ok_and(|e| e == sum.edges);
    if !unchanged {
        // Rewritten, copied or restored: trust it only if the whole artifact still matches.
        let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut data))
            .map_err(|e| format!("cannot read: {e}"))?;
        if hex::encode(Sha256::digest(&data)) != sum.sha256 {
            return Err("checksum mismatch".to_owned());
        }
        let refreshed = Sum {
            identity: FileIdentity::of(&meta),
            edges: edges(&mut file, len).map_err(|e| format!("cannot read: {e}"))?,
            ..sum
        };
        if let Err(e) = write_atomically(&sum_path(path), refreshed.to_text().as_bytes()) {
            tracing::warn!(path = %path.display(), "cannot refresh precompiled plugin checksum file: {e}");
        }
    }
    deserialize_file(engine, path)
        .map(Some)
        .map_err(|e| format!("rejected by wasmtime: {e}"))
}

#[allow(unsafe_code)]
fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize_file` must only see a file produced by
    // `Component::serialize` (it contains machine code) that is not modified while mapped.
    // `read_entry` just checked that this file is the one `write_entry` wrote from
    // `serialize()` of an engine with the same compatibility hash (part of the file name):
    // same device, inode, size, mtime and ctime, same first and last 4 KiB, or else the same
    // sha256 over all of it. Entries are only ever replaced by renaming a new file over them,
    // never modified in place, so a mapping keeps seeing the inode it mapped. wasmtime itself
    // checks the header, version and engine settings. Deliberate tampering needs write access
    // to the 0700 cache directory, i.e. the host's own user.
    unsafe { Component::deserialize_file(engine, path) }
}

fn write_entry(path: &Path, component: &Component) -> std::io::Result<()> {
    let artifact = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(&artifact));
    let mut file = write_atomically(path, &artifact)?;
    // The identity after the rename (which changes ctime), read from the file written.
    let meta = file.metadata()?;
    let edges = edges(&mut file, meta.len())?;
    let sum = Sum {
        sha256,
        size: meta.len(),
        edges,
        identity: FileIdentity::of(&meta),
    };
    write_atomically(&sum_path(path), sum.to_text().as_bytes())?;
    Ok(())
}

/// Writes `data` to a temp file in `path`'s directory, syncs it and renames it to `path`;
/// returns the file, still open.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    let result = (|| {
        let mut f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(f)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Feeds `Hash` output into sha256, so the key is stable across processes and Rust versions.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only the sha256 state is used; `finish` exists to satisfy the trait.
        0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn engine() -> Engine {
        super::super::engine::shared().unwrap()
    }

    const WAT: &str = r#"(component (core module (func (export "f"))))"#;

    fn load(cache: &ComponentCache) -> CacheOutcome {
        let engine = engine();
        cache
            .load_or_compile(&engine, "abc", || Component::new(&engine, WAT))
            .unwrap()
            .1
    }

    #[test]
    fn sums_round_trip() {
        let sum = Sum {
            sha256: "ab".repeat(32),
            size: 7,
            edges: "cd".repeat(32),
            identity: FileIdentity(vec![1, -2, 3_000_000_000_000_000_000]),
        };
        assert_eq!(Sum::parse(&sum.to_text()), Some(sum));
        assert_eq!(Sum::parse("kubestellar-cwasm-sum 2\n"), None);
        assert_eq!(Sum::parse("kubestellar-cwasm-sum 1\nsha256 x\n"), None);
    }

    #[test]
    fn entries_hit_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(dir.path()).unwrap();
        let path = cache.path_for(&engine(), "abc");
        assert_eq!(load(&cache), CacheOutcome::Miss);
        assert!(path.is_file() && sum_path(&path).is_file());
        assert_eq!(load(&cache), CacheOutcome::Hit);

        // File timestamps can be as coarse as a scheduler tick: let the clock move on before
        // each rewrite, so that only the content decides.
        let tick = || std::thread::sleep(std::time::Duration::from_millis(25));

        // A copy of the same bytes (new inode): verified in full, accepted, and the .sum file
        // refreshed so that the next load takes the cheap path again.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        tick();
        std::fs::write(&path, &bytes).unwrap();
        let before = std::fs::read_to_string(sum_path(&path)).unwrap();
        assert_eq!(load(&cache), CacheOutcome::Hit);
        assert_ne!(std::fs::read_to_string(sum_path(&path)).unwrap(), before);

        // One byte in the middle changed in place.
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 0x5a;
        tick();
        std::fs::write(&path, &damaged).unwrap();
        assert_eq!(
            load(&cache),
            CacheOutcome::Corrupt("checksum mismatch".into())
        );
        assert_eq!(load(&cache), CacheOutcome::Hit);

        // No .sum file (e.g. an entry of an earlier format): recompiled.
        std::fs::remove_file(sum_path(&path)).unwrap();
        assert_eq!(
            load(&cache),
            CacheOutcome::Corrupt("no checksum file".into())
        );
        assert_eq!(load(&cache), CacheOutcome::Hit);

        // A garbled .sum file.
        std::fs::write(sum_path(&path), "x").unwrap();
        assert_eq!(
            load(&cache),
            CacheOutcome::Corrupt("unreadable checksum file".into())
        );
        assert_eq!(load(&cache), CacheOutcome::Hit);
    }
}
