//! Which scorer a task uses, and scoring one test record's prediction with it.

use serde::{Deserialize, Serialize};

use super::scorers::{self, ScorerMode};
use crate::data::TestRecord;
use crate::data::tasks::CoinTask;

/// The scorer of a task (the eight CoIN scorers, plus a plain exact match for other tasks),
/// named in a run config as `scienceqa`, `textvqa`, `imagenet`, `gqa`, `vizwiz`, `vqav2`,
/// `ocrvqa`, `grounding` or `exact` (the task names in any case are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScorerKind {
    /// Option letter against `answer` (a letter or an index).
    #[serde(rename = "scienceqa", alias = "ScienceQA", alias = "science_q_a")]
    ScienceQA,
    /// VQA soft accuracy against `answers` (or a single `answer`).
    #[serde(rename = "textvqa", alias = "TextVQA", alias = "text_v_q_a")]
    TextVQA,
    /// Substring either way against `answer`.
    #[serde(rename = "imagenet", alias = "ImageNet", alias = "image_net")]
    ImageNet,
    /// `rstrip('.').lower()` equality with `answer`.
    #[serde(rename = "gqa", alias = "GQA", alias = "g_q_a")]
    GQA,
    /// Case-insensitive equality with `answer`.
    #[serde(rename = "vizwiz", alias = "VizWiz", alias = "viz_wiz")]
    VizWiz,
    /// Case-insensitive equality with `answer` (Fixed: soft accuracy over `answers`).
    #[serde(rename = "vqav2", alias = "VQAv2", alias = "v_q_av2")]
    VQAv2,
    /// Case-insensitive equality with `answer` ("Unanswerable" wrong in Official).
    #[serde(rename = "ocrvqa", alias = "OCRVQA", alias = "o_c_r_v_q_a")]
    OCRVQA,
    /// IoU > 0.5 against `answer_bbox`.
    #[serde(rename = "grounding", alias = "Grounding")]
    Grounding,
    /// Trimmed, case-insensitive equality with `answer`, a trailing '.' ignored.
    #[serde(rename = "exact")]
    Exact,
}

impl From<CoinTask> for ScorerKind {
    fn from(task: CoinTask) -> Self {
        match task {
            CoinTask::ScienceQA => ScorerKind::ScienceQA,
            CoinTask::TextVQA => ScorerKind::TextVQA,
            CoinTask::ImageNet => ScorerKind::ImageNet,
            CoinTask::GQA => ScorerKind::GQA,
            CoinTask::VizWiz => ScorerKind::VizWiz,
            CoinTask::Grounding => ScorerKind::Grounding,
            CoinTask::VQAv2 => ScorerKind::VQAv2,
            CoinTask::OCRVQA => ScorerKind::OCRVQA,
        }
    }
}

fn field<'a>(record: &'a TestRecord, name: &str) -> Result<&'a serde_json::Value, String> {
    record
        .extra
        .get(name)
        .ok_or_else(|| format!("record {} has no '{name}' field", record.question_id))
}

fn text(record: &TestRecord, name: &str) -> Result<String, String> {
    Ok(match field(record, name)? {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn answers(record: &TestRecord) -> Result<Vec<String>, String> {
    match record.extra.get("answers") {
        Some(serde_json::Value::Array(list)) => Ok(list
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) => o
                    .get("answer")
                    .and_then(|a| a.as_str())
                    .unwrap_or_default()
                    .to_string(),
                other => other.to_string(),
            })
            .collect()),
        _ => Ok(Vec::new()),
    }
}

fn letter_index(answer: &serde_json::Value) -> Option<usize> {
    match answer {
        serde_json::Value::Number(n) => n.as_u64().map(|n| n as usize),
        serde_json::Value::String(s) => {
            let c = s.trim().chars().next()?.to_ascii_uppercase();
            c.is_ascii_uppercase().then(|| c as usize - 'A' as usize)
        }
        _ => None,
    }
}

fn parse_reference_box(value: &serde_json::Value) -> Option<[f64; 4]> {
    let numbers: Vec<f64> = match value {
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_f64()).collect(),
        serde_json::Value::String(s) => s
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect(),
        _ => return None,
    };
    numbers.try_into().ok()
}

/// The score in `[0, 1]` of `prediction` (already stripped of a trailing `</s>`) for
/// `record`; an error names the record and the answer field it lacks.
pub fn score_instance(
    kind: ScorerKind,
    mode: ScorerMode,
    prediction: &str,
    record: &TestRecord,
) -> Result<f64, String> {
    let hit = |b: bool| f64::from(u8::from(b));
    Ok(match kind {
        ScorerKind::ScienceQA => {
            let answer = letter_index(field(record, "answer")?)
                .ok_or_else(|| format!("record {}: unreadable 'answer'", record.question_id))?;
            let choices = record
                .extra
                .get("choices")
                .and_then(|c| c.as_array())
                .map_or(5, Vec::len);
            hit(scorers::science_qa(prediction, answer, choices, mode))
        }
        ScorerKind::TextVQA => {
            let mut all = answers(record)?;
            if all.is_empty() {
                all.push(text(record, "answer")?);
            }
            scorers::text_vqa(prediction, &all)
        }
        ScorerKind::ImageNet => hit(scorers::imagenet(
            prediction,
            &text(record, "answer")?,
            mode,
        )),
        ScorerKind::GQA => hit(scorers::gqa(prediction, &text(record, "answer")?)),
        ScorerKind::VizWiz => hit(scorers::vizwiz(prediction, &text(record, "answer")?)),
        ScorerKind::VQAv2 => scorers::vqa_v2(
            prediction,
            &text(record, "answer")?,
            &answers(record)?,
            mode,
        ),
        ScorerKind::OCRVQA => hit(scorers::ocr_vqa(prediction, &text(record, "answer")?, mode)),
        ScorerKind::Grounding => {
            let reference =
                parse_reference_box(field(record, "answer_bbox")?).ok_or_else(|| {
                    format!("record {}: unreadable 'answer_bbox'", record.question_id)
                })?;
            hit(scorers::grounding(prediction, reference, mode))
        }
        ScorerKind::Exact => {
            let norm = |s: &str| s.trim().trim_end_matches('.').trim().to_lowercase();
            hit(norm(prediction) == norm(&text(record, "answer")?))
        }
    })
}
