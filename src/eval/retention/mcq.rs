//! Option-letter extraction from free answers: lmms-eval's shared `extract_mcq_answer` and
//! MMBench's `can_infer` (a letter standing alone, else the one option whose text the answer
//! contains).

use super::pytext::{split_words, strip};

/// Where a letter was found, weakest first (`extract_mcq_answer`'s priorities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Format {
    Fallback,
    Space,
    RightParen,
    Colon,
    Period,
    Parentheses,
    Phrase,
    End,
    Start,
}

const PHRASES: [&str; 27] = [
    "the answer is",
    "answer is",
    "the correct answer is",
    "correct answer is",
    "the best answer is",
    "best answer is",
    "the correct option is",
    "correct option is",
    "the best option is",
    "best option is",
    "the choice is",
    "choice is",
    "the correct choice is",
    "correct choice is",
    "i choose",
    "i select",
    "i pick",
    "my answer is",
    "my choice is",
    "옵션",
    "정답은",
    "답은",
    "답:",
    "答案是",
    "答案为",
    "选",
    "答えは",
];

/// lmms-eval's `extract_mcq_answer(response, choices)`: the letter in the strongest format
/// (alone at the start, alone at the end, after an answer phrase, "(A)", "A.", "A:", "A)",
/// "A "), the last such occurrence within a format; "" when none.
pub fn extract_mcq_answer(response: &str, choices: &[String]) -> String {
    if strip(response).is_empty() {
        return String::new();
    }
    let mut text = strip(response);
    for c in [',', '.', '!', '?', ';', ':', '\'', '"'] {
        text = text.trim_matches(c);
    }
    let text = format!(" {text} ");
    // (letter, position, format); positions compare within one string, bytes order as chars
    let mut found: Vec<(&str, i64, Format)> = Vec::new();
    let last = |pattern: String| text.rfind(&pattern).map(|at| at as i64);
    for (format, make) in [
        (
            Format::Parentheses,
            (|c: &str| format!("({c})")) as fn(&str) -> String,
        ),
        (Format::Period, |c| format!("{c}.")),
        (Format::Colon, |c| format!("{c}:")),
        (Format::RightParen, |c| format!("{c})")),
        (Format::Space, |c| format!("{c} ")),
    ] {
        for ch in choices {
            if let Some(at) = last(make(ch)) {
                found.push((ch, at, format));
            }
        }
    }
    let lower = text.to_lowercase();
    for phrase in PHRASES {
        if let Some(at) = find_lower(&text, &lower, phrase) {
            for ch in choices {
                if let Some(pos) = text[at..].find(ch.as_str()) {
                    found.push((ch, (at + pos) as i64, Format::Phrase));
                }
            }
        }
    }
    let stripped = strip(&text);
    let chars: Vec<char> = stripped.chars().collect();
    for ch in choices {
        let alone = chars.len() == 1 || !chars.get(1).is_some_and(|c| c.is_alphabetic());
        if stripped.starts_with(ch.as_str()) && alone {
            found.push((ch, 0, Format::Start));
        }
    }
    for ch in choices {
        let n = chars.len();
        let alone = n == 1 || !(n >= 2 && chars[n - 2].is_alphabetic());
        if stripped.ends_with(ch.as_str()) && alone {
            found.push((ch, text.len() as i64 - 1, Format::End));
        }
    }
    if found.is_empty() {
        for ch in choices {
            if let Some(at) = last(ch.clone()) {
                found.push((ch, at, Format::Fallback));
            }
        }
    }
    // highest format, then latest position; the first found wins a tie (Python's stable sort)
    let mut best: Option<(&str, i64, Format)> = None;
    for candidate in found {
        if best.is_none_or(|b| (candidate.2, candidate.1) > (b.2, b.1)) {
            best = Some(candidate);
        }
    }
    best.map_or(String::new(), |b| b.0.to_string())
}

/// Python's `text.find(ch, text_lower.find(phrase) + len(phrase))` start: the end of the
/// first `phrase` in the lower-cased text, as a code-point index carried over to `text`
/// (in bytes of `text`).
fn find_lower(text: &str, lower: &str, phrase: &str) -> Option<usize> {
    let at = lower.find(phrase)?;
    let chars_before = lower[..at + phrase.len()].chars().count();
    Some(
        text.char_indices()
            .nth(chars_before)
            .map_or(text.len(), |(i, _)| i),
    )
}

/// MMBench's `can_infer_option(answer)`: a letter of A..E standing alone as a word (or in
/// one of the forms "A.", "A,", "A:", "A)", "A).", "(A)", "(A).", ":A", ":A,", ":A.", ":A)",
/// ":A).") exactly once.
pub fn can_infer_option(answer: &str) -> Option<char> {
    const CHOICES: [char; 5] = ['A', 'B', 'C', 'D', 'E'];
    if answer.contains("Failed to obtain answer via API") {
        return None;
    }
    let splits: Vec<&str> = split_words(answer).into_iter().map(strip).collect();
    let has = |word: String| splits.iter().any(|s| *s == word);
    let count = |pre: &str, post: &str| {
        CHOICES
            .iter()
            .filter(|c| has(format!("{pre}{c}{post}")))
            .count()
    };
    if count("", "") == 1 {
        for ch in CHOICES {
            if splits.contains(&"A") && splits.len() > 3 {
                // lmms-eval: "A might be a quantifier in the string"
                break;
            }
            if has(ch.to_string()) {
                return Some(ch);
            }
        }
    }
    const FORMS: [(&str, &str); 12] = [
        ("", "."),
        ("", ","),
        ("", ":"),
        ("", ")"),
        ("", ")."),
        ("(", ")"),
        ("(", ")."),
        (":", ""),
        (":", ","),
        (":", "."),
        (":", ")"),
        (":", ")."),
    ];
    for (pre, post) in FORMS {
        if count(pre, post) == 1 {
            return CHOICES.into_iter().find(|c| has(format!("{pre}{c}{post}")));
        }
    }
    None
}

/// MMBench's `can_infer_text(answer, choices)`: the only option whose text (lower-cased)
/// the lower-cased answer contains.
pub fn can_infer_text(answer: &str, choices: &[(char, String)]) -> Option<char> {
    let answer = answer.to_lowercase();
    let mut hits = choices
        .iter()
        .filter(|(_, text)| answer.contains(&text.to_lowercase()));
    match (hits.next(), hits.next()) {
        (Some((letter, _)), None) => Some(*letter),
        _ => None,
    }
}
