//! The yes/no benchmarks: POPE, MME and HallusionBench (its rule-based scorer), each with the
//! prompt lmms-eval builds for LLaVA-style models and its metric.

use std::collections::BTreeMap;

use super::pytext::{len, prefix, strip};
use super::{Item, Metrics, Question, SHORT_ANSWER};
use crate::data::parquet::{Row, TableError};

/// POPE's columns: required, then optional.
pub const POPE_COLUMNS: (&[&str], &[&str]) = (
    &["question_id", "question", "answer", "image"],
    &["category"],
);
/// MME's columns.
pub const MME_COLUMNS: (&[&str], &[&str]) = (
    &["question_id", "question", "answer", "category", "image"],
    &[],
);
/// HallusionBench's columns.
pub const HALLUSION_COLUMNS: (&[&str], &[&str]) = (
    &[
        "category",
        "subcategory",
        "set_id",
        "figure_id",
        "question_id",
        "question",
        "gt_answer",
    ],
    &["image"],
);

/// MME's perception subtasks (every other category is cognition), as lmms-eval lists them.
const PERCEPTION: [&str; 10] = [
    "existence",
    "count",
    "position",
    "color",
    "posters",
    "celebrity",
    "scene",
    "landmark",
    "artwork",
    "OCR",
];

/// POPE: the stripped question and the short-answer instruction.
pub fn pope_question(row: &Row) -> Result<Question, TableError> {
    let text = format!("{}{SHORT_ANSWER}", strip(row.str("question")?));
    Question::new(row, "question_id", text, "image", 128)
}

/// MME: the question without its " Please answer yes or no." and with the short-answer
/// instruction (lmms-eval's default post-prompt replaces it).
pub fn mme_question(row: &Row) -> Result<Question, TableError> {
    let question = strip(row.str("question")?).replace(" Please answer yes or no.", "");
    Question::new(
        row,
        "question_id",
        format!("{question}{SHORT_ANSWER}"),
        "image",
        16,
    )
}

/// HallusionBench: the question as it is.
pub fn hallusion_question(row: &Row) -> Result<Question, TableError> {
    let id = hallusion_key(row, true)?;
    let mut q = Question::new(
        row,
        "question_id",
        row.str("question")?.to_string(),
        "image",
        128,
    )?;
    q.id = id;
    Ok(q)
}

/// POPE: an answer counts only when it is exactly `yes` or `no` after lower-casing and
/// stripping (lmms-eval does not extract a yes/no from longer answers). Accuracy, precision,
/// recall and F1 of "yes", and lmms-eval's `yes_ratio`, which is the share of questions whose
/// GROUND TRUTH is yes (kept as lmms-eval computes it); `predicted_yes_ratio` is the share of
/// answers that are "yes" (the POPE paper's yes-ratio). Overall and per `category` (random,
/// popular, adversarial).
pub fn pope_score(rows: &[Row], answers: &[String]) -> Result<(Metrics, Vec<Item>), TableError> {
    let mut items = Vec::with_capacity(rows.len());
    let mut by_split: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut all = Vec::with_capacity(rows.len());
    for (row, answer) in rows.iter().zip(answers) {
        let pred = strip(&answer.to_lowercase()).to_string();
        let gt = strip(&row.str("answer")?.to_lowercase()).to_string();
        if gt != "yes" && gt != "no" {
            return Err(row.error("answer", format!("'{gt}' is neither yes nor no")));
        }
        let score = if pred == gt { 1.0 } else { 0.0 };
        items.push(Item::new(row.str("question_id")?, pred.clone(), score));
        if let Some(split) = row.opt_str("category")? {
            by_split
                .entry(split.to_string())
                .or_default()
                .push((pred.clone(), gt.clone()));
        }
        all.push((pred, gt));
    }
    let mut metrics = pope_metrics("", &all);
    for (split, pairs) in &by_split {
        metrics.extend(pope_metrics(&format!("{split}."), pairs));
    }
    Ok((metrics, items))
}

fn pope_metrics(prefix: &str, pairs: &[(String, String)]) -> Metrics {
    let count = |pred: &str, gt: &str| {
        pairs
            .iter()
            .filter(|(p, g)| (pred.is_empty() || p == pred) && (gt.is_empty() || g == gt))
            .count()
    };
    let ratio = |a: usize, b: usize| {
        if a + b > 0 {
            a as f64 / (a + b) as f64
        } else {
            0.0
        }
    };
    let correct: f64 = pairs
        .iter()
        .map(|(p, g)| if p == g { 1.0 } else { 0.0 })
        .sum();
    let tp = count("yes", "yes");
    let precision = ratio(tp, count("yes", "no"));
    let recall = ratio(tp, count("no", "yes"));
    let f1 = if precision + recall > 0.0 {
        2.0 * (precision * recall) / (precision + recall)
    } else {
        0.0
    };
    let yes = count("", "yes");
    let predicted_yes = count("yes", "") as f64 / pairs.len() as f64;
    vec![
        (format!("{prefix}accuracy"), correct / pairs.len() as f64),
        (format!("{prefix}precision"), precision),
        (format!("{prefix}recall"), recall),
        (format!("{prefix}f1"), f1),
        (format!("{prefix}yes_ratio"), ratio(yes, count("", "no"))),
        (format!("{prefix}predicted_yes_ratio"), predicted_yes),
    ]
}

/// MME's answer label (lmms-eval's `parse_pred_ans`, from Otter): `yes`, `no` or `other`.
pub fn mme_label(answer: &str) -> &'static str {
    let pred = strip(&answer.to_lowercase()).replace('.', "");
    match pred.as_str() {
        "yes" => "yes",
        "no" => "no",
        _ if len(&pred) == 1 => match pred.as_str() {
            "y" => "yes",
            "n" => "no",
            _ => "other",
        },
        _ if prefix(&pred, 4).contains("yes") => "yes",
        _ if prefix(&pred, 4).contains("no") => "no",
        _ => "other",
    }
}

/// MME: per subtask (category) the sum of acc and acc+ in percent (acc: questions right; acc+:
/// images with both questions right), summed over the perception and over the cognition
/// subtasks as lmms-eval sums them; also each subtask's `acc` and `acc_plus`.
pub fn mme_score(rows: &[Row], answers: &[String]) -> Result<(Metrics, Vec<Item>), TableError> {
    // category → question_id → scores, both in order of first appearance
    type Images = Vec<(String, Vec<f64>)>;
    let mut categories: Vec<(String, Images)> = Vec::new();
    let mut items = Vec::with_capacity(rows.len());
    for (row, answer) in rows.iter().zip(answers) {
        let label = mme_label(answer);
        let gt = strip(&row.str("answer")?.to_lowercase()).replace('.', "");
        if gt != "yes" && gt != "no" {
            return Err(row.error("answer", format!("'{gt}' is neither yes nor no")));
        }
        let score = if label == gt { 1.0 } else { 0.0 };
        let id = row.str("question_id")?;
        items.push(Item::new(id, label.to_string(), score));
        let category = row.str("category")?;
        let slot = match categories.iter().position(|(c, _)| c == category) {
            Some(at) => &mut categories[at].1,
            None => {
                categories.push((category.to_string(), Vec::new()));
                &mut categories.last_mut().expect("pushed").1
            }
        };
        match slot.iter_mut().find(|(q, _)| q == id) {
            Some((_, scores)) => scores.push(score),
            None => slot.push((id.to_string(), vec![score])),
        }
    }
    let (mut perception, mut cognition) = (0.0, 0.0);
    let mut per_task = Vec::new();
    for (category, questions) in &categories {
        let mut total = 0.0;
        let (mut right, mut asked, mut both) = (0.0, 0usize, 0usize);
        for (id, scores) in questions {
            if scores.len() != 2 {
                let row = rows
                    .iter()
                    .find(|r| r.str("question_id").ok() == Some(id.as_str()));
                let message = format!(
                    "image '{id}' has {} questions; MME scores pairs of two",
                    scores.len()
                );
                return Err(row.expect("seen").error("question_id", message));
            }
            let sum: f64 = scores.iter().sum();
            let acc = sum / scores.len() as f64 * 100.0;
            let acc_plus = if sum == 2.0 { 100.0 } else { 0.0 };
            total += acc_plus + acc;
            right += sum;
            asked += scores.len();
            both += usize::from(sum == 2.0);
        }
        let score = total / questions.len() as f64;
        match PERCEPTION.contains(&category.as_str()) {
            true => perception += score,
            false => cognition += score,
        }
        per_task.push((format!("{category}.score"), score));
        per_task.push((format!("{category}.acc"), 100.0 * right / asked as f64));
        per_task.push((
            format!("{category}.acc_plus"),
            100.0 * both as f64 / questions.len() as f64,
        ));
    }
    let mut metrics = vec![
        ("perception".to_string(), perception),
        ("cognition".to_string(), cognition),
    ];
    metrics.extend(per_task);
    Ok((metrics, items))
}

/// `category_subcategory_set_id[_figure_id]_question_id`, the key HallusionBench groups by.
fn hallusion_key(row: &Row, with_figure: bool) -> Result<String, TableError> {
    let mut parts = vec![
        row.text("category")?,
        row.text("subcategory")?,
        row.text("set_id")?,
    ];
    if with_figure {
        parts.push(row.text("figure_id")?);
    }
    parts.push(row.text("question_id")?);
    Ok(parts.join("_"))
}

/// HallusionBench, lmms-eval's rule-based scorer (its default one asks GPT-4): an answer
/// means "1" when it contains "yes" anywhere (lower-cased), else "0", and is right when that
/// equals `gt_answer`. `aAcc` per question, `qAcc` per question pair (every figure of the
/// question right), `fAcc` per figure (every question of the figure right); fractions.
pub fn hallusion_score(
    rows: &[Row],
    answers: &[String],
) -> Result<(Metrics, Vec<Item>), TableError> {
    let mut items = Vec::with_capacity(rows.len());
    let mut questions: Vec<(String, bool)> = Vec::new();
    let mut figures: Vec<(String, bool)> = Vec::new();
    let mut right = 0usize;
    let group = |groups: &mut Vec<(String, bool)>, key: String, ok: bool| match groups
        .iter_mut()
        .find(|(k, _)| *k == key)
    {
        Some((_, all)) => *all &= ok,
        None => groups.push((key, ok)),
    };
    for (row, answer) in rows.iter().zip(answers) {
        let said = if answer.to_lowercase().contains("yes") {
            "1"
        } else {
            "0"
        };
        let ok = said == row.text("gt_answer")?;
        right += usize::from(ok);
        items.push(Item::new(
            &hallusion_key(row, true)?,
            said.to_string(),
            f64::from(u8::from(ok)),
        ));
        group(&mut questions, hallusion_key(row, false)?, ok);
        let figure = [
            row.text("category")?,
            row.text("subcategory")?,
            row.text("set_id")?,
            row.text("figure_id")?,
        ]
        .join("_");
        group(&mut figures, figure, ok);
    }
    let share = |groups: &[(String, bool)]| {
        groups.iter().filter(|(_, ok)| *ok).count() as f64 / groups.len() as f64
    };
    let metrics = vec![
        ("aAcc".to_string(), right as f64 / rows.len() as f64),
        ("qAcc".to_string(), share(&questions)),
        ("fAcc".to_string(), share(&figures)),
    ];
    Ok((metrics, items))
}
