//! The continual pipeline end to end on the tiny LLaVA fixture: a 3-task run, its reports,
//! resume, and bad input.

use std::path::{Path, PathBuf};

use lcia::continual::config::RunConfig;
use lcia::continual::manifest::Manifest;
use lcia::continual::{RunOptions, run};

use crate::common::{AB, fixture};

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lcia-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const COLOURS: [(&str, [u8; 3]); 4] = [
    ("red", [220, 30, 30]),
    ("green", [30, 200, 40]),
    ("blue", [30, 40, 220]),
    ("white", [250, 250, 250]),
];

/// A synthetic task: name, instruction, answer for colour k.
pub type TaskData<'a> = (&'a str, &'a str, fn(usize) -> String);

/// Tiny CoIN-format data: `tasks` = (name, instruction, answer of colour k), 8 training and
/// 4 test records each, images of one flat colour.
pub fn make_data(dir: &Path, tasks: &[TaskData]) {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    for (k, (name, rgb)) in COLOURS.iter().enumerate() {
        let img = image::RgbImage::from_pixel(40, 32, image::Rgb(*rgb));
        img.save(images.join(format!("{k}-{name}.png"))).unwrap();
    }
    for (task, instruction, answer) in tasks {
        let folder = dir.join(task);
        std::fs::create_dir_all(&folder).unwrap();
        let train: Vec<_> = (0..8)
            .map(|i| {
                let k = i % COLOURS.len();
                serde_json::json!({
                    "id": format!("{task}-{i}"),
                    "image": format!("{k}-{}.png", COLOURS[k].0),
                    "conversations": [
                        {"from": "human", "value": format!("<image>\nWhat is shown?\n{instruction}")},
                        {"from": "gpt", "value": answer(k)}
                    ]
                })
            })
            .collect();
        let test: Vec<_> = (0..4)
            .map(|k| {
                serde_json::json!({
                    "question_id": format!("{task}-t{k}"),
                    "image": format!("{k}-{}.png", COLOURS[k].0),
                    "text": format!("What is shown?\n{instruction}"),
                    "answer": answer(k)
                })
            })
            .collect();
        std::fs::write(
            folder.join("train.json"),
            serde_json::to_string(&train).unwrap(),
        )
        .unwrap();
        std::fs::write(
            folder.join("test.json"),
            serde_json::to_string(&test).unwrap(),
        )
        .unwrap();
    }
}

fn colour(k: usize) -> String {
    COLOURS[k].0.to_string()
}
fn yes_no(k: usize) -> String {
    if k.is_multiple_of(2) { "yes" } else { "no" }.to_string()
}
fn letter(k: usize) -> String {
    ["A", "B", "C", "D"][k].to_string()
}

/// Three tasks: the first two share an instruction (retrain, EMA on), the third expands.
pub fn three_tasks(dir: &Path) -> PathBuf {
    make_data(
        dir,
        &[
            (
                "colour",
                "Answer the question using a single word or phrase.",
                colour,
            ),
            (
                "bright",
                "Answer the question using a single word or phrase.",
                yes_no,
            ),
            ("option", "Pick the option letter.", letter),
        ],
    );
    let config = format!(
        r#"
[model]
dir = "{model}"
tokenizer = "{tokenizer}"

[lora]
r = 4
alpha = 8.0
dropout = 0.0
seed = 7

[train]
epochs = 12
batch_size = 4
lr_lora = 0.01
lr_projector = 0.001
max_len = 128
progress = false

[method]
ema = "official"

[eval]
batch_size = 3
max_new_tokens = 3

[data]
root = "."
image_root = "images"

[[tasks]]
name = "colour"
scorer = "exact"

[[tasks]]
name = "bright"
scorer = "exact"

[[tasks]]
name = "option"
scorer = "exact"
"#,
        model = fixture("tiny-hf/hub-layout/llava").display(),
        tokenizer = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("assets/tiny-tokenizer/tokenizer.json")
            .display(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Runs a config file into `out` on ndarray.
pub fn run_config(
    path: &Path,
    out: &Path,
    options: &RunOptions,
) -> lcia::Result<lcia::continual::RunOutcome> {
    let config = RunConfig::from_file(path)?;
    run::<AB>(path, &config, out, options, &Default::default())
}

#[test]
fn three_task_run_writes_reports_and_resume_reproduces_it() {
    let dir = temp_dir("pipeline-run");
    let config = three_tasks(&dir);
    let full = run_config(&config, &dir.join("full"), &RunOptions::default()).unwrap();
    assert_eq!(full.matrix.rows.len(), 3);
    let groups: Vec<usize> = full
        .manifest
        .finished
        .iter()
        .map(|r| r.decision.group())
        .collect();
    assert_eq!(
        groups,
        [0, 0, 1],
        "the shared instruction retrains, the new one expands"
    );
    let ema: Vec<bool> = full.manifest.finished.iter().map(|r| r.ema).collect();
    assert_eq!(
        ema,
        [false, true, false],
        "official: EMA only on retrained groups"
    );
    for file in [
        "manifest.json",
        "matrix.csv",
        "metrics.json",
        "report.md",
        "plots/accuracy_matrix.png",
        "plots/loss.png",
        "plots/alpha.png",
        "checkpoints/03-option/adapter_model.safetensors",
        "tasks/02-bright/alpha_trace.csv",
        "tasks/03-option/predictions/colour.jsonl",
        "tasks/03-option/routing/option.jsonl",
        "tasks/03-option/steps.csv",
    ] {
        assert!(dir.join("full").join(file).is_file(), "{file} missing");
    }

    let part = dir.join("part");
    let first = run_config(
        &config,
        &part,
        &RunOptions {
            resume: false,
            stop_after: Some(1),
        },
    )
    .unwrap();
    assert_eq!(first.matrix.rows.len(), 1);
    let again = run_config(&config, &part, &RunOptions::default()).unwrap_err();
    assert!(again.to_string().contains("--resume"), "{again}");
    let resumed = run_config(
        &config,
        &part,
        &RunOptions {
            resume: true,
            stop_after: None,
        },
    )
    .unwrap();
    assert_eq!(
        resumed.matrix, full.matrix,
        "resume must reproduce the uninterrupted matrix exactly"
    );
    for ckpt in ["checkpoints/02-bright", "checkpoints/03-option"] {
        for file in ["adapter_model.safetensors", "adapter_config.json"] {
            let a = std::fs::read(dir.join("full").join(ckpt).join(file)).unwrap();
            let b = std::fs::read(part.join(ckpt).join(file)).unwrap();
            assert!(a == b, "{ckpt}/{file} differs after resume");
        }
    }
    let manifest = Manifest::read(&part).unwrap();
    assert_eq!(manifest.finished[1].parent, "checkpoints/01-colour");
    if std::env::var_os("LCIA_KEEP_TEST_OUTPUT").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn shipped_run_configs_parse_and_resolve() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/runs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = RunConfig::from_file(&path).unwrap();
            let tasks = config.resolve_tasks(&path).unwrap();
            assert_eq!(tasks.len(), 8, "{}", path.display());
            assert_eq!(tasks[0].spec.name, "ScienceQA");
            assert!(
                tasks[0]
                    .train_file
                    .ends_with("Instructions/ScienceQA/train.json")
            );
            assert_eq!(tasks[1].spec.max_new_tokens, 128);
            seen += 1;
        }
    }
    assert!(seen >= 1);
}

#[test]
fn methods_compared_in_parallel_match_one_at_a_time() {
    use lcia::experiments::compare::compare_methods;
    use lcia::experiments::demo::data::SyntheticBenchmark;
    use lcia::experiments::methods::parse_methods;
    let dir = temp_dir("compare");
    let path = three_tasks(&dir);
    let mut config = RunConfig::from_file(&path).unwrap();
    config.train.epochs = 2;
    let bench = SyntheticBenchmark {
        root: dir.clone(),
        image_root: dir.join("images"),
        captions: dir.join("unused.json"),
        tasks: ["colour", "bright", "option"]
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    dir.join(t).join("train.json"),
                    dir.join(t).join("test.json"),
                )
            })
            .collect(),
    };
    let methods = parse_methods("zero-shot,lora,lcia,multitask").unwrap();
    let device = Default::default();
    let two =
        compare_methods::<AB>(&dir.join("two"), &config, &methods, &bench, 2, &device).unwrap();
    let one =
        compare_methods::<AB>(&dir.join("one"), &config, &methods, &bench, 1, &device).unwrap();
    let names: Vec<&str> = two.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        names,
        [
            "Zero-shot",
            "LoRA (sequential)",
            "LCIA (DEMA + grouping)",
            "Multitask (upper bound)"
        ]
    );
    for (a, b) in two.iter().zip(&one) {
        assert_eq!(a.metrics, b.metrics, "{}", a.method);
        assert_eq!(a.final_accuracy, b.final_accuracy, "{}", a.method);
    }
    assert_eq!(two[0].metrics.forgetting, 0.0);
    assert_eq!(two[0].final_accuracy.len(), 3);
    for file in ["comparison.md", "comparison.json", "comparison.png"] {
        assert!(dir.join("two").join(file).is_file(), "{file}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
