//! Records → model inputs: training samples (ids, labels, image) and evaluation prompts, with
//! the image marker expanded to one token per image patch.

use std::path::{Path, PathBuf};

use super::DataError;
use super::chat::Template;
use super::record::{TestRecord, TrainRecord};
use super::template::{IGNORE_INDEX, Role, move_image_to_front};
use super::tokenizer::{IMAGE_MARKER, TextTokenizer};

/// The id that stands for "one image here" while tokenizing, before expansion (LLaVA's
/// `IMAGE_TOKEN_INDEX`).
const PLACEHOLDER: i64 = -200;

/// How images become tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageTokens {
    /// The id of one image-patch token (`image_token_index` of the model).
    pub id: i64,
    /// Patch tokens per image (576 for CLIP ViT-L/14-336).
    pub count: usize,
}

/// Where an image named in a record lies: relative to `root` when one is given.
pub fn image_path(image: &str, root: Option<&Path>) -> PathBuf {
    root.map_or_else(|| PathBuf::from(image), |r| r.join(image))
}

/// The first id of `ids` outside `0..vocab` (a tokenizer of another model), if any.
///
/// ```
/// use lcia::data::sample::outside_vocabulary;
/// assert_eq!(outside_vocabulary(&[1, 5, 12, -3], 10), Some(12));
/// assert_eq!(outside_vocabulary(&[0, 9], 10), None);
/// ```
pub fn outside_vocabulary(ids: &[i64], vocab: usize) -> Option<i64> {
    ids.iter()
        .copied()
        .find(|&id| !(0..vocab as i64).contains(&id))
}

/// One training sample ready for the batcher.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSample {
    /// Token ids, each image as [`ImageTokens::count`] image tokens, at most `max_len`.
    pub ids: Vec<i64>,
    /// Labels ([`IGNORE_INDEX`] on instructions, images and the BOS).
    pub labels: Vec<i64>,
    /// The image file, if any.
    pub image: Option<PathBuf>,
}

impl TrainSample {
    /// Supervised tokens.
    pub fn supervised(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }
}

/// One test prompt ready for generation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalPrompt {
    /// The record's question id.
    pub question_id: String,
    /// The prompt text as given in the test file.
    pub text: String,
    /// Token ids of the prompt up to the opening of the answer, images expanded.
    pub ids: Vec<i64>,
    /// The image file, if any.
    pub image: Option<PathBuf>,
}

fn expand(ids: &[i64], image: ImageTokens) -> Vec<i64> {
    ids.iter()
        .flat_map(|&id| {
            let n = if id == PLACEHOLDER { image.count } else { 1 };
            std::iter::repeat_n(if id == PLACEHOLDER { image.id } else { id }, n)
        })
        .collect()
}

fn with_marker(value: &str, has_image: bool) -> String {
    match (has_image, value.contains(IMAGE_MARKER)) {
        (true, true) => move_image_to_front(value),
        (true, false) => format!("{IMAGE_MARKER}\n{}", value.trim()),
        (false, _) => value.replace(IMAGE_MARKER, "").trim().to_string(),
    }
}

/// Tokenizes a training record in `template` (for `vicuna_v1`, as LLaVA's `preprocess_v1`
/// does), expands the image to
/// `image.count` tokens (labels ignored there) and truncates to `max_len` (the embedded
/// sequence, as LLaVA truncates after splicing). Returns `None` for a sample the mismatch
/// guard masked entirely or one with no supervised token left after truncation.
pub fn train_sample(
    record: &TrainRecord,
    tokenizer: &TextTokenizer,
    template: &Template,
    image: ImageTokens,
    image_root: Option<&Path>,
    max_len: usize,
) -> Result<Option<TrainSample>, DataError> {
    let has_image = record.image.is_some();
    let mut turns = record.turns().map_err(|message| DataError::Record {
        path: PathBuf::from(format!("record {}", record.id)),
        index: 0,
        message,
    })?;
    if let Some(first) = turns.iter_mut().find(|t| t.role == Role::Human) {
        first.value = with_marker(&first.value, has_image);
    }
    let example = template.training_example(
        tokenizer,
        &turns,
        has_image.then_some(PLACEHOLDER),
        usize::MAX,
    )?;
    if example.mismatch {
        return Ok(None);
    }
    let mut ids = expand(&example.ids, image);
    let mut labels: Vec<i64> = example
        .ids
        .iter()
        .zip(&example.labels)
        .flat_map(|(&id, &label)| {
            let n = if id == PLACEHOLDER { image.count } else { 1 };
            std::iter::repeat_n(
                if id == PLACEHOLDER {
                    IGNORE_INDEX
                } else {
                    label
                },
                n,
            )
        })
        .collect();
    ids.truncate(max_len);
    labels.truncate(max_len);
    let sample = TrainSample {
        ids,
        labels,
        image: record.image.as_ref().map(|i| image_path(i, image_root)),
    };
    Ok((sample.supervised() > 0).then_some(sample))
}

/// The generation prompt of a test record in `template` (`vicuna_v1`: `"{system} USER:
/// <image>\n{text} ASSISTANT:"`), tokenized with the image expanded.
pub fn eval_prompt(
    record: &TestRecord,
    tokenizer: &TextTokenizer,
    template: &Template,
    image: ImageTokens,
    image_root: Option<&Path>,
) -> Result<EvalPrompt, DataError> {
    let has_image = record.image.is_some();
    let ids = template.generation_ids(
        tokenizer,
        &with_marker(&record.text, has_image),
        has_image.then_some(PLACEHOLDER),
    )?;
    Ok(EvalPrompt {
        question_id: record.question_id.clone(),
        text: record.text.clone(),
        ids: expand(&ids, image),
        image: record.image.as_ref().map(|i| image_path(i, image_root)),
    })
}

/// An evaluation prompt fitted into a token budget ([`eval_prompt_within`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted {
    /// The whole prompt fits.
    Whole(EvalPrompt),
    /// The question lost its first tokens to fit.
    Cut(EvalPrompt),
    /// The template and image alone take this many tokens, more than the budget.
    TemplateTooLong(usize),
}

/// The generation prompt of `record` ([`eval_prompt`]) in at most `budget` tokens: a longer
/// question loses its first tokens, and the template, the image and the end of the question
/// (where the instruction is) stay.
pub fn eval_prompt_within(
    record: &TestRecord,
    tokenizer: &TextTokenizer,
    template: &Template,
    image: ImageTokens,
    image_root: Option<&Path>,
    budget: usize,
) -> Result<Fitted, DataError> {
    let prompt = |text: &str| {
        let record = TestRecord {
            text: text.to_string(),
            ..record.clone()
        };
        eval_prompt(&record, tokenizer, template, image, image_root)
    };
    let whole = eval_prompt(record, tokenizer, template, image, image_root)?;
    if whole.ids.len() <= budget {
        return Ok(Fitted::Whole(whole));
    }
    let overhead = prompt("")?.ids.len();
    if overhead >= budget {
        return Ok(Fitted::TemplateTooLong(overhead));
    }
    let question = tokenizer.encode(&record.text.replace(IMAGE_MARKER, ""), false)?;
    let mut keep = (budget - overhead).min(question.len());
    // decoding and encoding again can merge tokens differently: shrink until it fits
    while keep > 0 {
        let text = tokenizer.decode(&question[question.len() - keep..], false)?;
        let mut cut = prompt(&text)?;
        if cut.ids.len() <= budget {
            cut.text = record.text.clone();
            return Ok(Fitted::Cut(cut));
        }
        keep = keep.saturating_sub(cut.ids.len() - budget);
    }
    let mut cut = prompt("")?;
    cut.text = record.text.clone();
    Ok(Fitted::Cut(cut))
}
