//! The balanced EMA over every trainable tensor of a Burn module.

use std::collections::HashMap;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::backend::AutodiffBackend;

use super::coefficient::{DemaConfig, DemaVariant};
use super::packed::Packed;
use super::reference::{is_projector, size_factor};
use super::stats::{DemaStats, DemaStep};

/// One optimizer step's gradients, flattened and keyed by parameter id, kept past the step.
///
/// Burn's optimizers consume [`GradientsParams`]; take this snapshot first (it shares the
/// tensors, it does not copy them), step, then hand it to [`BalancedEma::update`].
#[derive(Debug, Clone)]
pub struct StepGradients<B: AutodiffBackend> {
    grads: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> StepGradients<B> {
    /// The gradients of `module`'s parameters found in `grads`.
    pub fn from_params<M: AutodiffModule<B>>(module: &M, grads: &GradientsParams) -> Self {
        Self::collect(module, ParamsSource(grads))
    }

    /// The gradients of `module`'s parameters in a raw backward result. Call it before the
    /// optimizer step: the parameters after the step are new graph leaves.
    pub fn from_autodiff<M: AutodiffModule<B>>(module: &M, grads: &B::Gradients) -> Self {
        Self::collect(module, AutodiffSource::<B>(grads))
    }

    fn collect<M: AutodiffModule<B>, S: GradSource<B>>(module: &M, source: S) -> Self {
        let mut visitor = CollectGrads {
            source,
            grads: HashMap::new(),
        };
        module.visit(&mut visitor);
        Self {
            grads: visitor.grads,
        }
    }

    /// Number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// Whether no parameter has a gradient.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}

/// Where a parameter's gradient is looked up.
trait GradSource<B: AutodiffBackend> {
    fn grad<const D: usize>(
        &self,
        param: &Param<Tensor<B, D>>,
    ) -> Option<Tensor<B::InnerBackend, D>>;
}

struct ParamsSource<'a>(&'a GradientsParams);

impl<B: AutodiffBackend> GradSource<B> for ParamsSource<'_> {
    fn grad<const D: usize>(
        &self,
        param: &Param<Tensor<B, D>>,
    ) -> Option<Tensor<B::InnerBackend, D>> {
        self.0.get::<B::InnerBackend, D>(param.id)
    }
}

struct AutodiffSource<'a, B: AutodiffBackend>(&'a B::Gradients);

impl<B: AutodiffBackend> GradSource<B> for AutodiffSource<'_, B> {
    fn grad<const D: usize>(
        &self,
        param: &Param<Tensor<B, D>>,
    ) -> Option<Tensor<B::InnerBackend, D>> {
        param.val().grad(self.0)
    }
}

struct CollectGrads<B: AutodiffBackend, S> {
    source: S,
    grads: HashMap<ParamId, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend, S: GradSource<B>> ModuleVisitor<B> for CollectGrads<B, S> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.source.grad(param) {
            self.grads.insert(param.id, flatten(grad));
        }
    }
}

fn flatten<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, 1> {
    let numel = tensor.shape().num_elements();
    tensor.reshape([numel])
}

/// The coefficient one named tensor used at the last update.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorStep {
    /// Module path of the parameter, e.g. `layers.0.attention.wq.weight`.
    pub name: String,
    /// Number of elements (the L1 sums grow with it, see METHOD.md §2.7).
    pub numel: usize,
    /// α and its source.
    pub step: DemaStep,
}

/// The balanced EMA of every trainable (`require_grad`) parameter of a module.
///
/// Per task: [`reset`](Self::reset) at the start, [`update`](Self::update) after every optimizer
/// step (or [`optimizer_step`](Self::optimizer_step), which does both), and
/// [`apply`](Self::apply) at the end to swap the EMA weights in. Frozen parameters are never
/// touched. The EMA lives on the inner (non-autodiff) backend in f32, the tensors of one size
/// stacked into one (with [`crate::dema::DemaState`]'s arithmetic, element for element); all
/// of a step's L1 sums are read back from the device in one transfer.
pub struct BalancedEma<B: AutodiffBackend> {
    config: DemaConfig,
    peak_rates: Option<(f64, f64)>,
    packed: Packed<B::InnerBackend>,
    stats: DemaStats,
    last_step: Vec<TensorStep>,
}

impl<B: AutodiffBackend> BalancedEma<B> {
    /// An empty EMA with the given settings.
    pub fn new(config: DemaConfig) -> Self {
        Self {
            config,
            peak_rates: None,
            packed: Packed::default(),
            stats: DemaStats::default(),
            last_step: Vec::new(),
        }
    }

    /// The peak learning rates of the adapters and of the projector, from which
    /// [`DemaVariant::SizeNormalised`] derives each tensor's factor k
    /// ([`crate::dema::reference::size_factor`]).
    pub fn with_peak_rates(mut self, lora: f64, projector: f64) -> Self {
        self.peak_rates = Some((lora, projector));
        self
    }

    /// The settings.
    pub fn config(&self) -> &DemaConfig {
        &self.config
    }

    /// The share of the task's movement the EMA took up, pooled over the tracked tensors:
    /// `Σ⟨θ* − θ₀, θ − θ₀⟩ / Σ‖θ − θ₀‖²` with θ₀ the anchor (the weights after the first step)
    /// and θ the weights of `module` now (DEMA-SCALE §2.2). 1: the EMA ends on the weights; 0:
    /// it stayed at the start. `None` before any update or when the weights did not move.
    pub fn ema_moved<M: AutodiffModule<B>>(&self, module: &M) -> Option<f64> {
        let mut visitor = CollectTrainable {
            path: Vec::new(),
            found: Vec::new(),
        };
        module.visit(&mut visitor);
        let mut parts = Vec::new();
        for (id, _, theta) in visitor.found {
            let (Some(anchor), Some(ema)) = (self.packed.anchor(&id), self.packed.ema(&id)) else {
                continue;
            };
            let moved = theta.cast(burn::tensor::FloatDType::F32) - anchor.clone();
            let taken = ema - anchor;
            parts.push((taken * moved.clone()).sum());
            parts.push((moved.clone() * moved).sum());
        }
        if parts.is_empty() {
            return None;
        }
        let values: Vec<f64> = Tensor::cat(parts, 0).into_data().iter::<f64>().collect();
        let (dot, square) = values
            .chunks(2)
            .fold((0.0, 0.0), |(d, s), pair| (d + pair[0], s + pair[1]));
        (square > 0.0).then(|| dot / square)
    }

    /// Forgets every EMA, previous gradient and count: call it at the start of each task
    /// (the official code starts each task in a fresh process).
    pub fn reset(&mut self) {
        self.packed = Packed::default();
        self.stats = DemaStats::default();
        self.last_step.clear();
    }

    /// Counts over all tensors and steps since the last [`reset`](Self::reset).
    pub fn stats(&self) -> &DemaStats {
        &self.stats
    }

    /// Each tracked tensor's coefficient at the last update, in module order.
    pub fn last_step(&self) -> &[TensorStep] {
        &self.last_step
    }

    /// Number of tensors with an EMA.
    pub fn tracked_len(&self) -> usize {
        self.packed.len()
    }

    /// The EMA of one parameter, flattened, in f32.
    pub fn ema_of(&self, id: &ParamId) -> Option<Tensor<B::InnerBackend, 1>> {
        self.packed.ema(id)
    }

    /// Snapshots `grads`, runs the optimizer step, and folds the new weights into the EMA.
    pub fn optimizer_step<M, O>(
        &mut self,
        optim: &mut O,
        lr: f64,
        module: M,
        grads: GradientsParams,
    ) -> M
    where
        M: AutodiffModule<B>,
        O: Optimizer<M, B>,
    {
        let snapshot = StepGradients::from_params(&module, &grads);
        let module = optim.step(lr, module, grads);
        self.update(&module, &snapshot);
        module
    }

    /// Folds the weights of `module` (right after an optimizer step) into the EMA, with that
    /// step's gradients. A trainable tensor missing from `grads` takes the fallback and clears
    /// its previous gradient, as in the official code.
    pub fn update<M: AutodiffModule<B>>(&mut self, module: &M, grads: &StepGradients<B>) {
        self.last_step.clear();
        if self.config.variant == DemaVariant::Off {
            return;
        }
        let mut visitor = CollectTrainable {
            path: Vec::new(),
            found: Vec::new(),
        };
        module.visit(&mut visitor);

        let (config, rates) = (&self.config, self.peak_rates);
        let steps = self
            .packed
            .step(&visitor.found, &grads.grads, |name, numel| {
                tensor_config(config, rates, name, numel)
            });
        for ((id, ..), step) in visitor.found.iter().zip(steps) {
            let (Some(step), Some((name, numel))) = (step, self.packed.describe(id)) else {
                continue;
            };
            self.stats.record(&step);
            self.last_step.push(TensorStep {
                name: name.to_string(),
                numel,
                step,
            });
        }
    }

    /// Replaces every tracked parameter of `module` by its EMA (cast back to the parameter's
    /// dtype, `require_grad` kept). Parameters without an EMA are left as they are.
    pub fn apply<M: AutodiffModule<B>>(&self, module: M) -> M {
        if self.config.variant == DemaVariant::Off {
            return module;
        }
        module.map(&mut SwapIn { ema: self })
    }
}

/// The settings of one tensor: the run's, with the size factor of
/// [`DemaVariant::SizeNormalised`] filled in when the peak rates are known.
fn tensor_config(
    config: &DemaConfig,
    peak_rates: Option<(f64, f64)>,
    name: &str,
    numel: usize,
) -> DemaConfig {
    match (config.variant, peak_rates) {
        (DemaVariant::SizeNormalised { .. }, Some((lora, projector))) => {
            let lr = if is_projector(name) { projector } else { lora };
            let k = size_factor(name, numel, lr);
            config
                .clone()
                .with_variant(DemaVariant::SizeNormalised { k })
        }
        _ => config.clone(),
    }
}

struct CollectTrainable<B: AutodiffBackend> {
    path: Vec<String>,
    found: Vec<(ParamId, String, Tensor<B::InnerBackend, 1>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for CollectTrainable<B> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        if value.is_require_grad() {
            let name = self.path.join(".");
            self.found.push((param.id, name, flatten(value.inner())));
        }
    }
}

struct SwapIn<'a, B: AutodiffBackend> {
    ema: &'a BalancedEma<B>,
}

impl<B: AutodiffBackend> ModuleMapper<B> for SwapIn<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let Some(ema) = self.ema.ema_of(&param.id) else {
            return param;
        };
        param.map(|tensor| {
            let require_grad = tensor.is_require_grad();
            let dtype = FloatDType::from(tensor.dtype());
            let ema = ema.reshape(tensor.dims()).cast(dtype);
            Tensor::from_inner(ema).set_require_grad(require_grad)
        })
    }
}
