//! The standard VQA answer normalisation (EvalAI / VQA-v2 evaluation), used by the TextVQA and
//! VQAv2 soft accuracy: lowercase, punctuation rules, number words to digits, articles
//! dropped, contractions restored.

use std::collections::HashMap;
use std::sync::OnceLock;

const PUNCTUATION: [char; 21] = [
    ';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',',
    '?', '!',
];

const NUMBERS: [(&str, &str); 12] = [
    ("none", "0"),
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
];

const ARTICLES: [&str; 3] = ["a", "an", "the"];

/// Apostrophe-less spellings and their contractions (the VQA evaluation's table).
const CONTRACTIONS: &[(&str, &str)] = &[
    ("aint", "ain't"),
    ("arent", "aren't"),
    ("cant", "can't"),
    ("couldve", "could've"),
    ("couldnt", "couldn't"),
    ("couldn'tve", "couldn't've"),
    ("couldnt've", "couldn't've"),
    ("didnt", "didn't"),
    ("doesnt", "doesn't"),
    ("dont", "don't"),
    ("hadnt", "hadn't"),
    ("hadnt've", "hadn't've"),
    ("hadn'tve", "hadn't've"),
    ("hasnt", "hasn't"),
    ("havent", "haven't"),
    ("hed", "he'd"),
    ("hed've", "he'd've"),
    ("he'dve", "he'd've"),
    ("hes", "he's"),
    ("howd", "how'd"),
    ("howll", "how'll"),
    ("hows", "how's"),
    ("Id've", "I'd've"),
    ("I'dve", "I'd've"),
    ("Im", "I'm"),
    ("Ive", "I've"),
    ("isnt", "isn't"),
    ("itd", "it'd"),
    ("itd've", "it'd've"),
    ("it'dve", "it'd've"),
    ("itll", "it'll"),
    ("let's", "let's"),
    ("maam", "ma'am"),
    ("mightnt", "mightn't"),
    ("mightnt've", "mightn't've"),
    ("mightn'tve", "mightn't've"),
    ("mightve", "might've"),
    ("mustnt", "mustn't"),
    ("mustve", "must've"),
    ("neednt", "needn't"),
    ("notve", "not've"),
    ("oclock", "o'clock"),
    ("oughtnt", "oughtn't"),
    ("ow's'at", "'ow's'at"),
    ("'ows'at", "'ow's'at"),
    ("'ow'sat", "'ow's'at"),
    ("shant", "shan't"),
    ("shed've", "she'd've"),
    ("she'dve", "she'd've"),
    ("she's", "she's"),
    ("shouldve", "should've"),
    ("shouldnt", "shouldn't"),
    ("shouldnt've", "shouldn't've"),
    ("shouldn'tve", "shouldn't've"),
    ("somebody'd", "somebodyd"),
    ("somebodyd've", "somebody'd've"),
    ("somebody'dve", "somebody'd've"),
    ("somebodyll", "somebody'll"),
    ("somebodys", "somebody's"),
    ("someoned", "someone'd"),
    ("someoned've", "someone'd've"),
    ("someone'dve", "someone'd've"),
    ("someonell", "someone'll"),
    ("someones", "someone's"),
    ("somethingd", "something'd"),
    ("somethingd've", "something'd've"),
    ("something'dve", "something'd've"),
    ("somethingll", "something'll"),
    ("thats", "that's"),
    ("thered", "there'd"),
    ("thered've", "there'd've"),
    ("there'dve", "there'd've"),
    ("therere", "there're"),
    ("theres", "there's"),
    ("theyd", "they'd"),
    ("theyd've", "they'd've"),
    ("they'dve", "they'd've"),
    ("theyll", "they'll"),
    ("theyre", "they're"),
    ("theyve", "they've"),
    ("twas", "'twas"),
    ("wasnt", "wasn't"),
    ("wed've", "we'd've"),
    ("we'dve", "we'd've"),
    ("weve", "we've"),
    ("werent", "weren't"),
    ("whatll", "what'll"),
    ("whatre", "what're"),
    ("whats", "what's"),
    ("whatve", "what've"),
    ("whens", "when's"),
    ("whered", "where'd"),
    ("wheres", "where's"),
    ("whereve", "where've"),
    ("whod", "who'd"),
    ("whod've", "who'd've"),
    ("who'dve", "who'd've"),
    ("wholl", "who'll"),
    ("whos", "who's"),
    ("whove", "who've"),
    ("whyll", "why'll"),
    ("whyre", "why're"),
    ("whys", "why's"),
    ("wont", "won't"),
    ("wouldve", "would've"),
    ("wouldnt", "wouldn't"),
    ("wouldnt've", "wouldn't've"),
    ("wouldn'tve", "wouldn't've"),
    ("yall", "y'all"),
    ("yall'll", "y'all'll"),
    ("y'allll", "y'all'll"),
    ("yall'd've", "y'all'd've"),
    ("y'alld've", "y'all'd've"),
    ("y'all'dve", "y'all'd've"),
    ("youd", "you'd"),
    ("youd've", "you'd've"),
    ("you'dve", "you'd've"),
    ("youll", "you'll"),
    ("youre", "you're"),
    ("youve", "you've"),
];

fn contractions() -> &'static HashMap<&'static str, &'static str> {
    static MAP: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| CONTRACTIONS.iter().copied().collect())
}

/// Whether `text` has a comma between two digits (the "comma strip" pattern `(\d)(,)(\d)`).
fn has_digit_comma(text: &str) -> bool {
    let c: Vec<char> = text.chars().collect();
    c.windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == ',' && w[2].is_ascii_digit())
}

/// Removes every '.' not followed by a digit (the evaluation's `(?!<=\d)(\.)(?!\d)`, whose
/// intended look-behind is really a look-ahead for "<=" and a digit, so it never blocks).
fn strip_periods(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    c.iter()
        .enumerate()
        .filter(|&(i, &ch)| ch != '.' || c.get(i + 1).is_some_and(|n| n.is_ascii_digit()))
        .map(|(_, &ch)| ch)
        .collect()
}

/// The evaluation's punctuation step on one answer.
fn process_punctuation(text: &str) -> String {
    let strip_all = has_digit_comma(text);
    let mut out = text.to_string();
    for p in PUNCTUATION {
        let spaced = text.contains(&format!("{p} ")) || text.contains(&format!(" {p}"));
        out = if spaced || strip_all {
            out.replace(p, "")
        } else {
            out.replace(p, " ")
        };
    }
    strip_periods(&out)
}

/// Number words to digits, articles dropped, contractions restored; words rejoined by spaces.
fn process_digit_article(text: &str) -> String {
    let numbers: HashMap<&str, &str> = NUMBERS.into_iter().collect();
    text.to_lowercase()
        .split_whitespace()
        .map(|w| numbers.get(w).copied().unwrap_or(w))
        .filter(|w| !ARTICLES.contains(w))
        .map(|w| contractions().get(w).copied().unwrap_or(w).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The full normalisation of one answer or prediction.
///
/// ```
/// use lcia::eval::vqa_normalize::normalize_answer;
/// assert_eq!(normalize_answer("Two dogs."), "2 dogs");
/// assert_eq!(normalize_answer("The Coca-Cola"), "coca cola");
/// assert_eq!(normalize_answer("1,000"), "1000");
/// assert_eq!(normalize_answer("dont"), "don't");
/// ```
pub fn normalize_answer(answer: &str) -> String {
    let word = answer
        .to_lowercase()
        .replace([',', '?'], "")
        .replace("'s", " 's");
    let word = word.replace(['\n', '\t'], " ");
    process_digit_article(&process_punctuation(word.trim()))
}

/// VQA soft accuracy of a prediction against (typically ten) human answers: the mean over
/// leave-one-out subsets of `min(1, matches among the others / 3)`, after normalisation.
///
/// ```
/// use lcia::eval::vqa_normalize::vqa_soft_accuracy;
/// let answers: Vec<String> = ["red"; 2].iter().chain(["blue"; 8].iter()).map(|s| s.to_string()).collect();
/// // 8 subsets leave out a "blue": 2 "red" among the others -> 2/3; 2 subsets leave out a "red": 1/3
/// let expected = (8.0 * 2.0 / 3.0 + 2.0 * 1.0 / 3.0) / 10.0;
/// assert!((vqa_soft_accuracy("Red", &answers) - expected).abs() < 1e-12);
/// assert_eq!(vqa_soft_accuracy("blue", &answers), 1.0);
/// ```
pub fn vqa_soft_accuracy(prediction: &str, answers: &[String]) -> f64 {
    if answers.is_empty() {
        return 0.0;
    }
    let pred = normalize_answer(prediction);
    let gts: Vec<String> = answers.iter().map(|a| normalize_answer(a)).collect();
    let matches = gts.iter().filter(|g| **g == pred).count();
    let total: f64 = gts
        .iter()
        .map(|g| {
            let others = matches - usize::from(*g == pred);
            (others as f64 / 3.0).min(1.0)
        })
        .sum();
    total / gts.len() as f64
}
