//! Errors of adapter files and parameter sets.

use std::path::{Path, PathBuf};

/// What can go wrong saving or loading adapters.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A file could not be read, parsed or written.
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model needs a tensor the file does not have.
    #[error("tensor '{name}' is missing from {file}")]
    MissingTensor {
        /// Tensor name in the file's naming.
        name: String,
        /// The file.
        file: PathBuf,
    },
    /// The file holds a tensor the model has no place for.
    #[error("{file}: unexpected tensor '{name}'")]
    UnexpectedTensor {
        /// Tensor name.
        name: String,
        /// The file.
        file: PathBuf,
    },
    /// A tensor's shape differs from the parameter's.
    #[error("{file}: tensor '{name}' has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// Tensor name.
        name: String,
        /// The file.
        file: PathBuf,
        /// Shape the model expects.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A parameter set name that does not exist, or already exists.
    #[error("parameter set '{0}': {1}")]
    Set(String, String),
}

impl AdapterError {
    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        Self::File {
            file: file.to_path_buf(),
            message: message.into(),
        }
    }
}
