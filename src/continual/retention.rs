//! The knowledge-retention suite on a model or on every stage of a continual run: the base
//! model, then the parameter sets after each task, each question routed as the run routes
//! its own test instances. Writes per-stage answers and scores, `retention.csv`/`.json`, a
//! plot and a "General knowledge" section of the run report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::manifest::sha256_bytes;
use crate::data::TestRecord;
use crate::eval::retention::{Benchmark, BenchmarkScore, Item, Row};
use crate::eval::{EvalContext, ScorerKind, TaskSpec, answer_task};
use crate::model::Llava;

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct RetentionOptions {
    /// The folder with one sub-folder of parquet files per benchmark.
    pub data: PathBuf,
    /// The benchmarks (empty: every benchmark whose folder is there).
    pub benchmarks: Vec<Benchmark>,
    /// Only the first N questions (rows) of each benchmark.
    pub max_questions: Option<usize>,
    /// A cap on every benchmark's answer length.
    pub max_new_tokens: Option<usize>,
}

impl RetentionOptions {
    /// The benchmarks to evaluate: those named, or every one with a folder under `data`.
    pub fn chosen(&self) -> crate::Result<Vec<Benchmark>> {
        if !self.benchmarks.is_empty() {
            return Ok(self.benchmarks.clone());
        }
        let found: Vec<Benchmark> = Benchmark::ALL
            .into_iter()
            .filter(|b| self.data.join(b.name()).is_dir())
            .collect();
        if found.is_empty() {
            let names: Vec<&str> = Benchmark::ALL.iter().map(|b| b.name()).collect();
            return Err(crate::Error::run(
                &self.data,
                format!(
                    "no benchmark folder here (expected one of {})",
                    names.join(", ")
                ),
            ));
        }
        Ok(found)
    }
}

/// One benchmark read and turned into test records whose images lie in a shared folder.
#[derive(Debug, Clone)]
pub struct LoadedBenchmark {
    /// The benchmark.
    pub benchmark: Benchmark,
    /// Its rows (the first `max_questions`).
    pub rows: Vec<Row>,
    /// One record per row: prompt and extracted image.
    pub records: Vec<TestRecord>,
    /// How it is answered.
    pub spec: TaskSpec,
}

/// Reads every chosen benchmark and writes its images (once per distinct image, named by
/// content) under `images`.
pub fn load_suite(
    options: &RetentionOptions,
    images: &Path,
) -> crate::Result<Vec<LoadedBenchmark>> {
    let mut suite = Vec::new();
    for benchmark in options.chosen()? {
        let mut rows = benchmark.load(&options.data)?;
        if let Some(max) = options.max_questions {
            rows.truncate(max);
        }
        let mut records = Vec::with_capacity(rows.len());
        let mut longest = 0;
        for row in &rows {
            let question = benchmark.question(row)?;
            longest = longest.max(question.max_new_tokens);
            let image = match &question.image {
                Some(bytes) => Some(write_image(images, bytes, row)?),
                None => None,
            };
            records.push(TestRecord {
                question_id: question.id,
                image,
                text: question.text,
                extra: Default::default(),
            });
        }
        let file = rows
            .first()
            .map_or(options.data.join(benchmark.name()), |r| r.path.clone());
        // lmms-eval's LLaVA pads images to a square except where the task keeps them as
        // they are (image_aspect_ratio: original)
        let pad_images = !matches!(
            benchmark,
            Benchmark::Mmbench | Benchmark::Seedbench2plus | Benchmark::Scienceqa
        );
        let spec = TaskSpec {
            name: benchmark.name().to_string(),
            test_file: file,
            image_root: Some(images.to_path_buf()),
            scorer: ScorerKind::Exact,
            max_new_tokens: options.max_new_tokens.map_or(longest, |m| m.min(longest)),
            pad_images,
        };
        suite.push(LoadedBenchmark {
            benchmark,
            rows,
            records,
            spec,
        });
    }
    Ok(suite)
}

fn write_image(dir: &Path, bytes: &[u8], row: &Row) -> crate::Result<String> {
    let format = image::guess_format(bytes)
        .map_err(|e| row.error("image", format!("not an image lcia reads: {e}")))?;
    let extension = format.extensions_str().first().copied().unwrap_or("img");
    let name = format!("{}.{extension}", &sha256_bytes(bytes)[..24]);
    let path = dir.join(&name);
    if !path.is_file() {
        crate::io::write_atomic(&path, bytes).map_err(|e| crate::Error::io(&path, e))?;
    }
    Ok(name)
}

/// One stage's scores without the per-item lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageScores {
    /// `base`, `model` or the task folder name (`01-colour`).
    pub stage: String,
    /// Per benchmark.
    pub benchmarks: Vec<BenchmarkSummary>,
    /// The mean of the benchmarks' headline numbers (%).
    pub combined: f64,
}

/// One benchmark's figures at one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkSummary {
    /// The benchmark.
    pub benchmark: Benchmark,
    /// Questions answered.
    pub questions: usize,
    /// The headline number (%).
    pub headline: f64,
    /// Every metric, on lmms-eval's scale.
    pub metrics: Vec<(String, f64)>,
}

/// A benchmark's answers and scores at one stage, as written to `<stage>/<benchmark>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StageFile {
    answers: Vec<Answer>,
    score: BenchmarkScore,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    id: String,
    answer: String,
    group: usize,
}

/// Answers and scores every benchmark of `suite` with the models `model_for(group)` gives,
/// each row answered by group `groups(benchmark)[row]`; writes `dir/<benchmark>.json`.
pub fn evaluate_stage<B: Backend>(
    stage: &str,
    suite: &[LoadedBenchmark],
    ctx: &EvalContext,
    groups: &mut dyn FnMut(&LoadedBenchmark) -> crate::Result<Vec<usize>>,
    model_for: &mut dyn FnMut(usize) -> crate::Result<Llava<B>>,
    dir: &Path,
) -> crate::Result<StageScores> {
    let mut benchmarks = Vec::new();
    for loaded in suite {
        let groups = groups(loaded)?;
        let answers = answer_task(&loaded.spec, &loaded.records, &groups, ctx, &mut *model_for)?;
        let score = loaded.benchmark.score(&loaded.rows, &answers)?;
        log::info!(
            "{stage}: {} {:.2} ({})",
            loaded.benchmark,
            score.headline,
            loaded.benchmark.headline_name()
        );
        let file = StageFile {
            answers: loaded
                .records
                .iter()
                .zip(&answers)
                .zip(&groups)
                .map(|((r, a), &group)| Answer {
                    id: r.question_id.clone(),
                    answer: a.clone(),
                    group,
                })
                .collect(),
            score: score.clone(),
        };
        let path = dir.join(format!("{}.json", loaded.benchmark));
        crate::io::write_json(&path, &file).map_err(|e| crate::Error::io(&path, e))?;
        benchmarks.push(BenchmarkSummary {
            benchmark: score.benchmark,
            questions: score.questions,
            headline: score.headline,
            metrics: score.metrics,
        });
    }
    let combined =
        benchmarks.iter().map(|b| b.headline).sum::<f64>() / benchmarks.len().max(1) as f64;
    Ok(StageScores {
        stage: stage.to_string(),
        benchmarks,
        combined,
    })
}

/// The items of a finished stage file (for tools that re-read them).
pub fn stage_items(dir: &Path, benchmark: Benchmark) -> crate::Result<Vec<Item>> {
    let path = dir.join(format!("{benchmark}.json"));
    let file: StageFile = crate::io::read_json(&path).map_err(|e| crate::Error::io(&path, e))?;
    Ok(file.score.items)
}

/// Builds each group's model once and hands out clones.
pub struct ModelCache<B: Backend> {
    models: HashMap<usize, Llava<B>>,
}

impl<B: Backend> Default for ModelCache<B> {
    fn default() -> Self {
        Self {
            models: HashMap::new(),
        }
    }
}

impl<B: Backend> ModelCache<B> {
    /// Group `group`'s model, built by `build` the first time.
    pub fn get(
        &mut self,
        group: usize,
        build: impl FnOnce(usize) -> crate::Result<Llava<B>>,
    ) -> crate::Result<Llava<B>> {
        if let Some(model) = self.models.get(&group) {
            return Ok(model.clone());
        }
        let model = build(group)?;
        self.models.insert(group, model.clone());
        Ok(model)
    }
}
