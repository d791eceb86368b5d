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
    /// A JSON file is unreadable or malformed (line and column from the parser; 0 when the
    /// file could not be read at all).
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// One record of a data file is unusable.
    #[error("{path}: record {index}: {message}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 0-based index of the record.
        index: usize,
        /// What is wrong.
        message: String,
    },
}
