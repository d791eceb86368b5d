//! Speed and memory of the demo model on the CPU backend: LoRA training step (forward, backward,
//! AdamW for adapters and projector), the balanced-EMA update, and greedy generation with the KV
//! cache. Prints a table and writes `target/bench/lcia.json`; `bench/pytorch_reference.py`
//! measures the same things with transformers + PEFT for comparison.
//!
//! `cargo run --release --example demo_bench [-- STEPS BATCH RANK]` (RANK 0: projector only);
//! `MATMUL_NUM_THREADS=N` sets the CPU backend's threads (default: every CPU, at most 4).

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::Distribution;
use lcia::continual::memory::peak_resident_bytes;
use lcia::experiments::demo::DEMO_CONFIG;
use lcia::experiments::step_bench::{bench_ids, time_lora_step};
use lcia::model::{GenerationConfig, HfConfig};

type AB = lcia_backends::CpuAutodiff;
type B = lcia_backends::CpuBackend;

/// Text tokens around the image in a demo prompt + answer.
const TEXT_TOKENS: usize = 41;
/// New tokens in the generation benchmark.
const NEW_TOKENS: usize = 32;

fn main() {
    let threads = lcia_backends::set_cpu_threads(lcia_backends::cpu_threads());
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (steps, batch, rank) = (arg(0, 20), arg(1, 8), arg(2, 8));
    let device = Default::default();
    let config = HfConfig::from_json(DEMO_CONFIG)
        .and_then(|c| c.into_llava(Path::new("assets/demo/config.json")))
        .expect("the demo config is a llava config");
    <AB as Backend>::seed(&device, 1);
    let (t, model) =
        time_lora_step::<AB>(&config, batch, TEXT_TOKENS, None, steps, rank, &device).unwrap();

    let inference = model.valid();
    let prompt = bench_ids(&config, 0, TEXT_TOKENS);
    let size = config.vision_config.image_size;
    let one = Tensor::<B, 4>::random([1, 3, size, size], Distribution::Normal(0.0, 1.0), &device);
    let full = GenerationConfig {
        max_new_tokens: NEW_TOKENS,
        eos_token_id: None,
        use_cache: true,
    };
    let first = GenerationConfig {
        max_new_tokens: 1,
        ..full.clone()
    };
    let generate = |config: &GenerationConfig| {
        let start = Instant::now();
        let prompts = std::slice::from_ref(&prompt);
        let out = inference.generate_batch(prompts, Some(one.clone()), 0, config);
        (start.elapsed().as_secs_f64(), out.unwrap()[0].len())
    };
    generate(&full);
    let (prefill, _) = generate(&first);
    let (total, new) = generate(&full);
    let decode = (total - prefill).max(1e-9);

    let rows = [
        ("matmul threads", threads as f64),
        ("training step (fwd + bwd + AdamW), ms", t.step() * 1e3),
        ("training tokens/s", t.tokens as f64 / t.step()),
        ("  of which forward (loss), ms", t.phases.forward * 1e3),
        ("  of which backward, ms", t.phases.backward * 1e3),
        (
            "  of which AdamW (2 optimizers), ms",
            t.phases.optimizer * 1e3,
        ),
        ("DEMA update, ms", t.phases.dema * 1e3),
        (
            "DEMA update / training step, %",
            100.0 * t.phases.dema / t.step(),
        ),
        ("generation prefill, ms", prefill * 1e3),
        ("generation decode tokens/s", (new - 1) as f64 / decode),
        (
            "peak resident memory, MiB",
            peak_resident_bytes().map_or(f64::NAN, |b| b as f64 / (1u64 << 20) as f64),
        ),
    ];
    let len = t.tokens / batch;
    println!(
        "lcia (Burn ndarray, f32, {threads} matmul threads) — demo LLaVA, batch {batch} × {len} tokens, LoRA r {rank} on 7 projections, {steps} steps"
    );
    for (name, value) in rows {
        println!("  {name:<42} {value:>10.2}");
    }
    let json: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    std::fs::create_dir_all("target/bench").unwrap();
    let text = serde_json::to_string_pretty(&json).unwrap();
    std::fs::write("target/bench/lcia.json", text).unwrap();
    println!("written target/bench/lcia.json");
}
