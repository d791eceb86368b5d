//! The checks a run makes of every task's files before its first step, so a broken file of the
//! last task stops the run at once instead of after hours of training: the training records
//! parse and tokenize into usable samples whose ids the model knows, every image's header
//! reads, and every test record has the answer fields its scorer needs. All problems are
//! reported together.

use std::path::{Path, PathBuf};

use super::config::{ResolvedTask, RunConfig};
use super::setup::{image_tokens, load_samples};
use crate::data::sample::{image_path, outside_vocabulary};
use crate::data::{TextTokenizer, load_test_records};
use crate::eval::task_score::score_instance;
use crate::model::LlavaConfig;

/// Problems listed in full; more are counted.
const SHOWN: usize = 20;

fn image_problem(path: &Path) -> Option<String> {
    image::image_dimensions(path)
        .err()
        .map(|e| format!("{}: cannot read image: {e}", path.display()))
}

/// The problems of one task's training file.
fn train_problems(
    task: &ResolvedTask,
    config: &RunConfig,
    tokenizer: &TextTokenizer,
    llava: &LlavaConfig,
) -> Vec<String> {
    let samples = match load_samples(&task.train_file, config, tokenizer, image_tokens(llava)) {
        Ok((_, samples, _)) => samples,
        Err(e) => return vec![e.to_string()],
    };
    let vocab = llava.text_config.vocab_size;
    let mut problems = Vec::new();
    let outside = samples
        .iter()
        .enumerate()
        .find_map(|(i, s)| outside_vocabulary(&s.ids, vocab).map(|id| (i, id)));
    if let Some((index, id)) = outside {
        problems.push(format!(
            "{}: sample {index}: token id {id} is outside the model's vocabulary of {vocab} (is the tokenizer the model's?)",
            task.train_file.display()
        ));
    }
    let mut images: Vec<&PathBuf> = samples.iter().filter_map(|s| s.image.as_ref()).collect();
    images.sort();
    images.dedup();
    problems.extend(images.into_iter().filter_map(|p| image_problem(p)));
    problems
}

/// The problems of one task's test file (at most `max_samples` records are evaluated).
fn test_problems(task: &ResolvedTask, config: &RunConfig) -> Vec<String> {
    let file = &task.spec.test_file;
    let mut records = match load_test_records(file) {
        Ok(records) => records,
        Err(e) => return vec![e.to_string()],
    };
    if let Some(max) = config.eval.max_samples {
        records.truncate(max);
    }
    if records.is_empty() {
        return vec![format!("{}: the test file has no records", file.display())];
    }
    let mut problems = Vec::new();
    for record in &records {
        // scoring an empty answer needs every field the real answer will
        if let Err(e) = score_instance(task.spec.scorer, config.eval.mode, "", record) {
            problems.push(format!("{}: {e}", file.display()));
        }
        if let Some(image) = &record.image {
            let path = image_path(image, task.spec.image_root.as_deref());
            problems.extend(image_problem(&path));
        }
    }
    problems
}

/// Checks the files of every task of `tasks` (configured in `config_path`): the test files of
/// all (every one is evaluated again after each task), the training files from task
/// `first_to_train` on (the earlier ones are committed); the error lists each problem with its
/// file and record.
pub fn preflight(
    config_path: &Path,
    config: &RunConfig,
    (tasks, first_to_train): (&[ResolvedTask], usize),
    tokenizer: &TextTokenizer,
    llava: &LlavaConfig,
) -> crate::Result<()> {
    let mut problems = Vec::new();
    for (index, task) in tasks.iter().enumerate() {
        if index >= first_to_train {
            problems.extend(train_problems(task, config, tokenizer, llava));
        }
        problems.extend(test_problems(task, config));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let more = problems.len().saturating_sub(SHOWN);
    problems.truncate(SHOWN);
    if more > 0 {
        problems.push(format!("... and {more} more"));
    }
    Err(crate::Error::Config {
        path: config_path.to_path_buf(),
        message: format!(
            "the task files have problems (nothing was trained):\n  {}",
            problems.join("\n  ")
        ),
    })
}
