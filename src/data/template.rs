//! The `vicuna_v1` conversation template and LLaVA's `preprocess_v1` label masking
//! (METHOD.md §5).

use super::DataError;
use super::tokenizer::{IMAGE_MARKER, TextTokenizer};

/// The system prompt of `vicuna_v1`.
pub const VICUNA_SYSTEM: &str = "A chat between a curious user and an artificial intelligence assistant. \
The assistant gives helpful, detailed, and polite answers to the user's questions.";
/// Separator after the system prompt and after each user turn.
pub const SEP: &str = " ";
/// Separator after each assistant turn (the EOS text).
pub const SEP2: &str = "</s>";
/// Label of unsupervised positions.
pub const IGNORE_INDEX: i64 = -100;

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `human` in LLaVA JSON; `USER` in the prompt.
    Human,
    /// `gpt` in LLaVA JSON; `ASSISTANT` in the prompt.
    Gpt,
}

impl Role {
    /// The speaker as written in the `vicuna_v1` prompt (`USER`, `ASSISTANT`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Human => "USER",
            Role::Gpt => "ASSISTANT",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Speaker.
    pub role: Role,
    /// Text (the first human turn may hold `<image>`).
    pub value: String,
}

/// LLaVA's `preprocess_multimodal`: `<image>` moved to the front of its turn, followed by "\n".
pub fn move_image_to_front(value: &str) -> String {
    if value.contains(IMAGE_MARKER) {
        let rest = value.replace(IMAGE_MARKER, "");
        format!("{IMAGE_MARKER}\n{}", rest.trim())
            .trim()
            .to_string()
    } else {
        value.to_string()
    }
}

/// The full `vicuna_v1` prompt: `"{system} USER: {q} ASSISTANT: {a}</s>USER: ..."`. A turn
/// list that starts with the assistant drops that turn, as LLaVA does.
pub fn vicuna_v1_prompt(turns: &[Turn]) -> String {
    let turns = match turns.first() {
        Some(t) if t.role == Role::Gpt => &turns[1..],
        _ => turns,
    };
    let mut out = format!("{VICUNA_SYSTEM}{SEP}");
    for (i, turn) in turns.iter().enumerate() {
        let sep = if i % 2 == 0 { SEP } else { SEP2 };
        out.push_str(&format!("{}: {}{sep}", turn.role.name(), turn.value));
    }
    out
}

/// Token ids and labels of one training conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Token ids (image placeholders as the given image id).
    pub ids: Vec<i64>,
    /// Labels: the ids where supervised, [`IGNORE_INDEX`] elsewhere.
    pub labels: Vec<i64>,
    /// True when the round lengths did not add up to the sequence length and the whole
    /// sample was masked (LLaVA's "tokenization mismatch" guard).
    pub mismatch: bool,
}

/// LLaVA's `preprocess_v1`: tokenizes the `vicuna_v1` prompt (image-aware when `image_id` is
/// given), masks BOS and each round's instruction (`len(tok(instruction + " ASSISTANT: ")) - 2`
/// tokens), supervises each answer and its `</s>`, masks the rest, masks everything when the
/// round lengths do not add up, and truncates to `max_len`.
pub fn preprocess_v1(
    tokenizer: &TextTokenizer,
    turns: &[Turn],
    image_id: Option<i64>,
    max_len: usize,
) -> Result<Example, DataError> {
    let count = |text: &str| -> Result<usize, DataError> {
        Ok(match image_id {
            Some(id) => tokenizer.encode_with_image(text, id)?.len(),
            None => tokenizer.encode(text, true)?.len(),
        })
    };
    let prompt = vicuna_v1_prompt(turns);
    let mut ids: Vec<i64> = match image_id {
        Some(id) => tokenizer.encode_with_image(&prompt, id)?,
        None => tokenizer
            .encode(&prompt, true)?
            .into_iter()
            .map(i64::from)
            .collect(),
    };
    let mut labels = ids.clone();
    let total = ids.len();
    let sep = format!("{SEP}{}: ", Role::Gpt.name());
    let mut cur = 1usize.min(total);
    labels[..cur].fill(IGNORE_INDEX);
    for round in prompt.split(SEP2) {
        if round.is_empty() {
            break;
        }
        let parts: Vec<&str> = round.split(sep.as_str()).collect();
        if parts.len() != 2 {
            break;
        }
        let round_len = count(round)?;
        let instruction_len = count(&format!("{}{sep}", parts[0]))?.saturating_sub(2);
        let end = (cur + instruction_len).min(total);
        labels[cur.min(total)..end].fill(IGNORE_INDEX);
        cur += round_len;
    }
    labels[cur.min(total)..].fill(IGNORE_INDEX);
    let mismatch = cur != total;
    if mismatch {
        log::warn!("tokenization mismatch: {cur} vs. {total} (sample ignored)");
        labels.fill(IGNORE_INDEX);
    }
    ids.truncate(max_len);
    labels.truncate(max_len);
    Ok(Example {
        ids,
        labels,
        mismatch,
    })
}
