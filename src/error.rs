//! The crate's error type.

use std::path::PathBuf;

/// Errors of the lcia library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A backend could not be selected or initialised.
    #[error(transparent)]
    Backend(#[from] lcia_backends::BackendError),
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
