//! The run options a faithful CoIN run and the DEMA study need: groups forced per task,
//! per-task training settings, a frozen projector, the bf16 EMA and its regime record, and the
//! EMA reading the unclipped gradient.

use lcia::continual::manifest::Manifest;
use lcia::continual::{RunDir, RunOptions};
use lcia::routing::Decision;

use crate::pipeline::run_config;
use crate::run_guards::setup;

const ALL: RunOptions = RunOptions {
    resume: false,
    stop_after: None,
};

#[test]
fn forced_groups_per_task_training_and_a_frozen_projector_are_honoured() {
    let (dir, config) = setup(
        "run-options",
        &[
            ("tokenizer = ", "freeze_projector = true\ntokenizer = "),
            (
                "ema = \"official\"",
                "ema = \"official\"\nema_dtype = \"bf16\"",
            ),
            (
                "name = \"colour\"\nscorer = \"exact\"",
                "name = \"colour\"\nscorer = \"exact\"\ngroup = \"a\"",
            ),
            (
                "name = \"bright\"\nscorer = \"exact\"",
                "name = \"bright\"\nscorer = \"exact\"\ngroup = \"b\"\n[tasks.training]\nbatch_size = 2",
            ),
            (
                "name = \"option\"\nscorer = \"exact\"",
                "name = \"option\"\nscorer = \"exact\"\ngroup = \"a\"\n[tasks.training]\nmax_steps = 1",
            ),
        ],
    );
    let out = dir.join("run");
    run_config(&config, &out, &ALL).unwrap();
    let manifest = Manifest::read(&out).unwrap();
    let groups: Vec<(bool, usize)> = manifest
        .finished
        .iter()
        .map(|r| {
            (
                matches!(r.decision, Decision::Retrain { .. }),
                r.decision.group(),
            )
        })
        .collect();
    // bright shares colour's instruction (the codebook would retrain group 0) but is forced
    // into its own group; option's instruction differs but it is forced back into group 0.
    assert_eq!(groups, vec![(false, 0), (false, 1), (true, 0)]);
    // 8 samples: batch 4 → 2 steps, batch 2 → 4 steps, max_steps 1 → 1 step.
    let steps: Vec<usize> = manifest.finished.iter().map(|r| r.steps).collect();
    assert_eq!(steps, vec![2, 4, 1]);
    // The EMA ran (bf16) on the retrained task only, and its regime is recorded.
    let emas: Vec<bool> = manifest.finished.iter().map(|r| r.ema).collect();
    assert_eq!(emas, vec![false, false, true]);
    let regime = manifest.finished[2]
        .regime
        .expect("the EMA task records its regime");
    assert!(
        regime.tensor_steps > 0 && regime.fallback_share == 1.0,
        "{regime:?}"
    );
    assert!(manifest.finished[0].regime.is_none());
    // The projector never moved.
    let run = RunDir::new(&out);
    let projector = |dir: std::path::PathBuf| {
        let file = dir.join("adapter_model.safetensors");
        let mut named = lcia::adapters::NamedTensors::read(&file).unwrap();
        named
            .tensors
            .retain(|k, _| k.contains("multi_modal_projector"));
        assert_eq!(named.tensors.len(), 4, "{}", file.display());
        named
    };
    let initial = projector(run.initial());
    for r in &manifest.finished {
        assert_eq!(projector(run.resolve(&r.checkpoint)), initial, "{}", r.task);
    }
    let report = std::fs::read_to_string(run.report()).unwrap();
    assert!(report.contains("## Balanced-EMA regime"), "{report}");
}

#[test]
fn task_options_are_checked_and_unknown_ones_refused() {
    let (_, config) = setup(
        "run-options-bad",
        &[
            ("[method]", "[method]\ngrouping = false"),
            (
                "name = \"colour\"\nscorer = \"exact\"",
                "name = \"colour\"\nscorer = \"exact\"\ngroup = \"a\"\n[tasks.training]\nbatch_size = 0\nlr_lora = -1.0",
            ),
        ],
    );
    let err = lcia::continual::config::RunConfig::from_file(&config)
        .unwrap_err()
        .to_string();
    for needle in [
        "tasks[0].training.batch_size = 0",
        "tasks[0].training.lr_lora = -1",
        "tasks[0].group = a: must be unset when method.grouping = false",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let (_, config) = setup(
        "run-options-unknown",
        &[(
            "name = \"colour\"\nscorer = \"exact\"",
            "name = \"colour\"\nscorer = \"exact\"\n[tasks.training]\nbatch = 2",
        )],
    );
    let err = lcia::continual::config::RunConfig::from_file(&config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `batch`"), "{err}");
}

/// The gradient L1 sum `b` the EMA read at step 2 of the first task, from the α trace.
fn grad_sum_at_step_two(name: &str, clip: &str) -> f64 {
    let (_, config) = setup(
        name,
        &[
            (
                "ema = \"official\"",
                "ema = \"official\"\nema_when = \"always\"",
            ),
            ("progress = false", &format!("progress = false\n{clip}")),
        ],
    );
    let out = config.parent().unwrap().join("run");
    let options = RunOptions {
        resume: false,
        stop_after: Some(1),
    };
    run_config(&config, &out, &options).unwrap();
    let trace = std::fs::read_to_string(RunDir::new(&out).alpha_trace(0, "colour")).unwrap();
    let header: Vec<&str> = trace.lines().next().unwrap().split(',').collect();
    let b = header.iter().position(|h| *h == "b").unwrap();
    trace
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|cells| cells[0] == "2" && !cells[b].is_empty())
        .map(|cells| cells[b].parse::<f64>().unwrap())
        .sum()
}

#[test]
fn the_ema_reads_the_unclipped_gradient() {
    // Step 1 has learning rate 0, so both runs compute step 2's gradient at the same weights;
    // clipping to 1e-6 would shrink what the EMA reads by orders of magnitude.
    let free = grad_sum_at_step_two("run-options-free", "");
    let clipped = grad_sum_at_step_two("run-options-clipped", "max_grad_norm = 1e-6");
    assert!(free > 1e-3, "{free}");
    assert!(
        (clipped - free).abs() <= 1e-6 * free,
        "clipped {clipped} vs {free}"
    );
}
