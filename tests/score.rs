//! `lcia score`: answer files in the official scripts' format, rescored against a test file,
//! equal the scorer functions on the golden scorer cases; malformed files are refused naming
//! the file, line and field.

use std::path::Path;

use lcia::data::TestRecord;
use lcia::eval::rescore::{read_answers, rescore};
use lcia::eval::scorers::{self, ScorerMode};
use lcia::eval::{ScorerKind, score_instance};
use serde_json::json;

use crate::pipeline::temp_dir;

/// Writes `records` as a test file and `(id, text)` as an answer file (LLaVA's fields, in
/// reverse order so the matching is by id); returns both paths.
fn files(
    dir: &Path,
    records: &[serde_json::Value],
    answers: &[(String, &str)],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let test = dir.join("test.json");
    std::fs::write(&test, serde_json::to_string(records).unwrap()).unwrap();
    let lines: Vec<String> = answers
        .iter()
        .rev()
        .map(|(id, text)| {
            json!({"question_id": id, "prompt": "p", "text": text, "answer_id": "x", "model_id": "m", "metadata": {}})
                .to_string()
        })
        .collect();
    let file = dir.join("answers.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    (test, file)
}

/// Files for `(prediction, answer)` cases with question ids `o0`, `o1`, ….
fn answer_cases(dir: &Path, cases: &[(&str, &str)]) -> (std::path::PathBuf, std::path::PathBuf) {
    let records: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"question_id": format!("o{i}"), "text": "q", "answer": c.1}))
        .collect();
    let answers: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("o{i}"), c.0))
        .collect();
    files(dir, &records, &answers)
}

fn rescored(kind: ScorerKind, mode: ScorerMode, test: &Path, answers: &Path) -> Vec<f64> {
    let records: Vec<TestRecord> = lcia::data::load_test_records(test).unwrap();
    let lines = read_answers(answers).unwrap();
    let out = rescore((kind, mode), (answers, &lines), (test, &records)).unwrap();
    let mean = out.items.iter().map(|i| i.score).sum::<f64>() / out.items.len() as f64;
    assert!((out.accuracy - 100.0 * mean).abs() < 1e-9);
    out.items.iter().map(|i| i.score).collect()
}

#[test]
fn golden_cases_rescore_as_the_scorer_functions() {
    let dir = temp_dir("score-golden");
    // ScienceQA: (prediction, answer index, choices)
    let sqa = [
        ("A", 0, 4),
        ("B", 0, 4),
        ("C. water", 2, 4),
        ("The answer is B.", 1, 4),
        ("I think it's B", 1, 4),
        ("b", 1, 4),
        ("E", 4, 2),
        ("", 0, 4),
        ("Option C", 2, 3),
    ];
    let records: Vec<_> = sqa
        .iter()
        .enumerate()
        .map(|(i, (_, a, n))| json!({"question_id": i, "text": "q", "answer": a, "choices": vec!["c"; *n]}))
        .collect();
    let answers: Vec<_> = sqa
        .iter()
        .enumerate()
        .map(|(i, c)| (i.to_string(), c.0))
        .collect();
    let (test, file) = files(&dir, &records, &answers);
    for mode in [ScorerMode::Official, ScorerMode::Fixed] {
        let expected: Vec<f64> = sqa
            .iter()
            .map(|(p, a, n)| f64::from(u8::from(scorers::science_qa(p, *a, *n, mode))))
            .collect();
        assert_eq!(
            rescored(ScorerKind::ScienceQA, mode, &test, &file),
            expected
        );
    }
    // OCR-VQA and ImageNet: the two modes differ on these
    let ocr = [
        ("Mark Twain", "mark twain"),
        ("Unanswerable", "Unanswerable"),
        ("unanswerable", "unanswerable"),
        ("Yes", "No"),
        ("Mark  Twain", "mark twain"),
    ];
    let (test, file) = answer_cases(&dir, &ocr);
    assert_eq!(
        rescored(ScorerKind::OCRVQA, ScorerMode::Official, &test, &file),
        [1.0, 0.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(
        rescored(ScorerKind::OCRVQA, ScorerMode::Fixed, &test, &file),
        [1.0, 1.0, 1.0, 0.0, 0.0]
    );
    let imagenet = [
        ("golden retriever", "golden retriever"),
        ("", "tabby cat"),
        ("dog", "tabby cat"),
        ("tabby cats", "tabby cat"),
    ];
    let (test, file) = answer_cases(&dir, &imagenet);
    assert_eq!(
        rescored(ScorerKind::ImageNet, ScorerMode::Official, &test, &file),
        [1.0, 1.0, 0.0, 1.0]
    );
    assert_eq!(
        rescored(ScorerKind::ImageNet, ScorerMode::Fixed, &test, &file),
        [1.0, 0.0, 0.0, 1.0]
    );
    // VizWiz keeps the answer text as written: " yes" is not "yes"
    let vizwiz = [
        ("Yes", "yes"),
        ("yes.", "yes"),
        (" yes", "yes"),
        ("Nike", "NIKE"),
    ];
    let (test, file) = answer_cases(&dir, &vizwiz);
    assert_eq!(
        rescored(ScorerKind::VizWiz, ScorerMode::Official, &test, &file),
        [1.0, 0.0, 0.0, 1.0]
    );
    // TextVQA soft accuracy and Grounding boxes, against score_instance record by record
    let records = vec![
        json!({"question_id": 1, "text": "q", "answers": ["red", "red", "red", "blue", "blue", "blue", "blue", "blue", "blue", "blue"]}),
        json!({"question_id": 2, "text": "q", "answers": ["cat", "dog", "dog", "dog", "dog", "dog", "dog", "dog", "dog", "dog"]}),
    ];
    let answers = [("1".to_string(), "red"), ("2".to_string(), "cat")];
    let (test, file) = files(&dir, &records, &answers);
    let got = rescored(ScorerKind::TextVQA, ScorerMode::Official, &test, &file);
    assert!(
        (got[0] - 0.9).abs() < 1e-12 && (got[1] - 0.3).abs() < 1e-12,
        "{got:?}"
    );
    let boxes = [
        "[0.1, 0.2, 0.5, 0.6]",
        "[0.10, 0.20, 0.50, 0.60]",
        "[0.5, 0.6, 0.9, 0.95]",
    ];
    let records: Vec<_> = boxes
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"question_id": i, "text": "q", "answer_bbox": [0.1, 0.2, 0.5, 0.6]}))
        .collect();
    let answers: Vec<_> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| (i.to_string(), *b))
        .collect();
    let (test, file) = files(&dir, &records, &answers);
    for mode in [ScorerMode::Official, ScorerMode::Fixed] {
        let parsed: Vec<TestRecord> = lcia::data::load_test_records(&test).unwrap();
        let expected: Vec<f64> = parsed
            .iter()
            .zip(boxes)
            .map(|(r, b)| score_instance(ScorerKind::Grounding, mode, b, r).unwrap())
            .collect();
        assert_eq!(
            rescored(ScorerKind::Grounding, mode, &test, &file),
            expected
        );
    }
    assert_eq!(
        rescored(ScorerKind::Grounding, ScorerMode::Official, &test, &file),
        [0.0, 1.0, 0.0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_answer_files_are_refused_with_file_line_and_field() {
    let dir = temp_dir("score-bad");
    let records = vec![
        json!({"question_id": 1, "text": "q", "answer": "yes"}),
        json!({"question_id": 2, "text": "q", "answer": "no"}),
    ];
    let (test, _) = files(&dir, &records, &[]);
    let case = |name: &str, body: &str| -> String {
        let file = dir.join(name);
        std::fs::write(&file, body).unwrap();
        let records = lcia::data::load_test_records(&test).unwrap();
        match read_answers(&file) {
            Err(e) => e.to_string(),
            Ok(lines) => rescore(
                (ScorerKind::GQA, ScorerMode::Official),
                (&file, &lines),
                (&test, &records),
            )
            .unwrap_err()
            .to_string(),
        }
    };
    let err = case(
        "no-text.jsonl",
        "{\"question_id\": 1, \"text\": \"yes\"}\n\n{\"question_id\": 2, \"answer\": \"no\"}\n",
    );
    assert!(
        err.contains("no-text.jsonl:3") && err.contains("`text`"),
        "{err}"
    );
    let err = case("no-id.jsonl", "{\"text\": \"yes\"}\n");
    assert!(
        err.contains("no-id.jsonl:1") && err.contains("`question_id`"),
        "{err}"
    );
    let err = case(
        "not-json.jsonl",
        "{\"question_id\": 1, \"text\": \"yes\"}\nyes\n",
    );
    assert!(err.contains("not-json.jsonl:2"), "{err}");
    let err = case(
        "twice.jsonl",
        "{\"question_id\": 1, \"text\": \"a\"}\n{\"question_id\": \"1\", \"text\": \"b\"}\n",
    );
    assert!(
        err.contains("twice.jsonl:2") && err.contains("already answered on line 1"),
        "{err}"
    );
    let err = case(
        "stranger.jsonl",
        "{\"question_id\": 1, \"text\": \"a\"}\n{\"question_id\": 2, \"text\": \"b\"}\n{\"question_id\": 7, \"text\": \"c\"}\n",
    );
    assert!(
        err.contains("stranger.jsonl:3") && err.contains("question_id 7 is not in the test file"),
        "{err}"
    );
    let err = case("missing.jsonl", "{\"question_id\": 2, \"text\": \"no\"}\n");
    assert!(
        err.contains("1 of 2 test records have no answer (first: question_id 1)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_score_command_prints_the_accuracy_and_writes_per_item_results() {
    let dir = temp_dir("score-cli");
    let records = vec![
        json!({"question_id": 1, "text": "q", "answer": "yes"}),
        json!({"question_id": 2, "text": "q", "answer": "left"}),
    ];
    let answers = [("1".to_string(), "yes."), ("2".to_string(), "right")];
    let (test, file) = files(&dir, &records, &answers);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lcia"))
        .args(["score", "--task", "gqa", "--test"])
        .arg(&test)
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("50.00 % over 2 answers"), "{stdout}");
    let scored = std::fs::read_to_string(dir.join("answers.scored.jsonl")).unwrap();
    let scores: Vec<f64> = scored
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["score"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(scores, [1.0, 0.0]);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_lcia"))
        .args(["score", "--task", "sqa", "--test"])
        .arg(&test)
        .arg(&file)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown task 'sqa'"));
    let _ = std::fs::remove_dir_all(&dir);
}
