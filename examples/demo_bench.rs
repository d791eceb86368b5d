//! Speed and memory of the demo model on the CPU backend: LoRA training step (forward, backward,
//! AdamW for adapters and projector), the balanced-EMA update, and greedy generation with the KV
//! cache. Prints a table and writes `target/bench/lcia.json`; `bench/pytorch_reference.py`
//! measures the same things with transformers + PEFT for comparison.
//!
//! `cargo run --release --example demo_bench [-- STEPS BATCH RANK]` (RANK 0: projector only)

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use lcia::adapters::LoraConfig;
use lcia::continual::grads::split_off;
use lcia::continual::{BalancedEma, DemaConfig, StepGradients};
use lcia::model::llama::LLAMA_LORA_TARGETS;
use lcia::model::{GenerationConfig, HfConfig, Llava, Trainable};

type AB = lcia_backends::CpuAutodiff;
type B = lcia_backends::CpuBackend;

/// Text tokens around the image in a demo prompt + answer.
const TEXT_TOKENS: usize = 42;
/// New tokens in the generation benchmark.
const NEW_TOKENS: usize = 32;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn batch_ids(
    batch: usize,
    image_tokens: usize,
    image_id: i64,
    device: &burn::backend::ndarray::NdArrayDevice,
) -> Tensor<AB, 2, Int> {
    let mut ids = Vec::with_capacity(batch * (image_tokens + TEXT_TOKENS));
    for b in 0..batch {
        ids.push(1);
        ids.extend(std::iter::repeat_n(image_id, image_tokens));
        ids.extend((0..TEXT_TOKENS as i64 - 1).map(|i| 3 + (i * 7 + b as i64) % 900));
    }
    Tensor::from_data(
        TensorData::new(ids, [batch, image_tokens + TEXT_TOKENS]),
        device,
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (steps, batch) = (
        args.first().copied().unwrap_or(20),
        args.get(1).copied().unwrap_or(8),
    );
    let rank = args.get(2).copied().unwrap_or(8);
    let device = Default::default();
    let HfConfig::Llava(config) = HfConfig::from_json(lcia::continual::demo::DEMO_CONFIG).unwrap()
    else {
        unreachable!("the demo config is a llava config")
    };
    <AB as Backend>::seed(&device, 1);
    let mut model = Llava::<AB>::new(&config, &device)
        .unwrap()
        .with_trainable(Trainable {
            vision: false,
            projector: true,
            language: false,
        });
    if rank > 0 {
        let lora = LoraConfig::new(rank, 2.0 * rank as f64).with_lora_dropout(0.0);
        model.language_model = model
            .language_model
            .attach_lora(&lora, &LLAMA_LORA_TARGETS)
            .unwrap();
    }
    let image_tokens = config.vision_config.num_patches();
    let len = image_tokens + TEXT_TOKENS;
    let ids = batch_ids(batch, image_tokens, config.image_token_index, &device);
    let size = config.vision_config.image_size;
    let pixels = Tensor::<AB, 4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let labels = ids.clone();
    let adamw = AdamWConfig::new().with_weight_decay(0.0);
    let (mut optim, mut optim_projector) =
        (adamw.init::<AB, Llava<AB>>(), adamw.init::<AB, Llava<AB>>());
    let mut ema = BalancedEma::<AB>::new(DemaConfig::new());
    let (mut step_s, mut dema_s) = (Vec::new(), Vec::new());
    let (mut forward_s, mut backward_s) = (Vec::new(), Vec::new());
    for i in 0..steps + 3 {
        let start = Instant::now();
        let (_, loss) = model
            .forward_loss(ids.clone(), Some(pixels.clone()), None, labels.clone())
            .unwrap();
        let _ = loss.clone().into_scalar();
        let forward = Instant::now();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward = Instant::now();
        let snapshot = StepGradients::from_params(&model, &grads);
        let projector = split_off::<AB, _>(&model.multi_modal_projector, &mut grads);
        model = optim.step(2e-4, model, grads);
        model = optim_projector.step(2e-5, model, projector);
        let _ = model
            .multi_modal_projector
            .linear_1
            .weight
            .val()
            .into_data();
        let stepped = Instant::now();
        ema.update(&model, &snapshot);
        if i >= 3 {
            step_s.push((stepped - start).as_secs_f64());
            forward_s.push((forward - start).as_secs_f64());
            backward_s.push((backward - forward).as_secs_f64());
            dema_s.push(stepped.elapsed().as_secs_f64());
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (step, dema) = (mean(&step_s), mean(&dema_s));
    let (forward, backward) = (mean(&forward_s), mean(&backward_s));

    let inference = model.valid();
    let prompt: Vec<i64> = batch_ids(1, image_tokens, config.image_token_index, &device)
        .into_data()
        .iter::<i64>()
        .collect();
    let one = Tensor::<B, 4>::random([1, 3, size, size], Distribution::Normal(0.0, 1.0), &device);
    let generation = GenerationConfig {
        max_new_tokens: NEW_TOKENS,
        eos_token_id: None,
        use_cache: true,
    };
    let prefill_cfg = GenerationConfig {
        max_new_tokens: 1,
        ..generation.clone()
    };
    let _ = inference.generate_batch(
        std::slice::from_ref(&prompt),
        Some(one.clone()),
        0,
        &generation,
    );
    let start = Instant::now();
    let _ = inference.generate_batch(
        std::slice::from_ref(&prompt),
        Some(one.clone()),
        0,
        &prefill_cfg,
    );
    let prefill = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let out = inference
        .generate_batch(&[prompt], Some(one), 0, &generation)
        .unwrap();
    let decode = (start.elapsed().as_secs_f64() - prefill).max(1e-9);
    let new = out[0].len().saturating_sub(1) as f64;

    let rows = [
        ("training step (fwd + bwd + AdamW), ms", step * 1e3),
        ("training tokens/s", (batch * len) as f64 / step),
        ("  of which forward (loss), ms", forward * 1e3),
        ("  of which backward, ms", backward * 1e3),
        (
            "  of which AdamW (2 optimizers), ms",
            (step - forward - backward) * 1e3,
        ),
        ("DEMA update, ms", dema * 1e3),
        ("DEMA update / training step, %", 100.0 * dema / step),
        ("generation prefill, ms", prefill * 1e3),
        ("generation decode tokens/s", new / decode),
        ("peak resident memory, MiB", peak_rss_mib()),
    ];
    println!(
        "lcia (Burn ndarray, f32) — demo LLaVA, batch {batch} × {len} tokens, LoRA r {rank} on 7 projections, {steps} steps"
    );
    for (name, value) in rows {
        println!("  {name:<42} {value:>10.2}");
    }
    let json: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    std::fs::create_dir_all("target/bench").unwrap();
    std::fs::write(
        "target/bench/lcia.json",
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    println!("written target/bench/lcia.json");
}
