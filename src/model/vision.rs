//! The CLIP ViT vision tower, returning the hidden states LLaVA selects from.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid};

use super::attention::scaled_dot_product;
use super::config::ClipVisionConfig;
use crate::adapters::in_dtype;
use burn::tensor::DType;

/// Patch embedding, class token and learned positions.
#[derive(Module, Debug)]
pub struct ClipEmbeddings<B: Backend> {
    /// The class token `[d]`.
    pub class_embedding: Param<Tensor<B, 1>>,
    /// Non-overlapping patch projection (no bias).
    pub patch_embedding: Conv2d<B>,
    /// Learned positions `[patches + 1, d]`.
    pub position_embedding: Embedding<B>,
}

/// Multi-head self-attention with biases (HuggingFace names).
#[derive(Module, Debug)]
pub struct ClipAttention<B: Backend> {
    /// Query projection.
    pub q_proj: Linear<B>,
    /// Key projection.
    pub k_proj: Linear<B>,
    /// Value projection.
    pub v_proj: Linear<B>,
    /// Output projection.
    pub out_proj: Linear<B>,
    n_heads: usize,
}

/// The two-layer MLP of an encoder layer.
#[derive(Module, Debug)]
pub struct ClipMlp<B: Backend> {
    /// First layer `[d → intermediate]`.
    pub fc1: Linear<B>,
    /// Second layer `[intermediate → d]`.
    pub fc2: Linear<B>,
    quick_gelu: bool,
}

/// A pre-norm encoder layer.
#[derive(Module, Debug)]
pub struct ClipLayer<B: Backend> {
    /// Self-attention.
    pub self_attn: ClipAttention<B>,
    /// Norm before attention.
    pub layer_norm1: LayerNorm<B>,
    /// MLP.
    pub mlp: ClipMlp<B>,
    /// Norm before the MLP.
    pub layer_norm2: LayerNorm<B>,
}

/// The encoder's layers.
#[derive(Module, Debug)]
pub struct ClipEncoder<B: Backend> {
    /// Encoder layers.
    pub layers: Vec<ClipLayer<B>>,
}

/// The CLIP vision transformer (HuggingFace `CLIPVisionTransformer`).
#[derive(Module, Debug)]
pub struct ClipVision<B: Backend> {
    /// Input embeddings.
    pub embeddings: ClipEmbeddings<B>,
    /// Norm applied to the embeddings (the checkpoints' spelling).
    pub pre_layrnorm: LayerNorm<B>,
    /// Encoder layers.
    pub encoder: ClipEncoder<B>,
    /// Norm of the pooled class token (not applied to the hidden states).
    pub post_layernorm: LayerNorm<B>,
}

impl<B: Backend> ClipVision<B> {
    /// A random-initialised tower for `config`.
    pub fn init(config: &ClipVisionConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        let ln = || {
            LayerNormConfig::new(d)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let p = config.patch_size;
        let layer = || ClipLayer {
            self_attn: ClipAttention {
                q_proj: lin(d, d),
                k_proj: lin(d, d),
                v_proj: lin(d, d),
                out_proj: lin(d, d),
                n_heads: config.num_attention_heads,
            },
            layer_norm1: ln(),
            mlp: ClipMlp {
                fc1: lin(d, config.intermediate_size),
                fc2: lin(config.intermediate_size, d),
                quick_gelu: config.hidden_act == "quick_gelu",
            },
            layer_norm2: ln(),
        };
        Self {
            embeddings: ClipEmbeddings {
                class_embedding: Param::from_tensor(Tensor::zeros([d], device)),
                patch_embedding: Conv2dConfig::new([config.num_channels, d], [p, p])
                    .with_stride([p, p])
                    .with_bias(false)
                    .init(device),
                position_embedding: EmbeddingConfig::new(config.num_patches() + 1, d).init(device),
            },
            pre_layrnorm: ln(),
            encoder: ClipEncoder {
                layers: (0..config.num_hidden_layers).map(|_| layer()).collect(),
            },
            post_layernorm: ln(),
        }
    }

    /// Number of hidden states: the embeddings plus one per layer.
    pub fn num_hidden_states(&self) -> usize {
        self.encoder.layers.len() + 1
    }

    /// Every hidden state, as transformers' `output_hidden_states=True` returns them: index 0 is
    /// the pre-normed embeddings, index `i` the output of layer `i`; the last one is
    /// `last_hidden_state`.
    ///
    /// # Shapes
    /// `pixels`: `[batch, channels, size, size]` → each `[batch, patches + 1, d]`.
    pub fn hidden_states(&self, pixels: Tensor<B, 4>) -> Vec<Tensor<B, 3>> {
        self.hidden_states_upto(pixels, self.encoder.layers.len())
    }

    /// The hidden state at `index` (negative counts from the end: -1 is the last, -2 the
    /// penultimate, as `vision_feature_layer`), computing no layer past it. `None` if out of range.
    pub fn hidden_state(&self, pixels: Tensor<B, 4>, index: i64) -> Option<Tensor<B, 3>> {
        let n = self.num_hidden_states() as i64;
        let resolved = if index < 0 { n + index } else { index };
        if !(0..n).contains(&resolved) {
            return None;
        }
        self.hidden_states_upto(pixels, resolved as usize).pop()
    }

    fn hidden_states_upto(&self, pixels: Tensor<B, 4>, last_layer: usize) -> Vec<Tensor<B, 3>> {
        // a tower stored in half precision computes in it; its states come out in f32
        let dtype = self.embeddings.patch_embedding.weight.val().dtype();
        let mut x = self
            .pre_layrnorm
            .forward(self.embed(in_dtype(pixels, dtype)));
        let mut states = vec![x.clone()];
        for layer in self.encoder.layers.iter().take(last_layer) {
            x = layer.forward(x);
            states.push(x.clone());
        }
        states
            .into_iter()
            .map(|s| in_dtype(s, DType::F32))
            .collect()
    }

    fn embed(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let e = &self.embeddings;
        let patches = e.patch_embedding.forward(pixels);
        let [b, d, gh, gw] = patches.dims();
        let patches = patches.reshape([b, d, gh * gw]).swap_dims(1, 2);
        let class = e.class_embedding.val().reshape([1, 1, d]).expand([b, 1, d]);
        let x = Tensor::cat(vec![class, patches], 1);
        let device = x.device();
        let positions = Tensor::<B, 1, Int>::arange(0..(gh * gw + 1) as i64, &device).unsqueeze();
        x + e.position_embedding.forward(positions)
    }
}

impl<B: Backend> ClipLayer<B> {
    /// # Shapes
    /// `x`: `[batch, tokens, d]` → same shape.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x));
        h.clone() + self.mlp.forward(self.layer_norm2.forward(h))
    }
}

impl<B: Backend> ClipAttention<B> {
    /// Unmasked attention. # Shapes: `[batch, tokens, d]` → same shape.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, d] = x.dims();
        let hd = d / self.n_heads;
        let heads = |t: Tensor<B, 3>| t.reshape([b, n, self.n_heads, hd]).swap_dims(1, 2);
        let q = heads(self.q_proj.forward(x.clone()));
        let k = heads(self.k_proj.forward(x.clone()));
        let v = heads(self.v_proj.forward(x));
        let out = scaled_dot_product(q, k, v, None);
        self.out_proj
            .forward(out.swap_dims(1, 2).reshape([b, n, d]))
    }
}

impl<B: Backend> ClipMlp<B> {
    /// `fc2(act(fc1(x)))` with quick_gelu `x·σ(1.702x)` or exact gelu.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.fc1.forward(x);
        let h = if self.quick_gelu {
            h.clone() * sigmoid(h.mul_scalar(1.702))
        } else {
            gelu(h)
        };
        self.fc2.forward(h)
    }
}
