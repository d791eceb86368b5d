//! Errors of input preparation.

use std::path::PathBuf;

/// What can go wrong reading inputs.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The tokenizer file could not be loaded or used.
    #[error("{path}: {message}")]
    Tokenizer {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An image could not be read or decoded.
    #[error("{path}: cannot read image: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}
