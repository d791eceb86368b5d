//! The LLaVA-style model: CLIP vision tower → projector → Llama decoder, and HF weight import.

pub mod config;
mod error;
pub mod hf;
pub mod llama;
pub mod projector;
pub mod vision;

pub use config::{ClipVisionConfig, HfConfig, LlamaConfig, LlavaConfig};
pub use error::ModelError;
pub use hf::{KeyLayout, load_clip_vision, load_llama};
pub use llama::{Llama, LlamaCache};
pub use projector::Projector;
pub use vision::ClipVision;
