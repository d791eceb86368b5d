//! The Llama decoder and causal-LM head.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;

use super::attention::KvCache;
use super::block::Block;
use super::norm::{RmsNorm, RmsNormConfig};
use super::rope::rope_tables;
use crate::adapters::{frozen_linear, in_dtype, in_weight_dtype};
use crate::model::config::LlamaConfig;
use burn::tensor::DType;

/// Embeddings, decoder blocks and the final norm (HuggingFace `LlamaModel`).
#[derive(Module, Debug)]
pub struct LlamaModel<B: Backend> {
    /// Token embeddings `[vocab, d_model]`.
    pub embed_tokens: Embedding<B>,
    /// Decoder blocks.
    pub layers: Vec<Block<B>>,
    /// Final norm.
    pub norm: RmsNorm<B>,
    rope_theta: f64,
    head_dim: usize,
}

/// A decoder with its LM head (HuggingFace `LlamaForCausalLM`).
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    /// The decoder.
    pub model: LlamaModel<B>,
    /// The LM head `[d_model → vocab]`; `None` when tied to the embeddings.
    pub lm_head: Option<Linear<B>>,
}

/// The key/value caches of every block, for incremental decoding.
#[derive(Debug, Clone)]
pub struct LlamaCache<B: Backend> {
    layers: Vec<KvCache<B>>,
}

impl<B: Backend> LlamaCache<B> {
    /// An empty cache for `n_layers` blocks.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: vec![KvCache::default(); n_layers],
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, KvCache::len)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<B: Backend> Llama<B> {
    /// A random-initialised model for `config`.
    pub fn init(config: &LlamaConfig, device: &B::Device) -> Self {
        let model = LlamaModel {
            embed_tokens: EmbeddingConfig::new(config.vocab_size, config.hidden_size).init(device),
            layers: (0..config.num_hidden_layers)
                .map(|_| Block::init(config, device))
                .collect(),
            norm: RmsNormConfig::new(config.hidden_size)
                .with_eps(config.rms_norm_eps)
                .init(device),
            rope_theta: config.rope_theta(),
            head_dim: config.head_dim(),
        };
        let lm_head = (!config.tie_word_embeddings).then(|| {
            LinearConfig::new(config.hidden_size, config.vocab_size)
                .with_bias(false)
                .init(device)
        });
        Self { model, lm_head }
    }

    /// An empty cache sized for this model.
    pub fn new_cache(&self) -> LlamaCache<B> {
        LlamaCache::new(self.model.layers.len())
    }

    /// Token embeddings of `ids`.
    ///
    /// # Shapes
    /// `ids`: `[batch, len]` → `[batch, len, d_model]`.
    pub fn embed(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        // activations are f32 whatever the (frozen) embedding is stored in
        in_dtype(self.model.embed_tokens.forward(ids), DType::F32)
    }

    /// Logits for token ids (no padding, no cache).
    ///
    /// # Shapes
    /// `ids`: `[batch, len]` → `[batch, len, vocab]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.forward_embeds(self.embed(ids), None, None)
    }

    /// Logits for input embeddings, with an optional padding mask and cache.
    ///
    /// # Shapes
    /// - `embeds`: `[batch, len, d_model]`, the positions after the cached ones
    /// - `attention_mask`: `[batch, cached + len]`, 1 for real tokens and 0 for padding
    /// - output: `[batch, len, vocab]`
    pub fn forward_embeds(
        &self,
        embeds: Tensor<B, 3>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        cache: Option<&mut LlamaCache<B>>,
    ) -> Tensor<B, 3> {
        let hidden = self.hidden_states(embeds, attention_mask, cache);
        self.head(hidden)
    }

    /// The LM head (tied to the embedding or not) on hidden states `[batch, len, d_model]`.
    pub fn head(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(head) => frozen_linear(head, hidden),
            None => {
                let weight = self.model.embed_tokens.weight.val();
                in_weight_dtype(hidden, weight.dtype(), |h| {
                    h.matmul(weight.transpose().unsqueeze())
                })
            }
        }
    }

    /// Logits of the last position only (`[batch, 1, vocab]`), for decoding: the LM head, a
    /// `vocab × d_model` matmul per position, is skipped for the others.
    pub fn last_logits(
        &self,
        embeds: Tensor<B, 3>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        cache: Option<&mut LlamaCache<B>>,
    ) -> Tensor<B, 3> {
        let hidden = self.hidden_states(embeds, attention_mask, cache);
        let [batch, len, width] = hidden.dims();
        self.head(hidden.slice([0..batch, len - 1..len, 0..width]))
    }

    /// The final-norm hidden states (see [`Self::forward_embeds`] for shapes).
    pub fn hidden_states(
        &self,
        embeds: Tensor<B, 3>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        mut cache: Option<&mut LlamaCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, len, _] = embeds.dims();
        let device = embeds.device();
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let (cos, sin) = rope_tables(
            self.model.rope_theta,
            self.model.head_dim,
            offset,
            len,
            &device,
        );
        let mask = attention_mask_4d(batch, len, offset, attention_mask, &device);
        let mut x = embeds;
        for (i, layer) in self.model.layers.iter().enumerate() {
            let layer_cache = cache.as_mut().map(|c| &mut c.layers[i]);
            x = layer.forward(x, &cos, &sin, &mask, layer_cache);
        }
        self.model.norm.forward(x)
    }
}

/// `[batch, 1, len, offset + len]`, true where query `i` (position `offset + i`) may NOT attend
/// key `j`: `j > offset + i`, or `j` is padding.
fn attention_mask_4d<B: Backend>(
    batch: usize,
    len: usize,
    offset: usize,
    attention_mask: Option<Tensor<B, 2, Int>>,
    device: &B::Device,
) -> Tensor<B, 4, Bool> {
    let total = offset + len;
    let causal: Vec<f32> = (0..len)
        .flat_map(|i| (0..total).map(move |j| if j > offset + i { 1.0 } else { 0.0 }))
        .collect();
    let causal = Tensor::<B, 2>::from_data(TensorData::new(causal, [len, total]), device)
        .reshape([1, 1, len, total]);
    let blocked = match attention_mask {
        Some(mask) => {
            let padding = mask.equal_elem(0).float().reshape([batch, 1, 1, total]);
            causal.expand([batch, 1, len, total]) + padding.expand([batch, 1, len, total])
        }
        None => causal.expand([batch, 1, len, total]),
    };
    blocked.greater_elem(0.5)
}
