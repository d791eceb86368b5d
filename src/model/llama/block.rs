//! One pre-norm Llama decoder block.

use burn::module::Module;
use burn::prelude::*;

use super::attention::{Attention, AttentionConfig, KvCache};
use super::feed_forward::{FeedForward, FeedForwardConfig};
use super::norm::{RmsNorm, RmsNormConfig};
use crate::model::config::LlamaConfig;

/// `x + attn(norm(x))`, then `x + mlp(norm(x))` (HuggingFace names).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Self-attention.
    pub self_attn: Attention<B>,
    /// SwiGLU feed-forward.
    pub mlp: FeedForward<B>,
    /// Norm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Norm before the feed-forward.
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> Block<B> {
    /// A random-initialised block for `config`.
    pub fn init(config: &LlamaConfig, device: &B::Device) -> Self {
        let norm = || {
            RmsNormConfig::new(config.hidden_size)
                .with_eps(config.rms_norm_eps)
                .init(device)
        };
        Self {
            self_attn: AttentionConfig::new(
                config.hidden_size,
                config.num_attention_heads,
                config.kv_heads(),
                config.head_dim(),
            )
            .with_bias(config.attention_bias)
            .init(device),
            mlp: FeedForwardConfig::new(config.hidden_size, config.intermediate_size)
                .with_bias(config.mlp_bias)
                .init(device),
            input_layernorm: norm(),
            post_attention_layernorm: norm(),
        }
    }

    /// # Shapes
    /// `x`: `[batch, len, d_model]` → same shape (see [`Attention::forward`] for the rest).
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 2>,
        sin: &Tensor<B, 2>,
        mask: &Tensor<B, 4, Bool>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), cos, sin, mask, cache);
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}
