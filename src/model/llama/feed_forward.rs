//! The SwiGLU feed-forward block of Llama.

use burn::config::Config;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::adapters::LoraLinear;

/// Configuration of [`FeedForward`].
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    /// Model width.
    pub d_model: usize,
    /// Hidden width.
    pub d_hidden: usize,
    /// Whether the projections have biases.
    #[config(default = false)]
    pub bias: bool,
}

/// `down_proj(silu(gate_proj(x)) * up_proj(x))` (HuggingFace names).
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    /// Gate projection `[d_model → d_hidden]`.
    pub gate_proj: LoraLinear<B>,
    /// Up projection `[d_model → d_hidden]`.
    pub up_proj: LoraLinear<B>,
    /// Down projection `[d_hidden → d_model]`.
    pub down_proj: LoraLinear<B>,
}

impl FeedForwardConfig {
    /// Random-initialised block.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeedForward<B> {
        let lin = |i, o| LoraLinear::init(i, o, self.bias, device);
        FeedForward {
            gate_proj: lin(self.d_model, self.d_hidden),
            up_proj: lin(self.d_model, self.d_hidden),
            down_proj: lin(self.d_hidden, self.d_model),
        }
    }
}

impl<B: Backend> FeedForward<B> {
    /// # Shapes
    /// `x`: `[batch, len, d_model]` → same shape.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}
