//! The recipe both small studies share: the continual-run configuration written for a
//! generated benchmark (LoRA r 8, exact-match scoring, short answers), and the caption stage
//! that aligns a model on the benchmark's captions before the continual tasks.

use std::path::Path;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use super::demo::data::SyntheticBenchmark;
use crate::continual::config::{RunConfig, TaskEntry};
use crate::continual::setup::{image_tokens, load_samples, tokenizer};
use crate::data::{ImagePreprocess, Template};
use crate::eval::ScorerKind;
use crate::model::{Llava, LlavaConfig};
use crate::train::{TrainConfig, TrainReport, train_task};

/// Longest answer of the generated benchmarks, in tokens.
pub const ANSWER_TOKENS: usize = 4;

/// What differs between the studies' continual runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallRun {
    /// Conversation template of the language model.
    pub template: Template,
    /// Epochs per continual task.
    pub epochs: usize,
    /// LoRA learning rate.
    pub lr_lora: f64,
    /// Projector learning rate.
    pub lr_projector: f64,
    /// Longest training sequence.
    pub max_len: usize,
    /// Evaluation batch size.
    pub eval_batch: usize,
}

/// The run configuration of every method of a study: the base model in `base`, LoRA r 8
/// (α 16, no dropout) on the seven projections, batch 8, and one exact-match task per
/// benchmark task with padded images and at most [`ANSWER_TOKENS`] new tokens.
pub fn small_run_config(base: &Path, bench: &SyntheticBenchmark, run: &SmallRun) -> RunConfig {
    let mut config: RunConfig = toml::from_str(&format!(
        "[model]\ndir = {:?}\n",
        base.display().to_string()
    ))
    .expect("a model section is a complete configuration");
    config.model.template = run.template.clone();
    config.lora.r = 8;
    config.lora.alpha = 16.0;
    config.lora.dropout = 0.0;
    config.train = TrainConfig {
        epochs: run.epochs,
        batch_size: 8,
        lr_lora: run.lr_lora,
        lr_projector: run.lr_projector,
        max_len: run.max_len,
        ..TrainConfig::default()
    };
    config.eval.batch_size = run.eval_batch;
    config.eval.max_new_tokens = Some(ANSWER_TOKENS);
    config.data.image_root = Some(bench.image_root.clone());
    config.tasks = bench
        .tasks
        .iter()
        .map(|(name, train, test)| TaskEntry {
            name: name.clone(),
            train: Some(train.clone()),
            test: Some(test.clone()),
            scorer: Some(ScorerKind::Exact),
            max_new_tokens: Some(ANSWER_TOKENS),
            pad_images: Some(true),
            group: None,
            training: Default::default(),
        })
        .collect();
    config
}

/// The caption stage: `model` (with configuration `llava`) learns the benchmark's captions
/// with its trainable weights (no EMA, one learning rate for everything), with the run's
/// template and tokenizer. `train` gives the epochs, batch, learning rate, length and seed;
/// `pad_id` pads the batches.
pub fn caption_stage<B: AutodiffBackend>(
    (model, llava): (Llava<B>, &LlavaConfig),
    config: &RunConfig,
    captions: &Path,
    train: &TrainConfig,
    pad_id: i64,
    device: &B::Device,
) -> crate::Result<(Llava<B>, TrainReport)> {
    let tokenizer = tokenizer(config)?;
    let (_, samples, _) = load_samples(captions, config, &tokenizer, image_tokens(llava))?;
    let started = Instant::now();
    let images = ImagePreprocess::llava(llava.vision_config.image_size);
    let (model, report) = train_task(model, &samples, train, None, &images, pad_id, device)?;
    log::info!(
        "stage 1: {} steps in {:.0} s, loss {:.3} → {:.3}",
        report.steps.len(),
        started.elapsed().as_secs_f64(),
        report.steps.first().map_or(f64::NAN, |s| s.loss),
        report.steps.last().map_or(f64::NAN, |s| s.loss)
    );
    Ok((model, report))
}
