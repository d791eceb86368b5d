//! A BERT encoder (all-MiniLM-L6-v2 layout) on Burn, for sentence embeddings.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use serde::Deserialize;

use super::attention::scaled_dot_product;

/// The fields of a BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Longest input.
    pub max_position_embeddings: usize,
    /// Segment vocabulary (2 for BERT).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon (1e-12 for BERT).
    #[serde(default = "bert_eps")]
    pub layer_norm_eps: f64,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f64 {
    1e-12
}

/// Word, position and segment embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    /// Token embeddings.
    pub word_embeddings: Embedding<B>,
    /// Learned positions.
    pub position_embeddings: Embedding<B>,
    /// Segment embeddings (segment 0 only is used).
    pub token_type_embeddings: Embedding<B>,
    /// Norm of the sum (`LayerNorm` in checkpoints).
    pub layer_norm: LayerNorm<B>,
}

/// Query/key/value projections (`attention.self` in checkpoints).
#[derive(Module, Debug)]
pub struct BertSelfAttention<B: Backend> {
    /// Query.
    pub query: Linear<B>,
    /// Key.
    pub key: Linear<B>,
    /// Value.
    pub value: Linear<B>,
}

/// A projection followed by residual LayerNorm.
#[derive(Module, Debug)]
pub struct BertDenseNorm<B: Backend> {
    /// Projection.
    pub dense: Linear<B>,
    /// Post-residual norm (`LayerNorm` in checkpoints).
    pub layer_norm: LayerNorm<B>,
}

/// Self-attention and its output block.
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// Projections.
    pub self_attn: BertSelfAttention<B>,
    /// Output projection + norm.
    pub output: BertDenseNorm<B>,
}

/// The MLP's first layer.
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    /// Projection to the MLP width.
    pub dense: Linear<B>,
}

/// One post-norm encoder layer.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// Attention block.
    pub attention: BertAttention<B>,
    /// MLP up-projection.
    pub intermediate: BertIntermediate<B>,
    /// MLP down-projection + norm.
    pub output: BertDenseNorm<B>,
}

/// The encoder's layers.
#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    /// Layers (`encoder.layer.N` in checkpoints).
    pub layer: Vec<BertLayer<B>>,
}

/// A BERT encoder (`BertModel` without the pooler).
#[derive(Module, Debug)]
pub struct Bert<B: Backend> {
    /// Input embeddings.
    pub embeddings: BertEmbeddings<B>,
    /// Encoder.
    pub encoder: BertEncoder<B>,
    n_heads: usize,
}

/// Checkpoint names → module names (regex, replacement).
pub const BERT_REMAP: &[(&str, &str)] = &[
    (r"^bert\.", ""),
    (r"\.attention\.self\.", ".attention.self_attn."),
    (r"LayerNorm\.weight$", "layer_norm.gamma"),
    (r"LayerNorm\.bias$", "layer_norm.beta"),
];

impl<B: Backend> Bert<B> {
    /// A random-initialised encoder.
    pub fn init(config: &BertConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        let ln = || {
            LayerNormConfig::new(d)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let emb = |n| EmbeddingConfig::new(n, d).init(device);
        let layer = || BertLayer {
            attention: BertAttention {
                self_attn: BertSelfAttention {
                    query: lin(d, d),
                    key: lin(d, d),
                    value: lin(d, d),
                },
                output: BertDenseNorm {
                    dense: lin(d, d),
                    layer_norm: ln(),
                },
            },
            intermediate: BertIntermediate {
                dense: lin(d, config.intermediate_size),
            },
            output: BertDenseNorm {
                dense: lin(config.intermediate_size, d),
                layer_norm: ln(),
            },
        };
        Self {
            embeddings: BertEmbeddings {
                word_embeddings: emb(config.vocab_size),
                position_embeddings: emb(config.max_position_embeddings),
                token_type_embeddings: emb(config.type_vocab_size),
                layer_norm: ln(),
            },
            encoder: BertEncoder {
                layer: (0..config.num_hidden_layers).map(|_| layer()).collect(),
            },
            n_heads: config.num_attention_heads,
        }
    }

    /// Last hidden states.
    ///
    /// # Shapes
    /// `ids`, `mask` (1 = token, 0 = padding): `[batch, len]` → `[batch, len, d]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, len] = ids.dims();
        let device = ids.device();
        let e = &self.embeddings;
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device).unsqueeze::<2>();
        let segments = Tensor::<B, 2, Int>::zeros([b, len], &device);
        let mut x = e.layer_norm.forward(
            e.word_embeddings.forward(ids)
                + e.position_embeddings.forward(positions)
                + e.token_type_embeddings.forward(segments),
        );
        let padding =
            mask.equal_elem(0)
                .reshape([b, 1, 1, len])
                .expand([b, self.n_heads, len, len]);
        for layer in &self.encoder.layer {
            x = layer.forward(x, &padding, self.n_heads);
        }
        x
    }
}

impl<B: Backend> BertLayer<B> {
    fn forward(
        &self,
        x: Tensor<B, 3>,
        padding: &Tensor<B, 4, Bool>,
        n_heads: usize,
    ) -> Tensor<B, 3> {
        let [b, n, d] = x.dims();
        let hd = d / n_heads;
        let sa = &self.attention.self_attn;
        let heads = |t: Tensor<B, 3>| t.reshape([b, n, n_heads, hd]).swap_dims(1, 2);
        let q = heads(sa.query.forward(x.clone()));
        let k = heads(sa.key.forward(x.clone()));
        let v = heads(sa.value.forward(x.clone()));
        let attn = scaled_dot_product(q, k, v, Some(padding));
        let attn = attn.swap_dims(1, 2).reshape([b, n, d]);
        let out = &self.attention.output;
        let h = out.layer_norm.forward(out.dense.forward(attn) + x);
        let up = gelu(self.intermediate.dense.forward(h.clone()));
        self.output
            .layer_norm
            .forward(self.output.dense.forward(up) + h)
    }
}
