//! The crate's error type: it wraps each module's own error (data, model, adapters, routing)
//! and adds the run-level ones; the layers above `routing` return it.

use std::path::PathBuf;

/// Errors of the lcia library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// Input data could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A model could not be built, loaded or run.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A parameter set could not be saved, loaded or selected.
    #[error(transparent)]
    Adapter(#[from] crate::adapters::AdapterError),
    /// Instruction grouping or routing failed.
    #[error(transparent)]
    Routing(#[from] crate::routing::RoutingError),
    /// A knowledge-retention benchmark file.
    #[error(transparent)]
    Retention(#[from] crate::data::parquet::TableError),
    /// A run configuration is invalid (the file, and what is wrong).
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training produced a non-finite loss or weight; the step was not applied.
    #[error(
        "optimizer step {step}: {what}; the step was not applied (check the learning rates and the data)"
    )]
    NonFinite {
        /// 1-based optimizer step of the task.
        step: usize,
        /// What is not finite, and the first tensor that is not.
        what: String,
    },
    /// A task of a run failed.
    #[error("task '{task}': {source}")]
    Task {
        /// The task.
        task: String,
        /// Why it failed.
        source: Box<Error>,
    },
    /// A baseline's state is inconsistent (what, and the file when there is one).
    #[error("{0}")]
    Baseline(String),
    /// Data-parallel training failed (a replica, the collective or a peer process).
    #[error("data-parallel training: {0}")]
    Parallel(String),
    /// A run directory cannot be used (resume, evaluation or a checkpoint check failed).
    #[error("{path}: {message}")]
    Run {
        /// The run or checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    /// A problem with a run directory.
    pub fn run(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Run {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
