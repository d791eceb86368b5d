//! Property tests of the parsers a user feeds files to: a run config, CoIN/LLaVA records,
//! safetensors files, GGUF files and `adapter_config.json` return a value or an error on any
//! input, never a panic. Inputs are arbitrary text and valid files with bytes overwritten,
//! inserted or cut off; each property runs a bounded number of cases (deterministic seed).

use std::path::{Path, PathBuf};

use lcia::adapters::NamedTensors;
use lcia::adapters::io::{ADAPTER_CONFIG, read_peft_config};
use lcia::continual::config::RunConfig;
use lcia::continual::validate::validate;
use lcia::data::{load_test_records, load_train_records};
use lcia::model::gguf::GgufFile;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::gguf::gguf_bytes;
use crate::pipeline::temp_dir;

/// Cases per property (CI runs them all on every commit).
const CASES: u32 = 96;

/// A change to a valid file: bytes overwritten at positions, bytes inserted, a cut.
#[derive(Debug, Clone)]
struct Damage {
    overwrite: Vec<(usize, u8)>,
    insert: Vec<(usize, u8)>,
    keep: Option<usize>,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        proptest::collection::vec(any::<(usize, u8)>(), 0..6),
        proptest::collection::vec(any::<(usize, u8)>(), 0..3),
        proptest::option::of(any::<usize>()),
    )
        .prop_map(|(overwrite, insert, keep)| Damage {
            overwrite,
            insert,
            keep,
        })
}

fn apply(seed: &[u8], damage: &Damage) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    if bytes.is_empty() {
        return bytes;
    }
    for &(at, value) in &damage.overwrite {
        let at = at % bytes.len();
        bytes[at] = value;
    }
    for &(at, value) in &damage.insert {
        let at = at % (bytes.len() + 1);
        bytes.insert(at, value);
    }
    if let Some(keep) = damage.keep {
        bytes.truncate(keep % (bytes.len() + 1));
    }
    bytes
}

/// Runs `check` on `CASES` damaged copies of `seed` (a fixed seed, so CI sees the same cases).
fn on_damaged(seed: &[u8], check: impl Fn(Vec<u8>)) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner
        .run(&damage(), |d| {
            check(apply(seed, &d));
            Ok(())
        })
        .unwrap();
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const RUN_TOML: &str = r#"
[model]
dir = "m"
[lora]
r = 8
alpha = 16.0
[train]
epochs = 2
batch_size = 4
lr_lora = 2e-4
[method]
ema = "official"
tau = 0.9
[eval]
batch_size = 3
[[tasks]]
name = "GQA"
scorer = "gqa"
"#;

#[test]
fn run_configs_never_panic() {
    let path = Path::new("run.toml");
    on_damaged(RUN_TOML.as_bytes(), |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(config) = toml::from_str::<RunConfig>(&text) {
            let _ = validate(&config, path);
            let _ = config.resolve_tasks(path);
        }
    });
}

#[test]
fn records_never_panic() {
    let dir = temp_dir("prop-records");
    let train = serde_json::json!([{
        "id": "1", "image": "a.png",
        "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "red"}]
    }]);
    let test = serde_json::json!([{"question_id": "q", "image": "a.png", "text": "What?", "answer": "red"}]);
    on_damaged(train.to_string().as_bytes(), |bytes| {
        let file = write(&dir, "train.json", &bytes);
        let _ = load_train_records(&file, Some(&dir), false);
        let _ = load_train_records(&file, None, true);
    });
    on_damaged(test.to_string().as_bytes(), |bytes| {
        let file = write(&dir, "test.json", &bytes);
        if let Ok(records) = load_test_records(&file) {
            for record in &records {
                let _ = lcia::eval::score_instance(
                    lcia::eval::ScorerKind::GQA,
                    lcia::eval::ScorerMode::Official,
                    "red",
                    record,
                );
            }
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn safetensors_files_never_panic() {
    let dir = temp_dir("prop-safetensors");
    let mut named = NamedTensors::default();
    named
        .tensors
        .insert("a.weight".into(), (vec![2, 3], vec![1.0; 6]));
    named.tensors.insert("b".into(), (vec![4], vec![-2.0; 4]));
    let file = dir.join("seed.safetensors");
    named.write(&file).unwrap();
    let seed = std::fs::read(&file).unwrap();
    on_damaged(&seed, |bytes| {
        let file = write(&dir, "x.safetensors", &bytes);
        if let Ok(read) = NamedTensors::read(&file) {
            let _ = read.first_non_finite();
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gguf_files_never_panic() {
    let string = |s: &str| [(s.len() as u64).to_le_bytes().to_vec(), s.into()].concat();
    let kv = vec![
        ("general.architecture", 8, string("llama")),
        ("llama.block_count", 4, 2u32.to_le_bytes().to_vec()),
    ];
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let seed = gguf_bytes(&kv, &[("norm", &[3u64, 2][..], 0, f32s)]);
    on_damaged(&seed, |bytes| {
        if let Ok(file) = GgufFile::parse(Path::new("x.gguf"), bytes) {
            let _ = file.get_str("general.architecture");
            let _ = file.dequantized("norm");
        }
    });
}

#[test]
fn adapter_configs_never_panic() {
    let dir = temp_dir("prop-peft");
    let seed = serde_json::json!({
        "peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "v_proj"], "bias": "none", "task_type": "CAUSAL_LM"
    });
    on_damaged(seed.to_string().as_bytes(), |bytes| {
        write(&dir, ADAPTER_CONFIG, &bytes);
        if let Ok(config) = read_peft_config(&dir) {
            let _ = config.lora_config();
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
