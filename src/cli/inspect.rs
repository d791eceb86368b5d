//! `lcia inspect DIR`: what a HuggingFace model directory holds, and how fast it runs.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use lcia::continual::RunDir;
use lcia::model::{HfConfig, hf};
use lcia_backends::BackendTask;

/// `lcia inspect`: a run directory's summary, or a model directory loaded (if it has weights)
/// and `repeat` forwards of one sequence timed.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A run directory (with manifest.json) or a model directory (with config.json).
    pub path: PathBuf,
    /// Text tokens in the timed sequence (model directories; image tokens come on top for
    /// LLaVA).
    #[arg(long, default_value_t = 16)]
    pub tokens: usize,
    /// Timed forwards after one warm-up (model directories).
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
    /// LoRA rank of the memory plan.
    #[arg(long, default_value_t = 128)]
    pub lora_r: usize,
    /// Parameter sets of the memory plan.
    #[arg(long, default_value_t = 4)]
    pub sets: u64,
    /// Sequences per step in the memory plan.
    #[arg(long, default_value_t = 1)]
    pub plan_batch: usize,
    /// Supervised text tokens per sequence in the memory plan (one image comes on top).
    #[arg(long, default_value_t = 1024)]
    pub plan_text: usize,
}

impl InspectArgs {
    /// Whether `path` is a run directory (it holds a manifest).
    pub fn is_run_dir(&self) -> bool {
        RunDir::new(&self.path).manifest().is_file()
    }
}

/// Lineage, accuracy matrix and metrics of a run directory.
pub fn run_summary(dir: &std::path::Path) -> anyhow::Result<String> {
    use lcia::continual::manifest::Manifest;
    use lcia::continual::run_report::{lineage_markdown, regime_markdown};
    use lcia::eval::AccuracyMatrix;
    use lcia::eval::report::{matrix_markdown, metrics_markdown};
    let manifest = Manifest::read(dir)?;
    let mut matrix = AccuracyMatrix::new(manifest.tasks.clone());
    for record in &manifest.finished {
        matrix
            .push_row(record.accuracies.clone())
            .map_err(anyhow::Error::msg)?;
    }
    let mut out = format!(
        "{}: {} of {} tasks finished; base model {} (config sha256 {}); scorers {:?}\n\n{}\n",
        dir.display(),
        manifest.finished.len(),
        manifest.tasks.len(),
        manifest.base_model.dir.display(),
        manifest.base_model.config_sha256,
        manifest.scorer_mode,
        lineage_markdown(&manifest)
    );
    if let Some(regime) = regime_markdown(&manifest) {
        out.push_str("Balanced-EMA regime per task:\n\n");
        out.push_str(&regime);
        out.push('\n');
    }
    out.push_str(&matrix_markdown(&matrix));
    if let Some(metrics) = matrix.metrics() {
        out.push('\n');
        out.push_str(&metrics_markdown(&metrics));
    }
    Ok(out)
}

impl BackendTask for InspectArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        type Inner<AB> = <AB as AutodiffBackend>::InnerBackend;
        let config = hf::read_config(&self.path)?;
        let (kind, params) = match &config {
            HfConfig::Llama(c) => ("llama", c.num_params()),
            HfConfig::ClipVision(c) => ("clip vision", c.num_params()),
            HfConfig::Llava(c) => ("llava", c.num_params()),
        };
        let mut report = format!(
            "{}: {kind}, {params} parameters ({:.3} B, from config.json)\n",
            self.path.display(),
            params as f64 / 1e9
        );
        if let HfConfig::Llava(c) = &config {
            use lcia::continual::memory::{MemoryPlan, step_table};
            let targets = &lcia::model::llama::LLAMA_LORA_TARGETS;
            let plan = MemoryPlan::new(c, self.lora_r, targets, 2, self.sets);
            report.push_str(&format!(
                "LoRA r {} on all seven projections, base weights in bf16:\n{plan}\n\
                 one training step, batch {} × (1 image + {} supervised text tokens), \
                 no checkpointing (activations f32; a GPU keeps {} GiB for its runtime):\n{}",
                self.lora_r,
                self.plan_batch,
                self.plan_text,
                lcia::continual::memory::RUNTIME_RESERVE >> 30,
                step_table(c, self.lora_r, self.sets, self.plan_batch, self.plan_text)
            ));
        }
        if hf::weight_files(&self.path).is_err() {
            report.push_str("no weights in the directory: nothing loaded or timed\n");
            return Ok(report);
        }
        let ids = |vocab: usize, len: usize| {
            Tensor::<Inner<AB>, 2, Int>::random(
                [1, len],
                Distribution::Uniform(1.0, (vocab - 1) as f64),
                &device,
            )
        };
        let start = Instant::now();
        let forward: Box<dyn Fn() -> anyhow::Result<Tensor<Inner<AB>, 3>>> = match config {
            HfConfig::Llama(c) => {
                let model = lcia::model::load_llama::<Inner<AB>>(&self.path, &device)?;
                let ids = ids(c.vocab_size, self.tokens);
                Box::new(move || Ok(model.forward(ids.clone())))
            }
            HfConfig::ClipVision(c) => {
                let model = lcia::model::load_clip_vision::<Inner<AB>>(&self.path, &device)?;
                let pixels = pixels::<Inner<AB>>(c.image_size, &device);
                Box::new(move || {
                    Ok(model
                        .hidden_states(pixels.clone())
                        .pop()
                        .expect("one state"))
                })
            }
            HfConfig::Llava(c) => {
                let model = lcia::model::load_llava::<Inner<AB>>(&self.path, &device)?;
                let n_img = c.vision_config.num_patches();
                let image = Tensor::full([1, n_img], c.image_token_index, &device);
                // text ids below the image token, so none is taken for an image position
                let text_vocab = c
                    .text_config
                    .vocab_size
                    .min(c.image_token_index.max(2) as usize);
                let ids = Tensor::cat(
                    vec![ids(text_vocab, 1), image, ids(text_vocab, self.tokens)],
                    1,
                );
                let pixels = pixels::<Inner<AB>>(c.vision_config.image_size, &device);
                Box::new(move || {
                    Ok(model.forward(ids.clone(), Some(pixels.clone()), None, None)?)
                })
            }
        };
        report.push_str(&format!(
            "loaded in {:.3} s\n",
            start.elapsed().as_secs_f64()
        ));
        let out = forward()?;
        let _ = Inner::<AB>::sync(&device);
        let start = Instant::now();
        for _ in 0..self.repeat {
            let _ = forward()?.into_data();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / self.repeat.max(1) as f64;
        report.push_str(&format!(
            "forward of one sequence -> {:?}: {ms:.3} ms (mean of {})\n",
            out.dims(),
            self.repeat
        ));
        Ok(report)
    }
}

fn pixels<B: Backend>(size: usize, device: &B::Device) -> Tensor<B, 4> {
    Tensor::random([1, 3, size, size], Distribution::Normal(0.0, 1.0), device)
}
