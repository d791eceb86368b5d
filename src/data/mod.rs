//! Inputs: tokenization and image preprocessing.

mod error;
pub mod image;
pub mod resample;
pub mod template;
pub mod tokenizer;

pub use error::DataError;
pub use image::ImagePreprocess;
pub use template::{Example, Role, Turn, preprocess_v1, vicuna_v1_prompt};
pub use tokenizer::TextTokenizer;
