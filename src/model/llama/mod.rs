//! The Llama-family decoder (Llama-2/Vicuna, TinyLlama, SmolLM2).

mod adapt;
mod attention;
mod block;
mod decoder;
mod feed_forward;
mod norm;
mod rope;

pub use adapt::LLAMA_LORA_TARGETS;
pub use attention::{Attention, AttentionConfig, KvCache};
pub use block::Block;
pub use decoder::{Llama, LlamaCache, LlamaModel};
pub use feed_forward::{FeedForward, FeedForwardConfig};
pub use norm::{RmsNorm, RmsNormConfig};
pub use rope::{apply_rope, rope_tables};
