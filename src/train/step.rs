//! The training step, written once: forward with the masked loss, backward (accumulated over
//! the step's micro-batches), optional global-norm clipping, AdamW with one learning rate for
//! the adapters and one for the projector, then the balanced EMA. The trainer and every step
//! benchmark call [`train_step`], so a benchmark times the step that training runs.

use std::time::Instant;

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::grads::{clip_global_norm, first_non_finite, split_off};
use super::sync::{GradientSync, sum_gradients, sum_host};
use crate::data::ImagePreprocess;
use crate::data::sample::TrainSample;
use crate::dema::{BalancedEma, DemaConfig, DemaStats, StepGradients};
use crate::model::llava::{Llava, SupervisedLogits};

/// One forward pass's inputs.
#[derive(Debug, Clone)]
pub struct MicroBatch<B: Backend> {
    /// Token ids `[batch, len]` (image tokens expanded).
    pub ids: Tensor<B, 2, Int>,
    /// Pixels `[images, 3, size, size]`, one image per image-token run.
    pub pixels: Option<Tensor<B, 4>>,
    /// Padding mask `[batch, len]`, 1 for real tokens.
    pub attention_mask: Option<Tensor<B, 2, Int>>,
    /// Labels `[batch, len]`, [`crate::model::IGNORE_INDEX`] where unsupervised.
    pub labels: Tensor<B, 2, Int>,
    /// Real (unpadded) tokens.
    pub tokens: usize,
}

impl<B: Backend> MicroBatch<B> {
    /// Right-padded ids, mask and labels of `samples`, and their images loaded and
    /// preprocessed (`None` when no sample has one).
    pub fn from_samples(
        samples: &[&TrainSample],
        images: &ImagePreprocess,
        pad_id: i64,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let examples: Vec<crate::data::Example> = samples
            .iter()
            .map(|s| crate::data::Example {
                ids: s.ids.clone(),
                labels: s.labels.clone(),
                mismatch: false,
            })
            .collect();
        let text = crate::data::batcher::pad_batch(&examples, pad_id, device);
        let paths: Vec<_> = samples.iter().filter_map(|s| s.image.as_ref()).collect();
        let pixels = match paths.is_empty() {
            true => None,
            false => {
                let mut data = Vec::with_capacity(paths.len() * 3 * images.size * images.size);
                for path in &paths {
                    data.extend(images.load(path)?);
                }
                let shape = [paths.len(), 3, images.size, images.size];
                Some(Tensor::from_data(TensorData::new(data, shape), device))
            }
        };
        Ok(Self {
            ids: text.ids,
            pixels,
            attention_mask: Some(text.attention_mask),
            labels: text.labels,
            tokens: text.tokens,
        })
    }
}

/// The learning rates and clipping of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRates {
    /// Learning rate of every trainable tensor outside the projector (the LoRA adapters).
    pub lora: f64,
    /// Learning rate of the projector.
    pub projector: f64,
    /// Clip the global gradient norm to this.
    pub max_grad_norm: Option<f64>,
}

/// A term added to each micro-batch's loss: the regularisers of the baselines (EWC's
/// quadratic penalty, LwF's distillation, O-LoRA's orthogonality).
pub trait LossTerm<B: AutodiffBackend> {
    /// The weighted term for one micro-batch, `[1]`, or `None` when it does not apply.
    /// `student` holds the trained model's logits at the batch's supervised positions (`None`
    /// when none is supervised). The step divides it by the number of micro-batches, as the
    /// loss, so a term that depends on the weights only is counted once per step.
    fn term(
        &self,
        model: &Llava<B>,
        batch: &MicroBatch<B>,
        student: Option<&SupervisedLogits<B>>,
    ) -> crate::Result<Option<Tensor<B, 1>>>;

    /// Restricts which weights the step moves by editing the step's summed gradients before
    /// clipping, the optimizers and the EMA (O-LoRA zeroes every rank slice but the task's);
    /// none by default.
    fn restrict(&self, _model: &Llava<B>, _grads: &mut GradientsParams) {}
}

/// What carries from step to step: the two AdamW optimizers, the balanced EMA and the extra
/// loss terms.
pub struct StepState<B: AutodiffBackend> {
    steps: usize,
    lora: OptimizerAdaptor<AdamW, Llava<B>, B>,
    projector: OptimizerAdaptor<AdamW, Llava<B>, B>,
    ema: Option<BalancedEma<B>>,
    terms: Vec<Box<dyn LossTerm<B>>>,
    sync: Option<Box<dyn GradientSync<B>>>,
}

impl<B: AutodiffBackend> StepState<B> {
    /// Fresh optimizers (AdamW β = (0.9, 0.999), ε = 1e-8, as the official scripts) and, when
    /// `dema` is given, a balanced EMA that starts at the next step. `peak_rates` (adapters,
    /// projector) size the per-tensor factor of the size-normalised coefficient.
    pub fn new(weight_decay: f64, dema: Option<&DemaConfig>, peak_rates: (f64, f64)) -> Self {
        let adamw = AdamWConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-8)
            .with_weight_decay(weight_decay as f32);
        Self {
            steps: 0,
            lora: adamw.init::<B, Llava<B>>(),
            projector: adamw.init::<B, Llava<B>>(),
            ema: dema
                .map(|c| BalancedEma::new(c.clone()).with_peak_rates(peak_rates.0, peak_rates.1)),
            terms: Vec::new(),
            sync: None,
        }
    }

    /// Makes this state one replica of a data-parallel run: each micro-batch's loss is weighted
    /// by this replica's share of the micro-batch's supervised tokens over all replicas, and the
    /// gradients and the step's figures are summed over the replicas before clipping, the
    /// optimizers and the EMA (which therefore reads the reduced gradient).
    pub fn with_sync(mut self, sync: Box<dyn GradientSync<B>>) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Adds `terms` to every micro-batch's loss.
    pub fn with_terms(mut self, terms: Vec<Box<dyn LossTerm<B>>>) -> Self {
        self.terms.extend(terms);
        self
    }

    /// Optimizer steps applied so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The balanced EMA, when on.
    pub fn ema(&self) -> Option<&BalancedEma<B>> {
        self.ema.as_ref()
    }

    /// Ends training: swaps the EMA (when on) into `model`; returns its counters and the share
    /// of the task's movement it took up.
    pub fn finish(self, model: Llava<B>) -> (Llava<B>, Option<(DemaStats, Option<f64>)>) {
        match self.ema {
            Some(ema) => {
                let stats = *ema.stats();
                let moved = ema.ema_moved(&model);
                (ema.apply(model), Some((stats, moved)))
            }
            None => (model, None),
        }
    }
}

/// Seconds spent in each phase of the steps timed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepPhases {
    /// Forward and loss (the loss read to the host).
    pub forward: f64,
    /// Backward and gradient accumulation.
    pub backward: f64,
    /// Clipping and both AdamW steps.
    pub optimizer: f64,
    /// The balanced-EMA update.
    pub dema: f64,
}

impl StepPhases {
    /// Forward + backward + optimizer (the EMA apart).
    pub fn step(&self) -> f64 {
        self.forward + self.backward + self.optimizer
    }
}

/// With a clock, waits for the device, adds the time since the clock's mark to the phase that
/// `pick` chooses, and moves the mark.
fn lap<B: Backend>(
    clock: &mut Option<(&mut StepPhases, Instant)>,
    device: &B::Device,
    pick: fn(&mut StepPhases) -> &mut f64,
) {
    if let Some((phases, mark)) = clock {
        let _ = B::sync(device);
        *pick(phases) += mark.elapsed().as_secs_f64();
        *mark = Instant::now();
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutcome {
    /// Mean cross-entropy over the step's micro-batches (the extra terms apart).
    pub loss: f64,
    /// The extra loss terms of the step, summed (`None` without terms).
    pub penalty: Option<f64>,
    /// Global gradient norm before clipping (when clipping is on).
    pub grad_norm: Option<f64>,
    /// Real tokens of the step.
    pub tokens: usize,
}

/// One optimizer step over `batches` (its micro-batches, loaded as they are needed): each
/// micro-batch's loss is divided by their number and the gradients summed, then clipped,
/// split between the two learning rates, stepped, and folded into the EMA. With `timing`, the
/// device is synchronised after each phase and the phases' seconds are added to it.
///
/// A NaN or infinite loss stops before the update ([`crate::Error::NonFinite`], naming the
/// first non-finite trainable weight, else gradient); the loss is read every step anyway, so the check
/// costs nothing while training is healthy.
pub fn train_step<B: AutodiffBackend>(
    mut model: Llava<B>,
    batches: impl ExactSizeIterator<Item = crate::Result<MicroBatch<B>>>,
    rates: &StepRates,
    state: &mut StepState<B>,
    timing: Option<&mut StepPhases>,
) -> crate::Result<(Llava<B>, StepOutcome)> {
    let mut clock = timing.map(|phases| (phases, Instant::now()));
    let micro_batches = batches.len();
    let mut accumulator = GradientsAccumulator::<Llava<B>>::new();
    let (mut loss_sum, mut penalty_sum, mut tokens) = (0.0, 0.0, 0usize);
    let mut device = None;
    for batch in batches {
        let batch = batch?;
        let device = device.get_or_insert_with(|| batch.ids.device());
        let logits = model.supervised_logits(
            batch.ids.clone(),
            batch.pixels.clone(),
            batch.attention_mask.clone(),
            batch.labels.clone(),
        )?;
        let mut loss = logits
            .as_ref()
            .map_or_else(|| Tensor::zeros([1], &*device), SupervisedLogits::loss)
            .div_scalar(micro_batches as f64);
        if let Some(sync) = &state.sync {
            // The mean over the whole micro-batch's supervised tokens, not a mean of means.
            let rows = logits.as_ref().map_or(0, |l| l.targets.dims()[0]) as f64;
            let all = sum_host::<B>(sync.as_ref(), &[rows], &*device)?[0];
            loss = loss.mul_scalar(if all > 0.0 { rows / all } else { 0.0 });
        }
        loss_sum += loss.clone().into_scalar().elem::<f64>();
        for term in &state.terms {
            if let Some(extra) = term.term(&model, &batch, logits.as_ref())? {
                let extra = extra.div_scalar(micro_batches as f64);
                penalty_sum += extra.clone().into_scalar().elem::<f64>();
                loss = loss + extra;
            }
        }
        tokens += batch.tokens;
        lap::<B>(&mut clock, device, |p| &mut p.forward);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        accumulator.accumulate(&model, grads);
        lap::<B>(&mut clock, device, |p| &mut p.backward);
    }
    let mut grads = accumulator.grads();
    if let (Some(sync), Some(device)) = (&state.sync, &device) {
        let mut stats = [loss_sum, penalty_sum, tokens as f64];
        grads = sum_gradients::<B, _>(sync.as_ref(), &model, grads, &mut stats, device)?;
        (loss_sum, penalty_sum, tokens) = (stats[0], stats[1], stats[2].round() as usize);
    }
    for term in &state.terms {
        term.restrict(&model, &mut grads);
    }
    if !(loss_sum + penalty_sum).is_finite() {
        let culprit = first_non_finite::<B, _>(&model, Some(&grads))
            .map_or(String::new(), |name| format!(" (first non-finite: {name})"));
        return Err(crate::Error::NonFinite {
            step: state.steps + 1,
            what: format!("the loss is {}{culprit}", loss_sum + penalty_sum),
        });
    }
    // The EMA reads the unclipped gradient, as the official code does (DeepSpeed clips only its
    // fp32 copy, `p.grad` keeps the raw value).
    let snapshot = state
        .ema
        .as_ref()
        .map(|_| StepGradients::from_params(&model, &grads));
    let grad_norm = rates
        .max_grad_norm
        .map(|max| clip_global_norm::<B, _>(&model, &mut grads, max));
    let projector_grads = split_off::<B, _>(&model.multi_modal_projector, &mut grads);
    model = state.lora.step(rates.lora, model, grads);
    model = state
        .projector
        .step(rates.projector, model, projector_grads);
    if let Some(device) = &device {
        lap::<B>(&mut clock, device, |p| &mut p.optimizer);
    }
    if let (Some(ema), Some(snapshot)) = (state.ema.as_mut(), snapshot) {
        ema.update(&model, &snapshot);
        if let Some(device) = &device {
            lap::<B>(&mut clock, device, |p| &mut p.dema);
        }
    }
    state.steps += 1;
    let outcome = StepOutcome {
        loss: loss_sum,
        penalty: (!state.terms.is_empty()).then_some(penalty_sum),
        grad_norm,
        tokens,
    };
    Ok((model, outcome))
}
