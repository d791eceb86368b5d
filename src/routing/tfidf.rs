//! TF-IDF cosine similarity of two strings, identical to scikit-learn's
//! `TfidfVectorizer(stop_words='english')` fitted on just those two strings.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

/// scikit-learn's `ENGLISH_STOP_WORDS` (318 words), one per line.
const ENGLISH_STOP_WORDS: &str = include_str!("../../assets/stop_words_english.txt");

/// The English stop-word set.
pub fn english_stop_words() -> &'static HashSet<&'static str> {
    static WORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        ENGLISH_STOP_WORDS
            .lines()
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Tokens as scikit-learn's analyzer makes them: lowercase, runs of two or more word
/// characters (the default pattern `(?u)\b\w\w+\b`), stop words removed.
///
/// ```
/// use lcia::routing::tfidf::tokens;
/// assert_eq!(tokens("Answer with the option's letter!"), vec!["answer", "option", "letter"]);
/// ```
pub fn tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let stop = english_stop_words();
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 2 && !stop.contains(w))
        .map(str::to_string)
        .collect()
}

/// Cosine similarity of the TF-IDF rows of `a` and `b`, the vectorizer fitted on `[a, b]`:
/// raw counts, smooth idf `ln((1 + n)/(1 + df)) + 1` with n = 2, L2-normalised rows.
/// `None` when neither string has a token (scikit-learn raises "empty vocabulary").
///
/// ```
/// use lcia::routing::tfidf::similarity;
/// let s = similarity("Answer the question using a single word or phrase.",
///                    "Answer with the option's letter from the given choices directly.");
/// assert!((s.unwrap() - 0.091_94).abs() < 1e-5); // scikit-learn: 0.0919399817
/// assert_eq!(similarity("and the", "of to"), None);
/// ```
pub fn similarity(a: &str, b: &str) -> Option<f64> {
    let counts = |text: &str| {
        let mut c: BTreeMap<String, f64> = BTreeMap::new();
        for t in tokens(text) {
            *c.entry(t).or_default() += 1.0;
        }
        c
    };
    let (ca, cb) = (counts(a), counts(b));
    if ca.is_empty() && cb.is_empty() {
        return None;
    }
    let idf = |term: &str| {
        let df = f64::from(u8::from(ca.contains_key(term)) + u8::from(cb.contains_key(term)));
        (3.0 / (1.0 + df)).ln() + 1.0
    };
    let weights = |c: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        let w: BTreeMap<String, f64> = c.iter().map(|(t, n)| (t.clone(), n * idf(t))).collect();
        let norm = w.values().map(|v| v * v).sum::<f64>().sqrt();
        w.into_iter()
            .map(|(t, v)| (t, if norm > 0.0 { v / norm } else { 0.0 }))
            .collect()
    };
    let (wa, wb) = (weights(&ca), weights(&cb));
    Some(
        wa.iter()
            .filter_map(|(t, v)| wb.get(t).map(|u| v * u))
            .sum(),
    )
}

/// [`similarity`], with two token-less strings scoring 0 and a logged warning (where
/// scikit-learn would raise).
pub fn similarity_or_zero(a: &str, b: &str) -> f64 {
    similarity(a, b).unwrap_or_else(|| {
        let (a, b) = (shortened(a), shortened(b));
        log::warn!("TF-IDF: {a:?} and {b:?} have no token after stop-word removal; similarity 0");
        0.0
    })
}

/// At most the first 60 characters of `text` (with `…` when cut), for log lines.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_show_at_most_sixty_characters_of_an_instruction() {
        assert_eq!(shortened("short"), "short");
        let long = "é".repeat(100_000);
        assert_eq!(shortened(&long), format!("{}…", "é".repeat(60)));
    }

    #[test]
    fn the_stop_word_list_is_scikit_learns() {
        let words = english_stop_words();
        assert_eq!(words.len(), 318);
        for w in ["the", "a", "whereafter", "hence", "amoungst"] {
            assert!(words.contains(w), "{w}");
        }
    }

    #[test]
    fn single_characters_and_punctuation_are_not_tokens() {
        assert_eq!(tokens("a b c-d e_f 42 x1"), vec!["e_f", "42", "x1"]);
    }
}
