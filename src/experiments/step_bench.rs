//! Timing the training step ([`train_step`], the one the trainer runs) of a LLaVA built from a
//! config with random weights, phase by phase: forward with the masked loss, backward, the two
//! AdamW learning rates, then the balanced EMA.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;

use crate::adapters::LoraConfig;
use crate::dema::DemaConfig;
use crate::model::llama::LLAMA_LORA_TARGETS;
use crate::model::{IGNORE_INDEX, Llava, LlavaConfig, Precision, Trainable};
use crate::train::{MicroBatch, StepPhases, StepRates, StepState, train_step};

/// Mean seconds of each phase of a training step, and its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTimings {
    /// Mean seconds per phase.
    pub phases: StepPhases,
    /// Tokens per step (batch × sequence length).
    pub tokens: usize,
}

impl StepTimings {
    /// Forward + backward + optimizer.
    pub fn step(&self) -> f64 {
        self.phases.step()
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
/// after two warm-up steps with the shared [`train_step`]; returns the model for further use.
/// The labels are the ids on the last `supervised` text positions (`None`: every text
/// position; image positions never are).
pub fn time_lora_step<AB: AutodiffBackend>(
    config: &LlavaConfig,
    batch: usize,
    text: usize,
    supervised: Option<usize>,
    steps: usize,
    rank: usize,
    device: &AB::Device,
) -> crate::Result<(StepTimings, Llava<AB>)> {
    let shape = StepShape {
        batch,
        text,
        supervised,
        steps,
        rank,
    };
    time_lora_step_in(config, &shape, Precision::F32, device)
}

/// What [`time_lora_step`] times: `batch` sequences of one image and `text` text ids, the last
/// `supervised` of them supervised (`None`: all), `steps` timed steps, rank-`rank` adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepShape {
    /// Sequences per step.
    pub batch: usize,
    /// Text ids per sequence.
    pub text: usize,
    /// Supervised text positions per sequence (`None`: all).
    pub supervised: Option<usize>,
    /// Timed steps after the two warm-up steps.
    pub steps: usize,
    /// LoRA rank (0: no adapters).
    pub rank: usize,
}

/// [`time_lora_step`] with the frozen base stored in `precision`.
pub fn time_lora_step_in<AB: AutodiffBackend>(
    config: &LlavaConfig,
    shape: &StepShape,
    precision: Precision,
    device: &AB::Device,
) -> crate::Result<(StepTimings, Llava<AB>)> {
    let StepShape {
        batch,
        text,
        supervised,
        steps,
        rank,
    } = *shape;
    let mut model = Llava::<AB>::new(config, device)?
        .with_trainable(Trainable {
            vision: false,
            projector: true,
            language: false,
        })
        .with_frozen_precision(precision, device)?;
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
    let first_label = len - supervised.unwrap_or(len).min(text);
    let labels: Vec<i64> = rows
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            if i % len >= first_label {
                id
            } else {
                IGNORE_INDEX
            }
        })
        .collect();
    let ids = Tensor::<AB, 2, Int>::from_data(TensorData::new(rows, [batch, len]), device);
    let labels = Tensor::<AB, 2, Int>::from_data(TensorData::new(labels, [batch, len]), device);
    let size = config.vision_config.image_size;
    let pixels = Tensor::<AB, 4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let rates = StepRates {
        lora: 2e-4,
        projector: 2e-5,
        max_grad_norm: None,
    };
    let peak = (rates.lora, rates.projector);
    let mut state = StepState::<AB>::new(0.0, Some(&DemaConfig::new()), peak);
    let micro = MicroBatch {
        ids: ids.clone(),
        pixels: Some(pixels),
        attention_mask: None,
        labels,
        tokens: batch * len,
    };
    let mut phases = StepPhases::default();
    for i in 0..steps + 2 {
        // the two warm-up steps are not timed
        let timing = (i >= 2).then_some(&mut phases);
        let one = std::iter::once(Ok(micro.clone()));
        (model, _) = train_step(model, one, &rates, &mut state, timing)?;
    }
    let mean = |total: f64| total / steps.max(1) as f64;
    let timings = StepTimings {
        phases: StepPhases {
            forward: mean(phases.forward),
            backward: mean(phases.backward),
            optimizer: mean(phases.optimizer),
            dema: mean(phases.dema),
        },
        tokens: micro.tokens,
    };
    Ok((timings, model))
}
