//! What protects a run directory: a non-finite loss stops the task before anything of it is
//! committed, one process per directory, stale temporary files and stale reports are cleaned up
//! on resume, a resume needs a run to resume, and scorer names read as the README spells them.

use lcia::continual::config::RunConfig;
use lcia::continual::{RunDir, RunOptions};
use lcia::eval::ScorerKind;

use crate::pipeline::{run_config, temp_dir, three_tasks};

/// The three-task setup with one epoch per task and `edits` applied to its run.toml.
pub fn setup(name: &str, edits: &[(&str, &str)]) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(name);
    let config = three_tasks(&dir);
    let mut text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("epochs = 12", "epochs = 1");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn first_task_only() -> RunOptions {
    RunOptions {
        resume: false,
        stop_after: Some(1),
    }
}

#[test]
fn non_finite_loss_stops_the_task_before_anything_is_committed() {
    // two steps without warm-up: the first applies a huge (valid) learning rate, the second
    // sees the loss overflow
    let huge = "lr_lora = 1e38\nwarmup_ratio = 0.0";
    let (dir, config) = setup("nan-loss", &[("lr_lora = 0.01", huge)]);
    let out = dir.join("out");
    let err = run_config(&config, &out, &first_task_only())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task 'colour'")
            && err.contains("optimizer step 2")
            && (err.contains("the loss is NaN") || err.contains("the loss is inf")),
        "{err}"
    );
    assert!(err.contains("(first non-finite: the "), "{err}");
    let run = RunDir::new(&out);
    assert!(!run.manifest().exists(), "nothing may be committed");
    assert!(!run.resolve(&run.checkpoint_name(0, "colour")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn non_finite_weights_after_the_last_step_are_refused() {
    // one step per task: the loss of that step is finite, the weights after it are not (the
    // decoupled weight decay `1 - lr·wd` overflows f32)
    let huge = "lr_lora = 1e38\nweight_decay = 1e38\nwarmup_ratio = 0.0";
    let (dir, config) = setup(
        "nan-weights",
        &[
            ("lr_lora = 0.01", huge),
            ("batch_size = 4", "batch_size = 8"),
        ],
    );
    let out = dir.join("out");
    let err = run_config(&config, &out, &first_task_only())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task 'colour'") && err.contains("after the task's last step"),
        "{err}"
    );
    assert!(!RunDir::new(&out).manifest().exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_locked_run_directory_is_refused_until_released() {
    let (dir, config) = setup("lock", &[]);
    let out = dir.join("out");
    let lock = RunDir::new(&out).lock().unwrap();
    let err = run_config(&config, &out, &first_task_only())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in use by another lcia process")
            && err.contains(&format!("process {}", std::process::id())),
        "{err}"
    );
    drop(lock);
    run_config(&config, &out, &first_task_only()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_removes_stale_temporaries_and_rewrites_the_reports() {
    let (dir, config) = setup("stale", &[]);
    let out = dir.join("out");
    run_config(&config, &out, &first_task_only()).unwrap();
    let run = RunDir::new(&out);
    let metrics = std::fs::read_to_string(run.metrics_json()).unwrap();
    // a crash after the commit: reports missing or old, a half-written file left behind
    std::fs::remove_file(run.metrics_json()).unwrap();
    std::fs::write(run.report(), "stale").unwrap();
    let checkpoint = run.resolve(&run.checkpoint_name(0, "colour"));
    let stale = checkpoint.join(".tmp4242.adapter_model.safetensors");
    std::fs::write(&stale, b"half").unwrap();
    let resume = RunOptions {
        resume: true,
        stop_after: Some(1),
    };
    run_config(&config, &out, &resume).unwrap();
    assert!(!stale.exists(), "the temporary file is removed");
    assert_eq!(
        std::fs::read_to_string(run.metrics_json()).unwrap(),
        metrics
    );
    assert!(
        std::fs::read_to_string(run.report())
            .unwrap()
            .contains("## Accuracy matrix")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_without_a_run_is_an_error() {
    let (dir, config) = setup("resume-nothing", &[]);
    let out = dir.join("never-started");
    let resume = RunOptions {
        resume: true,
        stop_after: None,
    };
    let err = run_config(&config, &out, &resume).unwrap_err().to_string();
    assert!(err.contains("no run to resume"), "{err}");
    assert!(!out.exists(), "a refused resume creates nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scorer_names_read_as_the_readme_spells_them() {
    let names = [
        ("scienceqa", ScorerKind::ScienceQA),
        ("textvqa", ScorerKind::TextVQA),
        ("imagenet", ScorerKind::ImageNet),
        ("gqa", ScorerKind::GQA),
        ("vizwiz", ScorerKind::VizWiz),
        ("vqav2", ScorerKind::VQAv2),
        ("ocrvqa", ScorerKind::OCRVQA),
        ("grounding", ScorerKind::Grounding),
        ("exact", ScorerKind::Exact),
        ("GQA", ScorerKind::GQA),
        ("g_q_a", ScorerKind::GQA),
    ];
    for (name, kind) in names {
        let text = format!("[model]\ndir = \"m\"\n[[tasks]]\nname = \"t\"\nscorer = \"{name}\"\n");
        let config: RunConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.tasks[0].scorer, Some(kind), "{name}");
    }
    let err = toml::from_str::<RunConfig>(
        "[model]\ndir = \"m\"\n[[tasks]]\nname = \"t\"\nscorer = \"vqa\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`gqa`") && err.contains("`vizwiz`"), "{err}");
}

#[test]
fn every_value_out_of_range_is_reported_at_once() {
    let edits = [
        ("r = 4", "r = 0"),
        ("dropout = 0.0", "dropout = 1.5"),
        ("epochs = 1", "epochs = 0"),
        (
            "batch_size = 4",
            "batch_size = 0\ngrad_accum = 0\nwarmup_ratio = 5.0",
        ),
        ("lr_lora = 0.01", "lr_lora = -0.01"),
        ("ema = \"official\"", "ema = \"official\"\ntau = nan"),
        ("batch_size = 3", "batch_size = 0"),
        ("max_len = 128", "max_len = 0"),
    ];
    let (dir, config) = setup("ranges", &edits);
    let err = RunConfig::from_file(&config).unwrap_err().to_string();
    for line in [
        "lora.r = 0: must be at least 1",
        "lora.dropout = 1.5: must be in [0, 1)",
        "train.epochs = 0: must be at least 1",
        "train.batch_size = 0: must be at least 1",
        "train.grad_accum = 0: must be at least 1",
        "train.warmup_ratio = 5: must be in [0, 1]",
        "train.lr_lora = -0.01: must be a finite number ≥ 0",
        "method.tau = NaN: must be in [0, 1]",
        "eval.batch_size = 0: must be at least 1",
        "train.max_len = 0: must be at least 2",
    ] {
        assert!(err.contains(line), "{line:?} missing from:\n{err}");
    }
    assert!(err.contains("run.toml"), "{err}");
    // a configuration built in code is checked by the run itself
    let mut built = RunConfig::from_file(&three_tasks(&dir)).unwrap();
    built.train.batch_size = 0;
    let out = dir.join("out");
    let err = lcia::continual::run::<crate::common::AB>(
        &config,
        &built,
        &out,
        &RunOptions::default(),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("train.batch_size = 0"), "{err}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_task_file_is_checked_before_the_first_step() {
    let (dir, config) = setup("preflight", &[]);
    // the last task's test records lack their answer, the second task's training file is
    // cut short, and a test image of the first task is unreadable
    let test = dir.join("option/test.json");
    let text = std::fs::read_to_string(&test).unwrap();
    std::fs::write(&test, text.replace("\"answer\":", "\"reply\":")).unwrap();
    let train = dir.join("bright/train.json");
    let text = std::fs::read_to_string(&train).unwrap();
    std::fs::write(&train, &text[..text.len() / 2]).unwrap();
    let image = dir.join("images/3-white.png");
    std::fs::write(&image, b"not a png").unwrap();
    let out = dir.join("out");
    let err = run_config(&config, &out, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing was trained"), "{err}");
    assert!(err.contains("bright/train.json:1:"), "{err}");
    assert!(
        err.contains("option/test.json") && err.contains("'answer'"),
        "{err}"
    );
    assert!(err.contains("3-white.png: cannot read image"), "{err}");
    assert!(!RunDir::new(&out).manifest().exists());
    assert!(!RunDir::new(&out).initial().exists(), "nothing is written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prompts_longer_than_the_context_are_cut_or_refused() {
    let (dir, config) = setup("long-prompt", &[]);
    // a 3000-word question before the instruction of the first test record (the tiny model's
    // context is 256 tokens)
    let test = dir.join("colour/test.json");
    let text = std::fs::read_to_string(&test).unwrap();
    let long = format!("{} What is shown?", "very ".repeat(3000));
    std::fs::write(&test, text.replacen("What is shown?", &long, 1)).unwrap();
    let out = dir.join("out");
    let done = run_config(&config, &out, &first_task_only()).unwrap();
    assert_eq!(done.matrix.rows.len(), 1);
    let run = RunDir::new(&out);
    let predictions = std::fs::read_to_string(run.predictions(0, "colour", "colour")).unwrap();
    assert!(
        predictions.lines().next().unwrap().contains("very very"),
        "the prediction keeps the question as given"
    );
    let refuse = std::fs::read_to_string(&config).unwrap().replace(
        "max_new_tokens = 3",
        "max_new_tokens = 3\nlong_prompts = \"refuse\"",
    );
    std::fs::write(&config, refuse).unwrap();
    let err = run_config(&config, &dir.join("out2"), &first_task_only())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("colour/test.json")
            && err.contains("record colour-t0: the prompt is too long")
            && err.contains("context of 256"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_with_non_finite_weights_is_named() {
    use lcia::adapters::NamedTensors;
    use lcia::adapters::io::{ADAPTER_WEIGHTS, check_finite_parameter_set};
    let (dir, config) = setup("nan-checkpoint", &[]);
    let out = dir.join("out");
    run_config(&config, &out, &first_task_only()).unwrap();
    let run = RunDir::new(&out);
    let checkpoint = run.resolve(&run.checkpoint_name(0, "colour"));
    check_finite_parameter_set(&checkpoint).unwrap();
    let file = checkpoint.join(ADAPTER_WEIGHTS);
    let mut named = NamedTensors::read(&file).unwrap();
    let (name, (_, values)) = named
        .tensors
        .iter_mut()
        .find(|(k, _)| k.contains("multi_modal_projector"))
        .unwrap();
    let name = name.clone();
    values[0] = f32::NAN;
    values[1] = f32::INFINITY;
    named.write(&file).unwrap();
    let err = check_finite_parameter_set(&checkpoint)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(ADAPTER_WEIGHTS)
            && err.contains(&format!("tensor '{name}' holds 2 NaN or infinite values")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tokenizer_beyond_the_models_vocabulary_is_named_before_training() {
    use lcia::continual::preflight::preflight;
    use lcia::continual::setup::tokenizer;
    let (dir, config_path) = setup("vocab", &[]);
    let config = RunConfig::from_file(&config_path).unwrap();
    let tasks = config.resolve_tasks(&config_path).unwrap();
    let tokenizer = tokenizer(&config).unwrap();
    let mut llava = lcia::model::hf::read_llava_config(&config.model.dir).unwrap();
    preflight(&config_path, &config, (&tasks, 0), &tokenizer, &llava).unwrap();
    // a model with a smaller vocabulary than the tokenizer's ids
    llava.text_config.vocab_size = 40;
    let err = preflight(&config_path, &config, (&tasks, 0), &tokenizer, &llava)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("colour/train.json: sample 0: token id")
            && err.contains("outside the model's vocabulary of 40"),
        "{err}"
    );
    // training files of committed tasks (a resume after all three) are not read again
    preflight(&config_path, &config, (&tasks, 3), &tokenizer, &llava).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
