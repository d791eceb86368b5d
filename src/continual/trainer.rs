//! The per-task training loop: forward, masked loss, backward, gradient accumulation, optional
//! clipping, AdamW with one learning rate for the adapters and one for the projector, the
//! cosine schedule, and the balanced EMA after every optimizer step.

use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::grads::{clip_global_norm, split_off};
use super::schedule::{WARMUP_RATIO, cosine_with_warmup, warmup_steps};
use super::{AlphaTrace, BalancedEma, DemaConfig, DemaStats, StepGradients};
use crate::data::ImagePreprocess;
use crate::data::sample::TrainSample;
use crate::model::llava::Llava;
use crate::rng::SplitMix64;

/// Hyper-parameters of one task's training (defaults: the official LCIA scripts, METHOD.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the task's data (1).
    pub epochs: usize,
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

/// What one optimizer step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based optimizer step.
    pub step: usize,
    /// Mean loss over the step's forward passes.
    pub loss: f64,
    /// LoRA learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping (when clipping is on).
    pub grad_norm: Option<f64>,
    /// Real tokens processed.
    pub tokens: usize,
    /// Smallest, mean and largest α of the step's dynamic tensors.
    pub alpha: Option<(f64, f64, f64)>,
    /// Tensors with a dynamic α this step.
    pub dynamic: usize,
    /// Tensors that took the fallback α this step.
    pub fallback: usize,
    /// Seconds since the task started.
    pub seconds: f64,
}

/// The outcome of a task's training.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    /// One record per optimizer step.
    pub steps: Vec<StepRecord>,
    /// DEMA counters over the task (when DEMA was on).
    pub dema: Option<DemaStats>,
    /// Per-step α of every tensor (when DEMA was on).
    pub alpha_trace: AlphaTrace,
    /// Real tokens per second over the task.
    pub tokens_per_second: f64,
}

impl TrainReport {
    /// The per-step log as CSV.
    pub fn steps_csv(&self) -> String {
        let mut out = String::from(
            "step,loss,lr,grad_norm,tokens,alpha_min,alpha_mean,alpha_max,dynamic,fallback,seconds\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
        for s in &self.steps {
            let (lo, mean, hi) = s
                .alpha
                .map_or((None, None, None), |(a, b, c)| (Some(a), Some(b), Some(c)));
            out.push_str(&format!(
                "{},{:.6},{:.6e},{},{},{},{},{},{},{},{:.3}\n",
                s.step,
                s.loss,
                s.lr,
                opt(s.grad_norm),
                s.tokens,
                opt(lo),
                opt(mean),
                opt(hi),
                s.dynamic,
                s.fallback,
                s.seconds
            ));
        }
        out
    }
}

/// Pixels `[images, 3, size, size]` of the samples' images, `None` when none has one.
fn load_pixels<B: Backend>(
    samples: &[&TrainSample],
    images: &ImagePreprocess,
    device: &B::Device,
) -> crate::Result<Option<Tensor<B, 4>>> {
    let paths: Vec<_> = samples.iter().filter_map(|s| s.image.as_ref()).collect();
    if paths.is_empty() {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(paths.len() * 3 * images.size * images.size);
    for path in &paths {
        data.extend(images.load(path)?);
    }
    let shape = [paths.len(), 3, images.size, images.size];
    Ok(Some(Tensor::from_data(
        TensorData::new(data, shape),
        device,
    )))
}

fn batch_tensors<B: Backend>(
    samples: &[&TrainSample],
    pad_id: i64,
    device: &B::Device,
) -> crate::data::batcher::TextBatch<B> {
    let examples: Vec<crate::data::Example> = samples
        .iter()
        .map(|s| crate::data::Example {
            ids: s.ids.clone(),
            labels: s.labels.clone(),
            mismatch: false,
        })
        .collect();
    crate::data::batcher::pad_batch(&examples, pad_id, device)
}

fn alpha_summary(
    ema: &BalancedEma<impl AutodiffBackend>,
) -> (Option<(f64, f64, f64)>, usize, usize) {
    let dynamic: Vec<f64> = ema
        .last_step()
        .iter()
        .filter(|t| t.step.source == super::AlphaSource::Dynamic)
        .map(|t| t.step.alpha)
        .collect();
    let fallback = ema.last_step().len() - dynamic.len();
    let summary = (!dynamic.is_empty()).then(|| {
        let lo = dynamic.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = dynamic.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, dynamic.iter().sum::<f64>() / dynamic.len() as f64, hi)
    });
    (summary, dynamic.len(), fallback)
}

/// Trains `model` on `samples` for one task and, when `dema` is given, swaps the balanced EMA
/// into the weights at the end. Only parameters with `require_grad` train; the projector's
/// take `lr_projector`, all others `lr_lora`.
///
/// # Faithfulness
/// One optimizer step = `grad_accum` forward passes of `batch_size` samples; the schedule and
/// AdamW (β = (0.9, 0.999), ε = 1e-8) are the official ones. Samples are shuffled per epoch
/// (no length grouping). The EMA starts after the first step of the task (METHOD.md §10.7).
pub fn train_task<B: AutodiffBackend>(
    mut model: Llava<B>,
    samples: &[TrainSample],
    config: &TrainConfig,
    dema: Option<&DemaConfig>,
    images: &ImagePreprocess,
    pad_id: i64,
    device: &B::Device,
) -> crate::Result<(Llava<B>, TrainReport)> {
    let micro = config.batch_size.max(1);
    let accum = config.grad_accum.max(1);
    let micro_per_epoch = samples.len().div_ceil(micro);
    let steps_per_epoch = micro_per_epoch.div_ceil(accum);
    let total = steps_per_epoch * config.epochs;
    let warmup = warmup_steps(total, config.warmup_ratio);
    let adamw = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(config.weight_decay as f32);
    let mut optim_lora = adamw.init::<B, Llava<B>>();
    let mut optim_projector = adamw.init::<B, Llava<B>>();
    let mut ema = dema.map(|c| BalancedEma::<B>::new(c.clone()));
    let mut report = TrainReport::default();
    let bar = crate::progress::bar(total as u64, config.progress);
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
            let lr_scale = cosine_with_warmup(step, total, warmup);
            let mut accumulator = GradientsAccumulator::<Llava<B>>::new();
            let (mut loss_sum, mut tokens) = (0.0, 0usize);
            for indices in group {
                let batch: Vec<&TrainSample> = indices.iter().map(|&i| &samples[i]).collect();
                let text = batch_tensors::<B>(&batch, pad_id, device);
                let pixels = load_pixels::<B>(&batch, images, device)?;
                let loss = model.supervised_loss(
                    text.ids,
                    pixels,
                    Some(text.attention_mask),
                    text.labels,
                )?;
                let loss = loss.div_scalar(group.len() as f64);
                loss_sum += loss.clone().into_scalar().elem::<f64>();
                tokens += text.tokens;
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                accumulator.accumulate(&model, grads);
            }
            let mut grads = accumulator.grads();
            let grad_norm = config
                .max_grad_norm
                .map(|max| clip_global_norm::<B, _>(&model, &mut grads, max));
            let snapshot = ema
                .as_ref()
                .map(|_| StepGradients::from_params(&model, &grads));
            let projector_grads = split_off::<B, _>(&model.multi_modal_projector, &mut grads);
            model = optim_lora.step(config.lr_lora * lr_scale, model, grads);
            model = optim_projector.step(config.lr_projector * lr_scale, model, projector_grads);
            let (alpha, dynamic, fallback) = match (ema.as_mut(), snapshot) {
                (Some(ema), Some(snapshot)) => {
                    ema.update(&model, &snapshot);
                    report.alpha_trace.record(step + 1, ema.last_step());
                    alpha_summary(ema)
                }
                _ => (None, 0, 0),
            };
            total_tokens += tokens;
            let seconds = start.elapsed().as_secs_f64();
            let record = StepRecord {
                step: step + 1,
                loss: loss_sum,
                lr: config.lr_lora * lr_scale,
                grad_norm,
                tokens,
                alpha,
                dynamic,
                fallback,
                seconds,
            };
            log::debug!("step {}/{total}: loss {:.4}", record.step, record.loss);
            bar.set_message(crate::progress::step_message(
                &record,
                total_tokens as f64 / seconds,
            ));
            bar.inc(1);
            report.steps.push(record);
        }
    }
    bar.finish_and_clear();
    report.tokens_per_second = total_tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
    if let Some(ema) = ema {
        model = ema.apply(model);
        report.dema = Some(*ema.stats());
    }
    Ok((model, report))
}
