//! Inputs: tokenization and image preprocessing.

pub mod batcher;
pub mod chat;
mod error;
pub mod image;
pub mod parquet;
pub mod record;
pub mod resample;
pub mod sample;
pub mod tasks;
pub mod template;
pub mod tokenizer;

pub use chat::Template;
pub use error::DataError;
pub use image::ImagePreprocess;
pub use record::{LoadReport, TestRecord, TrainRecord, load_test_records, load_train_records};
pub use tasks::{CoinTask, ORIGIN_ORDER, TaskOrder};
pub use template::{Example, Role, Turn, preprocess_v1, vicuna_v1_prompt};
pub use tokenizer::TextTokenizer;
