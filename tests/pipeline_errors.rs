//! Bad input to the pipeline: every error names what is wrong, and nothing finished is lost.

use std::path::Path;

use lcia::continual::RunOptions;
use lcia::continual::checkpoint_eval::evaluate_checkpoint;
use lcia::continual::config::RunConfig;
use lcia::continual::manifest::Manifest;

use crate::common::{B, fixture};
use crate::pipeline::{run_config, temp_dir, three_tasks};

/// The three-task setup with one epoch per task (fast).
fn quick_setup(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(name);
    let config = three_tasks(&dir);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("epochs = 12", "epochs = 1");
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn malformed_training_json_names_file_line_and_column() {
    let (dir, config) = quick_setup("bad-json");
    std::fs::write(
        dir.join("bright/train.json"),
        "[\n  {\"id\": 1,\n   \"image\": }\n]",
    )
    .unwrap();
    let err = run_config(&config, &dir.join("out"), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bright/train.json:3:"), "{err}");
    // found before the first task trained: nothing committed
    assert!(Manifest::read(&dir.join("out")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_image_is_skipped_or_fatal_when_strict() {
    let (dir, config) = quick_setup("missing-image");
    std::fs::remove_file(dir.join("images/3-white.png")).unwrap();
    let out = dir.join("lenient");
    let outcome = run_config(
        &config,
        &out,
        &RunOptions {
            resume: false,
            stop_after: Some(1),
        },
    );
    // test records also use the image: evaluation cannot read it and says which file
    let err = outcome.unwrap_err().to_string();
    assert!(err.contains("3-white.png"), "{err}");
    edit(&config, "[data]\n", "[data]\nstrict = true\n");
    let err = run_config(&config, &dir.join("strict"), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("colour/train.json: record 3: image") && err.contains("3-white.png"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn skipped_records_are_counted_in_the_manifest() {
    let (dir, config) = quick_setup("skipped");
    let path = dir.join("colour/train.json");
    let mut records: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    records[0]["conversations"][1]["value"] = "".into();
    records[1]["image"] = "nowhere.png".into();
    std::fs::write(&path, serde_json::to_string(&records).unwrap()).unwrap();
    let out = dir.join("out");
    let outcome = run_config(
        &config,
        &out,
        &RunOptions {
            resume: false,
            stop_after: Some(1),
        },
    )
    .unwrap();
    let first = &outcome.manifest.finished[0];
    assert_eq!((first.train_samples, first.skipped), (6, 2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_task_and_unknown_task_are_refused() {
    let (dir, config) = quick_setup("empty-task");
    std::fs::write(dir.join("colour/train.json"), "[]").unwrap();
    let err = run_config(&config, &dir.join("out"), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("colour/train.json") && err.contains("no usable training record"),
        "{err}"
    );

    edit(
        &config,
        "name = \"option\"\nscorer = \"exact\"\n",
        "name = \"Captioning\"\n",
    );
    let err = run_config(&config, &dir.join("out2"), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("run.toml") && err.contains("unknown task 'Captioning'"),
        "{err}"
    );

    edit(&config, "[method]\n", "[method]\nemaa = \"off\"\n");
    let err = RunConfig::from_file(&config).unwrap_err().to_string();
    assert!(err.contains("run.toml") && err.contains("emaa"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copy of the tiny LLaVA with a different `rope_theta`: another base model.
fn other_base_model(dir: &Path) -> std::path::PathBuf {
    let src = fixture("tiny-hf/hub-layout/llava");
    let dst = dir.join("other-llava");
    std::fs::create_dir_all(&dst).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(file), dst.join(file)).unwrap();
    }
    edit(
        &dst.join("config.json"),
        "\"rope_theta\": 10000.0",
        "\"rope_theta\": 20000.0",
    );
    dst
}

#[test]
fn checkpoint_of_another_base_model_is_refused() {
    let (dir, config) = quick_setup("other-base");
    let out = dir.join("out");
    run_config(
        &config,
        &out,
        &RunOptions {
            resume: false,
            stop_after: Some(1),
        },
    )
    .unwrap();
    let other = other_base_model(&dir);
    let original = fixture("tiny-hf/hub-layout/llava").display().to_string();
    edit(&config, &original, &other.display().to_string());
    let parsed = RunConfig::from_file(&config).unwrap();
    let checkpoint = out.join("checkpoints/01-colour");
    let err = evaluate_checkpoint::<B>(
        &config,
        &parsed,
        &checkpoint,
        &[],
        &dir.join("eval"),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("01-colour") && err.contains("was trained on the base model"),
        "{err}"
    );
    let err = run_config(
        &config,
        &out,
        &RunOptions {
            resume: true,
            stop_after: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("was trained on the base model"), "{err}");
    // the run is untouched by the refused resume
    assert_eq!(Manifest::read(&out).unwrap().finished.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failure_mid_task_keeps_the_previous_checkpoint_and_resume_finishes() {
    let (dir, config) = quick_setup("mid-task");
    let out = dir.join("out");
    run_config(
        &config,
        &out,
        &RunOptions {
            resume: false,
            stop_after: Some(1),
        },
    )
    .unwrap();
    let checkpoint = out.join("checkpoints/01-colour/adapter_model.safetensors");
    let before = std::fs::read(&checkpoint).unwrap();
    // task 2 trains, then its evaluation fails on a test record without an answer
    let test = dir.join("bright/test.json");
    let good = std::fs::read_to_string(&test).unwrap();
    std::fs::write(&test, good.replace("\"answer\":\"yes\"", "\"answers\":[]")).unwrap();
    let err = run_config(
        &config,
        &out,
        &RunOptions {
            resume: true,
            stop_after: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bright/test.json") && err.contains("'answer'"),
        "{err}"
    );
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before);
    assert_eq!(Manifest::read(&out).unwrap().finished.len(), 1);
    std::fs::write(&test, good).unwrap();
    let done = run_config(
        &config,
        &out,
        &RunOptions {
            resume: true,
            stop_after: None,
        },
    )
    .unwrap();
    assert_eq!(done.matrix.rows.len(), 3);
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}
