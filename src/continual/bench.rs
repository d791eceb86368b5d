//! Timing one LoRA training step of a LLaVA built from a config with random weights, phase by
//! phase, as the trainer runs it (two AdamW learning rates, then the balanced EMA).

use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;

use super::grads::split_off;
use super::{BalancedEma, DemaConfig, StepGradients};
use crate::adapters::LoraConfig;
use crate::model::llama::LLAMA_LORA_TARGETS;
use crate::model::{Llava, LlavaConfig, Trainable};

/// Mean seconds of each phase of a training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTimings {
    /// Forward and loss.
    pub forward: f64,
    /// Backward.
    pub backward: f64,
    /// Both AdamW steps.
    pub optimizer: f64,
    /// The balanced-EMA update.
    pub dema: f64,
    /// Tokens per step (batch × sequence length).
    pub tokens: usize,
}

impl StepTimings {
    /// Forward + backward + optimizer.
    pub fn step(&self) -> f64 {
        self.forward + self.backward + self.optimizer
    }
}

/// Prompt ids: BOS, the image tokens, then `text` ids below the image token.
pub fn bench_ids(config: &LlavaConfig, row: usize, text: usize) -> Vec<i64> {
    let image_tokens = config.vision_config.num_patches();
    let vocab = (config.text_config.vocab_size as i64).min(config.image_token_index) - 3;
    let mut ids = vec![1];
    ids.extend(std::iter::repeat_n(config.image_token_index, image_tokens));
    ids.extend((0..text as i64).map(|i| 3 + (i * 31 + row as i64) % vocab));
    ids
}

/// Builds `config` with random weights (vision frozen, projector trainable, rank-`rank` LoRA
/// on the seven projections; no adapters when `rank` is 0) and times `steps` training steps
/// after two warm-up steps; returns the model for further use.
pub fn time_lora_step<AB: AutodiffBackend>(
    config: &LlavaConfig,
    batch: usize,
    text: usize,
    steps: usize,
    rank: usize,
    device: &AB::Device,
) -> crate::Result<(StepTimings, Llava<AB>)> {
    let mut model = Llava::<AB>::new(config, device)?.with_trainable(Trainable {
        vision: false,
        projector: true,
        language: false,
    });
    if rank > 0 {
        let lora = LoraConfig::new(rank, 2.0 * rank as f64).with_lora_dropout(0.0);
        model.language_model = model
            .language_model
            .attach_lora(&lora, &LLAMA_LORA_TARGETS)?;
    }
    let rows: Vec<i64> = (0..batch)
        .flat_map(|b| bench_ids(config, b, text))
        .collect();
    let len = rows.len() / batch.max(1);
    let ids = Tensor::<AB, 2, Int>::from_data(TensorData::new(rows, [batch, len]), device);
    let size = config.vision_config.image_size;
    let pixels = Tensor::<AB, 4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let adamw = AdamWConfig::new().with_weight_decay(0.0);
    let (mut optim, mut optim_projector) =
        (adamw.init::<AB, Llava<AB>>(), adamw.init::<AB, Llava<AB>>());
    let mut ema = BalancedEma::<AB>::new(DemaConfig::new());
    let mut sums = [0.0f64; 4];
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        let (_, loss) = model.forward_loss(ids.clone(), Some(pixels.clone()), None, ids.clone())?;
        let _ = loss.clone().into_scalar();
        let t1 = Instant::now();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let _ = AB::sync(device);
        let t2 = Instant::now();
        let snapshot = StepGradients::from_params(&model, &grads);
        let projector = split_off::<AB, _>(&model.multi_modal_projector, &mut grads);
        model = optim.step(2e-4, model, grads);
        model = optim_projector.step(2e-5, model, projector);
        let _ = AB::sync(device);
        let t3 = Instant::now();
        ema.update(&model, &snapshot);
        let _ = AB::sync(device);
        if i >= 2 {
            for (sum, d) in sums
                .iter_mut()
                .zip([t1 - t0, t2 - t1, t3 - t2, t3.elapsed()])
            {
                *sum += d.as_secs_f64() / steps as f64;
            }
        }
    }
    let timings = StepTimings {
        forward: sums[0],
        backward: sums[1],
        optimizer: sums[2],
        dema: sums[3],
        tokens: batch * len,
    };
    Ok((timings, model))
}
