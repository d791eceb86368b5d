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

/// Three tasks on the tiny LLaVA fixture: the first two share an instruction (retrain, EMA
/// on), the third expands.
pub fn three_tasks(dir: &Path) -> PathBuf {
    crate::tiny_tasks::three_tasks(
        dir,
        &fixture("tiny-hf/hub-layout/llava"),
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/tiny-tokenizer/tokenizer.json"),
    )
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
