//! Writing security material: atomically (temp file + rename), private files mode 0600.

use std::io::Write;
use std::path::Path;

use super::SecurityError;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SecurityError + '_ {
    move |source| SecurityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) readable only by the owner.
pub(crate) fn private_dir(dir: &Path) -> Result<(), SecurityError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir))?;
    }
    Ok(())
}

/// Writes `data` to `path` atomically; `private` files get mode 0600 from creation on, so
/// a key is never readable by others, not even for a moment.
pub(crate) fn write(path: &Path, data: &[u8], private: bool) -> Result<(), SecurityError> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    #[cfg(unix)]
    if private {
        // A stale temp file keeps its old mode: make sure.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&tmp))?;
    }
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Reads a text file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, SecurityError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecurityError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
