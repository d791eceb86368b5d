//! The per-task training loop: the sample order, micro-batches and gradient accumulation, the
//! cosine schedule, one [`train_step`] per optimizer step, the per-step records and the
//! progress bar, and the EMA swapped in at the end.

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::grads::first_non_finite;
use super::record::{StepRecord, TrainReport, alpha_summary, step_message};
use super::schedule::{WARMUP_RATIO, cosine_with_warmup, warmup_steps};
use super::step::{LossTerm, MicroBatch, StepRates, StepState, train_step};
use crate::data::ImagePreprocess;
use crate::data::sample::TrainSample;
use crate::dema::{DemaConfig, DemaRegime};
use crate::model::llava::Llava;
use crate::rng::SplitMix64;

/// Hyper-parameters of one task's training (defaults: the official LCIA scripts, METHOD.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the task's data (1).
    pub epochs: usize,
    /// Stop after this many optimizer steps (the schedule spans them); all epochs when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Samples per forward pass.
    pub batch_size: usize,
    /// Forward passes per optimizer step.
    pub grad_accum: usize,
    /// Learning rate of the LoRA adapters (2e-4).
    pub lr_lora: f64,
    /// Learning rate of the projector (2e-5).
    pub lr_projector: f64,
    /// Warm-up share of the cosine schedule (0.03).
    pub warmup_ratio: f64,
    /// AdamW weight decay (0).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (none in the official runs).
    pub max_grad_norm: Option<f64>,
    /// Longest embedded sequence (2048).
    pub max_len: usize,
    /// Seed of the sample order (and of Burn's generator for dropout).
    pub seed: u64,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            max_steps: None,
            batch_size: 16,
            grad_accum: 1,
            lr_lora: 2e-4,
            lr_projector: 2e-5,
            warmup_ratio: WARMUP_RATIO,
            weight_decay: 0.0,
            max_grad_norm: None,
            max_len: 2048,
            seed: 42,
            progress: true,
        }
    }
}

/// Trains `model` on `samples` for one task and, when `dema` is given, swaps the balanced EMA
/// into the weights at the end. Only parameters with `require_grad` train; the projector's
/// take `lr_projector`, all others `lr_lora`.
///
/// # Faithfulness
/// One optimizer step = `grad_accum` forward passes of `batch_size` samples; the schedule and
/// AdamW (β = (0.9, 0.999), ε = 1e-8) are the official ones. Samples are shuffled per epoch
/// (no length grouping). The EMA starts after the first step of the task (METHOD.md §10.7).
///
/// A non-finite loss stops training before its step is applied, and weights that are not
/// finite at the end (after the EMA) are an error too: [`crate::Error::NonFinite`].
pub fn train_task<B: AutodiffBackend>(
    model: Llava<B>,
    samples: &[TrainSample],
    config: &TrainConfig,
    dema: Option<&DemaConfig>,
    images: &ImagePreprocess,
    pad_id: i64,
    device: &B::Device,
) -> crate::Result<(Llava<B>, TrainReport)> {
    let objective = (dema, Vec::new());
    train_task_with(model, samples, config, objective, images, pad_id, device)
}

/// [`train_task`] with extra loss terms added to every step (`objective`: the EMA, when on,
/// and the terms).
pub fn train_task_with<B: AutodiffBackend>(
    model: Llava<B>,
    samples: &[TrainSample],
    config: &TrainConfig,
    (dema, terms): (Option<&DemaConfig>, Vec<Box<dyn LossTerm<B>>>),
    images: &ImagePreprocess,
    pad_id: i64,
    device: &B::Device,
) -> crate::Result<(Llava<B>, TrainReport)> {
    let peak_rates = (config.lr_lora, config.lr_projector);
    let state = StepState::<B>::new(config.weight_decay, dema, peak_rates).with_terms(terms);
    let data = TaskData {
        samples,
        images,
        pad_id,
    };
    run_task(model, &data, config, state, device, Shard::WHOLE)
}

/// A task's samples and how to load them.
pub struct TaskData<'a> {
    /// The task's training samples.
    pub samples: &'a [TrainSample],
    /// Image preprocessing.
    pub images: &'a ImagePreprocess,
    /// Padding token id.
    pub pad_id: i64,
}

/// Which share of every micro-batch one replica of a data-parallel run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    /// This replica (0-based); replica 0 shows the progress bar.
    pub rank: usize,
    /// Replicas.
    pub replicas: usize,
}

impl Shard {
    /// One device: the whole micro-batch.
    pub const WHOLE: Shard = Shard {
        rank: 0,
        replicas: 1,
    };

    /// This replica's contiguous share of `indices` (empty when there are fewer samples than
    /// replicas).
    fn pick<'a>(&self, indices: &'a [usize]) -> &'a [usize] {
        let n = indices.len();
        &indices[self.rank * n / self.replicas..(self.rank + 1) * n / self.replicas]
    }
}

/// The samples of this replica's share of a micro-batch. An empty share trains on a copy of the
/// micro-batch's first sample with no supervised token: it takes part in every collective call
/// and adds nothing to the loss or the gradients.
fn shard_samples<'a>(
    samples: &'a [TrainSample],
    indices: &[usize],
    shard: Shard,
    blank: &'a mut Option<TrainSample>,
) -> Vec<&'a TrainSample> {
    let picked = shard.pick(indices);
    if picked.is_empty() {
        let first = &samples[indices[0]];
        let sample = blank.insert(TrainSample {
            ids: first.ids.clone(),
            labels: vec![crate::model::IGNORE_INDEX; first.labels.len()],
            image: first.image.clone(),
        });
        return vec![&*sample];
    }
    picked.iter().map(|&i| &samples[i]).collect()
}

/// The training loop of one task on one replica (`shard`), with a prepared step state.
pub(crate) fn run_task<B: AutodiffBackend>(
    mut model: Llava<B>,
    data: &TaskData<'_>,
    config: &TrainConfig,
    mut state: StepState<B>,
    device: &B::Device,
    shard: Shard,
) -> crate::Result<(Llava<B>, TrainReport)> {
    let TaskData {
        samples,
        images,
        pad_id,
    } = *data;
    let micro = config.batch_size.max(1);
    let accum = config.grad_accum.max(1);
    let micro_per_epoch = samples.len().div_ceil(micro);
    let steps_per_epoch = micro_per_epoch.div_ceil(accum);
    let all_epochs = steps_per_epoch * config.epochs;
    let total = config
        .max_steps
        .map_or(all_epochs, |cap| cap.min(all_epochs));
    let warmup = warmup_steps(total, config.warmup_ratio);
    let mut report = TrainReport::default();
    let bar = crate::progress::bar(total as u64, config.progress && shard.rank == 0);
    bar.set_prefix("train");
    let start = Instant::now();
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let mut rng = SplitMix64::new(config.seed);
    let mut total_tokens = 0usize;
    for _epoch in 0..config.epochs {
        rng.shuffle(&mut order);
        let micro_batches: Vec<&[usize]> = order.chunks(micro).collect();
        for group in micro_batches.chunks(accum) {
            let step = report.steps.len();
            if step >= total {
                break;
            }
            let lr_scale = cosine_with_warmup(step, total, warmup);
            let rates = StepRates {
                lora: config.lr_lora * lr_scale,
                projector: config.lr_projector * lr_scale,
                max_grad_norm: config.max_grad_norm,
            };
            let batches = group.iter().map(|indices| {
                let mut blank = None;
                let batch = shard_samples(samples, indices, shard, &mut blank);
                MicroBatch::from_samples(&batch, images, pad_id, device)
            });
            let (next, outcome) = train_step(model, batches, &rates, &mut state, None)?;
            model = next;
            let (alpha, dynamic, fallback) = match state.ema() {
                Some(ema) => {
                    report.alpha_trace.record(step + 1, ema.last_step());
                    alpha_summary(ema)
                }
                None => (None, 0, 0),
            };
            total_tokens += outcome.tokens;
            let seconds = start.elapsed().as_secs_f64();
            let record = StepRecord {
                step: step + 1,
                loss: outcome.loss,
                penalty: outcome.penalty,
                lr: rates.lora,
                grad_norm: outcome.grad_norm,
                tokens: outcome.tokens,
                alpha,
                dynamic,
                fallback,
                seconds,
            };
            log::debug!("step {}/{total}: loss {:.4}", record.step, record.loss);
            bar.set_message(step_message(&record, total_tokens as f64 / seconds));
            bar.inc(1);
            report.steps.push(record);
        }
    }
    bar.finish_and_clear();
    report.tokens_per_second = total_tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let steps = state.steps();
    let (model, dema) = state.finish(model);
    if let Some(name) = first_non_finite::<B, _>(&model, None) {
        return Err(crate::Error::NonFinite {
            step: steps,
            what: format!("after the task's last step {name} is not finite"),
        });
    }
    if let Some((stats, moved)) = dema {
        report.dema = Some(stats);
        report.regime = Some(DemaRegime::from_trace(&report.alpha_trace, moved));
    }
    Ok((model, report))
}
