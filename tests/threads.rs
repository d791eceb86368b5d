//! The CPU backend's threads do not change results: the same training steps of the demo model
//! (products, element-wise operations and copies large enough to be split) run in child
//! processes of this test binary with MATMUL_NUM_THREADS = 1, 2 and 4 (the threads are started
//! once per process) give bit-identical weights.

use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use lcia::experiments::demo::DEMO_CONFIG;
use lcia::experiments::step_bench::time_lora_step;
use lcia::model::HfConfig;

use crate::common::{AB, snapshot};

const CHILD: &str = "LCIA_THREADS_CHILD_OUT";
const NAME: &str = "threads::training_is_bit_identical_for_every_thread_count";

/// The child's work: two timed steps after two warm-ups, batch 4 × 106 tokens, LoRA r 8;
/// writes every weight's bits.
fn child(out: &Path) {
    let config = HfConfig::from_json(DEMO_CONFIG)
        .and_then(|c| c.into_llava(Path::new("assets/demo/config.json")))
        .unwrap();
    let device = Default::default();
    <AB as Backend>::seed(&device, 3);
    let (_, model) = time_lora_step::<AB>(&config, 4, 41, None, 2, 8, &device).unwrap();
    let text: String = snapshot(&model)
        .into_iter()
        .map(|(name, values)| {
            let bits: Vec<String> = values
                .iter()
                .map(|v| format!("{:x}", v.to_bits()))
                .collect();
            format!("{name} {}\n", bits.join(","))
        })
        .collect();
    std::fs::write(out, text).unwrap();
}

#[test]
fn training_is_bit_identical_for_every_thread_count() {
    if let Some(out) = std::env::var_os(CHILD) {
        return child(Path::new(&out));
    }
    let exe = std::env::current_exe().unwrap();
    let dir = crate::pipeline::temp_dir("threads");
    let mut runs = Vec::new();
    for threads in [1, 2, 4] {
        let out = dir.join(format!("{threads}.txt"));
        let status = Command::new(&exe)
            .args(["--exact", NAME, "--test-threads", "1", "--quiet"])
            .env(CHILD, &out)
            .env("MATMUL_NUM_THREADS", threads.to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "child with {threads} threads failed");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.lines().count() > 50,
            "{threads} threads: {} lines",
            text.lines().count()
        );
        runs.push((threads, text));
    }
    for (threads, text) in &runs[1..] {
        assert!(
            *text == runs[0].1,
            "{threads} threads changed the weights (against 1 thread)"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
