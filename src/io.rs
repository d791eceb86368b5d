//! File writing that never leaves a half-written file behind, and JSON files read and written
//! in one place. Everything returns [`std::io::Result`]: the caller adds the path to its own
//! error type.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The temporary sibling of `path` that [`replace_atomic`] writes first: hidden, unique to the
/// process, and ending in `path`'s own name so writers that pick a format from the extension
/// (image encoders) still see it.
fn temporary(path: &Path) -> (PathBuf, PathBuf) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".tmp{}.{name}", std::process::id()));
    (dir, tmp)
}

/// Replaces `path` with what `write` puts at the temporary path it is given, by a rename, so a
/// reader (or a run killed midway) sees either the old file or the complete new one. Creates
/// missing parent directories; the temporary file is removed when `write` fails.
///
/// ```
/// let path = std::env::temp_dir().join("lcia-doc-replace-atomic").join("a.txt");
/// lcia::io::replace_atomic(&path, |tmp| std::fs::write(tmp, "x")).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"x");
/// ```
pub fn replace_atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (dir, tmp) = temporary(path);
    std::fs::create_dir_all(&dir)?;
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `name` is a temporary file of [`replace_atomic`] (`.tmp<pid>.<name>`).
fn is_temporary(name: &str) -> bool {
    name.strip_prefix(".tmp").is_some_and(|rest| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with('.')
    })
}

/// Removes the temporary files [`replace_atomic`] left in `dir` and below when a process was
/// killed mid-write; returns how many. Only for a directory no other process writes to.
///
/// ```
/// let dir = std::env::temp_dir().join("lcia-doc-stale");
/// std::fs::create_dir_all(dir.join("sub")).unwrap();
/// std::fs::write(dir.join("sub/.tmp42.model.safetensors"), b"half").unwrap();
/// std::fs::write(dir.join("keep.json"), b"{}").unwrap();
/// assert_eq!(lcia::io::remove_stale_temporaries(&dir).unwrap(), 1);
/// assert!(dir.join("keep.json").is_file());
/// ```
pub fn remove_stale_temporaries(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_stale_temporaries(&path)?;
        } else if entry.file_name().to_str().is_some_and(is_temporary) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically (see [`replace_atomic`]), synced to disk before the
/// rename.
///
/// ```
/// let dir = std::env::temp_dir().join("lcia-doc-write-atomic");
/// let path = dir.join("report.txt");
/// lcia::io::write_atomic(&path, b"done").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"done");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_atomic(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

/// Reads a JSON file; a parse error keeps serde's line and column.
///
/// ```
/// let path = std::env::temp_dir().join("lcia-doc-json").join("v.json");
/// lcia::io::write_json(&path, &vec![1, 2]).unwrap();
/// let back: Vec<i32> = lcia::io::read_json(&path).unwrap();
/// assert_eq!(back, [1, 2]);
/// ```
pub fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<T> {
    let text = std::fs::read_to_string(path)?;
    Ok(serde_json::from_str(&text)?)
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_atomic(path, text.as_bytes())
}
