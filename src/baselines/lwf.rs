//! Learning without forgetting (LwF): the model as it was before the task (its parameter set
//! frozen) gives soft targets on the new task's own inputs, and the trained model is pulled
//! towards them at the supervised positions.
//!
//! # Faithfulness
//! Li & Hoiem, "Learning without Forgetting" (ECCV 2016 / TPAMI 2018): the loss adds
//! `λ_o · L_old`, the knowledge-distillation loss between the old and the new model's outputs
//! both softened by a temperature `T`, recorded before training on the new data. Defaults are
//! the paper's: `λ_o = 1`, `T = 2`. Deliberate differences:
//! - `L_old` is written as the KL divergence `KL(p_old,T ‖ p_new,T)` (the paper's cross-entropy
//!   minus the teacher's entropy: the same gradient, 0 when the models agree), averaged over
//!   the supervised answer positions; without the `T²` factor of Hinton et al., as the paper.
//! - The "old task heads" are the LM's next-token distribution at the answer positions (one
//!   shared head over the vocabulary), computed on the fly from the frozen copy rather than
//!   recorded once; the frozen copy is exact, so the two agree.
//! - The first task has no earlier model and trains without the term.

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::model::llava::{Llava, SupervisedLogits};
use crate::train::{LossTerm, MicroBatch};

/// LwF's hyper-parameters (`[method.baseline] name = "lwf"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LwfConfig {
    /// Weight `λ_o` of the distillation term.
    pub lambda: f64,
    /// Temperature `T` of both distributions.
    pub temperature: f64,
}

impl Default for LwfConfig {
    fn default() -> Self {
        Self {
            lambda: 1.0,
            temperature: 2.0,
        }
    }
}

/// `KL(softmax(teacher/T) ‖ softmax(student/T))` per row, averaged over the rows, `[1]`
/// (`[rows, vocab]` logits each).
pub fn distillation_kl<B: Backend>(
    student: Tensor<B, 2>,
    teacher: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let rows = student.dims()[0].max(1);
    let log_q = log_softmax(student.div_scalar(temperature), 1);
    let teacher = teacher.div_scalar(temperature);
    let p = softmax(teacher.clone(), 1);
    let log_p = log_softmax(teacher, 1);
    (p * (log_p - log_q)).sum().div_scalar(rows as f64)
}

/// LwF's term of each step: `λ ·` [`distillation_kl`] against a frozen copy of the model as
/// the task found it.
pub struct LwfTerm<B: AutodiffBackend> {
    teacher: Llava<B::InnerBackend>,
    config: LwfConfig,
}

impl<B: AutodiffBackend> LwfTerm<B> {
    /// The term with `model` (as the task starts) as the teacher.
    pub fn new(model: &Llava<B>, config: LwfConfig) -> Self {
        Self {
            teacher: model.valid(),
            config,
        }
    }
}

impl<B: AutodiffBackend> LossTerm<B> for LwfTerm<B> {
    fn term(
        &self,
        _: &Llava<B>,
        batch: &MicroBatch<B>,
        student: Option<&SupervisedLogits<B>>,
    ) -> crate::Result<Option<Tensor<B, 1>>> {
        let Some(student) = student else {
            return Ok(None);
        };
        let teacher = self.teacher.supervised_logits(
            batch.ids.clone().inner(),
            batch.pixels.clone().map(Tensor::inner),
            batch.attention_mask.clone().map(Tensor::inner),
            batch.labels.clone().inner(),
        )?;
        let Some(teacher) = teacher else {
            return Ok(None);
        };
        let teacher = Tensor::<B, 2>::from_inner(teacher.logits);
        let kl = distillation_kl(student.logits.clone(), teacher, self.config.temperature);
        Ok(Some(kl.mul_scalar(self.config.lambda)))
    }
}
