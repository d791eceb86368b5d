//! `lcia run`, `lcia demo` and `lcia easy-vqa`: the continual sequence and the two studies.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use lcia::continual::config::RunConfig;
use lcia::continual::{RunDir, RunOptions, run_on};
use lcia::eval::report::{matrix_markdown, metrics_markdown};
use lcia::experiments::comparison_markdown;
use lcia::experiments::methods::MethodChoice;
use lcia_backends::{BackendTask, DeviceSpec};

/// `lcia run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run configuration (TOML; see the README for an example).
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory (default: runs/<config file stem>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue a run directory after its last finished task.
    #[arg(long)]
    pub resume: bool,
    /// Stop once this many tasks have finished (resume later with --resume).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// What autodiff keeps for the backward pass: off, or balanced (Burn's balanced
    /// checkpointing: memory-bound activations are recomputed, matrix-product outputs kept;
    /// same results, less memory, slower step; see the README, Backends).
    #[arg(long, default_value = "off")]
    pub checkpointing: lcia_backends::Checkpointing,
    /// Data-parallel devices of one backend, comma-separated (`cuda:0,cuda:1`; `cpu,cpu` runs
    /// two replicas on the CPU): one model replica each, the batch split between them.
    /// Overrides the configuration's `devices`; default: that list, else --device.
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<DeviceSpec>,
    /// A run over several processes or machines.
    #[command(flatten)]
    pub node: super::nodes::NodeArgs,
}

impl RunArgs {
    /// The devices to train on: `--devices`, else the configuration's `devices`, else
    /// `device` (the global `--device`).
    pub fn device_specs(&self, device: DeviceSpec) -> anyhow::Result<Vec<DeviceSpec>> {
        if !self.devices.is_empty() {
            return Ok(self.devices.clone());
        }
        let config = RunConfig::from_file(&self.config)?;
        if config.devices.is_empty() {
            return Ok(vec![device]);
        }
        config
            .devices
            .iter()
            .enumerate()
            .map(|(i, text)| {
                text.parse::<DeviceSpec>()
                    .with_context(|| format!("{}: devices[{i}]", self.config.display()))
            })
            .collect()
    }
}

impl BackendTask for RunArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        self.run_many::<AB>(vec![device])
    }

    fn run_many<AB: AutodiffBackend>(self, devices: Vec<AB::Device>) -> anyhow::Result<String> {
        let out = self.out.unwrap_or_else(|| {
            let stem = self.config.file_stem();
            PathBuf::from("runs").join(stem.map_or("run".into(), |s| s.to_os_string()))
        });
        let config = RunConfig::from_file(&self.config)?;
        let options = RunOptions {
            resume: self.resume,
            stop_after: self.stop_after,
        };
        let node = self.node.placement()?;
        let layout = (devices.as_slice(), node.as_ref());
        let outcome = run_on::<AB>(&self.config, &config, &out, &options, layout)
            .with_context(|| format!("run {}", self.config.display()))?;
        let mut report = format!(
            "run directory: {}\n\n{}",
            out.display(),
            matrix_markdown(&outcome.matrix)
        );
        if let Some(metrics) = outcome.matrix.metrics() {
            report.push('\n');
            report.push_str(&metrics_markdown(&metrics));
        }
        let run = RunDir::new(&out);
        let plots = run.plot("");
        report.push_str(&format!(
            "\nreport: {}\nplots:  {}\n",
            run.report().display(),
            plots.display()
        ));
        Ok(report)
    }
}

/// `lcia demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The smoke-test sizes (about two minutes).
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default: runs/demo or runs/demo-quick); finished parts are reused.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The compared methods, comma-separated: lora, ema, dema, grouping, lcia, ewc, lwf,
    /// replay-1, replay-5, olora, moelora, eproj, multitask, zero-shot.
    #[arg(long, default_value = lcia::experiments::demo::DEFAULT_METHODS, value_parser = methods)]
    pub methods: MethodChoice,
    /// Training seeds (sample order and LoRA initialisation; the data and the stage-1 model
    /// stay): 1 is the demo as documented, more add `seed-K/` runs and comparison-seeds.md.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub seeds: u64,
    /// Runs at a time (default: on the CPU backend, the cores divided by --threads, so one
    /// run on every core by default; on a GPU, 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub jobs: Option<u64>,
}

fn methods(list: &str) -> Result<MethodChoice, String> {
    lcia::experiments::methods::parse_methods(list)
}

impl BackendTask for DemoArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        use lcia::experiments::demo::{DemoSettings, run_demo};
        let default = if self.quick {
            "runs/demo-quick"
        } else {
            "runs/demo"
        };
        let out = self.out.unwrap_or_else(|| PathBuf::from(default));
        let settings = DemoSettings {
            methods: self.methods,
            seeds: self.seeds as usize,
            jobs: self.jobs.unwrap_or(1) as usize,
            ..DemoSettings::new(self.quick)
        };
        let per_seed = run_demo::<AB>(&out, &settings, &device).context("demo")?;
        let over_seeds = match per_seed.len() {
            1 => String::new(),
            _ => format!("\n{}", lcia::experiments::seeds::seeds_markdown(&per_seed)),
        };
        let results = per_seed.into_iter().next().unwrap_or_default();
        Ok(format!(
            "{}{over_seeds}\nEach method's run directory holds report.md and plots/ (accuracy matrix, loss, α):\n{}\ncomparison: {}\n",
            comparison_markdown(&results),
            results
                .iter()
                .map(|r| format!("  {}: {}", r.method, r.run_dir.display()))
                .collect::<Vec<_>>()
                .join("\n"),
            out.join("comparison.md").display()
        ))
    }
}

/// `lcia easy-vqa`.
#[derive(Debug, Args)]
pub struct EasyVqaArgs {
    /// Smaller sizes (fewer training and test questions per task).
    #[arg(long)]
    pub quick: bool,
    /// The asset cache filled by scripts/fetch-assets.sh.
    #[arg(long, default_value = "assets/cache")]
    pub assets: PathBuf,
    /// Output directory (default: runs/easy-vqa or runs/easy-vqa-quick); finished parts
    /// are reused.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The compared methods, comma-separated (as `lcia demo --methods`).
    #[arg(long, default_value = lcia::experiments::easy_vqa::DEFAULT_METHODS, value_parser = methods)]
    pub methods: MethodChoice,
    /// Runs at a time (default: on the CPU backend, the cores divided by --threads, so one
    /// run on every core by default; on a GPU, 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub jobs: Option<u64>,
}

impl BackendTask for EasyVqaArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        use lcia::experiments::easy_vqa::{EasyVqaSettings, dema_table, run_easy_vqa};
        let default = if self.quick {
            "runs/easy-vqa-quick"
        } else {
            "runs/easy-vqa"
        };
        let out = self.out.unwrap_or_else(|| PathBuf::from(default));
        let settings = EasyVqaSettings {
            methods: self.methods,
            jobs: self.jobs.unwrap_or(1) as usize,
            ..EasyVqaSettings::new(self.quick)
        };
        let results =
            run_easy_vqa::<AB>(&self.assets, &out, &settings, &device).context("easy-VQA")?;
        Ok(format!(
            "{}\nBalanced-EMA coefficients per task:\n{}\ncomparison: {} (plot comparison.png; each run's report.md and plots/ under runs/)\n",
            comparison_markdown(&results),
            dema_table(&results)?,
            out.join("comparison.md").display()
        ))
    }
}
