//! Errors of model construction and weight import.

use std::path::PathBuf;

/// What can go wrong building a model from files.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// `config.json` is malformed or names an unsupported model.
    #[error("{path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A weight file is unreadable (truncated, corrupt header, bad index).
    #[error("{file}: {message}")]
    Weights {
        /// The weight file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model needs a tensor that no weight file provides.
    #[error("tensor '{name}' is missing from {file}")]
    MissingTensor {
        /// Parameter path in the model.
        name: String,
        /// The weight file (or index) searched.
        file: PathBuf,
    },
    /// A weight file holds a tensor the model has no place for.
    #[error("{file}: unexpected tensor '{name}' (no such parameter in the model)")]
    UnexpectedTensor {
        /// Tensor name after key remapping.
        name: String,
        /// The weight file.
        file: PathBuf,
    },
    /// A tensor's shape differs from the parameter's.
    #[error("{file}: tensor '{name}' has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// Parameter path.
        name: String,
        /// The weight file.
        file: PathBuf,
        /// Shape the model expects.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// The number of image-token positions differs from the number of image features.
    #[error("the ids hold {found} image-token positions but the images give {expected} features")]
    ImageTokens {
        /// Features the images produce (images × tokens per image).
        expected: usize,
        /// Image-token positions in the ids.
        found: usize,
    },
    /// A configuration value the model cannot be built with.
    #[error("invalid model configuration: {0}")]
    Invalid(String),
    /// The frozen base cannot be stored in the requested precision on this device.
    #[error(
        "precision {precision}: the {backend} backend cannot compute in {precision} on this \
         device (ndarray: f32 only; bf16 needs CUDA, f16 needs CUDA or a WGPU adapter with \
         shader-f16); use precision = \"f32\" or another --device"
    )]
    UnsupportedPrecision {
        /// The requested precision.
        precision: String,
        /// The backend's name.
        backend: String,
    },
}
