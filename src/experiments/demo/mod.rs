//! The embedded demo: a synthetic benchmark ([`data`]), a tiny LLaVA trained from random
//! weights on its captions (stage 1), then the continual sequence for each method, compared in
//! one table.

pub mod data;
pub mod retention;

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

use super::compare::{MethodResult, compare_methods};
use super::methods::{MethodChoice, parse_methods};
use super::recipe::{SmallRun, caption_stage, small_run_config};
use super::seeds::{seeds_chart, seeds_markdown};
use crate::continual::config::RunConfig;
use crate::data::Template;
use crate::model::{HfConfig, Llava, Trainable};
use crate::train::TrainConfig;
use data::{SyntheticBenchmark, SyntheticConfig, generate};

/// The demo model's `config.json` (a LLaVA of about a million parameters).
pub const DEMO_CONFIG: &str = include_str!("../../../assets/demo/config.json");
/// The demo tokenizer (Llama-2 style, 1000 ids, `<image>` = 999; `assets/demo/make_tokenizer.py`).
pub const DEMO_TOKENIZER: &str = include_str!("../../../assets/demo/tokenizer.json");

/// Sizes and steps of a demo run.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSettings {
    /// The benchmark's sizes.
    pub data: SyntheticConfig,
    /// Stage-1 epochs over the captions.
    pub stage1_epochs: usize,
    /// Epochs per continual task.
    pub task_epochs: usize,
    /// Learning rate of stage 1 (every weight).
    pub stage1_lr: f64,
    /// Seed of the model's random weights.
    pub seed: u64,
    /// The compared methods.
    pub methods: MethodChoice,
    /// Training seeds: seed `k` trains with sample-order seed `42 + k` and LoRA seed `k`;
    /// seed 0 is the single-seed demo (its runs under `runs/`), seed `k ≥ 1` under
    /// `seed-k/runs/`.
    pub seeds: usize,
    /// Runs at a time (`lcia demo` takes the cores divided by the CPU backend's threads: see
    /// `lcia_backends::runs_at_a_time`).
    pub jobs: usize,
}

impl DemoSettings {
    /// The default demo (minutes on two cores) or the `--quick` smoke run.
    pub fn new(quick: bool) -> Self {
        let (captions, train, test, stage1, epochs) = match quick {
            true => (600, 80, 30, 3, 4),
            false => (3000, 240, 60, 5, 3),
        };
        Self {
            data: SyntheticConfig {
                seed: 2025,
                image_size: 32,
                captions,
                train_per_task: train,
                test_per_task: test,
            },
            stage1_epochs: stage1,
            task_epochs: epochs,
            stage1_lr: 2e-3,
            seed: 7,
            methods: parse_methods(DEFAULT_METHODS).expect("the default methods parse"),
            seeds: 1,
            jobs: 1,
        }
    }
}

/// The run configuration every demo method shares (LoRA r 8 on the demo model in `base`).
pub fn base_config(base: &Path, bench: &SyntheticBenchmark, settings: &DemoSettings) -> RunConfig {
    let run = SmallRun {
        template: Template::VicunaV1,
        epochs: settings.task_epochs,
        lr_lora: 3e-3,
        lr_projector: 3e-4,
        max_len: 256,
        eval_batch: 32,
    };
    let mut config = small_run_config(base, bench, &run);
    config.model.tokenizer = Some(base.join("tokenizer.json"));
    config
}

/// The folder of the demo's output holding its synthetic retention set (`pope/`, `mme/`).
pub const RETENTION_DATA: &str = "retention-data";

/// The methods `lcia demo` compares unless `--methods` says otherwise.
pub const DEFAULT_METHODS: &str = "lora,ema,lcia,multitask";

/// Stage 1: every weight of a random-initialised LLaVA trained on the captions, saved as a
/// llava-hf directory with its tokenizer (skipped when `base` already holds it).
pub fn stage1<B: AutodiffBackend>(
    base: &Path,
    bench: &SyntheticBenchmark,
    settings: &DemoSettings,
    device: &B::Device,
) -> crate::Result<()> {
    if base.join("model.safetensors").is_file() {
        log::info!("stage 1: reusing {}", base.display());
        return Ok(());
    }
    let llava =
        HfConfig::from_json(DEMO_CONFIG)?.into_llava(Path::new("assets/demo/config.json"))?;
    B::seed(device, settings.seed);
    let model = Llava::<B>::new(&llava, device)?.with_trainable(Trainable {
        vision: true,
        projector: true,
        language: true,
    });
    crate::io::write_atomic(&base.join("tokenizer.json"), DEMO_TOKENIZER.as_bytes())
        .map_err(|e| crate::Error::io(base.join("tokenizer.json"), e))?;
    let config = base_config(base, bench, settings);
    let train = TrainConfig {
        epochs: settings.stage1_epochs,
        batch_size: 16,
        lr_lora: settings.stage1_lr,
        lr_projector: settings.stage1_lr,
        max_len: 256,
        seed: settings.seed,
        ..TrainConfig::default()
    };
    let (model, _) = caption_stage((model, &llava), &config, &bench.captions, &train, 0, device)?;
    crate::model::export::save_llava(&model.valid(), DEMO_CONFIG, base, Default::default())?;
    Ok(())
}

/// Generates the data, runs stage 1, then every chosen method for every seed into `out`
/// (one comparison per seed, and `comparison-seeds.md` over them with several seeds);
/// finished parts are reused when the demo is run again.
pub fn run_demo<B: AutodiffBackend>(
    out: &Path,
    settings: &DemoSettings,
    device: &B::Device,
) -> crate::Result<Vec<Vec<MethodResult>>> {
    let start = Instant::now();
    let bench = generate(&out.join("data"), &settings.data)?;
    log::info!(
        "data: {} tasks in {}",
        bench.tasks.len(),
        bench.root.display()
    );
    // held-out scenes for `lcia eval --suite retention` (README): POPE- and MME-style files
    let retention = out.join(RETENTION_DATA);
    if !retention.join("mme").is_dir() {
        let data = &settings.data;
        retention::write_retention_set(&retention, 12, data.image_size, data.seed + 1)?;
    }
    let base = out.join("base");
    stage1::<B>(&base, &bench, settings, device)?;
    let config = base_config(&base, &bench, settings);
    let mut per_seed = Vec::new();
    for k in 0..settings.seeds.max(1) {
        let mut seeded = config.clone();
        seeded.train.seed = config.train.seed + k as u64;
        seeded.lora.seed = config.lora.seed + k as u64;
        let dir = match k {
            0 => out.to_path_buf(),
            k => out.join(format!("seed-{k}")),
        };
        let methods = &settings.methods;
        let jobs = settings.jobs;
        per_seed.push(compare_methods::<B>(
            &dir, &seeded, methods, &bench, jobs, device,
        )?);
    }
    if per_seed.len() > 1 {
        let file = out.join("comparison-seeds.md");
        crate::io::write_atomic(&file, seeds_markdown(&per_seed).as_bytes())
            .map_err(|e| crate::Error::io(&file, e))?;
        seeds_chart(&out.join("comparison-seeds.png"), &per_seed)?;
    }
    log::info!("demo finished in {:.0} s", start.elapsed().as_secs_f64());
    Ok(per_seed)
}
