//! Precompiled-component cache on disk: compiling a Rust plugin takes ~0.1 s and an
//! interpreter plugin (Python, JavaScript) 2-14 s; loading a precompiled one takes milliseconds.
//!
//! Entries are keyed by the module's sha256 plus the engine's precompile-compatibility hash, so
//! a different wasmtime version or configuration never reads another's artifacts. Each entry
//! is `<key>.cwasm` = 32-byte sha256 of the artifact followed by the artifact; it is written to
//! a temp file and renamed into place, and read back only when the checksum matches. A corrupt
//! or incompatible entry is recompiled and replaced, never trusted. The directory must be
//! writable only by the host's user (it is created with mode 0700 on Unix).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

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

    /// The file an entry for `module_sha256` (hex) lives in, for this engine.
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

/// `Ok(None)` when there is no entry; `Err(reason)` when there is one that cannot be used.
fn read_entry(engine: &Engine, path: &Path) -> Result<Option<Component>, String> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    let Some((sum, artifact)) = data.split_first_chunk::<32>() else {
        return Err(format!("truncated ({} bytes)", data.len()));
    };
    if Sha256::digest(artifact).as_slice() != sum {
        return Err("checksum mismatch".to_owned());
    }
    deserialize(engine, artifact)
        .map(Some)
        .map_err(|e| format!("rejected by wasmtime: {e}"))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` must only see bytes produced by `Component::serialize`
    // (they contain machine code). These were written by `write_entry` from `serialize()` of an
    // engine with the same compatibility hash (part of the file name), and their sha256 was
    // just checked against the one written with them, so accidental corruption is excluded;
    // wasmtime itself checks the header, version and engine settings. Deliberate tampering
    // needs write access to the 0700 cache directory, i.e. the host's own user.
    unsafe { Component::deserialize(engine, artifact) }
}

fn write_entry(path: &Path, component: &Component) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let artifact = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&Sha256::digest(&artifact))?;
        f.write_all(&artifact)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
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
