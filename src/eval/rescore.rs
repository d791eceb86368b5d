//! Scoring an existing answer file without a model: the JSON-lines answers that the official
//! LLaVA/CoIN `model_vqa*` scripts write (`question_id`, `text`, and `prompt`, `answer_id`,
//! `model_id`, `metadata`, which are not read), matched by question id to a test file's
//! records and scored by the same scorer functions as `lcia run`, so results from other
//! codebases are rescored exactly as lcia scores its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scorers::ScorerMode;
use super::task_score::{ScorerKind, score_instance};
use crate::data::TestRecord;

/// One line of an answer file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AnswerLine {
    /// The question id (a string or a number).
    #[serde(deserialize_with = "id_string")]
    pub question_id: String,
    /// The model's answer.
    pub text: String,
}

fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "question_id must be a string or a number, not {other}"
            )));
        }
    })
}

/// A malformed answer file or one that does not match its test file.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map_or(String::new(), |l| format!(":{l}")))]
pub struct RescoreError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when the problem is on one.
    pub line: Option<usize>,
    /// What is wrong (naming the field or the question id).
    pub message: String,
}

fn error(path: &Path, line: Option<usize>, message: impl Into<String>) -> RescoreError {
    RescoreError {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads an answer file: one JSON object per non-empty line; a line that is not JSON, lacks
/// `question_id` or `text`, or repeats an earlier question id is an error naming the line.
pub fn read_answers(path: &Path) -> Result<Vec<(usize, AnswerLine)>, RescoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| error(path, None, e.to_string()))?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let answer: AnswerLine =
            serde_json::from_str(line).map_err(|e| error(path, Some(number), e.to_string()))?;
        if let Some(first) = seen.insert(answer.question_id.clone(), number) {
            let id = &answer.question_id;
            let message = format!("question_id {id} was already answered on line {first}");
            return Err(error(path, Some(number), message));
        }
        out.push((number, answer));
    }
    Ok(out)
}

/// One scored answer, a line of the per-item results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredAnswer {
    /// The question id.
    pub question_id: String,
    /// The answer as scored (as written in the file: the official scripts score the text as
    /// `model_vqa` wrote it, already stripped).
    pub text: String,
    /// Its score in `[0, 1]`.
    pub score: f64,
}

/// What rescoring found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescored {
    /// Mean score in percent over the test file's records.
    pub accuracy: f64,
    /// One per test record, in the test file's order.
    pub items: Vec<ScoredAnswer>,
}

/// Scores `answers` (from the file `answers_path`) against `records`: every record must be
/// answered and every answer must belong to a record (errors name the question id, and the
/// answer's line).
pub fn rescore(
    (kind, mode): (ScorerKind, ScorerMode),
    (answers_path, answers): (&Path, &[(usize, AnswerLine)]),
    (test_path, records): (&Path, &[TestRecord]),
) -> Result<Rescored, RescoreError> {
    let by_id: BTreeMap<&str, (usize, &AnswerLine)> = answers
        .iter()
        .map(|(line, a)| (a.question_id.as_str(), (*line, a)))
        .collect();
    let known: BTreeMap<&str, ()> = records
        .iter()
        .map(|r| (r.question_id.as_str(), ()))
        .collect();
    if let Some((line, a)) = answers
        .iter()
        .find(|(_, a)| !known.contains_key(a.question_id.as_str()))
    {
        let message = format!(
            "question_id {} is not in the test file {}",
            a.question_id,
            test_path.display()
        );
        return Err(error(answers_path, Some(*line), message));
    }
    let missing: Vec<&str> = records
        .iter()
        .map(|r| r.question_id.as_str())
        .filter(|id| !by_id.contains_key(id))
        .collect();
    if let Some(first) = missing.first() {
        let message = format!(
            "{} of {} test records have no answer (first: question_id {first})",
            missing.len(),
            records.len()
        );
        return Err(error(answers_path, None, message));
    }
    let mut items = Vec::with_capacity(records.len());
    for record in records {
        let (line, answer) = by_id[record.question_id.as_str()];
        let text = answer.text.clone();
        let score = score_instance(kind, mode, &text, record)
            .map_err(|e| error(test_path, None, e))
            .map_err(|mut e| {
                e.message = format!("{} (answer on line {line})", e.message);
                e
            })?;
        items.push(ScoredAnswer {
            question_id: record.question_id.clone(),
            text,
            score,
        });
    }
    let accuracy = 100.0 * items.iter().map(|i| i.score).sum::<f64>() / items.len().max(1) as f64;
    Ok(Rescored { accuracy, items })
}

/// An answer as the scorers see it: trimmed, a trailing `</s>` removed (as lcia's own
/// generation leaves it).
pub fn clean(answer: &str) -> String {
    let answer = answer.trim();
    answer
        .strip_suffix("</s>")
        .unwrap_or(answer)
        .trim()
        .to_string()
}
