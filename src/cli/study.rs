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
    /// The demo's colour → shape → size chain in one forced group at LoRA r 128 (the 7B
    /// coefficient regime): no EMA, fixed EMAs, official DEMA in f32 and bf16, the paper form and
    /// the size-normalised extension, against the interpolation frontier; 3 seeds (about 40
    /// minutes on two cores; --quick: one seed, a few minutes).
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
    /// Runs at a time (each on its own core).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

impl BackendTask for DemaStudyArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        use lcia::experiments::dema_study::{DemaStudySettings, run_dema_study};
        anyhow::ensure!(self.jobs >= 1, "--jobs must be at least 1");
        let default = match self.quick {
            true => "runs/dema-study-quick",
            false => "runs/dema-study",
        };
        let out = self.out.unwrap_or_else(|| PathBuf::from(default));
        let mut settings = DemaStudySettings::new(self.quick);
        settings.jobs = self.jobs;
        let report = run_dema_study::<AB>(&out, &settings, &device).context("DEMA study")?;
        Ok(format!(
            "{}\nInvariants checked: forced group honoured in every run, frontier endpoints equal the plain retrain's accuracies, bf16 EMA bit-equal to the torch reference.\nreport: {} (plot stability-plasticity.png, data dema-study.json), {:.0} s\n",
            report.markdown(),
            out.join("dema-study.md").display(),
            report.seconds
        ))
    }
}
