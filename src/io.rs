//! File writing that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader (or a run killed midway) sees either the old file or the complete new one. Creates
/// missing parent directories.
///
/// ```
/// let dir = std::env::temp_dir().join("lcia-doc-write-atomic");
/// let path = dir.join("report.txt");
/// lcia::io::write_atomic(&path, b"done").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"done");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |error| Error::Io { path, error }
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io { path: tmp, error });
    }
    std::fs::rename(&tmp, path).map_err(|error| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            path: path.to_path_buf(),
            error,
        }
    })
}
