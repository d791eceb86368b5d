//! Errors of instruction grouping and routing.

use std::path::{Path, PathBuf};

/// What can go wrong grouping or routing instructions.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// A prompt has no instruction where its task kind puts one.
    #[error("{0}")]
    Instruction(String),
    /// A codebook or audit file could not be read or written.
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Routing needs at least one group.
    #[error("the codebook has no group to route to")]
    EmptyCodebook,
}

impl RoutingError {
    pub(crate) fn file(file: &Path, message: impl ToString) -> Self {
        Self::File {
            file: file.to_path_buf(),
            message: message.to_string(),
        }
    }
}
