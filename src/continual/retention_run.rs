//! `lcia eval --suite retention`: the suite on one model directory, or on the base model and
//! after every finished task of a run directory (resumable stage by stage), with the CSV,
//! JSON, plot and the run report's "General knowledge" section.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::checkpoint_eval::load_checkpoint;
use super::config::RunConfig;
use super::manifest::{Manifest, read_json, write_json};
use super::retention::{
    LoadedBenchmark, ModelCache, RetentionOptions, StageScores, evaluate_stage, load_suite,
};
use super::run_dir::RunDir;
use super::setup::routes_for;
use super::setup::{image_tokens, tokenizer};
use crate::data::{Template, TextTokenizer};
use crate::eval::retention::Benchmark;
use crate::eval::{EvalContext, LongPrompts, ScorerMode};
use crate::model::hf::read_llava_config;
use crate::routing::InstructionCodebook;

/// The suite's figures over the stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// The data folder.
    pub data: PathBuf,
    /// The benchmarks, in column order.
    pub benchmarks: Vec<Benchmark>,
    /// One per stage, in order.
    pub stages: Vec<StageScores>,
}

/// What a finished stage was computed on; a stage is reused only when this is unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StageRecord {
    fingerprint: Vec<(Benchmark, usize, usize)>,
    scores: StageScores,
}

fn fingerprint(suite: &[LoadedBenchmark]) -> Vec<(Benchmark, usize, usize)> {
    suite
        .iter()
        .map(|b| (b.benchmark, b.records.len(), b.spec.max_new_tokens))
        .collect()
}

/// A stage: its name, the group of each question, and each group's model.
type StageFns<'a, B> = (
    &'a mut dyn FnMut(&LoadedBenchmark) -> crate::Result<Vec<usize>>,
    &'a mut dyn FnMut(usize) -> crate::Result<crate::model::Llava<B>>,
);

fn run_stage<B: Backend>(
    out: &Path,
    stage: &str,
    suite: &[LoadedBenchmark],
    ctx: &EvalContext,
    (groups, models): StageFns<B>,
) -> crate::Result<StageScores> {
    let dir = out.join(stage);
    let record_file = dir.join("stage.json");
    let fingerprint = fingerprint(suite);
    if record_file.is_file() {
        let record: StageRecord = read_json(&record_file)?;
        if record.fingerprint == fingerprint {
            log::info!("{stage}: reusing {}", record_file.display());
            return Ok(record.scores);
        }
    }
    let scores = evaluate_stage(stage, suite, ctx, groups, models, &dir)?;
    write_json(
        &record_file,
        &StageRecord {
            fingerprint,
            scores: scores.clone(),
        },
    )?;
    Ok(scores)
}

fn context<'a>(
    tokenizer: &'a TextTokenizer,
    template: &'a Template,
    model_dir: &Path,
    batch_size: usize,
    mode: ScorerMode,
) -> crate::Result<EvalContext<'a>> {
    let llava = read_llava_config(model_dir)?;
    Ok(EvalContext {
        tokenizer,
        template,
        image_tokens: image_tokens(&llava),
        image_size: llava.vision_config.image_size,
        batch_size,
        mode,
        progress: true,
        context: llava.text_config.max_position_embeddings,
        long_prompts: LongPrompts::Truncate,
    })
}

/// The suite on the llava-hf model in `model` (tokenizer and template given), written to `out`.
pub fn retention_of_model<B: Backend>(
    model: &Path,
    (tokenizer, template): (&TextTokenizer, &Template),
    options: &RetentionOptions,
    (out, batch_size): (&Path, usize),
    device: &B::Device,
) -> crate::Result<RetentionReport> {
    let suite = load_suite(options, &out.join("images"))?;
    let ctx = context(tokenizer, template, model, batch_size, ScorerMode::Official)?;
    let loaded = crate::model::load_llava::<B>(model, device)?;
    let mut groups = |b: &LoadedBenchmark| Ok(vec![0; b.records.len()]);
    let mut models = |_| Ok(loaded.clone());
    let stage = run_stage(out, "model", &suite, &ctx, (&mut groups, &mut models))?;
    finish(out, options, &suite, vec![stage])
}

/// The suite on the base model and after every finished task of the run in `run_dir`, each
/// question answered by the parameter set the run's routing picks; written to
/// `run_dir/retention/`, and the run report gains a "General knowledge" section.
pub fn retention_of_run<B: Backend>(
    run_dir: &Path,
    options: &RetentionOptions,
    device: &B::Device,
) -> crate::Result<RetentionReport> {
    let run = RunDir::new(run_dir);
    if !run.manifest().is_file() {
        return Err(crate::Error::run(
            run_dir,
            "not a run directory (no manifest.json): pass the --out of an `lcia run`",
        ));
    }
    // no `lcia run` may write the directory meanwhile (and no second evaluation)
    let _lock = run.lock()?;
    let config: RunConfig = read_json(&run.config())?;
    let manifest = Manifest::read(run_dir)?;
    let out = run_dir.join("retention");
    let suite = load_suite(options, &out.join("images"))?;
    let tokenizer = tokenizer(&config)?;
    let (batch, mode) = (config.eval.batch_size, config.eval.mode);
    let ctx = context(
        &tokenizer,
        &config.model.template,
        &config.model.dir,
        batch,
        mode,
    )?;
    let all_zero = |b: &LoadedBenchmark| Ok(vec![0; b.records.len()]);
    let initial = load_checkpoint::<B>(&config, &run.initial(), device)?;
    let mut stages = vec![run_stage(
        &out,
        "base",
        &suite,
        &ctx,
        (&mut { all_zero }, &mut |_| Ok(initial.clone())),
    )?];
    let similarity = match config.method.grouping {
        true => Some(config.method.similarity.build::<B>(device)?),
        false => None,
    };
    for (i, record) in manifest.finished.iter().enumerate() {
        let stage = format!("{:02}-{}", i + 1, record.task);
        let sets = Manifest {
            finished: manifest.finished[..=i].to_vec(),
            ..manifest.clone()
        }
        .group_checkpoints();
        let codebook = match &similarity {
            Some(_) => Some(InstructionCodebook::load(
                &run.task_codebook(i, &record.task),
            )?),
            None => None,
        };
        let mut groups = |b: &LoadedBenchmark| match (&codebook, &similarity) {
            (Some(codebook), Some(similarity)) => Ok(routes_for(
                &config,
                codebook,
                similarity.as_ref(),
                b.benchmark.name(),
                &b.records,
            )?
            .into_iter()
            .map(|r| r.group)
            .collect()),
            _ => Ok(vec![0; b.records.len()]),
        };
        let mut cache = ModelCache::default();
        let mut models = |group: usize| {
            cache.get(group, |g| {
                let (_, name) = sets.iter().find(|(s, _)| *s == g).ok_or_else(|| {
                    crate::Error::run(
                        run_dir,
                        format!("{stage}: group {g} has no parameter set yet"),
                    )
                })?;
                load_checkpoint::<B>(&config, &run.resolve(name), device)
            })
        };
        stages.push(run_stage(
            &out,
            &stage,
            &suite,
            &ctx,
            (&mut groups, &mut models),
        )?);
    }
    let report = finish(&out, options, &suite, stages)?;
    let file = run.report();
    if file.is_file() {
        let text = std::fs::read_to_string(&file).map_err(|e| crate::Error::io(&file, e))?;
        let text = with_section(&text, &report.markdown("retention/"));
        crate::io::write_atomic(&file, text.as_bytes()).map_err(|e| crate::Error::io(&file, e))?;
    }
    Ok(report)
}

fn finish(
    out: &Path,
    options: &RetentionOptions,
    suite: &[LoadedBenchmark],
    stages: Vec<StageScores>,
) -> crate::Result<RetentionReport> {
    let report = RetentionReport {
        data: options.data.clone(),
        benchmarks: suite.iter().map(|b| b.benchmark).collect(),
        stages,
    };
    write_json(&out.join("retention.json"), &report)?;
    let csv = out.join("retention.csv");
    crate::io::write_atomic(&csv, report.csv().as_bytes())
        .map_err(|e| crate::Error::io(&csv, e))?;
    let md = out.join("retention.md");
    crate::io::write_atomic(&md, report.markdown("").as_bytes())
        .map_err(|e| crate::Error::io(&md, e))?;
    report.plot(&out.join("retention.png"))?;
    Ok(report)
}

/// `report` with its "General knowledge" section replaced by `section` (or inserted before
/// the plots, or appended).
pub fn with_section(report: &str, section: &str) -> String {
    const HEAD: &str = "## General knowledge";
    if let Some(start) = report.find(HEAD) {
        let end = report[start + HEAD.len()..]
            .find("\n## ")
            .map_or(report.len(), |at| start + HEAD.len() + at + 1);
        return format!("{}{section}{}", &report[..start], &report[end..]);
    }
    match report.find("## Plots") {
        Some(at) => format!("{}{section}{}", &report[..at], &report[at..]),
        None => format!("{report}\n{section}"),
    }
}

/// The section of a run report for the run in `run_dir`, when its suite has been evaluated.
pub fn report_section(run_dir: &Path) -> crate::Result<Option<String>> {
    let file = run_dir.join("retention").join("retention.json");
    if !file.is_file() {
        return Ok(None);
    }
    let report: RetentionReport = read_json(&file)?;
    Ok(Some(report.markdown("retention/")))
}

impl RetentionReport {
    fn headline(stage: &StageScores, benchmark: Benchmark) -> Option<f64> {
        stage
            .benchmarks
            .iter()
            .find(|b| b.benchmark == benchmark)
            .map(|b| b.headline)
    }

    /// One line per stage: the headline number of every benchmark and the combined score.
    pub fn csv(&self) -> String {
        let mut out = String::from("stage");
        for b in &self.benchmarks {
            out.push_str(&format!(",{b}"));
        }
        out.push_str(",combined\n");
        for stage in &self.stages {
            out.push_str(&stage.stage);
            for &b in &self.benchmarks {
                let value = Self::headline(stage, b).map_or(String::new(), |v| format!("{v:.4}"));
                out.push_str(&format!(",{value}"));
            }
            out.push_str(&format!(",{:.4}\n", stage.combined));
        }
        out
    }

    /// The "General knowledge" section: the table over the stages, the change from the first
    /// stage to the last, and the plot (its path prefixed with `plot_dir`).
    pub fn markdown(&self, plot_dir: &str) -> String {
        let mut md = String::from("## General knowledge\n\n");
        md.push_str(&format!(
            "The knowledge-retention suite (lmms-eval 0.7.3 prompts and scorers) on {}; one headline number per benchmark in %: ",
            self.data.display()
        ));
        let names: Vec<String> = self
            .benchmarks
            .iter()
            .map(|b| format!("{b} = {}", b.headline_name()))
            .collect();
        md.push_str(&names.join("; "));
        md.push_str(". Combined = their mean.\n\n| stage |");
        for b in &self.benchmarks {
            md.push_str(&format!(" {b} |"));
        }
        md.push_str(" combined |\n|---|");
        md.push_str(&"---:|".repeat(self.benchmarks.len() + 1));
        md.push('\n');
        for stage in &self.stages {
            md.push_str(&format!("| {} |", stage.stage));
            for &b in &self.benchmarks {
                let cell = Self::headline(stage, b).map_or("-".into(), |v| format!("{v:.2}"));
                md.push_str(&format!(" {cell} |"));
            }
            md.push_str(&format!(" {:.2} |\n", stage.combined));
        }
        if let (Some(first), Some(last)) = (self.stages.first(), self.stages.last())
            && self.stages.len() > 1
        {
            md.push_str(&format!(
                "\nFrom {} to {}: combined {:+.2} points.\n",
                first.stage,
                last.stage,
                last.combined - first.combined
            ));
        }
        md.push_str(&format!("\n![retention]({plot_dir}retention.png)\n\n"));
        md
    }

    /// The headline numbers over the stages, one line per benchmark and the combined score.
    pub fn plot(&self, path: &Path) -> crate::Result<()> {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = self
            .benchmarks
            .iter()
            .map(|&b| {
                let points = self
                    .stages
                    .iter()
                    .enumerate()
                    .filter_map(|(x, s)| Self::headline(s, b).map(|y| (x as f64, y)))
                    .collect();
                (b.to_string(), points)
            })
            .collect();
        let combined = self.stages.iter().enumerate();
        series.push((
            "combined".into(),
            combined.map(|(x, s)| (x as f64, s.combined)).collect(),
        ));
        crate::eval::plot::line_chart(
            path,
            "Knowledge retention over the task sequence",
            "stage (0 = before the first task)",
            "headline number (%)",
            &series,
        )
    }
}
