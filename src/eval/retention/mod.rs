//! The knowledge-retention suite: the general benchmarks continual instruction tuning is
//! judged on besides its own tasks (POPE, MME, MMBench, SEED-Bench2-Plus, MMMU,
//! HallusionBench, ScienceQA-IMG), read from their public parquet releases, prompted and
//! scored as lmms-eval 0.7.3 prompts and scores them for LLaVA-style models.
//!
//! # Faithfulness
//!
//! Every scorer follows the lmms-eval task's own code branch for branch, Python string
//! semantics included (`pytext`); `tests/retention.rs` checks each against lmms-eval's
//! functions on the cases `assets/golden/make_retention_golden.py` builds. Three choices
//! differ from lmms-eval's defaults, all because the default needs a GPT judge or a random
//! draw: MMBench uses lmms-eval's rule-based `mmbench_en_dev_static` scorer, HallusionBench
//! its rule-based `_intern` scorer, and MMMU's random guess (an answer naming no option) is
//! the option `fnv1a64(id) mod n`, reproducible from run to run. Benchmarks that need a
//! language-model judge for every answer (MathVista, MathVision, MMDU, MIA-Bench) are not in
//! the suite.

pub mod choice;
pub mod mcq;
pub mod mmmu;
pub mod pytext;
pub mod yesno;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::data::parquet::{Row, TableError, Value};

/// lmms-eval's default instruction after a short-answer question.
pub const SHORT_ANSWER: &str = "\nAnswer the question using a single word or phrase.";

/// Named metrics in a fixed order.
pub type Metrics = Vec<(String, f64)>;

/// One benchmark of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Benchmark {
    /// POPE: object hallucination, yes/no (random, popular, adversarial).
    Pope,
    /// MME: perception and cognition, yes/no pairs per image.
    Mme,
    /// MMBench (English dev): multiple choice, circular evaluation.
    Mmbench,
    /// SEED-Bench2-Plus: text-rich images (charts, maps, webs), multiple choice.
    Seedbench2plus,
    /// MMMU (validation): college-level multiple choice and open questions.
    Mmmu,
    /// HallusionBench (image split): language hallucination and visual illusion.
    Hallusionbench,
    /// ScienceQA-IMG (test): science multiple choice with an image.
    Scienceqa,
}

impl Benchmark {
    /// All benchmarks, in the order reports list them.
    pub const ALL: [Benchmark; 7] = [
        Self::Pope,
        Self::Mme,
        Self::Mmbench,
        Self::Seedbench2plus,
        Self::Mmmu,
        Self::Hallusionbench,
        Self::Scienceqa,
    ];

    /// The name on the command line, in reports and as the data folder.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pope => "pope",
            Self::Mme => "mme",
            Self::Mmbench => "mmbench",
            Self::Seedbench2plus => "seedbench2plus",
            Self::Mmmu => "mmmu",
            Self::Hallusionbench => "hallusionbench",
            Self::Scienceqa => "scienceqa",
        }
    }

    /// The split of the public release that is scored (its parquet files start with it).
    pub fn split(self) -> &'static str {
        match self {
            Self::Mmbench => "dev",
            Self::Mmmu => "validation",
            Self::Hallusionbench => "image",
            _ => "test",
        }
    }

    /// The columns read: required, then optional.
    pub fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Pope => yesno::POPE_COLUMNS,
            Self::Mme => yesno::MME_COLUMNS,
            Self::Hallusionbench => yesno::HALLUSION_COLUMNS,
            Self::Mmbench => choice::MMBENCH_COLUMNS,
            Self::Seedbench2plus => choice::SEED_COLUMNS,
            Self::Scienceqa => choice::SCIENCEQA_COLUMNS,
            Self::Mmmu => mmmu::MMMU_COLUMNS,
        }
    }

    /// The prompt, image and answer length of one row.
    pub fn question(self, row: &Row) -> Result<Question, TableError> {
        match self {
            Self::Pope => yesno::pope_question(row),
            Self::Mme => yesno::mme_question(row),
            Self::Hallusionbench => yesno::hallusion_question(row),
            Self::Mmbench => choice::mmbench_question(row),
            Self::Seedbench2plus => choice::seed_question(row),
            Self::Scienceqa => choice::scienceqa_question(row),
            Self::Mmmu => mmmu::mmmu_question(row),
        }
    }

    /// Scores `answers` (one per row, in order) and names the headline metric.
    pub fn score(self, rows: &[Row], answers: &[String]) -> Result<BenchmarkScore, TableError> {
        if rows.is_empty() || rows.len() != answers.len() {
            return Err(TableError::Read {
                path: rows.first().map(|r| r.path.clone()).unwrap_or_default(),
                message: format!("{} rows but {} answers", rows.len(), answers.len()),
            });
        }
        let (metrics, items) = match self {
            Self::Pope => yesno::pope_score(rows, answers),
            Self::Mme => yesno::mme_score(rows, answers),
            Self::Hallusionbench => yesno::hallusion_score(rows, answers),
            Self::Mmbench => choice::mmbench_score(rows, answers),
            Self::Seedbench2plus => choice::seed_score(rows, answers),
            Self::Scienceqa => choice::scienceqa_score(rows, answers),
            Self::Mmmu => mmmu::mmmu_score(rows, answers),
        }?;
        let get = |name: &str| metrics.iter().find(|(n, _)| n == name).map_or(0.0, |m| m.1);
        let headline = match self {
            Self::Pope => 100.0 * get("f1"),
            Self::Mme => {
                // the sum of acc + acc+ per subtask, as a share of its maximum (200 each)
                let tasks = metrics
                    .iter()
                    .filter(|(n, _)| n.ends_with(".score"))
                    .count();
                (get("perception") + get("cognition")) / (2.0 * tasks.max(1) as f64)
            }
            Self::Mmbench => get("overall"),
            Self::Seedbench2plus => 100.0 * get("all"),
            Self::Mmmu => 100.0 * get("overall"),
            Self::Hallusionbench => 100.0 * get("aAcc"),
            Self::Scienceqa => 100.0 * get("exact_match"),
        };
        Ok(BenchmarkScore {
            benchmark: self,
            questions: rows.len(),
            headline,
            metrics,
            items,
        })
    }

    /// What the headline number is.
    pub fn headline_name(self) -> &'static str {
        match self {
            Self::Pope => "F1 (%)",
            Self::Mme => "perception + cognition (% of max)",
            Self::Mmbench => "circular accuracy (%)",
            Self::Mmmu => "accuracy (%)",
            Self::Hallusionbench => "question accuracy aAcc (%)",
            _ => "accuracy (%)",
        }
    }

    /// The parquet files of this benchmark under `data/<name>/` (searched recursively, sorted):
    /// those whose name starts with the scored split when there are any, else all.
    pub fn files(self, data: &Path) -> Result<Vec<PathBuf>, TableError> {
        let dir = data.join(self.name());
        let mut all = Vec::new();
        collect_parquet(&dir, &mut all).map_err(|e| TableError::Read {
            path: dir.clone(),
            message: format!("cannot list the benchmark's folder: {e}"),
        })?;
        all.sort();
        let split: Vec<PathBuf> = all
            .iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(self.split()))
            })
            .cloned()
            .collect();
        let files = if split.is_empty() { all } else { split };
        if files.is_empty() {
            return Err(TableError::Read {
                path: dir,
                message: "no .parquet file here".into(),
            });
        }
        Ok(files)
    }

    /// Every row of the benchmark's files under `data`.
    pub fn load(self, data: &Path) -> Result<Vec<Row>, TableError> {
        let (required, optional) = self.columns();
        let mut rows = Vec::new();
        for file in self.files(data)? {
            rows.extend(crate::data::parquet::read_rows(&file, required, optional)?);
        }
        Ok(rows)
    }
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_parquet(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

impl FromStr for Benchmark {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|b| b.name()).collect();
                format!("unknown benchmark '{s}' (known: {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Benchmark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One question, ready to answer.
#[derive(Debug, Clone)]
pub struct Question {
    /// The benchmark's id of the question (`row N` where it has none).
    pub id: String,
    /// The prompt text as lmms-eval builds it.
    pub text: String,
    /// The encoded image, when the question has one.
    pub image: Option<Vec<u8>>,
    /// lmms-eval's answer length for the benchmark.
    pub max_new_tokens: usize,
}

impl Question {
    /// A question from `row`, its id from `id_column` (`""`: the row number) and its image
    /// from `image_column` (`""`: none).
    pub fn new(
        row: &Row,
        id_column: &str,
        text: String,
        image_column: &str,
        max_new_tokens: usize,
    ) -> Result<Self, TableError> {
        let id = match id_column {
            "" => format!("row {}", row.row),
            column => row.text(column)?,
        };
        let image = match image_column {
            "" => None,
            column => row.image(column)?.map(<[u8]>::to_vec),
        };
        Ok(Self {
            id,
            text,
            image,
            max_new_tokens,
        })
    }
}

/// One scored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The question's id.
    pub id: String,
    /// What the scorer read from the answer (a letter, yes/no, the open-answer candidates).
    pub parsed: String,
    /// The item's score in `[0, 1]`.
    pub score: f64,
}

impl Item {
    /// An item.
    pub fn new(id: &str, parsed: String, score: f64) -> Self {
        Self {
            id: id.to_string(),
            parsed,
            score,
        }
    }
}

/// A benchmark's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkScore {
    /// The benchmark.
    pub benchmark: Benchmark,
    /// Questions scored.
    pub questions: usize,
    /// The headline number in percent (see [`Benchmark::headline_name`]).
    pub headline: f64,
    /// Every metric under lmms-eval's scale (fractions or percent as lmms-eval returns them).
    pub metrics: Metrics,
    /// Per question (MMBench: per question of the circular evaluation).
    pub items: Vec<Item>,
}
