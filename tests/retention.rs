//! The knowledge-retention scorers against lmms-eval 0.7.3's own task code, on the parquet
//! files and answers `assets/golden/make_retention_golden.py` builds: every prompt, every
//! per-item parse and score and every aggregate metric must be equal.

use std::path::{Path, PathBuf};

use lcia::eval::retention::mmmu::{Candidate, parse_open_response};
use lcia::eval::retention::{Benchmark, Row};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/golden/retention")
}

fn expected() -> Value {
    lcia::io::read_json(&golden_dir().join("expected.json")).expect("golden JSON")
}

fn answers(entry: &Value) -> Vec<String> {
    entry["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| a.as_str().expect("text").to_string())
        .collect()
}

fn check(benchmark: Benchmark) {
    let golden = expected();
    let entry = &golden[benchmark.name()];
    let rows = benchmark
        .load(&golden_dir())
        .expect("the golden parquet file reads");
    let answers = answers(entry);
    assert!(rows.len() >= 15, "{benchmark}: only {} cases", rows.len());
    for (i, (row, prompt)) in rows
        .iter()
        .zip(entry["prompts"].as_array().unwrap())
        .enumerate()
    {
        let question = benchmark.question(row).expect("question");
        assert_eq!(
            question.text,
            prompt.as_str().unwrap(),
            "{benchmark} row {i}: prompt"
        );
        if let Some(images) = entry.get("images") {
            let want = images[i]
                .as_str()
                .map(|c| row.image(c).unwrap().unwrap().to_vec());
            assert_eq!(question.image, want, "{benchmark} row {i}: image");
        }
    }
    let score = benchmark.score(&rows, &answers).expect("scores");
    let metrics = entry["metrics"].as_object().unwrap();
    assert_eq!(
        score.metrics.len(),
        metrics.len(),
        "{benchmark}: metrics {:?} vs {:?}",
        score.metrics,
        metrics.keys().collect::<Vec<_>>()
    );
    for (name, value) in &score.metrics {
        let want = metrics
            .get(name)
            .unwrap_or_else(|| panic!("{benchmark}: lmms-eval has no metric '{name}'"));
        assert_eq!(*value, want.as_f64().unwrap(), "{benchmark}: metric {name}");
    }
    let items = entry["items"].as_array().unwrap();
    assert_eq!(score.items.len(), items.len(), "{benchmark}: items");
    for ((got, want), row) in score.items.iter().zip(items).zip(&rows) {
        assert_eq!(got.id, want["id"].as_str().unwrap(), "{benchmark}: item id");
        assert_eq!(
            got.score,
            want["score"].as_f64().unwrap(),
            "{benchmark} {}: score",
            got.id
        );
        match &want["parsed"] {
            Value::String(parsed) => {
                assert_eq!(&got.parsed, parsed, "{benchmark} {}: parsed", got.id)
            }
            Value::Array(candidates) => open_candidates(row, &answers, candidates),
            other => panic!("unexpected parsed value {other}"),
        }
    }
}

/// An MMMU open answer's candidates, as a set, against the official parser's.
fn open_candidates(row: &Row, answers: &[String], want: &[Value]) {
    let got = parse_open_response(&answers[row.row]);
    assert_eq!(
        got.len(),
        want.len(),
        "row {}: {got:?} vs {want:?}",
        row.row
    );
    for w in want {
        let found = match (w.get("text"), w.get("number")) {
            (Some(t), _) => got.contains(&Candidate::Text(t.as_str().unwrap().to_string())),
            (_, Some(n)) => {
                let n: f64 = n.as_str().unwrap().parse().unwrap();
                got.iter()
                    .any(|c| matches!(c, Candidate::Number(x) if *x == n))
            }
            _ => false,
        };
        assert!(found, "row {}: {w} not among {got:?}", row.row);
    }
}

#[test]
fn pope_scores_as_lmms_eval() {
    check(Benchmark::Pope);
}

#[test]
fn mme_scores_as_lmms_eval() {
    check(Benchmark::Mme);
}

#[test]
fn hallusionbench_scores_as_lmms_eval() {
    check(Benchmark::Hallusionbench);
}

#[test]
fn seedbench2plus_scores_as_lmms_eval() {
    check(Benchmark::Seedbench2plus);
}

#[test]
fn scienceqa_scores_as_lmms_eval() {
    check(Benchmark::Scienceqa);
}

#[test]
fn mmbench_scores_as_lmms_eval() {
    check(Benchmark::Mmbench);
}

#[test]
fn mmmu_scores_as_lmms_eval() {
    check(Benchmark::Mmmu);
}

#[test]
fn a_schema_error_names_the_file_column_and_row() {
    let dir = std::env::temp_dir().join(format!("lcia-retention-schema-{}", std::process::id()));
    let pope = dir.join("pope");
    std::fs::create_dir_all(&pope).unwrap();
    // ScienceQA's file where POPE's should be: it has no 'question_id'
    std::fs::copy(
        golden_dir().join("scienceqa/test-00000-of-00001.parquet"),
        pope.join("test.parquet"),
    )
    .unwrap();
    let error = Benchmark::Pope.load(&dir).unwrap_err().to_string();
    assert!(
        error.contains("test.parquet") && error.contains("column 'question_id'"),
        "{error}"
    );
    assert!(error.contains("missing"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The suite on every stage of a three-task run (the tiny LLaVA, ndarray), on the demo's
/// synthetic POPE- and MME-style files: stages, routing, the files, the report section, and
/// reuse of finished stages.
#[test]
fn a_run_is_evaluated_at_every_stage_and_finished_stages_are_reused() {
    use lcia::continual::RunOptions;
    use lcia::continual::retention::RetentionOptions;
    use lcia::continual::retention_run::retention_of_run;
    use lcia::experiments::demo::retention::write_retention_set;

    use crate::common::B;
    use crate::pipeline::{run_config, temp_dir, three_tasks};

    let dir = temp_dir("retention-run");
    let config = three_tasks(&dir);
    let run = dir.join("run");
    run_config(&config, &run, &RunOptions::default()).unwrap();
    let data = dir.join("retention-data");
    write_retention_set(&data, 4, 24, 3).unwrap();
    let options = RetentionOptions {
        data: data.clone(),
        benchmarks: Vec::new(),
        max_questions: None,
        max_new_tokens: Some(4),
    };
    let device = Default::default();
    let report = retention_of_run::<B>(&run, &options, &device).unwrap();
    let stages: Vec<&str> = report.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["base", "01-colour", "02-bright", "03-option"]);
    assert_eq!(report.benchmarks, [Benchmark::Pope, Benchmark::Mme]);
    for stage in &report.stages {
        let questions: Vec<usize> = stage.benchmarks.iter().map(|b| b.questions).collect();
        assert_eq!(questions, [8, 16], "{}", stage.stage);
        for b in &stage.benchmarks {
            assert!(
                (0.0..=100.0).contains(&b.headline),
                "{}: {b:?}",
                stage.stage
            );
        }
    }
    // the suite's questions carry the colour/bright instruction: routed to their group (0),
    // never to the option task's group (1), even after the option task
    let out = run.join("retention");
    let last: Value = lcia::io::read_json(&out.join("03-option/pope.json")).unwrap();
    let groups: Vec<u64> = last["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["group"].as_u64().unwrap())
        .collect();
    assert_eq!(groups, vec![0; 8]);
    // the stored answers are the scored ones
    let rows = Benchmark::Pope.load(&data).unwrap();
    let answers: Vec<String> = last["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["answer"].as_str().unwrap().to_string())
        .collect();
    let rescored = Benchmark::Pope.score(&rows, &answers).unwrap();
    let stored = &report.stages[3].benchmarks[0];
    assert_eq!(rescored.headline, stored.headline);
    assert_eq!(rescored.metrics, stored.metrics);
    // files and the run report's section
    let csv = std::fs::read_to_string(out.join("retention.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("stage,pope,mme,combined\nbase,"), "{csv}");
    assert!(out.join("retention.png").is_file());
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        md.contains("## General knowledge") && md.contains("| 03-option |"),
        "{md}"
    );
    assert!(
        md.find("## General knowledge") < md.find("## Plots"),
        "{md}"
    );
    // a finished stage is reused, not answered again
    std::fs::remove_file(out.join("01-colour/mme.json")).unwrap();
    let again = retention_of_run::<B>(&run, &options, &device).unwrap();
    assert_eq!(again, report);
    assert!(!out.join("01-colour/mme.json").exists());
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert_eq!(md.matches("## General knowledge").count(), 1);
    // other options: that stage is answered again
    let fewer = RetentionOptions {
        max_questions: Some(6),
        ..options
    };
    let third = retention_of_run::<B>(&run, &fewer, &device).unwrap();
    assert_eq!(third.stages[1].benchmarks[1].questions, 6);
    assert!(out.join("01-colour/mme.json").is_file());
    std::fs::remove_dir_all(&dir).ok();
}
