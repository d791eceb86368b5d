//! The LLaVA-style model: CLIP vision tower → projector → Llama decoder, and HF weight import.

pub mod attention;
pub mod bert;
pub mod config;
mod error;
pub mod export;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod llama;
pub mod llava;
pub mod loss;
pub mod peft;
pub mod precision;
pub mod projector;
mod trainable;
pub mod vision;

pub use config::{ClipVisionConfig, HfConfig, LlamaConfig, LlavaConfig};
pub use error::ModelError;
pub use generate::{GenerationConfig, greedy_from_embeds};
pub use hf::{KeyLayout, load_clip_vision, load_llama, load_llava};
pub use llama::{Llama, LlamaCache};
pub use llava::{Llava, Trainable};
pub use loss::{IGNORE_INDEX, causal_lm_loss};
pub use precision::Precision;
pub use projector::Projector;
pub use trainable::set_trainable;
pub use vision::ClipVision;
