//! Model → predictions → accuracy for one test file, each instance answered by the parameter
//! set its routing chose.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::rescore::clean;
use super::scorers::ScorerMode;
use super::task_score::{ScorerKind, score_instance};
use crate::data::sample::{EvalPrompt, Fitted, ImageTokens, eval_prompt_within};
use crate::data::{ImagePreprocess, TestRecord, TextTokenizer};
use crate::model::generate::GenerationConfig;
use crate::model::llava::Llava;
use crate::routing::AuditRecord;

/// What evaluating a task needs to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Task name (its folder in CoIN).
    pub name: String,
    /// The test file.
    pub test_file: PathBuf,
    /// Folder the records' image paths are relative to.
    pub image_root: Option<PathBuf>,
    /// How predictions are scored.
    pub scorer: ScorerKind,
    /// Most tokens generated per answer.
    pub max_new_tokens: usize,
    /// Pad images to a square at evaluation (the official scripts do for some tasks only).
    pub pad_images: bool,
}

/// What to do with a test prompt longer than the model's context (less the answer's tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongPrompts {
    /// Drop the question's first tokens until it fits (counted in a warning).
    #[default]
    Truncate,
    /// Stop with an error naming the record.
    Refuse,
}

/// Settings shared by all tasks' evaluation.
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    /// The tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// The conversation template of the prompts.
    pub template: &'a crate::data::Template,
    /// Image-token id and count of the model.
    pub image_tokens: ImageTokens,
    /// Image size of the vision tower.
    pub image_size: usize,
    /// Prompts per generation batch.
    pub batch_size: usize,
    /// Official or repaired scorers.
    pub mode: ScorerMode,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// The language model's context (`max_position_embeddings`): prompt and answer together.
    pub context: usize,
    /// What to do with a prompt that does not fit the context.
    pub long_prompts: LongPrompts,
}

/// One answered test instance, written as a line of the predictions JSONL (the fields of the
/// CoIN `model_vqa` answer files, plus the group and the score).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The record's question id.
    pub question_id: String,
    /// The prompt text.
    pub prompt: String,
    /// The generated answer (stripped, trailing `</s>` removed).
    pub text: String,
    /// The model/checkpoint name.
    pub model_id: String,
    /// The parameter set (group) that answered.
    pub group: usize,
    /// The instance's score in `[0, 1]`.
    pub score: f64,
}

/// A task's predictions and accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEval {
    /// Task name.
    pub task: String,
    /// Mean score in percent.
    pub accuracy: f64,
    /// The scorer mode used.
    pub mode: ScorerMode,
    /// One per test record, in file order.
    pub predictions: Vec<Prediction>,
}

/// Greedy answers to `prompts` in batches of `ctx.batch_size`.
pub fn answer_prompts<B: Backend>(
    model: &Llava<B>,
    prompts: &[&EvalPrompt],
    images: &ImagePreprocess,
    max_new_tokens: usize,
    ctx: &EvalContext,
    bar: &indicatif::ProgressBar,
) -> crate::Result<Vec<String>> {
    let device = model.language_model.devices()[0].clone();
    let config = GenerationConfig {
        max_new_tokens,
        eos_token_id: ctx.tokenizer.eos_id().map(i64::from),
        use_cache: true,
    };
    let pad = i64::from(ctx.tokenizer.eos_id().unwrap_or(0));
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(ctx.batch_size.max(1)) {
        let mut data = Vec::new();
        let mut count = 0;
        for path in chunk.iter().filter_map(|p| p.image.as_ref()) {
            data.extend(images.load(path)?);
            count += 1;
        }
        let pixels = (count > 0).then(|| {
            let shape = [count, 3, images.size, images.size];
            Tensor::<B, 4>::from_data(TensorData::new(data, shape), &device)
        });
        let ids: Vec<Vec<i64>> = chunk.iter().map(|p| p.ids.clone()).collect();
        for tokens in model.generate_batch(&ids, pixels, pad, &config)? {
            let tokens: Vec<u32> = tokens
                .into_iter()
                .filter(|&t| Some(t) != config.eos_token_id && t >= 0)
                .map(|t| t as u32)
                .collect();
            out.push(clean(&ctx.tokenizer.decode(&tokens, true)?));
        }
        bar.inc(chunk.len() as u64);
    }
    Ok(out)
}

/// The prompts of `records`, each within the context less the task's answer tokens: cut from
/// the question's start (counted in one warning) or refused, as `ctx.long_prompts` says.
fn fit_prompts(
    spec: &TaskSpec,
    records: &[TestRecord],
    ctx: &EvalContext,
) -> crate::Result<Vec<EvalPrompt>> {
    let root = spec.image_root.as_deref();
    let budget = ctx.context.saturating_sub(spec.max_new_tokens);
    let mut prompts = Vec::with_capacity(records.len());
    let mut cut = 0;
    for r in records {
        let too_long = |what: String| {
            crate::Error::run(
                &spec.test_file,
                format!(
                    "record {}: {what}, more than the {budget} the context of {} leaves beside {} answer tokens",
                    r.question_id, ctx.context, spec.max_new_tokens
                ),
            )
        };
        let fitted = eval_prompt_within(
            r,
            ctx.tokenizer,
            ctx.template,
            ctx.image_tokens,
            root,
            budget,
        )?;
        prompts.push(match fitted {
            Fitted::Whole(prompt) => prompt,
            Fitted::Cut(_) if ctx.long_prompts == LongPrompts::Refuse => {
                return Err(too_long("the prompt is too long".into()));
            }
            Fitted::Cut(prompt) => {
                cut += 1;
                prompt
            }
            Fitted::TemplateTooLong(n) => {
                return Err(too_long(format!(
                    "the template and image alone take {n} tokens"
                )));
            }
        });
    }
    if cut > 0 {
        log::warn!(
            "{}: {cut} of {} prompts were longer than {budget} tokens; their questions lost their first tokens",
            spec.test_file.display(),
            records.len()
        );
    }
    Ok(prompts)
}

/// Answers every record of a task with the model of its group (`groups[i]` for record `i`;
/// `model_for(group)` builds each group's model once), in record order.
pub fn answer_task<B: Backend>(
    spec: &TaskSpec,
    records: &[TestRecord],
    groups: &[usize],
    ctx: &EvalContext,
    mut model_for: impl FnMut(usize) -> crate::Result<Llava<B>>,
) -> crate::Result<Vec<String>> {
    if records.is_empty() {
        return Err(crate::Error::run(
            &spec.test_file,
            "the test file has no records",
        ));
    }
    let prompts = fit_prompts(spec, records, ctx)?;
    let images = match spec.pad_images {
        true => ImagePreprocess::llava(ctx.image_size),
        false => ImagePreprocess::no_pad(ctx.image_size),
    };
    let mut distinct = groups.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let mut answers = vec![String::new(); records.len()];
    let bar = crate::progress::bar(records.len() as u64, ctx.progress);
    bar.set_prefix(format!("eval {}", spec.name));
    for group in distinct {
        let model = model_for(group)?;
        let members: Vec<usize> = (0..records.len()).filter(|&i| groups[i] == group).collect();
        let batch: Vec<&EvalPrompt> = members.iter().map(|&i| &prompts[i]).collect();
        let got = answer_prompts(&model, &batch, &images, spec.max_new_tokens, ctx, &bar)?;
        for (i, answer) in members.into_iter().zip(got) {
            answers[i] = answer;
        }
    }
    bar.finish_and_clear();
    Ok(answers)
}

/// Answers every record of a task with the model of its routed group (`model_for(group)`
/// builds it once per group), scores the answers and returns the predictions in file order.
/// `routes` holds one audit record per test record, in the same order.
pub fn evaluate_task<B: Backend>(
    spec: &TaskSpec,
    records: &[TestRecord],
    routes: &[AuditRecord],
    ctx: &EvalContext,
    model_id: &str,
    model_for: impl FnMut(usize) -> crate::Result<Llava<B>>,
) -> crate::Result<TaskEval> {
    let groups: Vec<usize> = routes.iter().map(|r| r.group).collect();
    let answers = answer_task(spec, records, &groups, ctx, model_for)?;
    let mut predictions = Vec::with_capacity(records.len());
    for ((record, route), text) in records.iter().zip(routes).zip(answers) {
        let score = score_instance(spec.scorer, ctx.mode, &text, record)
            .map_err(|e| crate::Error::run(&spec.test_file, e))?;
        predictions.push(Prediction {
            question_id: record.question_id.clone(),
            prompt: record.text.clone(),
            text,
            model_id: model_id.to_string(),
            group: route.group,
            score,
        });
    }
    let accuracy = 100.0 * predictions.iter().map(|p| p.score).sum::<f64>() / records.len() as f64;
    Ok(TaskEval {
        task: spec.name.clone(),
        accuracy,
        mode: ctx.mode,
        predictions,
    })
}

/// Writes predictions as JSON lines, atomically.
pub fn write_predictions(path: &Path, predictions: &[Prediction]) -> crate::Result<()> {
    let mut text = String::new();
    for p in predictions {
        let line = serde_json::to_string(p).map_err(|e| crate::Error::run(path, e))?;
        text.push_str(&line);
        text.push('\n');
    }
    crate::io::write_atomic(path, text.as_bytes()).map_err(|e| crate::Error::io(path, e))
}
