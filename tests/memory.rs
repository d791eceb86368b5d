//! The memory plan: activations kept by one training step, counted by hand.

use lcia::continual::memory::{ActivationPlan, step_table};
use lcia::model::HfConfig;
use lcia::model::llama::LLAMA_LORA_TARGETS;

fn config(name: &str) -> lcia::model::LlavaConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/configs")
        .join(name)
        .join("config.json");
    HfConfig::from_file(&path)
        .unwrap()
        .into_llava(&path)
        .unwrap()
}

#[test]
fn activation_plan_counts_what_each_layer_keeps() {
    // bench-68m: d 512, 8 heads × 64, MLP 1376, 8 layers, vision width 384, 16 × 16 patches
    let plan = ActivationPlan::new(&config("bench-68m"), 8, &LLAMA_LORA_TARGETS, 1, 64, 64, 4);
    assert_eq!(plan.sequence, 1 + 256 + 64);
    // 4·512 + 7·8 + 4·512 + 3·8·321 + 5·1376
    assert_eq!(plan.per_layer_token, 2048 + 56 + 2048 + 7704 + 6880);
    // 321 tokens × (8 layers × 18 736 + final norm 512) + 256 image tokens × (384 + 1024)
    assert_eq!(plan.kept(), 4 * (321 * (8 * 18_736 + 512) + 256 * 1408));
    // four f32 rows of 32 000 per supervised token
    assert_eq!(plan.loss_rows(), 4 * 64 * 32_000 * 4);
    // only the adapted projections keep a rank-r row; batch and supervision scale
    let q_only = ActivationPlan::new(&config("bench-68m"), 8, &["q_proj"], 2, 64, 16, 2);
    assert_eq!(q_only.per_layer_token, 18_736 - 6 * 8);
    assert_eq!(
        q_only.kept(),
        2 * 2 * (321 * (8 * 18_688 + 512) + 256 * 1408)
    );
    assert_eq!(q_only.loss_rows(), 4 * 2 * 16 * 32_000 * 4);
}

#[test]
fn step_table_picks_the_smallest_gpu_that_holds_the_step() {
    let config = config("llava-1.5-7b");
    // 1 × 1024: f32 base 39.01 + 46.31 + 0.49 GiB (92 GB) fits none; bf16 base with f32
    // activations 25.85 + 46.31 + 0.49 GiB = 72.65 GiB (78.0 GB + 1.07 GB reserve) fits 80 GB
    let table = step_table(&config, 128, 4, 1, 1024);
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].starts_with("| f32 | 39.01 | 46.31 | 0.49 | 85.81 | none of"),
        "{table}"
    );
    assert!(
        rows[1].starts_with("| bf16 / f16 | 25.85 | 46.31 | 0.49 | 72.65 | 80 GB"),
        "{table}"
    );
    // 1 × 256: bf16 25.85 + 16.78 + 0.12 GiB = 42.76 GiB (45.9 GB + 1.07 GB reserve) fits
    // 48 GB; f32 39.01 + 16.78 + 0.12 GiB = 55.91 GiB (60.0 GB) fits 80 GB
    let table = step_table(&config, 128, 4, 1, 256);
    assert!(table.contains("| 55.91 | 80 GB |"), "{table}");
    assert!(table.contains("| 42.76 | 48 GB |"), "{table}");
}
