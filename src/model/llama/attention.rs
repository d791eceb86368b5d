//! Grouped-query self-attention with rotary positions and a key/value cache.

use burn::config::Config;
use burn::module::Module;
use burn::prelude::*;

use super::rope::apply_rope;
use crate::adapters::LoraLinear;
use crate::model::attention::scaled_dot_product;

/// Configuration of [`Attention`].
#[derive(Config, Debug)]
pub struct AttentionConfig {
    /// Model width.
    pub d_model: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (divides `n_heads`).
    pub n_kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Whether the projections have biases.
    #[config(default = false)]
    pub bias: bool,
}

/// Llama self-attention: `q_proj`, `k_proj`, `v_proj`, `o_proj` (HuggingFace names).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection `[d_model → n_heads·head_dim]`.
    pub q_proj: LoraLinear<B>,
    /// Key projection `[d_model → n_kv_heads·head_dim]`.
    pub k_proj: LoraLinear<B>,
    /// Value projection `[d_model → n_kv_heads·head_dim]`.
    pub v_proj: LoraLinear<B>,
    /// Output projection `[n_heads·head_dim → d_model]`.
    pub o_proj: LoraLinear<B>,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
}

/// Keys and values of the positions seen so far, `[batch, n_kv_heads, len, head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct KvCache<B: Backend> {
    k: Option<Tensor<B, 4>>,
    v: Option<Tensor<B, 4>>,
}

impl<B: Backend> KvCache<B> {
    /// Cached length.
    pub fn len(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.dims()[2])
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&mut self, k: Tensor<B, 4>, v: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let k = match self.k.take() {
            Some(old) => Tensor::cat(vec![old, k], 2),
            None => k,
        };
        let v = match self.v.take() {
            Some(old) => Tensor::cat(vec![old, v], 2),
            None => v,
        };
        self.k = Some(k.clone());
        self.v = Some(v.clone());
        (k, v)
    }
}

impl AttentionConfig {
    /// Random-initialised attention.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Attention<B> {
        let lin = |i, o| LoraLinear::init(i, o, self.bias, device);
        let (q, kv) = (
            self.n_heads * self.head_dim,
            self.n_kv_heads * self.head_dim,
        );
        Attention {
            q_proj: lin(self.d_model, q),
            k_proj: lin(self.d_model, kv),
            v_proj: lin(self.d_model, kv),
            o_proj: lin(q, self.d_model),
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            head_dim: self.head_dim,
        }
    }
}

impl<B: Backend> Attention<B> {
    /// # Shapes
    /// - `x`: `[batch, len, d_model]`; `cos`, `sin`: `[len, head_dim]` for the new positions
    /// - `mask`: `[batch, 1, len, len_total]`, true where attention is NOT allowed
    /// - output: `[batch, len, d_model]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 2>,
        sin: &Tensor<B, 2>,
        mask: &Tensor<B, 4, Bool>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        let [b, len, _] = x.dims();
        let heads =
            |t: Tensor<B, 3>, n: usize| t.reshape([b, len, n, self.head_dim]).swap_dims(1, 2);
        let q = apply_rope(
            heads(self.q_proj.forward(x.clone()), self.n_heads),
            cos,
            sin,
        );
        let k = apply_rope(
            heads(self.k_proj.forward(x.clone()), self.n_kv_heads),
            cos,
            sin,
        );
        let v = heads(self.v_proj.forward(x), self.n_kv_heads);
        let (k, v) = match cache {
            Some(cache) => cache.append(k, v),
            None => (k, v),
        };
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));
        let out = scaled_dot_product(q, k, v, Some(mask));
        let out = out
            .swap_dims(1, 2)
            .reshape([b, len, self.n_heads * self.head_dim]);
        self.o_proj.forward(out)
    }

    fn repeat_kv(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let groups = self.n_heads / self.n_kv_heads;
        if groups == 1 {
            return x;
        }
        let [b, kv, len, d] = x.dims();
        x.unsqueeze_dim::<5>(2)
            .repeat_dim(2, groups)
            .reshape([b, kv * groups, len, d])
    }
}
