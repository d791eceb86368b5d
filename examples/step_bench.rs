//! One LLaVA LoRA training step at scale on any backend: forward + backward + AdamW (adapters and
//! projector) + the balanced-EMA update, with random weights built from a config (LLaVA-1.5-7B by
//! default). Prints step time, tokens/s, achieved TFLOP/s and peak host memory.
//!
//! `cargo run --release --features cuda --example step_bench -- --device cuda --batch 1 --text 512`
//! `cargo run --release --example step_bench -- --config assets/demo/config.json --lora-r 8`
//! `--labels N` supervises only the last N text tokens (default: all of them);
//! `--checkpointing balanced` recomputes memory-bound activations in the backward pass;
//! `--precision bf16|f16` stores the frozen base in half precision (CUDA; f16 also WGPU);
//! `MATMUL_NUM_THREADS=N` sets the CPU backend's threads.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use lcia::continual::memory::{ActivationPlan, MemoryPlan, peak_resident_bytes};
use lcia::experiments::step_bench::{StepShape, time_lora_step_in};
use lcia::model::HfConfig;
use lcia::model::Precision;
use lcia::model::llama::LLAMA_LORA_TARGETS;
use lcia_backends::BackendTask;

struct StepBench {
    device: String,
    checkpointing: lcia_backends::Checkpointing,
    threads: usize,
    config: PathBuf,
    batch: usize,
    text: usize,
    labels: Option<usize>,
    steps: usize,
    lora_r: usize,
    precision: Precision,
    /// Peak resident bytes of the process before the model was built.
    start_rss: Option<u64>,
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    let at = args.iter().position(|a| a == name);
    at.and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

impl BackendTask for StepBench {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        let config = HfConfig::from_file(&self.config)?.into_llava(&self.config)?;
        let shape = StepShape {
            batch: self.batch,
            text: self.text,
            supervised: self.labels,
            steps: self.steps,
            rank: self.lora_r,
        };
        let (t, _) = time_lora_step_in::<AB>(&config, &shape, self.precision, &device)?;
        let params = config.num_params() as f64;
        // no stored parameter sets in one step: weights, gradients, AdamW, EMA, previous gradient
        let plan = MemoryPlan::new(
            &config,
            self.lora_r,
            &LLAMA_LORA_TARGETS,
            self.precision.bytes(),
            0,
        );
        let supervised = self.labels.unwrap_or(self.text);
        let activations = ActivationPlan::new(
            &config,
            self.lora_r,
            &LLAMA_LORA_TARGETS,
            self.batch,
            self.text,
            supervised,
            4,
        );
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let measured = peak_resident_bytes();
        let rss = measured.map_or(f64::NAN, gib);
        let predicted = plan.total() + activations.peak() + self.start_rss.unwrap_or(0);
        let prediction = format!(
            "memory plan: weights and training state {:.2} GiB + kept activations {:.2} GiB + \
             loss rows {:.2} GiB + process before the model {:.2} GiB = predicted peak {:.2} GiB; \
             measured {rss:.2} GiB (prediction {:+.1} %{})\n",
            gib(plan.total()),
            gib(activations.kept()),
            gib(activations.loss_rows()),
            gib(self.start_rss.unwrap_or(0)),
            gib(predicted),
            100.0 * (gib(predicted) / rss - 1.0),
            match self.checkpointing {
                lcia_backends::Checkpointing::Off => "",
                _ => "; the plan does not model checkpointing",
            },
        );
        Ok(format!(
            "{} on {} ({} CPU matmul threads, checkpointing {}): {:.1} M params ({} frozen base), LoRA r {} ({:.1} M) + projector ({:.1} M) trainable, \
             batch {} × {} tokens\n\
             | step ms | forward ms | backward ms | AdamW ms | DEMA ms | DEMA % | tokens/s | TFLOP/s (6·N·tokens) | peak host RSS GiB |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
             | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {:.2} | {rss:.2} |\n{prediction}",
            self.config.display(),
            self.device,
            self.threads,
            self.checkpointing,
            params / 1e6,
            self.precision,
            self.lora_r,
            plan.lora_params as f64 / 1e6,
            plan.projector_params as f64 / 1e6,
            self.batch,
            t.tokens / self.batch,
            t.step() * 1e3,
            t.phases.forward * 1e3,
            t.phases.backward * 1e3,
            t.phases.optimizer * 1e3,
            t.phases.dema * 1e3,
            100.0 * t.phases.dema / t.step(),
            t.tokens as f64 / t.step(),
            6.0 * params * t.tokens as f64 / t.step() / 1e12,
        ))
    }
}

fn main() -> anyhow::Result<()> {
    let start_rss = peak_resident_bytes();
    let threads = lcia_backends::set_cpu_threads(lcia_backends::cpu_threads());
    let args: Vec<String> = std::env::args().collect();
    let spec: lcia_backends::DeviceSpec = arg(&args, "--device", "ndarray").parse()?;
    let task = StepBench {
        device: spec.to_string(),
        checkpointing: arg(&args, "--checkpointing", "off")
            .parse()
            .map_err(anyhow::Error::msg)?,
        threads,
        config: arg(&args, "--config", "assets/configs/llava-1.5-7b/config.json").into(),
        batch: arg(&args, "--batch", "1").parse()?,
        text: arg(&args, "--text", "128").parse()?,
        labels: match arg(&args, "--labels", "all").as_str() {
            "all" => None,
            n => Some(n.parse()?),
        },
        steps: arg(&args, "--steps", "5").parse()?,
        lora_r: arg(&args, "--lora-r", "128").parse()?,
        precision: arg(&args, "--precision", "f32")
            .parse()
            .map_err(anyhow::Error::msg)?,
        start_rss,
    };
    let checkpointing = task.checkpointing;
    print!(
        "{}",
        lcia_backends::dispatch_with(&spec, checkpointing, task)??
    );
    Ok(())
}
