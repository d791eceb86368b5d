//! `lcia study dema`: the balanced EMA in its operating regime, against no EMA, fixed EMAs and
//! the weight-interpolation frontier.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Subcommand};
use lcia_backends::BackendTask;

/// `lcia study`.
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Which study.
    #[command(subcommand)]
    pub which: StudyCommand,
}

/// The studies.
#[derive(Debug, Subcommand)]
pub enum StudyCommand {
    /// The demo's colour → position chain (--tasks to choose another) in one forced group at
    /// LoRA r 128 (per-tensor N·lr near the 7B coefficient regime): no EMA, fixed EMAs, official
    /// DEMA in f32 and bf16, the paper form and the size-normalised extension, against the
    /// weight-interpolation frontier; 3 seeds (--quick: one seed, a few minutes). --easy-vqa: the
    /// same question on SmolLM2 + easy-VQA (colour query → shape query, no EMA vs the official
    /// rule; needs scripts/fetch-assets.sh).
    Dema(DemaStudyArgs),
}

/// `lcia study dema`.
#[derive(Debug, Args)]
pub struct DemaStudyArgs {
    /// One seed and the demo's quick sizes (a smoke run that still checks every invariant).
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default: runs/dema-study or runs/dema-study-quick); finished runs are
    /// reused.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs at a time (default: on the CPU backend, the cores divided by --threads, so one
    /// run on every core by default; on a GPU, 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub jobs: Option<u64>,
    /// The real-LM variant: SmolLM2-135M + easy-VQA (stage 0 and 1 are reused from --out).
    #[arg(long, conflicts_with = "quick")]
    pub easy_vqa: bool,
    /// The asset cache filled by scripts/fetch-assets.sh (with --easy-vqa).
    #[arg(long, default_value = "assets/cache")]
    pub assets: PathBuf,
    /// The chain of demo tasks, in order (default colour,position; the first two span the
    /// frontier), e.g. colour,shape,size.
    #[arg(long, value_delimiter = ',', conflicts_with = "easy_vqa")]
    pub tasks: Option<Vec<String>>,
    /// The adapters' learning rate of the demo study (default 1e-3).
    #[arg(long, conflicts_with = "easy_vqa")]
    pub lr_lora: Option<f64>,
}

impl BackendTask for DemaStudyArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        use lcia::experiments::dema_study::{
            DemaStudySettings, run_dema_study, run_easy_vqa_dema_study,
        };
        use lcia::experiments::demo::DemoSettings;
        let default = match (self.easy_vqa, self.quick) {
            (true, _) => "runs/dema-study-easy-vqa",
            (false, true) => "runs/dema-study-quick",
            (false, false) => "runs/dema-study",
        };
        let out = self.out.unwrap_or_else(|| PathBuf::from(default));
        let jobs = self.jobs.unwrap_or(1) as usize;
        let report = match self.easy_vqa {
            true => {
                let mut settings = DemaStudySettings::easy_vqa();
                settings.jobs = jobs;
                run_easy_vqa_dema_study::<AB>(&self.assets, &out, &settings, &device)
            }
            false => {
                let mut settings = DemaStudySettings::new(self.quick);
                settings.jobs = jobs;
                if let Some(tasks) = self.tasks {
                    settings.tasks = tasks;
                }
                if let Some(lr) = self.lr_lora {
                    anyhow::ensure!(lr.is_finite() && lr > 0.0, "--lr-lora must be > 0");
                    settings.lr_lora = Some(lr);
                }
                let demo = DemoSettings::new(self.quick);
                run_dema_study::<AB>(&out, &demo, &settings, &device)
            }
        }
        .context("DEMA study")?;
        Ok(format!(
            "{}\nInvariants checked: forced group honoured in every run, frontier endpoints equal the plain retrain's accuracies, bf16 EMA bit-equal to the torch reference.\nreport: {} (plot stability-plasticity.png, data dema-study.json), {:.0} s\n",
            report.markdown(),
            out.join("dema-study.md").display(),
            report.seconds
        ))
    }
}
