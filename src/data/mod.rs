//! Inputs: tokenization and image preprocessing.

mod error;
pub mod image;
pub mod resample;
pub mod tokenizer;

pub use error::DataError;
pub use image::ImagePreprocess;
pub use tokenizer::TextTokenizer;
