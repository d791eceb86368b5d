//! One LLaVA training step at scale on any backend: forward + backward + AdamW (adapters and
//! projector) + the balanced-EMA update, with random weights built from a config (LLaVA-1.5-7B by
//! default). Prints step time, tokens/s, achieved TFLOP/s and peak host memory.
//!
//! `cargo run --release --features cuda --example step_bench -- --device cuda --batch 1 --text 512`
//! `cargo run --release --example step_bench -- --config assets/demo/config.json --lora-r 8`

use std::path::PathBuf;
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use lcia::adapters::LoraConfig;
use lcia::continual::{BalancedEma, DemaConfig};
use lcia::model::llama::LLAMA_LORA_TARGETS;
use lcia::model::{HfConfig, Llava, Trainable};
use lcia_backends::BackendTask;

struct StepBench {
    device: String,
    config: PathBuf,
    batch: usize,
    text: usize,
    steps: usize,
    lora_r: usize,
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn peak_rss_gib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / (1024.0 * 1024.0))
}

impl BackendTask for StepBench {
    type Output = String;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> String {
        let HfConfig::Llava(config) = HfConfig::from_file(&self.config).expect("config.json")
        else {
            panic!("{} is not a llava config", self.config.display())
        };
        let start = Instant::now();
        let mut model = Llava::<AB>::new(&config, &device)
            .unwrap()
            .with_trainable(Trainable {
                vision: false,
                projector: true,
                language: false,
            });
        let lora = LoraConfig::new(self.lora_r, 2.0 * self.lora_r as f64).with_lora_dropout(0.0);
        model.language_model = model
            .language_model
            .attach_lora(&lora, &LLAMA_LORA_TARGETS)
            .unwrap();
        let _ = AB::sync(&device);
        let built = start.elapsed().as_secs_f64();
        let image_tokens = config.vision_config.num_patches();
        let len = 1 + image_tokens + self.text;
        // text ids stay below the image token so none is taken for an image position
        let text_vocab = (config.text_config.vocab_size as i64).min(config.image_token_index) - 3;
        let mut ids = Vec::with_capacity(self.batch * len);
        for b in 0..self.batch {
            ids.push(1);
            ids.extend(std::iter::repeat_n(config.image_token_index, image_tokens));
            ids.extend((0..self.text as i64).map(|i| 3 + (i * 31 + b as i64) % text_vocab));
        }
        let ids = Tensor::<AB, 2, Int>::from_data(TensorData::new(ids, [self.batch, len]), &device);
        let size = config.vision_config.image_size;
        let pixels = Tensor::<AB, 4>::random(
            [self.batch, 3, size, size],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let mut optim = AdamWConfig::new()
            .with_weight_decay(0.0)
            .init::<AB, Llava<AB>>();
        let mut ema = BalancedEma::<AB>::new(DemaConfig::new());
        let (mut step_s, mut dema_s) = (Vec::new(), Vec::new());
        for i in 0..self.steps + 2 {
            let t0 = Instant::now();
            let (_, loss) = model
                .forward_loss(ids.clone(), Some(pixels.clone()), None, ids.clone())
                .unwrap();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let snapshot = lcia::continual::StepGradients::from_params(&model, &grads);
            model = burn::optim::Optimizer::step(&mut optim, 2e-4, model, grads);
            let _ = AB::sync(&device);
            let t1 = Instant::now();
            ema.update(&model, &snapshot);
            let _ = AB::sync(&device);
            if i >= 2 {
                step_s.push((t1 - t0).as_secs_f64());
                dema_s.push(t1.elapsed().as_secs_f64());
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (step, dema) = (mean(&step_s), mean(&dema_s));
        let params = config.num_params() as f64;
        let tokens = (self.batch * len) as f64;
        let plan = lcia::continual::memory::MemoryPlan::new(
            &config,
            self.lora_r,
            &LLAMA_LORA_TARGETS,
            4,
            1,
        );
        format!(
            "{} on {}: {:.1} M params (f32), LoRA r {} ({:.1} M) + projector ({:.1} M) trainable, batch {} × {len} tokens ({image_tokens} image), built in {built:.1} s\n\
             | step (fwd+bwd+AdamW) ms | DEMA ms | DEMA % | tokens/s | TFLOP/s (6·N·tokens) | peak host RSS GiB |\n|---:|---:|---:|---:|---:|---:|\n\
             | {:.1} | {:.1} | {:.2} | {:.0} | {:.2} | {:.2} |\n",
            self.config.display(),
            self.device,
            params / 1e6,
            self.lora_r,
            plan.lora_params as f64 / 1e6,
            plan.projector_params as f64 / 1e6,
            self.batch,
            step * 1e3,
            dema * 1e3,
            100.0 * dema / step,
            tokens / step,
            6.0 * params * tokens / step / 1e12,
            peak_rss_gib(),
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let spec: lcia_backends::DeviceSpec =
        arg(&args, "--device", "ndarray").parse().expect("--device");
    let task = StepBench {
        device: spec.to_string(),
        config: arg(&args, "--config", "assets/configs/llava-1.5-7b/config.json").into(),
        batch: arg(&args, "--batch", "1").parse().expect("--batch"),
        text: arg(&args, "--text", "128").parse().expect("--text"),
        steps: arg(&args, "--steps", "5").parse().expect("--steps"),
        lora_r: arg(&args, "--lora-r", "128").parse().expect("--lora-r"),
    };
    match lcia_backends::dispatch(&spec, task) {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
