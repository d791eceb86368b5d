//! `lcia run` and `lcia eval`: the continual sequence, and one checkpoint on chosen tasks.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::AutodiffBackend;
use lcia::continual::checkpoint_eval::evaluate_checkpoint;
use lcia::continual::config::RunConfig;
use lcia::continual::{RunOptions, run};
use lcia::eval::report::{matrix_markdown, metrics_markdown};
use lcia_backends::BackendTask;

/// `lcia run`.
pub struct RunTask {
    /// run.toml.
    pub config: PathBuf,
    /// The run directory.
    pub out: PathBuf,
    /// Continue after the last finished task.
    pub resume: bool,
    /// Stop after this many finished tasks.
    pub stop_after: Option<usize>,
}

impl BackendTask for RunTask {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        let config = RunConfig::from_file(&self.config)?;
        let options = RunOptions {
            resume: self.resume,
            stop_after: self.stop_after,
        };
        let outcome = run::<AB>(&self.config, &config, &self.out, &options, &device)
            .with_context(|| format!("run {}", self.config.display()))?;
        let mut report = format!(
            "run directory: {}\n\n{}",
            self.out.display(),
            matrix_markdown(&outcome.matrix)
        );
        if let Some(metrics) = outcome.matrix.metrics() {
            report.push('\n');
            report.push_str(&metrics_markdown(&metrics));
        }
        report.push_str(&format!(
            "\nreport: {}\nplots:  {}\n",
            self.out.join("report.md").display(),
            self.out.join("plots").display()
        ));
        Ok(report)
    }
}

/// `lcia eval`.
pub struct EvalTask {
    /// run.toml naming the base model and the tasks.
    pub config: PathBuf,
    /// The checkpoint directory.
    pub checkpoint: PathBuf,
    /// Task names (all when empty).
    pub tasks: Vec<String>,
    /// Where predictions go.
    pub out: PathBuf,
}

impl BackendTask for EvalTask {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        let config = RunConfig::from_file(&self.config)?;
        let results = evaluate_checkpoint::<AB::InnerBackend>(
            &self.config,
            &config,
            &self.checkpoint,
            &self.tasks,
            &self.out,
            &device,
        )
        .with_context(|| format!("evaluating {}", self.checkpoint.display()))?;
        let mut report = format!(
            "| task | accuracy (%, {:?} scorers) |\n|---|---:|\n",
            config.eval.mode
        );
        for r in &results {
            report.push_str(&format!("| {} | {:.2} |\n", r.task, r.accuracy));
        }
        report.push_str(&format!("predictions: {}\n", self.out.display()));
        Ok(report)
    }
}

/// `lcia demo`.
pub struct DemoTask {
    /// Smoke-test sizes.
    pub quick: bool,
    /// Output directory.
    pub out: PathBuf,
}

impl BackendTask for DemoTask {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        use lcia::continual::demo::{DemoSettings, comparison_markdown, run_demo};
        let settings = DemoSettings::new(self.quick);
        let results = run_demo::<AB>(&self.out, &settings, &device).context("demo")?;
        Ok(format!(
            "{}\nEach method's run directory holds report.md and plots/ (accuracy matrix, loss, α):\n{}\ncomparison: {}\n",
            comparison_markdown(&results),
            results
                .iter()
                .map(|r| format!("  {}: {}", r.method, r.run_dir.display()))
                .collect::<Vec<_>>()
                .join("\n"),
            self.out.join("comparison.md").display()
        ))
    }
}

/// `lcia easy-vqa`.
pub struct EasyVqaTask {
    /// `--quick` sizes.
    pub quick: bool,
    /// The asset cache (scripts/fetch-assets.sh).
    pub assets: PathBuf,
    /// Output directory.
    pub out: PathBuf,
}

impl BackendTask for EasyVqaTask {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        use lcia::continual::demo::comparison_markdown;
        use lcia::continual::easy_vqa::{EasyVqaSettings, dema_table, run_easy_vqa};
        let settings = EasyVqaSettings::new(self.quick);
        let results =
            run_easy_vqa::<AB>(&self.assets, &self.out, &settings, &device).context("easy-VQA")?;
        Ok(format!(
            "{}\nBalanced-EMA coefficients per task:\n{}\ncomparison: {} (plot comparison.png; each run's report.md and plots/ under runs/)\n",
            comparison_markdown(&results),
            dema_table(&results)?,
            self.out.join("comparison.md").display()
        ))
    }
}
