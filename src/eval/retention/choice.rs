//! The multiple-choice benchmarks: SEED-Bench2-Plus, ScienceQA-IMG and MMBench (circular
//! evaluation, lmms-eval's rule-based "static" scorer), with their lmms-eval prompts.

use std::collections::BTreeMap;

use super::mcq::{can_infer_option, can_infer_text, extract_mcq_answer};
use super::pytext::{capitalize, len, prefix, strip};
use super::{Item, Metrics, Question};
use crate::data::parquet::{Row, TableError};

/// The instruction after a multiple-choice question.
const LETTER: &str = "Answer with the option's letter from the given choices directly.";
const SEED_CHOICES: [&str; 4] = ["choice_A", "choice_B", "choice_C", "choice_D"];

/// SEED-Bench2-Plus's columns: required, then optional.
pub const SEED_COLUMNS: (&[&str], &[&str]) = (
    &[
        "question_id",
        "question",
        "choice_A",
        "choice_B",
        "choice_C",
        "choice_D",
        "answer",
        "question_image_type",
        "image",
    ],
    &[],
);
/// ScienceQA's columns.
pub const SCIENCEQA_COLUMNS: (&[&str], &[&str]) = (
    &["question", "choices", "answer"],
    &["hint", "image", "subject"],
);
/// MMBench's columns.
pub const MMBENCH_COLUMNS: (&[&str], &[&str]) = (
    &["index", "question", "answer", "category", "image", "A", "B"],
    &["hint", "C", "D", "E", "L2-category"],
);

/// SEED-Bench2-Plus: the question, the four choices (a choice naming an image file becomes
/// `<image>`) and the letter instruction.
pub fn seed_question(row: &Row) -> Result<Question, TableError> {
    let mut text = row.str("question")?.to_string();
    for (i, column) in SEED_CHOICES.iter().enumerate() {
        let choice = row.str(column)?;
        let choice = match choice.contains("jpg") || choice.contains("png") {
            true => "<image>",
            false => choice,
        };
        let letter = char::from(b'A' + i as u8);
        let end = if i < 3 { "\n" } else { "" };
        text.push_str(&format!(
            "{}{letter}. {choice}{end}",
            if i == 0 { "\n" } else { "" }
        ));
    }
    text.push_str(&format!("\n{LETTER}"));
    Question::new(row, "question_id", text, "image", 16)
}

/// SEED-Bench2-Plus: the answer's first character (after stripping) against the letter;
/// accuracy per `question_image_type` (capitalised: Chart, Map, Web) and over all.
pub fn seed_score(rows: &[Row], answers: &[String]) -> Result<(Metrics, Vec<Item>), TableError> {
    let mut groups: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut right, mut items) = (0usize, Vec::with_capacity(rows.len()));
    for (row, answer) in rows.iter().zip(answers) {
        let pred = strip(answer);
        let pred = if len(pred) > 1 { prefix(pred, 1) } else { pred };
        let gt = row.str("answer")?;
        let ok = strip(&pred.to_lowercase()) == strip(&gt.to_lowercase());
        right += usize::from(ok);
        let slot = groups
            .entry(capitalize(row.str("question_image_type")?))
            .or_default();
        slot.0 += usize::from(ok);
        slot.1 += 1;
        items.push(Item::new(
            row.str("question_id")?,
            pred.to_string(),
            f64::from(u8::from(ok)),
        ));
    }
    let mut metrics: Metrics = groups
        .into_iter()
        .map(|(kind, (ok, n))| (kind, ok as f64 / n as f64))
        .collect();
    metrics.push(("all".into(), right as f64 / rows.len() as f64));
    Ok((metrics, items))
}

/// ScienceQA: `Context: <hint>` (when there is one), the question, lettered choices and the
/// letter instruction.
pub fn scienceqa_question(row: &Row) -> Result<Question, TableError> {
    // lmms-eval formats a null hint as Python prints None
    let context = match row.opt_str("hint")? {
        Some("") => String::new(),
        Some(hint) => format!("Context: {hint}\n"),
        None => "None".to_string(),
    };
    let choices: Vec<String> = row
        .list("choices")?
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {c}", letter(i)))
        .collect();
    let text = format!(
        "{context}{}\n{}\n{LETTER}",
        row.str("question")?,
        choices.join("\n")
    );
    Question::new(row, "", text, "image", 16)
}

fn letter(i: usize) -> char {
    char::from_u32(u32::from('A') + i as u32).unwrap_or('?')
}

/// ScienceQA (LLaVA's rule, as lmms-eval keeps it): right when the stripped answer is the
/// letter (any case), or starts with an upper-case letter and a period and that letter is
/// it. Exact-match mean, and per `subject` when the column is there.
pub fn scienceqa_score(
    rows: &[Row],
    answers: &[String],
) -> Result<(Metrics, Vec<Item>), TableError> {
    let mut subjects: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let (mut total, mut items) = (0.0, Vec::with_capacity(rows.len()));
    for (row, answer) in rows.iter().zip(answers) {
        let count = row.list("choices")?.len();
        let index = row.int("answer")?;
        if index < 0 || index as usize >= count {
            return Err(row.error(
                "answer",
                format!("{index} is not one of the {count} choices"),
            ));
        }
        let target = letter(index as usize).to_lowercase().to_string();
        let pred = strip(answer);
        let chars: Vec<char> = pred.chars().collect();
        let score = if pred.to_lowercase() == target {
            1.0
        } else if chars.len() >= 2 && chars[0].is_uppercase() && chars[1] == '.' {
            f64::from(u8::from(chars[0].to_lowercase().to_string() == target))
        } else {
            0.0
        };
        total += score;
        if let Some(subject) = row.opt_str("subject")? {
            let slot = subjects.entry(subject.to_string()).or_default();
            slot.0 += score;
            slot.1 += 1;
        }
        items.push(Item::new(
            &format!("row {}", row.row),
            pred.to_string(),
            score,
        ));
    }
    let mut metrics = vec![("exact_match".to_string(), total / rows.len() as f64)];
    metrics.extend(
        subjects
            .into_iter()
            .map(|(s, (sum, n))| (format!("subject.{s}"), sum / n as f64)),
    );
    Ok((metrics, items))
}

/// MMBench's options A..E that are present, non-empty and not the text "nan".
fn mmbench_options(row: &Row) -> Result<Vec<(char, String)>, TableError> {
    let mut options = Vec::new();
    for letter in ['A', 'B', 'C', 'D', 'E'] {
        if let Some(text) = row.opt_str(&letter.to_string())?
            && !text.is_empty()
            && text != "nan"
        {
            options.push((letter, text.to_string()));
        }
    }
    Ok(options)
}

/// MMBench: `<hint> <question> There are several options:\nA. ...` and the letter
/// instruction (no hint when it is null or "nan").
pub fn mmbench_question(row: &Row) -> Result<Question, TableError> {
    let mut options = "There are several options:\n".to_string();
    for (letter, text) in mmbench_options(row)? {
        options.push_str(&format!("{letter}. {text}\n"));
    }
    let options = options.trim_end_matches('\n');
    let question = row.str("question")?;
    let text = match row.opt_str("hint")? {
        Some(hint) if hint != "nan" => format!("{hint} {question} {options}\n{LETTER}"),
        _ => format!("{question} {options}\n{LETTER}"),
    };
    let mut q = Question::new(row, "", text, "image", 1024)?;
    q.id = row.int("index")?.to_string();
    Ok(q)
}

struct Entry<'a> {
    row: &'a Row,
    index: i64,
    answer: String,
    prediction: String,
    choices: Vec<(char, String)>,
}

impl Entry<'_> {
    /// `prefetch_answer`: `can_infer` on the four options A..D.
    fn prefetch(&self) -> Option<char> {
        can_infer_option(&self.prediction)
            .or_else(|| can_infer_text(&self.prediction, &self.choices))
    }

    /// The static scorer's fallback: `extract_mcq_answer` over the option letters.
    fn extract(&self) -> String {
        let mut letters: Vec<String> = self.choices.iter().map(|(l, _)| l.to_string()).collect();
        if letters.is_empty() {
            letters = "ABCDEFGH".chars().map(String::from).collect();
        }
        extract_mcq_answer(&self.prediction, &letters)
    }
}

/// MMBench, circular evaluation (lmms-eval's `mmbench_en_dev_static`): the rows whose
/// `index` is below 10^6 are questions, those at `index + k·10^6` their option rotations; a
/// question counts only when every rotation's answer is right, the letter taken by MMBench's
/// `can_infer` and, where it finds none, by `extract_mcq_answer`. `overall` in percent,
/// per `category` and `L2-category` as fractions.
pub fn mmbench_score(rows: &[Row], answers: &[String]) -> Result<(Metrics, Vec<Item>), TableError> {
    let mut entries = Vec::with_capacity(rows.len());
    for (row, answer) in rows.iter().zip(answers) {
        // `build_choices`: A..D when not null (an empty or "nan" text stays a choice)
        let mut choices = Vec::new();
        for letter in ['A', 'B', 'C', 'D'] {
            if let Some(text) = row.opt_str(&letter.to_string())? {
                choices.push((letter, text.to_string()));
            }
        }
        entries.push(Entry {
            row,
            index: row.int("index")?,
            answer: row.str("answer")?.to_string(),
            prediction: strip(answer).to_string(),
            choices,
        });
    }
    entries.sort_by_key(|e| e.index);
    if let Some(w) = entries.windows(2).find(|w| w[0].index == w[1].index) {
        return Err(w[1]
            .row
            .error("index", format!("index {} appears twice", w[1].index)));
    }
    const ROTATION: i64 = 1_000_000;
    let (mut hits, mut questions) = (0usize, 0usize);
    let mut categories: BTreeMap<(u8, String), (usize, usize)> = BTreeMap::new();
    let mut items = Vec::new();
    for main in entries.iter().filter(|e| e.index < ROTATION) {
        let rotations: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.index.rem_euclid(ROTATION) == main.index)
            .collect();
        let hit = circular_hit(&rotations);
        hits += usize::from(hit);
        questions += 1;
        let mut tally = |key: (u8, String)| {
            let slot = categories.entry(key).or_default();
            slot.0 += usize::from(hit);
            slot.1 += 1;
        };
        tally((0, main.row.str("category")?.to_string()));
        if let Some(l2) = main.row.opt_str("L2-category")? {
            tally((1, l2.to_string()));
        }
        let parsed = main.prefetch().map_or_else(|| main.extract(), String::from);
        items.push(Item::new(
            &main.index.to_string(),
            parsed,
            f64::from(u8::from(hit)),
        ));
    }
    let mut metrics = vec![(
        "overall".to_string(),
        hits as f64 / questions as f64 * 100.0,
    )];
    for ((level, name), (hit, n)) in categories {
        let key = if level == 0 { "category" } else { "l2" };
        metrics.push((format!("{key}.{name}"), hit as f64 / n as f64));
    }
    Ok((metrics, items))
}

/// `eval_sub_data` with the static fallback: any rotation whose inferred letter is wrong
/// fails the question, then every rotation without one must extract the right letter.
fn circular_hit(rotations: &[&Entry]) -> bool {
    let mut pending = Vec::new();
    for entry in rotations {
        match entry.prefetch() {
            Some(letter) if entry.answer != letter.to_string() => return false,
            Some(_) => {}
            None => pending.push(entry),
        }
    }
    pending.iter().all(|entry| {
        let letter = entry.extract();
        !letter.is_empty() && letter == entry.answer
    })
}
