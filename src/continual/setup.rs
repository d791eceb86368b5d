//! What a run builds before its first task: the model with adapters, the tokenizer, the
//! image-token layout, and each task's training samples.

use std::path::Path;

use burn::prelude::*;

use super::config::{ResolvedTask, RunConfig};
use crate::adapters::LoraConfig;
use crate::adapters::SetSelector;
use crate::adapters::lora::reseed_lora;
use crate::baselines::Baseline;
use crate::baselines::olora::widened;
use crate::baselines::replay::{buffer_seed, reservoir};
use crate::data::sample::{ImageTokens, TrainSample, train_sample};
use crate::data::{TestRecord, TextTokenizer, TrainRecord, load_train_records};
use crate::model::hf::load_llava;
use crate::model::llava::{is_parameter_set_path, is_projector_path};
use crate::model::{Llava, LlavaConfig, Trainable};
use crate::routing::{AuditRecord, InstructionCodebook, InstructionSimilarity, Router};

/// Image-token id and count per image of a LLaVA config.
pub fn image_tokens(config: &LlavaConfig) -> ImageTokens {
    let class = usize::from(config.vision_feature_select_strategy == "full");
    ImageTokens {
        id: config.image_token_index,
        count: config.vision_config.num_patches() + class,
    }
}

/// The LoRA settings of a run.
///
/// Under O-LoRA the adapter holds every task's LoRA side by side: rank and alpha are the
/// configured ones times the number of tasks ([`crate::baselines::olora`]); under MoELoRA the
/// rank is split among the experts.
pub fn lora_config(config: &RunConfig) -> LoraConfig {
    let (r, alpha) = match &config.method.baseline {
        Some(Baseline::OLora(_)) => widened(config.lora.r, config.lora.alpha, config.tasks.len()),
        _ => (config.lora.r, config.lora.alpha),
    };
    let experts = match &config.method.baseline {
        Some(Baseline::MoeLora(moe)) => moe.experts,
        _ => 1,
    };
    LoraConfig::new(r, alpha)
        .with_lora_dropout(config.lora.dropout)
        .with_experts(experts)
}

/// Loads the base model, freezes the vision tower and the language model (stored in
/// `model.precision`), keeps the projector trainable (unless `model.freeze_projector`) and
/// attaches seeded adapters to the configured projections.
pub fn build_model<B: Backend>(config: &RunConfig, device: &B::Device) -> crate::Result<Llava<B>> {
    let mut model = load_llava::<B>(&config.model.dir, device)?
        .with_trainable(Trainable {
            vision: false,
            projector: !config.model.freeze_projector,
            language: false,
        })
        .with_frozen_precision(config.model.precision, device)?;
    let targets: Vec<&str> = config.lora.targets.iter().map(String::as_str).collect();
    model.language_model = model
        .language_model
        .attach_lora(&lora_config(config), &targets)?;
    Ok(reseed_lora(model, config.lora.seed))
}

/// Loads the tokenizer of a run.
pub fn tokenizer(config: &RunConfig) -> crate::Result<TextTokenizer> {
    Ok(TextTokenizer::from_file(&config.tokenizer_file())?)
}

/// A task's training samples and how many records were dropped (skipped by the loader or
/// masked by the tokenization guard). A task with no usable sample is an error naming the
/// file.
pub fn load_samples(
    file: &Path,
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    tokens: ImageTokens,
) -> crate::Result<(Vec<TrainRecord>, Vec<TrainSample>, usize)> {
    let root = config.data.image_root.as_deref();
    let (mut records, report) = load_train_records(file, root, config.data.strict)?;
    if let Some(max) = config.data.max_train_samples {
        records.truncate(max);
    }
    let mut samples = Vec::with_capacity(records.len());
    let mut masked = 0;
    for record in &records {
        match train_sample(
            record,
            tokenizer,
            &config.model.template,
            tokens,
            root,
            config.train.max_len,
        )? {
            Some(sample) => samples.push(sample),
            None => masked += 1,
        }
    }
    if samples.is_empty() {
        return Err(crate::Error::run(
            file,
            format!(
                "no usable training record ({} records read, {} skipped, {masked} without a supervised token)",
                records.len() + report.skipped.len(),
                report.skipped.len()
            ),
        ));
    }
    Ok((records, samples, report.skipped.len() + masked))
}

/// The replayed samples of task `index` under experience replay: each earlier task's buffer
/// ([`crate::baselines::replay`]), kept in `buffers` (one per task, in task order) and drawn
/// from a task's training file only the first time it is needed, so every file is read once
/// per process; none for other methods and for the first task.
pub fn replay_samples(
    config: &RunConfig,
    (tasks, index): (&[ResolvedTask], usize),
    tokenizer: &TextTokenizer,
    tokens: ImageTokens,
    buffers: &mut Vec<Vec<TrainSample>>,
) -> crate::Result<Vec<TrainSample>> {
    let Some(Baseline::Replay(replay)) = &config.method.baseline else {
        return Ok(Vec::new());
    };
    for (j, task) in tasks.iter().enumerate().take(index).skip(buffers.len()) {
        let (_, samples, _) = load_samples(&task.train_file, config, tokenizer, tokens)?;
        let kept = replay.kept(samples.len());
        let seed = buffer_seed(config.train.seed, j);
        let picked = reservoir(samples.len(), kept, seed).into_iter();
        buffers.push(picked.map(|i| samples[i].clone()).collect());
    }
    Ok(buffers[..index.min(buffers.len())].concat())
}

/// Which tensors a parameter set of the run holds: LoRA adapters and projector, or under
/// EProj the projector only (the LoRA is shared by every set).
pub fn set_selector(config: &RunConfig) -> SetSelector {
    match config.method.baseline {
        Some(Baseline::EProj(_)) => is_projector_path,
        _ => is_parameter_set_path,
    }
}

/// The group that answers each test record of `task`: routed by its instruction through
/// `codebook` when the method groups instructions, else the single set (0).
pub fn routes_for(
    config: &RunConfig,
    codebook: &InstructionCodebook,
    similarity: &dyn InstructionSimilarity,
    task: &str,
    records: &[TestRecord],
) -> crate::Result<Vec<AuditRecord>> {
    if config.method.grouping {
        let instances: Vec<(&str, &str)> = records
            .iter()
            .map(|r| (r.question_id.as_str(), r.text.as_str()))
            .collect();
        let router = Router::new(codebook, similarity, config.method.tau);
        return Ok(router.route_dataset(task, &instances, config.method.routing)?);
    }
    Ok(records
        .iter()
        .map(|r| AuditRecord {
            id: r.question_id.clone(),
            task: task.to_string(),
            instruction: String::new(),
            group: 0,
            similarity: 1.0,
            fallback: false,
        })
        .collect())
}
