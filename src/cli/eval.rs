//! `lcia eval`: one checkpoint on tasks of a run configuration, or the knowledge-retention
//! suite on a model or on every stage of a run.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use lcia::adapters::io::check_finite_parameter_set;
use lcia::continual::checkpoint_eval::evaluate_checkpoint;
use lcia::continual::config::RunConfig;
use lcia::continual::retention::RetentionOptions;
use lcia::continual::retention_run::{RetentionReport, retention_of_model, retention_of_run};
use lcia::data::{Template, TextTokenizer};
use lcia::eval::retention::Benchmark;
use lcia_backends::BackendTask;

use super::generate::TemplateName;

/// What `lcia eval` evaluates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// The tasks of a run configuration, on one checkpoint (--config, --checkpoint).
    #[default]
    Tasks,
    /// The knowledge-retention benchmarks from their parquet files (--data, and --model or
    /// --run).
    Retention,
}

/// `lcia eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// What to evaluate: `tasks` (one checkpoint on a configuration's tasks) or `retention`
    /// (the general benchmarks: POPE, MME, MMBench, SEED-Bench2-Plus, MMMU, HallusionBench,
    /// ScienceQA).
    #[arg(long, value_enum, default_value_t = Suite::Tasks)]
    pub suite: Suite,
    /// tasks: the run configuration naming the base model, tokenizer and tasks.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// tasks: the checkpoint directory (a run's checkpoint or a PEFT adapter).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// tasks: the tasks to evaluate (default: all tasks of the configuration).
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Output directory (tasks: default <checkpoint>-eval; retention with --model: default
    /// <model>-retention; with --run it is always <run>/retention).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// tasks: evaluate a checkpoint even when its weights hold NaN or infinite values.
    #[arg(long)]
    pub allow_non_finite: bool,
    /// retention: the folder with one sub-folder of parquet files per benchmark (pope, mme,
    /// mmbench, seedbench2plus, mmmu, hallusionbench, scienceqa).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// retention: the benchmarks (default: every one with a folder under --data).
    #[arg(long, value_delimiter = ',')]
    pub benchmarks: Vec<Benchmark>,
    /// retention: a llava-hf model directory to evaluate.
    #[arg(long, conflicts_with = "run")]
    pub model: Option<PathBuf>,
    /// retention: a run directory: the base model and the parameter sets after every task.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// retention with --model: the conversation template (default: from the model's
    /// tokenizer_config.json).
    #[arg(long)]
    pub template: Option<TemplateName>,
    /// retention: only the first N questions of each benchmark.
    #[arg(long)]
    pub max_questions: Option<usize>,
    /// retention: at most this many answer tokens (lmms-eval's length per benchmark when
    /// shorter).
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// retention with --model: prompts per generation batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

impl EvalArgs {
    /// Refuses the options the chosen suite does not use, naming them.
    fn check(&self) -> anyhow::Result<()> {
        let (tasks_only, retention_only) = (
            [
                ("--config", self.config.is_some()),
                ("--checkpoint", self.checkpoint.is_some()),
                ("--tasks", !self.tasks.is_empty()),
                ("--allow-non-finite", self.allow_non_finite),
            ],
            [
                ("--data", self.data.is_some()),
                ("--benchmarks", !self.benchmarks.is_empty()),
                ("--model", self.model.is_some()),
                ("--run", self.run.is_some()),
                ("--template", self.template.is_some()),
                ("--max-questions", self.max_questions.is_some()),
                ("--max-new-tokens", self.max_new_tokens.is_some()),
            ],
        );
        let (wrong, suite): (Vec<&str>, &str) = match self.suite {
            Suite::Tasks => (
                retention_only.iter().filter(|o| o.1).map(|o| o.0).collect(),
                "tasks",
            ),
            Suite::Retention => (
                tasks_only.iter().filter(|o| o.1).map(|o| o.0).collect(),
                "retention",
            ),
        };
        anyhow::ensure!(
            wrong.is_empty(),
            "{} not used by --suite {suite}",
            wrong.join(", ")
        );
        Ok(())
    }
}

impl BackendTask for EvalArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        self.check()?;
        match self.suite {
            Suite::Tasks => self.tasks::<AB>(device),
            Suite::Retention => self.retention::<AB>(device),
        }
    }
}

impl EvalArgs {
    fn tasks<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        let config_path = self.config.context("--suite tasks needs --config")?;
        let checkpoint = self
            .checkpoint
            .context("--suite tasks needs --checkpoint")?;
        let out = self.out.unwrap_or_else(|| {
            let mut name = checkpoint.file_name().unwrap_or_default().to_os_string();
            name.push("-eval");
            checkpoint.with_file_name(name)
        });
        if !self.allow_non_finite {
            check_finite_parameter_set(&checkpoint)
                .context("refused (pass --allow-non-finite to evaluate it anyway)")?;
        }
        let config = RunConfig::from_file(&config_path)?;
        let results = evaluate_checkpoint::<AB::InnerBackend>(
            &config_path,
            &config,
            &checkpoint,
            &self.tasks,
            &out,
            &device,
        )
        .with_context(|| format!("evaluating {}", checkpoint.display()))?;
        let mut report = format!(
            "| task | accuracy (%, {:?} scorers) |\n|---|---:|\n",
            config.eval.mode
        );
        for r in &results {
            report.push_str(&format!("| {} | {:.2} |\n", r.task, r.accuracy));
        }
        report.push_str(&format!("predictions: {}\n", out.display()));
        Ok(report)
    }

    fn retention<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        let options = RetentionOptions {
            data: self.data.context("--suite retention needs --data")?,
            benchmarks: self.benchmarks,
            max_questions: self.max_questions,
            max_new_tokens: self.max_new_tokens,
        };
        let (report, out) = match (self.model, self.run) {
            (Some(model), None) => {
                let out = self.out.unwrap_or_else(|| {
                    let mut name = model.file_name().unwrap_or_default().to_os_string();
                    name.push("-retention");
                    model.with_file_name(name)
                });
                let tokenizer = TextTokenizer::from_file(&model.join("tokenizer.json"))?;
                let template = match self.template {
                    Some(name) => name.template(None),
                    None => Template::from_tokenizer_config(&model.join("tokenizer_config.json"))
                        .context("pass --template")?,
                };
                let report = retention_of_model::<AB::InnerBackend>(
                    &model,
                    (&tokenizer, &template),
                    &options,
                    (&out, self.batch_size),
                    &device,
                )?;
                (report, out)
            }
            (None, Some(run)) => {
                anyhow::ensure!(
                    self.out.is_none() && self.template.is_none(),
                    "with --run the output is <run>/retention and the template the run's: --out and --template are not used"
                );
                let report = retention_of_run::<AB::InnerBackend>(&run, &options, &device)?;
                (report, run.join("retention"))
            }
            _ => anyhow::bail!("--suite retention needs --model DIR or --run RUN_DIR"),
        };
        Ok(summary(&report, &out))
    }
}

fn summary(report: &RetentionReport, out: &std::path::Path) -> String {
    let mut text = report.markdown("");
    text.push_str(&format!(
        "written: {}/retention.csv, retention.json, retention.md, retention.png\n",
        out.display()
    ));
    text
}
