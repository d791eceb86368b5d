//! O-LoRA: a new LoRA per task, trained under an orthogonality penalty against the frozen
//! LoRAs of the earlier tasks; all tasks' LoRAs are summed at inference.
//!
//! # Faithfulness
//! Wang et al., "Orthogonal Subspace Learning for Language Model Continual Learning" (EMNLP
//! Findings 2023): task `t` trains `A_t`, `B_t` with the loss `L + λ₁ Σ_layers Σ_{i<t}
//! ‖A_iᵀ A_t‖²` (their `A` in PEFT's `[r, in]` layout: the sum of squared inner products of
//! the rows), earlier `A_i`, `B_i` frozen; `λ₁ = 0.5` as the reference implementations
//! default. Their `λ₂` L2 term on the new LoRA defaults to 0 there and is left out.
//!
//! How it is built here, exactly equivalent: every targeted module holds ONE adapter of rank
//! `T·r` (T tasks), `lora_alpha = T·α` so its scale is the per-task `α/r`, whose rank slice `t`
//! is task `t`'s LoRA. A new slice starts as a new LoRA does (`A` from the run's seeded draw,
//! `B = 0`, so untrained slices add nothing). During task `t` only slice `t` gets gradients
//! (the others' gradients are zeroed, so AdamW without weight decay leaves them exactly as
//! they were). The adapter of rank `T·r` is then the sum of the per-task LoRAs, so every
//! checkpoint is an ordinary PEFT adapter holding all tasks' LoRAs summed. Deliberate
//! difference: the dropout mask on the adapter's input is shared by all slices, as in their
//! implementation, where old and new LoRA read the same `dropout(x)`.

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::model::llama::LLAMA_LORA_TARGETS;
use crate::model::llava::{Llava, SupervisedLogits};
use crate::train::{LossTerm, MicroBatch};

/// O-LoRA's hyper-parameters (`[method.baseline] name = "olora"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OLoraConfig {
    /// Weight `λ₁` of the orthogonality penalty.
    pub lambda: f64,
}

impl Default for OLoraConfig {
    fn default() -> Self {
        Self { lambda: 0.5 }
    }
}

/// The rank and `lora_alpha` of the adapter that holds `tasks` LoRAs of rank `r` and alpha
/// `alpha` side by side.
pub fn widened(r: usize, alpha: f64, tasks: usize) -> (usize, f64) {
    let tasks = tasks.max(1);
    (r * tasks, alpha * tasks as f64)
}

/// `‖A_newᵀ A_old‖²` of one adapter's `lora_a` (`[in, r_total]`, Burn layout): `A_new` its
/// rank slice `task` (`rank` columns from `task · rank`), `A_old` the slices before it, held
/// fixed (no gradient reaches them). `None` for the first task or an adapter too narrow.
pub fn slice_orthogonality<B: Backend>(
    lora_a: Tensor<B, 2>,
    task: usize,
    rank: usize,
) -> Option<Tensor<B, 1>> {
    let [d_in, r_total] = lora_a.dims();
    if task == 0 || r_total < (task + 1) * rank {
        return None;
    }
    let new = lora_a
        .clone()
        .slice([0..d_in, task * rank..(task + 1) * rank]);
    let old = lora_a.slice([0..d_in, 0..task * rank]).detach();
    Some(new.transpose().matmul(old).powi_scalar(2).sum())
}

/// [`slice_orthogonality`] summed over every adapter of `model`'s language model.
pub fn orthogonality<B: Backend>(
    model: &Llava<B>,
    task: usize,
    rank: usize,
) -> Option<Tensor<B, 1>> {
    let layers = model.language_model.model.layers.iter();
    let adapters = layers.flat_map(|layer| {
        LLAMA_LORA_TARGETS
            .into_iter()
            .filter_map(|t| layer.projection(t)?.lora.as_ref())
    });
    adapters
        .filter_map(|lora| slice_orthogonality(lora.lora_a.val(), task, rank))
        .reduce(|sum, term| sum + term)
}

struct Restrict<'a> {
    path: Vec<String>,
    grads: &'a mut GradientsParams,
    keep: std::ops::Range<usize>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Restrict<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let path = self.path.join(".");
        let (is_a, is_b) = (
            path.ends_with(".lora.lora_a"),
            path.ends_with(".lora.lora_b"),
        );
        if !(is_a || is_b) || D != 2 {
            return;
        }
        let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) else {
            return;
        };
        let dims = grad.dims();
        let (rows, cols) = (dims[0], dims[1]);
        let r_total = if is_a { cols } else { rows };
        let mask: Vec<f32> = (0..r_total)
            .map(|i| f32::from(u8::from(self.keep.contains(&i))))
            .collect();
        let shape = if is_a { [1, r_total] } else { [r_total, 1] };
        let mask =
            Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(mask, shape), &grad.device());
        let masked = grad.reshape([rows, cols]) * mask;
        self.grads.register(param.id, masked.reshape(dims));
    }
}

/// O-LoRA's term of task `task`: `λ₁ ·` [`orthogonality`], and only the task's rank slice
/// of every adapter moves.
pub struct OLoraTerm {
    task: usize,
    rank: usize,
    lambda: f64,
}

impl OLoraTerm {
    /// The term of task `task` (0-based) with per-task LoRAs of rank `rank`.
    pub fn new(task: usize, rank: usize, config: &OLoraConfig) -> Self {
        Self {
            task,
            rank,
            lambda: config.lambda,
        }
    }
}

impl<B: AutodiffBackend> LossTerm<B> for OLoraTerm {
    fn term(
        &self,
        model: &Llava<B>,
        _: &MicroBatch<B>,
        _: Option<&SupervisedLogits<B>>,
    ) -> crate::Result<Option<Tensor<B, 1>>> {
        Ok(orthogonality(model, self.task, self.rank).map(|p| p.mul_scalar(self.lambda)))
    }

    fn restrict(&self, model: &Llava<B>, grads: &mut GradientsParams) {
        let keep = self.task * self.rank..(self.task + 1) * self.rank;
        model.visit(&mut Restrict {
            path: Vec::new(),
            grads,
            keep,
        });
    }
}
