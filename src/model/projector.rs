//! The multimodal projector from vision features to the language model's width.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;

/// LLaVA's projector: `mlp2x_gelu` (`linear_2(gelu(linear_1(x)))`) or `linear` (`linear_1(x)`).
#[derive(Module, Debug)]
pub struct Projector<B: Backend> {
    /// First (or only) layer `[d_vision → d_text]`.
    pub linear_1: Linear<B>,
    /// Second layer `[d_text → d_text]`, absent for the `linear` kind.
    pub linear_2: Option<Linear<B>>,
}

impl<B: Backend> Projector<B> {
    /// `mlp2x_gelu` when `two_layers`, else `linear`.
    pub fn init(
        d_vision: usize,
        d_text: usize,
        two_layers: bool,
        bias: bool,
        device: &B::Device,
    ) -> Self {
        Self {
            linear_1: LinearConfig::new(d_vision, d_text)
                .with_bias(bias)
                .init(device),
            linear_2: two_layers.then(|| {
                LinearConfig::new(d_text, d_text)
                    .with_bias(bias)
                    .init(device)
            }),
        }
    }

    /// # Shapes
    /// `x`: `[batch, tokens, d_vision]` → `[batch, tokens, d_text]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.linear_1.forward(x);
        match &self.linear_2 {
            Some(second) => second.forward(gelu(h)),
            None => h,
        }
    }
}
