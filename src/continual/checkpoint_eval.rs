//! Evaluating one saved parameter set (a checkpoint directory) on chosen tasks, refusing a
//! checkpoint trained on a different base model.

use std::path::Path;

use burn::prelude::*;

use super::config::RunConfig;
use super::manifest::{BaseModel, CheckpointInfo, write_json};
use super::run_dir::CHECKPOINT_INFO;
use super::setup::{build_model, image_tokens, tokenizer};
use crate::data::load_test_records;
use crate::eval::{EvalContext, TaskEval, evaluate_task, write_predictions};
use crate::model::Llava;
use crate::model::hf::read_llava_config;
use crate::routing::AuditRecord;

/// The base model, with adapters and projector loaded from `checkpoint`, after checking that
/// the checkpoint was trained on this base model (when it says which).
pub fn load_checkpoint<B: Backend>(
    config: &RunConfig,
    checkpoint: &Path,
    device: &B::Device,
) -> crate::Result<Llava<B>> {
    let base = BaseModel::identify(&config.model.dir)?;
    match checkpoint.join(CHECKPOINT_INFO).is_file() {
        true => CheckpointInfo::read(checkpoint)?
            .base_model
            .check_same(&base, checkpoint)?,
        false => log::warn!(
            "{}: no {CHECKPOINT_INFO}; the base model cannot be checked",
            checkpoint.display()
        ),
    }
    Ok(build_model::<B>(config, device)?.load_parameter_set(checkpoint)?)
}

/// Evaluates `checkpoint` on the named tasks of `config` (all when `tasks` is empty); writes
/// `out/<task>.jsonl` predictions and `out/accuracy.json`.
pub fn evaluate_checkpoint<B: Backend>(
    config_path: &Path,
    config: &RunConfig,
    checkpoint: &Path,
    tasks: &[String],
    out: &Path,
    device: &B::Device,
) -> crate::Result<Vec<TaskEval>> {
    let all = config.resolve_tasks(config_path)?;
    for name in tasks {
        if !all.iter().any(|t| &t.spec.name == name) {
            let known: Vec<&str> = all.iter().map(|t| t.spec.name.as_str()).collect();
            return Err(crate::Error::Config {
                path: config_path.to_path_buf(),
                message: format!("unknown task '{name}' (the configuration has {known:?})"),
            });
        }
    }
    let llava = read_llava_config(&config.model.dir)?;
    let tokenizer = tokenizer(config)?;
    let model = load_checkpoint::<B>(config, checkpoint, device)?;
    let ctx = EvalContext {
        tokenizer: &tokenizer,
        template: &config.model.template,
        image_tokens: image_tokens(&llava),
        image_size: llava.vision_config.image_size,
        batch_size: config.eval.batch_size,
        mode: config.eval.mode,
        progress: true,
        context: llava.text_config.max_position_embeddings,
        long_prompts: config.eval.long_prompts,
    };
    let model_id = checkpoint
        .file_name()
        .map_or("checkpoint".into(), |n| n.to_string_lossy().into_owned());
    let mut results = Vec::new();
    for task in all
        .iter()
        .filter(|t| tasks.is_empty() || tasks.contains(&t.spec.name))
    {
        let mut records = load_test_records(&task.spec.test_file)?;
        if let Some(max) = config.eval.max_samples {
            records.truncate(max);
        }
        let routes: Vec<AuditRecord> = records
            .iter()
            .map(|r| AuditRecord {
                id: r.question_id.clone(),
                task: task.spec.name.clone(),
                instruction: String::new(),
                group: 0,
                similarity: 1.0,
                fallback: false,
            })
            .collect();
        let result = evaluate_task(&task.spec, &records, &routes, &ctx, &model_id, |_| {
            Ok(model.clone())
        })?;
        write_predictions(
            &out.join(format!("{}.jsonl", task.spec.name)),
            &result.predictions,
        )?;
        log::info!("{}: {:.2} %", task.spec.name, result.accuracy);
        results.push(result);
    }
    let summary: Vec<(String, f64)> = results
        .iter()
        .map(|r| (r.task.clone(), r.accuracy))
        .collect();
    write_json(&out.join("accuracy.json"), &summary)?;
    Ok(results)
}
