//! The embedded demo: a synthetic benchmark, a tiny LLaVA trained from random weights on its
//! captions (stage 1), then the continual sequence for each method, compared in one table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

use super::checkpoint_eval::evaluate_checkpoint;
use super::config::{EmaChoice, EmaWhen, MethodSection, RunConfig, TaskEntry};
use super::manifest::{read_json, write_json};
use super::setup::{image_tokens, load_samples};
use super::trainer::{TrainConfig, train_task};
use super::{RunOptions, run};
use crate::data::ImagePreprocess;
use crate::data::synthetic::{SyntheticBenchmark, SyntheticConfig, generate};
use crate::eval::{ContinualMetrics, ScorerKind};
use crate::model::{HfConfig, Llava, Trainable};

/// The demo model's `config.json` (a LLaVA of about a million parameters).
pub const DEMO_CONFIG: &str = include_str!("../../assets/demo/config.json");
/// The demo tokenizer (Llama-2 style, 1000 ids, `<image>` = 999; `assets/demo/make_tokenizer.py`).
pub const DEMO_TOKENIZER: &str = include_str!("../../assets/demo/tokenizer.json");

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
        }
    }
}

/// One method's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodResult {
    /// Method name.
    pub method: String,
    /// Its metrics (multitask: Forgetting and BWT are 0 by construction).
    pub metrics: ContinualMetrics,
    /// Final accuracy per task.
    pub final_accuracy: Vec<(String, f64)>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The run directory.
    pub run_dir: PathBuf,
}

fn base_config(base: &Path, bench: &SyntheticBenchmark, settings: &DemoSettings) -> RunConfig {
    let mut config: RunConfig = toml::from_str(&format!(
        "[model]\ndir = {:?}\n",
        base.display().to_string()
    ))
    .expect("a model section is a complete configuration");
    config.model.tokenizer = Some(base.join("tokenizer.json"));
    config.lora.r = 8;
    config.lora.alpha = 16.0;
    config.lora.dropout = 0.0;
    config.train = TrainConfig {
        epochs: settings.task_epochs,
        batch_size: 8,
        lr_lora: 3e-3,
        lr_projector: 3e-4,
        max_len: 256,
        ..TrainConfig::default()
    };
    config.eval.batch_size = 32;
    config.eval.max_new_tokens = Some(4);
    config.data.image_root = Some(bench.image_root.clone());
    config.tasks = bench
        .tasks
        .iter()
        .map(|(name, train, test)| TaskEntry {
            name: name.clone(),
            train: Some(train.clone()),
            test: Some(test.clone()),
            scorer: Some(ScorerKind::Exact),
            max_new_tokens: Some(4),
            pad_images: Some(true),
        })
        .collect();
    config
}

/// The compared methods: name and `[method]` section.
pub fn methods() -> Vec<(&'static str, MethodSection)> {
    let single = |ema, ema_when| MethodSection {
        grouping: false,
        ema,
        ema_when,
        ..MethodSection::default()
    };
    vec![
        ("LoRA (sequential)", single(EmaChoice::Off, EmaWhen::Always)),
        ("EMA 0.99", single(EmaChoice::Fixed, EmaWhen::Always)),
        ("LCIA (DEMA + grouping)", MethodSection::default()),
    ]
}

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
    let HfConfig::Llava(llava) = HfConfig::from_json(DEMO_CONFIG)? else {
        return Err(crate::Error::run(
            base,
            "the demo config is not a llava config",
        ));
    };
    B::seed(device, settings.seed);
    let model = Llava::<B>::new(&llava, device)?.with_trainable(Trainable {
        vision: true,
        projector: true,
        language: true,
    });
    crate::io::write_atomic(&base.join("tokenizer.json"), DEMO_TOKENIZER.as_bytes())?;
    let tokenizer = crate::data::TextTokenizer::from_file(&base.join("tokenizer.json"))?;
    let mut config = base_config(base, bench, settings);
    config.data.image_root = Some(bench.image_root.clone());
    let (_, samples, _) = load_samples(&bench.captions, &config, &tokenizer, image_tokens(&llava))?;
    let train = TrainConfig {
        epochs: settings.stage1_epochs,
        batch_size: 16,
        lr_lora: settings.stage1_lr,
        lr_projector: settings.stage1_lr,
        max_len: 256,
        seed: settings.seed,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let images = ImagePreprocess::llava(llava.vision_config.image_size);
    let (model, report) = train_task(model, &samples, &train, None, &images, 0, device)?;
    log::info!(
        "stage 1: {} steps in {:.0} s, loss {:.3} → {:.3}",
        report.steps.len(),
        start.elapsed().as_secs_f64(),
        report.steps.first().map_or(f64::NAN, |s| s.loss),
        report.steps.last().map_or(f64::NAN, |s| s.loss)
    );
    crate::model::export::save_llava(&model.valid(), DEMO_CONFIG, base)?;
    Ok(())
}

fn multitask<B: AutodiffBackend>(
    out: &Path,
    config: &RunConfig,
    bench: &SyntheticBenchmark,
    device: &B::Device,
) -> crate::Result<(ContinualMetrics, Vec<(String, f64)>)> {
    let joint = out.join("joint");
    let mut records = Vec::new();
    for (_, train, _) in &bench.tasks {
        let list: Vec<serde_json::Value> = read_json(train)?;
        records.extend(list);
    }
    write_json(&joint.join("train.json"), &records)?;
    let mut joint_config = config.clone();
    joint_config.method = MethodSection {
        grouping: false,
        ema: EmaChoice::Off,
        ..MethodSection::default()
    };
    joint_config.tasks = vec![TaskEntry {
        name: "joint".into(),
        train: Some(joint.join("train.json")),
        ..config.tasks[0].clone()
    }];
    let config_path = out.join("multitask.toml");
    let run_dir = out.join("runs/multitask");
    run::<B>(
        &config_path,
        &joint_config,
        &run_dir,
        &RunOptions {
            resume: true,
            stop_after: None,
        },
        device,
    )?;
    let results = evaluate_checkpoint::<B::InnerBackend>(
        &config_path,
        config,
        &run_dir.join("checkpoints/01-joint"),
        &[],
        &run_dir.join("eval"),
        device,
    )?;
    let accuracy: Vec<(String, f64)> = results
        .iter()
        .map(|r| (r.task.clone(), r.accuracy))
        .collect();
    let mean = accuracy.iter().map(|a| a.1).sum::<f64>() / accuracy.len().max(1) as f64;
    let metrics = ContinualMetrics {
        avg_acc: mean,
        forgetting: 0.0,
        new_acc: mean,
        bwt: 0.0,
        maa: mean,
    };
    Ok((metrics, accuracy))
}

/// Generates the data, runs stage 1, then every method and the multitask upper bound into
/// `out`; finished parts are reused when the demo is run again.
pub fn run_demo<B: AutodiffBackend>(
    out: &Path,
    settings: &DemoSettings,
    device: &B::Device,
) -> crate::Result<Vec<MethodResult>> {
    let start = Instant::now();
    let bench = generate(&out.join("data"), &settings.data)?;
    log::info!(
        "data: {} tasks in {}",
        bench.tasks.len(),
        bench.root.display()
    );
    let base = out.join("base");
    stage1::<B>(&base, &bench, settings, device)?;
    let config = base_config(&base, &bench, settings);
    let config_path = out.join("demo.toml");
    let mut results = Vec::new();
    let mut curves = Vec::new();
    for (name, method) in methods() {
        let started = Instant::now();
        let mut method_config = config.clone();
        method_config.method = method;
        let slug: String = name
            .split_whitespace()
            .next()
            .unwrap_or(name)
            .to_lowercase();
        let run_dir = out.join("runs").join(&slug);
        let outcome = run::<B>(
            &config_path,
            &method_config,
            &run_dir,
            &RunOptions {
                resume: true,
                stop_after: None,
            },
            device,
        )?;
        let metrics = outcome
            .matrix
            .metrics()
            .ok_or_else(|| crate::Error::run(&run_dir, "no finished task"))?;
        let last = outcome.matrix.rows.last().cloned().unwrap_or_default();
        let curve = outcome
            .matrix
            .rows
            .iter()
            .enumerate()
            .map(|(j, row)| ((j + 1) as f64, row.iter().sum::<f64>() / row.len() as f64))
            .collect();
        curves.push((name.to_string(), curve));
        results.push(MethodResult {
            method: name.to_string(),
            metrics,
            final_accuracy: outcome.matrix.tasks.iter().cloned().zip(last).collect(),
            seconds: started.elapsed().as_secs_f64(),
            run_dir,
        });
    }
    let started = Instant::now();
    let (metrics, final_accuracy) = multitask::<B>(out, &config, &bench, device)?;
    results.push(MethodResult {
        method: "Multitask (upper bound)".into(),
        metrics,
        final_accuracy,
        seconds: started.elapsed().as_secs_f64(),
        run_dir: out.join("runs/multitask"),
    });
    let tasks = bench.tasks.len() as f64;
    curves.push((
        "Multitask (upper bound)".into(),
        vec![(1.0, metrics.avg_acc), (tasks, metrics.avg_acc)],
    ));
    crate::eval::plot::line_chart(
        &out.join("comparison.png"),
        "Mean accuracy on the tasks seen so far",
        "tasks learned",
        "accuracy (%)",
        &curves,
    )?;
    write_json(&out.join("comparison.json"), &results)?;
    crate::io::write_atomic(
        &out.join("comparison.md"),
        comparison_markdown(&results).as_bytes(),
    )?;
    log::info!("demo finished in {:.0} s", start.elapsed().as_secs_f64());
    Ok(results)
}

/// The comparison table: one row per method.
pub fn comparison_markdown(results: &[MethodResult]) -> String {
    let mut out = String::from(
        "| method | Avg.ACC | Forgetting | New.ACC | BWT | final accuracy per task | time (s) |\n|---|---:|---:|---:|---:|---|---:|\n",
    );
    for r in results {
        let per_task: Vec<String> = r
            .final_accuracy
            .iter()
            .map(|(t, a)| format!("{t} {a:.0}"))
            .collect();
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} |\n",
            r.method,
            r.metrics.avg_acc,
            r.metrics.forgetting,
            r.metrics.new_acc,
            r.metrics.bwt,
            per_task.join(", "),
            r.seconds
        ));
    }
    out
}
