//! Elastic weight consolidation (EWC): after each task, the diagonal Fisher information of the
//! trainable tensors (LoRA adapters and projector) is estimated from the task's own samples,
//! and every later task adds `λ · Σ_t Σ_i F_t,i (θ_i − θ*_t,i)²` to its loss.
//!
//! # Faithfulness
//! Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks" (PNAS 2017),
//! with one penalty per earlier task as in their multi-task form. Deliberate differences:
//! - The Fisher is the *empirical* one: the squared gradient of the loss at the sample's own
//!   answer (the paper samples from the model's output distribution), one sample per backward
//!   pass, averaged over up to `fisher_samples` samples in a seeded order (the usual choice
//!   in code for language models, where sampling answers would need generation).
//! - The penalty has no ½ (the and most toolboxes' form); `λ` absorbs it.
//! - The per-task sums are kept as one quadratic, `Σ F̄ (θ − θ̄)² + c` with `F̄ = Σ_t F_t`,
//!   `θ̄ = Σ_t F_t θ*_t / F̄` and the constant `c` that makes the value equal the per-task sum:
//!   same value, same gradient, memory of one task whatever the number of tasks.
//! - Default `λ = 5000`: the paper sets λ per experiment and no value transfers to LoRA on a
//!   LLaVA; this one was fixed before any lcia run and is not tuned on the results.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{AutodiffModule, Module};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::adapters::NamedTensors;
use crate::adapters::params::{gradients_by_path, values_by_path};
use crate::model::llava::{Llava, SupervisedLogits};
use crate::train::{LossTerm, MicroBatch};

/// EWC's hyper-parameters (`[method.baseline] name = "ewc"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EwcConfig {
    /// Weight λ of the penalty.
    pub lambda: f64,
    /// Samples of a task the Fisher is estimated from (all when the task has fewer).
    pub fisher_samples: usize,
}

impl Default for EwcConfig {
    fn default() -> Self {
        Self {
            lambda: 5000.0,
            fisher_samples: 64,
        }
    }
}

const CONSTANT: &str = "ewc.constant";

/// What EWC carries from task to task: the summed Fisher, the Fisher-weighted anchor and the
/// constant (module docs).
#[derive(Debug, Clone)]
pub struct EwcState<B: Backend> {
    fisher: BTreeMap<String, Tensor<B, 1>>,
    anchor: BTreeMap<String, Tensor<B, 1>>,
    /// `Σ_t Σ_i F_t,i θ*_t,i²` (what is saved).
    squares: f64,
    /// The constant `c = squares − Σ_i F̄_i θ̄_i²`, worked out once per consolidation or load
    /// so a training step reads nothing back from the device.
    constant: f64,
}

impl<B: Backend> Default for EwcState<B> {
    fn default() -> Self {
        Self {
            fisher: BTreeMap::new(),
            anchor: BTreeMap::new(),
            squares: 0.0,
            constant: 0.0,
        }
    }
}

impl<B: Backend> EwcState<B> {
    /// Whether any task has been consolidated.
    pub fn is_empty(&self) -> bool {
        self.fisher.is_empty()
    }

    /// Adds a finished task: its diagonal Fisher and its weights θ*, by path (the paths of
    /// `fisher`; a path missing from `theta` is an error naming it).
    pub fn consolidate(
        &mut self,
        fisher: BTreeMap<String, Tensor<B, 1>>,
        theta: &BTreeMap<String, Tensor<B, 1>>,
    ) -> crate::Result<()> {
        for (path, f) in fisher {
            let t = theta.get(&path).cloned().ok_or_else(|| {
                crate::Error::Baseline(format!("EWC: no weight '{path}' for its Fisher"))
            })?;
            self.squares += scalar(f.clone() * t.clone().powi_scalar(2));
            let (sum, anchor) = match (self.fisher.remove(&path), self.anchor.remove(&path)) {
                (Some(old_f), Some(old_a)) => {
                    let sum = old_f.clone() + f.clone();
                    let weighted = old_f * old_a + f * t.clone();
                    // where no task has any Fisher the anchor does not matter: keep θ*
                    let zero = sum.clone().equal_elem(0.0);
                    let anchor =
                        (weighted / sum.clone().mask_fill(zero.clone(), 1.0)).mask_where(zero, t);
                    (sum, anchor)
                }
                _ => (f, t),
            };
            self.fisher.insert(path.clone(), sum);
            self.anchor.insert(path, anchor);
        }
        self.constant = self.squares - self.fitted();
        Ok(())
    }

    /// `Σ_i F̄_i θ̄_i²`.
    fn fitted(&self) -> f64 {
        let terms = self.fisher.iter().filter_map(|(path, f)| {
            let a = self.anchor.get(path)?;
            Some(scalar(f.clone() * a.clone().powi_scalar(2)))
        });
        terms.sum()
    }

    /// `Σ_t Σ_i F_t,i (θ_i − θ*_t,i)²` at the weights of `model` (0 before any task), `[1]`,
    /// with gradients when `model` is tracked.
    pub fn penalty<AB, M>(&self, model: &M) -> Tensor<AB, 1>
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: Module<AB>,
    {
        let keys: Vec<String> = self.fisher.keys().cloned().collect();
        let keep = Box::new(move |path: &str| keys.iter().any(|k| k == path));
        let values = values_by_path(model, Some(keep));
        let terms = values.into_iter().filter_map(|(path, theta)| {
            let f = Tensor::<AB, 1>::from_inner(self.fisher.get(&path)?.clone());
            let a = Tensor::<AB, 1>::from_inner(self.anchor.get(&path)?.clone());
            Some((f * (theta - a).powi_scalar(2)).sum())
        });
        let total = terms.reduce(|sum, term| sum + term).unwrap_or_else(|| {
            let device = self.fisher.values().next().map(|t| t.device());
            Tensor::from_inner(Tensor::<B, 1>::zeros([1], &device.unwrap_or_default()))
        });
        total.add_scalar(self.constant)
    }

    /// Writes the state to `file` (safetensors, atomically).
    pub fn save(&self, file: &Path) -> crate::Result<()> {
        let mut named = NamedTensors::default();
        for (path, f) in &self.fisher {
            named.insert(format!("fisher.{path}"), f.clone());
        }
        for (path, a) in &self.anchor {
            named.insert(format!("anchor.{path}"), a.clone());
        }
        let parts = f32_parts(self.squares);
        named
            .tensors
            .insert(CONSTANT.into(), (vec![parts.len()], parts.to_vec()));
        Ok(named.write(file)?)
    }

    /// Reads a state written by [`Self::save`].
    pub fn load(file: &Path, device: &B::Device) -> crate::Result<Self> {
        let named = NamedTensors::read(file)?;
        let mut state = Self::default();
        for (name, (shape, values)) in named.tensors {
            let n: usize = shape.iter().product();
            let tensor = || Tensor::from_data(TensorData::new(values.clone(), [n]), device);
            if name == CONSTANT {
                // f32 parts summing to the f64 (one part in files written before)
                state.squares = values.iter().map(|&v| f64::from(v)).sum();
            } else if let Some(path) = name.strip_prefix("fisher.") {
                state.fisher.insert(path.to_string(), tensor());
            } else if let Some(path) = name.strip_prefix("anchor.") {
                state.anchor.insert(path.to_string(), tensor());
            } else {
                return Err(crate::Error::Baseline(format!(
                    "{}: unexpected tensor '{name}' in an EWC state",
                    file.display()
                )));
            }
        }
        if state.fisher.keys().ne(state.anchor.keys()) {
            return Err(crate::Error::Baseline(format!(
                "{}: the Fisher and anchor tensors name different parameters",
                file.display()
            )));
        }
        state.constant = state.squares - state.fitted();
        Ok(state)
    }
}

/// Three f32 values whose f64 sum is exactly `x` (for any finite `x` within f32's exponent
/// range whose lowest bits do not fall below f32's): the state files hold f32 tensors only, and
/// a resumed run must continue from the very same constant.
fn f32_parts(x: f64) -> [f32; 3] {
    let hi = x as f32;
    let rest = x - f64::from(hi);
    let mid = rest as f32;
    let lo = (rest - f64::from(mid)) as f32;
    [hi, mid, lo]
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.sum().into_scalar().elem::<f64>()
}

/// The diagonal empirical Fisher of `model`'s trainable tensors: the mean over `samples`
/// losses (`loss(model, i)` for `i` in `0..samples`, one backward pass each) of the squared
/// gradient, by module path.
pub fn diagonal_fisher<B, M>(
    model: &M,
    samples: usize,
    mut loss: impl FnMut(&M, usize) -> crate::Result<Tensor<B, 1>>,
) -> crate::Result<BTreeMap<String, Tensor<B::InnerBackend, 1>>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut sums: BTreeMap<String, Tensor<B::InnerBackend, 1>> = BTreeMap::new();
    for i in 0..samples {
        let grads = GradientsParams::from_grads(loss(model, i)?.backward(), model);
        for (path, g) in gradients_by_path(model, &grads) {
            let g2 = g.powi_scalar(2);
            let sum = match sums.remove(&path) {
                Some(sum) => sum + g2,
                None => g2,
            };
            sums.insert(path, sum);
        }
    }
    let n = samples.max(1) as f64;
    Ok(sums
        .into_iter()
        .map(|(path, s)| (path, s.div_scalar(n)))
        .collect())
}

/// EWC's term of each step: `λ ·` [`EwcState::penalty`].
pub struct EwcTerm<B: AutodiffBackend> {
    state: EwcState<B::InnerBackend>,
    lambda: f64,
}

impl<B: AutodiffBackend> EwcTerm<B> {
    /// The term over the tasks consolidated in `state`.
    pub fn new(state: EwcState<B::InnerBackend>, lambda: f64) -> Self {
        Self { state, lambda }
    }
}

impl<B: AutodiffBackend> LossTerm<B> for EwcTerm<B> {
    fn term(
        &self,
        model: &Llava<B>,
        _: &MicroBatch<B>,
        _: Option<&SupervisedLogits<B>>,
    ) -> crate::Result<Option<Tensor<B, 1>>> {
        if self.state.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.state.penalty(model).mul_scalar(self.lambda)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn the_constant_survives_a_save_and_load_bit_for_bit() {
        for x in [
            0.0,
            1.0 / 3.0,
            12_345.678_901_234_567,
            -2.0e-7 / 3.0,
            7.0e20 / 9.0,
        ] {
            let sum: f64 = f32_parts(x).iter().map(|&v| f64::from(v)).sum();
            assert_eq!(sum.to_bits(), x.to_bits(), "{x}");
        }
        let state = EwcState::<NdArray> {
            squares: 1.0 / 3.0,
            ..Default::default()
        };
        let dir = std::env::temp_dir().join(format!("lcia-ewc-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.safetensors");
        state.save(&file).unwrap();
        let loaded = EwcState::<NdArray>::load(&file, &Default::default()).unwrap();
        assert_eq!(loaded.squares.to_bits(), state.squares.to_bits());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
