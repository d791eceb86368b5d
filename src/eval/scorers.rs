//! Per-instance scores of the eight CoIN tasks (METHOD.md §7.1), as pure functions.
//!
//! Each scorer has an [`ScorerMode::Official`] mode that reproduces the official evaluation
//! script, quirks included, and a [`ScorerMode::Fixed`] mode that repairs the known bugs.

use serde::{Deserialize, Serialize};

use super::vqa_normalize::vqa_soft_accuracy;

/// Official behaviour, or the repaired one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScorerMode {
    /// As the official CoIN evaluation scripts score.
    Official,
    /// With the known bugs repaired (see each scorer).
    Fixed,
}

/// The option letter a ScienceQA prediction names: the whole text if it is one of A-E; the
/// first character of "X. ..."; else the first one-character word, upper-cased.
///
/// ```
/// use lcia::eval::scorers::science_qa_letter;
/// assert_eq!(science_qa_letter("B"), Some('B'));
/// assert_eq!(science_qa_letter("C. water"), Some('C'));
/// assert_eq!(science_qa_letter("the answer is d"), Some('D'));
/// assert_eq!(science_qa_letter("none of these"), None);
/// ```
pub fn science_qa_letter(prediction: &str) -> Option<char> {
    const OPTIONS: [&str; 5] = ["A", "B", "C", "D", "E"];
    if OPTIONS.contains(&prediction) {
        return prediction.chars().next();
    }
    let chars: Vec<char> = prediction.chars().collect();
    if chars.len() >= 3 && ('A'..='E').contains(&chars[0]) && chars[1] == '.' && chars[2] == ' ' {
        return Some(chars[0]);
    }
    prediction
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|w| w.chars().count() == 1)
        .and_then(|w| w.chars().next())
        .map(|c| c.to_ascii_uppercase())
}

/// ScienceQA: the parsed letter's index equals the answer index. Both modes agree (no known
/// bug); `Fixed` also requires the letter to be among the problem's `n_choices`.
pub fn science_qa(prediction: &str, answer: usize, n_choices: usize, mode: ScorerMode) -> bool {
    let Some(letter) = science_qa_letter(prediction) else {
        return false;
    };
    let index = (letter as u32).wrapping_sub('A' as u32) as usize;
    index == answer && (mode == ScorerMode::Official || index < n_choices)
}

/// TextVQA: VQA soft accuracy over the ten human answers (both modes).
pub fn text_vqa(prediction: &str, answers: &[String]) -> f64 {
    vqa_soft_accuracy(prediction, answers)
}

/// ImageNet: the label is a substring of the prediction or the prediction of the label
/// (case-sensitive). `Official` counts an empty prediction as correct (it is a substring of
/// everything); `Fixed` counts it wrong. (`Fixed` also matches predictions to questions by id,
/// not by position: that is the caller's pairing.)
pub fn imagenet(prediction: &str, label: &str, mode: ScorerMode) -> bool {
    if mode == ScorerMode::Fixed && prediction.trim().is_empty() {
        return false;
    }
    label.contains(prediction) || prediction.contains(label)
}

/// GQA: `prediction.rstrip('.').lower() == answer` (both modes).
pub fn gqa(prediction: &str, answer: &str) -> bool {
    prediction.trim_end_matches('.').to_lowercase() == answer
}

/// VizWiz: case-insensitive exact match (both modes).
pub fn vizwiz(prediction: &str, answer: &str) -> bool {
    prediction.to_uppercase() == answer.to_uppercase()
}

/// VQAv2: `Official` is a case-insensitive exact match with the single answer; `Fixed` uses
/// the VQA soft accuracy when the ten human answers are given.
pub fn vqa_v2(prediction: &str, answer: &str, all_answers: &[String], mode: ScorerMode) -> f64 {
    match mode {
        ScorerMode::Fixed if !all_answers.is_empty() => vqa_soft_accuracy(prediction, all_answers),
        _ => f64::from(u8::from(prediction.to_uppercase() == answer.to_uppercase())),
    }
}

/// OCR-VQA: case-insensitive exact match. `Official` skips (counts wrong) any prediction
/// containing "Unanswerable"; `Fixed` scores it like any other.
pub fn ocr_vqa(prediction: &str, answer: &str, mode: ScorerMode) -> bool {
    if mode == ScorerMode::Official && prediction.contains("Unanswerable") {
        return false;
    }
    prediction.to_lowercase() == answer.to_lowercase()
}

/// The box a grounding prediction names, `[x1, y1, x2, y2]`. `Official` strips the brackets
/// and then drops the first and LAST character before splitting (`pred[1:-1]`), which cuts the
/// last digit of y2; `Fixed` parses the numbers as written.
pub fn parse_box(prediction: &str, mode: ScorerMode) -> Option<[f64; 4]> {
    let stripped = prediction.trim().trim_matches(|c| c == '[' || c == ']');
    let body: String = match mode {
        ScorerMode::Official => {
            let chars: Vec<char> = stripped.chars().collect();
            if chars.len() < 2 {
                return None;
            }
            chars[1..chars.len() - 1].iter().collect()
        }
        ScorerMode::Fixed => stripped.to_string(),
    };
    let numbers: Vec<f64> = body
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    numbers.try_into().ok()
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Grounding: the parsed box overlaps the reference with IoU > 0.5; an unparsable prediction
/// is wrong. (Scaling both boxes by the image's longer side, as the script does, leaves the IoU
/// unchanged.)
pub fn grounding(prediction: &str, reference: [f64; 4], mode: ScorerMode) -> bool {
    parse_box(prediction, mode).is_some_and(|b| iou(b, reference) > 0.5)
}
