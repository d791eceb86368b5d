//! `lcia score`: scores an existing answer file (the official LLaVA/CoIN answer JSONL) against
//! a task's test file with lcia's scorers, without a model.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lcia::data::load_test_records;
use lcia::data::tasks::CoinTask;
use lcia::eval::rescore::{read_answers, rescore};
use lcia::eval::{ScorerKind, ScorerMode};

/// `lcia score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The task's scorer: a CoIN task (ScienceQA, TextVQA, ImageNet, GQA, VizWiz, Grounding,
    /// VQAv2, OCR-VQA, any case) or `exact`.
    #[arg(long, value_parser = scorer)]
    pub task: ScorerKind,
    /// The test file with the reference answers (CoIN format: a JSON array of records).
    #[arg(long)]
    pub test: PathBuf,
    /// `official` (as the official scripts score, quirks included) or `fixed`.
    #[arg(long, default_value = "official", value_parser = mode)]
    pub mode: ScorerMode,
    /// Per-item results (JSONL: question_id, text, score); default: beside the answer file,
    /// `<name>.scored.jsonl`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The answer file (JSON lines with `question_id` and `text`).
    pub answers: PathBuf,
}

fn scorer(name: &str) -> Result<ScorerKind, String> {
    if let Ok(task) = name.parse::<CoinTask>() {
        return Ok(task.into());
    }
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        format!(
            "unknown task '{name}' (a CoIN task: ScienceQA, TextVQA, ImageNet, GQA, VizWiz, \
             Grounding, VQAv2, OCR-VQA; or exact)"
        )
    })
}

fn mode(name: &str) -> Result<ScorerMode, String> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| format!("unknown mode '{name}' (official or fixed)"))
}

impl ScoreArgs {
    /// Scores the file, writes the per-item results and returns the summary.
    pub fn run(self) -> anyhow::Result<String> {
        let answers = read_answers(&self.answers)?;
        let records = load_test_records(&self.test)?;
        let scored = rescore(
            (self.task, self.mode),
            (&self.answers, &answers),
            (&self.test, &records),
        )?;
        let out = self.out.unwrap_or_else(|| {
            let stem = self
                .answers
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy();
            self.answers.with_file_name(format!("{stem}.scored.jsonl"))
        });
        let mut lines = String::new();
        for item in &scored.items {
            lines.push_str(&serde_json::to_string(item)?);
            lines.push('\n');
        }
        lcia::io::write_atomic(&out, lines.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        Ok(format!(
            "{}: {:.2} % over {} answers ({:?} scorer, {:?} mode)\nper item: {}\n",
            self.answers.display(),
            scored.accuracy,
            scored.items.len(),
            self.task,
            self.mode,
            out.display()
        ))
    }
}
