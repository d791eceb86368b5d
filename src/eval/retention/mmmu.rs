//! MMMU (validation): lmms-eval's prompt and the official MMMU rule-based parsing of
//! multiple-choice and open answers, accuracy per subject, per domain and overall.

use std::sync::LazyLock;

use fancy_regex::Regex;

use super::pytext::{float, len, parse_python_list, rfind, round, split_words, strip};
use super::{Item, Metrics, Question};
use crate::data::parquet::{Row, TableError};

/// MMMU's columns: required, then optional.
pub const MMMU_COLUMNS: (&[&str], &[&str]) = (
    &["id", "question", "options", "answer", "question_type"],
    &[
        "image_1", "image_2", "image_3", "image_4", "image_5", "image_6", "image_7",
    ],
);

/// The subjects of each MMMU domain, as the official evaluation groups them.
const DOMAINS: [(&str, &[&str]); 6] = [
    ("Art and Design", &["Art", "Art_Theory", "Design", "Music"]),
    (
        "Business",
        &["Accounting", "Economics", "Finance", "Manage", "Marketing"],
    ),
    (
        "Science",
        &["Biology", "Chemistry", "Geography", "Math", "Physics"],
    ),
    (
        "Health and Medicine",
        &[
            "Basic_Medical_Science",
            "Clinical_Medicine",
            "Diagnostics_and_Laboratory_Medicine",
            "Pharmacy",
            "Public_Health",
        ],
    ),
    (
        "Humanities and Social Science",
        &["History", "Literature", "Sociology", "Psychology"],
    ),
    (
        "Tech and Engineering",
        &[
            "Agriculture",
            "Architecture_and_Engineering",
            "Computer_Science",
            "Electronics",
            "Energy_and_Power",
            "Materials",
            "Mechanical_Engineering",
        ],
    ),
];

/// One candidate of an open answer: text or a number rounded to two decimals.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidate {
    /// Lower-cased text.
    Text(String),
    /// A number (`round(x, 2)`).
    Number(f64),
}

/// The options of a multiple-choice question: MMMU keeps them as a Python list literal.
pub fn options(row: &Row) -> Result<Vec<String>, TableError> {
    parse_python_list(row.str("options")?).map_err(|e| row.error("options", e))
}

/// `<question>\n<A. option ...>\n\n<letter instruction>`, or for an open question
/// `<question>\n\n<short-answer instruction>`; the image is the first one the text refers
/// to as `<image N>` (LLaVA-style models take one image).
pub fn mmmu_question(row: &Row) -> Result<Question, TableError> {
    let question = row.str("question")?;
    let text = match row.str("question_type")? == "multiple-choice" {
        true => {
            let lines: Vec<String> = options(row)?
                .iter()
                .enumerate()
                .map(|(i, o)| format!("{}. {o}", letter(i)))
                .collect();
            format!(
                "{question}\n{}\n\nAnswer with the option's letter from the given choices directly.",
                lines.join("\n")
            )
        }
        false => format!("{question}\n\nAnswer the question using a single word or phrase."),
    };
    static IMAGE_TOKEN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"<image (\d+)>").expect("valid pattern"));
    let image = IMAGE_TOKEN
        .captures_iter(&format!("{question}\n{}", row.str("options")?))
        .filter_map(|c| c.ok().map(|c| format!("image_{}", &c[1])))
        .min();
    Question::new(row, "id", text, image.as_deref().unwrap_or(""), 128)
}

fn letter(i: usize) -> char {
    char::from_u32(u32::from('A') + i as u32).unwrap_or('?')
}

/// The official MMMU multiple-choice parser: "(A)" anywhere, else "A " , else "A.", else (in
/// answers of more than five words) an option's text; several found: the last one. Where
/// nothing is found the official code guesses at random; lcia guesses the option
/// `fnv1a64(id) mod n`, the same for every run.
pub fn parse_multi_choice(response: &str, choices: &[String], id: &str) -> String {
    let mut response = response;
    for c in [',', '.', '!', '?', ';', ':', '\''] {
        response = response.trim_matches(c);
    }
    let response = format!(" {response} ");
    let letters: Vec<String> = (0..choices.len()).map(|i| letter(i).to_string()).collect();
    let mut candidates: Vec<usize> = Vec::new();
    let (mut by_letter, mut bracketed) = (true, false);
    for (i, l) in letters.iter().enumerate() {
        if response.contains(&format!("({l})")) {
            candidates.push(i);
            bracketed = true;
        }
    }
    for pattern in [" ", "."] {
        if candidates.is_empty() {
            candidates = (0..letters.len())
                .filter(|&i| response.contains(&format!("{}{pattern}", letters[i])))
                .collect();
        }
    }
    let lower = response.to_lowercase();
    if candidates.is_empty() && split_words(&response).len() > 5 {
        candidates = (0..choices.len())
            .filter(|&i| lower.contains(&choices[i].to_lowercase()))
            .collect();
        by_letter = false;
    }
    match candidates.len() {
        _ if letters.is_empty() => String::new(),
        0 => letters[(fnv1a64(id) % letters.len().max(1) as u64) as usize].clone(),
        1 => letters[candidates[0]].clone(),
        _ => {
            let at = |i: usize| match (by_letter, bracketed) {
                (true, true) => rfind(&response, &format!("({})", letters[i])),
                (true, false) => rfind(&response, &format!(" {} ", letters[i])),
                (false, _) => rfind(&lower, &choices[i].to_lowercase()),
            };
            // np.argmax: the first of the largest
            let mut best = candidates[0];
            for &i in &candidates[1..] {
                if at(i) > at(best) {
                    best = i;
                }
            }
            letters[best].clone()
        }
    }
}

/// 64-bit FNV-1a of `text`'s bytes: lcia's reproducible stand-in for MMMU's random guess.
pub fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The official MMMU open-answer parser: the shortest tail after a key phrase ("is ", "so ",
/// "answer ", "=" in the last sentence, ...) of each line, else the whole answer, plus
/// every number in them; normalised (numbers rounded to two decimals, text lower-cased, a
/// single character padded with a space). Distinct candidates, sorted for display.
pub fn parse_open_response(response: &str) -> Vec<Candidate> {
    let keys = key_responses(response);
    let mut texts = keys.clone();
    for key in &keys {
        texts.extend(extract_numbers(key));
    }
    let mut out: Vec<Candidate> = Vec::new();
    for text in &texts {
        for candidate in normalize(text) {
            if !out.iter().any(|c| same(c, &candidate)) {
                out.push(candidate);
            }
        }
    }
    out
}

/// Set membership as Python sees it: equal text, or equal numbers (NaN never equal).
fn same(a: &Candidate, b: &Candidate) -> bool {
    match (a, b) {
        (Candidate::Text(x), Candidate::Text(y)) => x == y,
        (Candidate::Number(x), Candidate::Number(y)) => x == y,
        _ => false,
    }
}

fn key_responses(response: &str) -> Vec<String> {
    let response = strip(response).trim_matches('.').to_lowercase();
    // r"\.\s(?=[A-Z])|\n" on lower-cased text: no [A-Z] is left, so lines are the sentences
    let sentences: Vec<&str> = response.split('\n').collect();
    let mut indicators = vec![
        "could be ",
        "so ",
        "is ",
        "thus ",
        "therefore ",
        "final ",
        "answer ",
        "result ",
    ];
    let mut keys = Vec::new();
    for (i, sentence) in sentences.iter().enumerate() {
        if i == sentences.len() - 1 {
            indicators.push("=");
        }
        let mut shortest: Option<String> = None;
        for indicator in &indicators {
            if sentence.contains(indicator) {
                let tail = strip(sentence.rsplit(indicator).next().unwrap_or("")).to_string();
                match &shortest {
                    Some(s) if !s.is_empty() && len(&tail) >= len(s) => {}
                    _ => shortest = Some(tail),
                }
            }
        }
        if let Some(s) = shortest.filter(|s| !s.is_empty())
            && ![":", ",", ".", "!", "?", ";", "'"].contains(&strip(&s))
        {
            keys.push(s);
        }
    }
    if keys.is_empty() {
        return vec![response];
    }
    keys
}

/// Every number in `text`: with thousands commas, in scientific notation, plain.
pub fn extract_numbers(text: &str) -> Vec<String> {
    const PATTERNS: [&str; 3] = [
        r"-?\b\d{1,3}(?:,\d{3})+\b",
        r"-?\d+(?:\.\d+)?[eE][+-]?\d+",
        r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])",
    ];
    static NUMBERS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        PATTERNS
            .iter()
            .map(|p| Regex::new(p).expect("valid pattern"))
            .collect()
    });
    let mut out = Vec::new();
    for re in NUMBERS.iter() {
        out.extend(
            re.find_iter(text)
                .filter_map(|m| m.ok().map(|m| m.as_str().to_string())),
        );
    }
    out
}

/// `normalize_str`: a number (commas dropped) rounded to two decimals, else the lower-cased
/// text, a single character as `" c"` and `"c "`.
pub fn normalize(text: &str) -> Vec<Candidate> {
    let text = strip(text);
    if let Some(x) = float(&text.replace(',', "")) {
        return vec![Candidate::Number(round(x, 2))];
    }
    let text = text.to_lowercase();
    match len(&text) == 1 {
        true => vec![
            Candidate::Text(format!(" {text}")),
            Candidate::Text(format!("{text} ")),
        ],
        false => vec![Candidate::Text(text)],
    }
}

/// `eval_open`: some text candidate contains a normalised gold text, or some number equals
/// the gold number.
pub fn open_correct(gold: &str, candidates: &[Candidate]) -> bool {
    let golds = normalize(gold);
    candidates.iter().any(|c| match c {
        Candidate::Text(pred) => golds
            .iter()
            .any(|g| matches!(g, Candidate::Text(g) if pred.contains(g.as_str()))),
        Candidate::Number(x) => golds
            .iter()
            .any(|g| matches!(g, Candidate::Number(y) if x == y)),
    })
}

/// The subject of an MMMU id `<split>_<Subject>_<n>`.
fn subject(row: &Row) -> Result<String, TableError> {
    let id = row.str("id")?;
    let split = id.split('_').next().unwrap_or("");
    let pattern = format!(r"^{}_(.+?)_\d+$", regex::escape(split));
    let subject = regex::Regex::new(&pattern)
        .ok()
        .and_then(|re| re.captures(id).map(|c| c[1].to_string()));
    subject.ok_or_else(|| row.error("id", format!("'{id}' is not <split>_<subject>_<number>")))
}

/// Accuracy per subject, per domain (`Overall-<domain>`) and `overall`, each rounded to five
/// decimals as the official evaluation prints them.
pub fn mmmu_score(rows: &[Row], answers: &[String]) -> Result<(Metrics, Vec<Item>), TableError> {
    let mut subjects: Vec<(String, usize, usize)> = Vec::new();
    let mut items = Vec::with_capacity(rows.len());
    for (row, answer) in rows.iter().zip(answers) {
        let id = row.str("id")?;
        let gold = row.str("answer")?;
        let (parsed, ok) = match row.str("question_type")? == "multiple-choice" {
            true => {
                let letter = parse_multi_choice(answer, &options(row)?, id);
                let ok = letter == gold;
                (letter, ok)
            }
            false => {
                let candidates = parse_open_response(answer);
                (format!("{candidates:?}"), open_correct(gold, &candidates))
            }
        };
        let name = subject(row)?;
        match subjects.iter_mut().find(|(s, _, _)| *s == name) {
            Some(slot) => {
                slot.1 += usize::from(ok);
                slot.2 += 1;
            }
            None => subjects.push((name, usize::from(ok), 1)),
        }
        items.push(Item::new(id, parsed, f64::from(u8::from(ok))));
    }
    // calculate_ins_level_acc: Σ acc·n / Σ n over the subjects, in first-seen order
    let level = |of: &[&(String, usize, usize)]| {
        let (mut acc, mut n) = (0.0, 0usize);
        for (_, right, count) in of {
            acc += *right as f64 / *count as f64 * *count as f64;
            n += count;
        }
        if n == 0 { 0.0 } else { acc / n as f64 }
    };
    let mut metrics = Vec::new();
    for (domain, names) in DOMAINS {
        let inside: Vec<&(String, usize, usize)> = names
            .iter()
            .filter_map(|n| subjects.iter().find(|s| s.0 == *n))
            .collect();
        metrics.push((format!("Overall-{domain}"), round(level(&inside), 5)));
        for (name, right, count) in inside {
            metrics.push((name.clone(), round(*right as f64 / *count as f64, 5)));
        }
    }
    let all: Vec<&(String, usize, usize)> = subjects.iter().collect();
    metrics.insert(0, ("overall".into(), round(level(&all), 5)));
    Ok((metrics, items))
}
