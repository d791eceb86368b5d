//! Conversation templates: LLaVA's `vicuna_v1` (the default, [`super::template`]) and ChatML
//! (`<|im_start|>role\n...<|im_end|>\n`, the template of SmolLM2, Qwen and other GPT-2-style
//! vocabularies).

use serde::{Deserialize, Serialize};

use super::DataError;
use super::template::{Example, IGNORE_INDEX, Role, Turn, preprocess_v1, vicuna_v1_prompt};
use super::tokenizer::TextTokenizer;

/// Opens a ChatML turn.
pub const IM_START: &str = "<|im_start|>";
/// Closes a ChatML turn (SmolLM2's EOS).
pub const IM_END: &str = "<|im_end|>";

/// Which conversation template prompts and training examples are written in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Template {
    /// LLaVA-1.5's `vicuna_v1` with `preprocess_v1` label masking.
    #[default]
    VicunaV1,
    /// ChatML: an optional system turn, then `<|im_start|>user\n{q}<|im_end|>\n<|im_start|>
    /// assistant\n{a}<|im_end|>\n`; each answer and its `<|im_end|>` are supervised.
    ChatMl {
        /// The system message, if any (SmolLM2's chat template adds one when none is given).
        #[serde(default)]
        system: Option<String>,
    },
}

impl Template {
    /// Token ids of a generation prompt: one user turn, then the opening of the assistant
    /// turn. `image_id` stands for each `<image>` in `user`.
    pub fn generation_ids(
        &self,
        tokenizer: &TextTokenizer,
        user: &str,
        image_id: Option<i64>,
    ) -> Result<Vec<i64>, DataError> {
        let turns = [Turn {
            role: Role::Human,
            value: user.to_string(),
        }];
        match self {
            Template::VicunaV1 => {
                let prompt = format!("{}{}:", vicuna_v1_prompt(&turns), Role::Gpt.name());
                encode(tokenizer, &prompt, image_id, true)
            }
            Template::ChatMl { system } => {
                let mut prompt = chatml_head(system.as_deref());
                prompt.push_str(&format!("{IM_START}user\n{user}{IM_END}\n"));
                prompt.push_str(&format!("{IM_START}assistant\n"));
                encode(tokenizer, &prompt, image_id, false)
            }
        }
    }

    /// Token ids and labels of a training conversation (`turns` alternate user/assistant).
    pub fn training_example(
        &self,
        tokenizer: &TextTokenizer,
        turns: &[Turn],
        image_id: Option<i64>,
        max_len: usize,
    ) -> Result<Example, DataError> {
        let Template::ChatMl { system } = self else {
            return preprocess_v1(tokenizer, turns, image_id, max_len);
        };
        let mut ids = encode(tokenizer, &chatml_head(system.as_deref()), image_id, false)?;
        let mut labels = vec![IGNORE_INDEX; ids.len()];
        for turn in turns {
            let (role, supervised) = match turn.role {
                Role::Human => ("user", false),
                Role::Gpt => ("assistant", true),
            };
            let head = encode(tokenizer, &format!("{IM_START}{role}\n"), image_id, false)?;
            let body = encode(
                tokenizer,
                &format!("{}{IM_END}", turn.value),
                image_id,
                false,
            )?;
            let tail = encode(tokenizer, "\n", image_id, false)?;
            labels.extend(std::iter::repeat_n(IGNORE_INDEX, head.len()));
            match supervised {
                true => labels.extend(&body),
                false => labels.extend(std::iter::repeat_n(IGNORE_INDEX, body.len())),
            }
            labels.extend(std::iter::repeat_n(IGNORE_INDEX, tail.len()));
            ids.extend(head.into_iter().chain(body).chain(tail));
        }
        ids.truncate(max_len);
        labels.truncate(max_len);
        Ok(Example {
            ids,
            labels,
            mismatch: false,
        })
    }
}

impl Template {
    /// The template a model's `tokenizer_config.json` asks for: ChatML (with the chat
    /// template's default system message, if it writes one) when its `chat_template` uses
    /// `<|im_start|>`, `vicuna_v1` otherwise or when there is no such file.
    pub fn from_tokenizer_config(path: &std::path::Path) -> Result<Self, DataError> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(Template::VicunaV1);
        };
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| DataError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let chat = config["chat_template"].as_str().unwrap_or("");
        if !chat.contains(IM_START) {
            return Ok(Template::VicunaV1);
        }
        let open = format!("{IM_START}system");
        let system = chat.split_once(&open).and_then(|(_, rest)| {
            let rest = rest
                .strip_prefix("\\n")
                .or_else(|| rest.strip_prefix('\n'))?;
            let (text, _) = rest.split_once(IM_END)?;
            (!text.contains('{')).then(|| text.to_string())
        });
        Ok(Template::ChatMl { system })
    }
}

fn chatml_head(system: Option<&str>) -> String {
    system.map_or_else(String::new, |s| format!("{IM_START}system\n{s}{IM_END}\n"))
}

fn encode(
    tokenizer: &TextTokenizer,
    text: &str,
    image_id: Option<i64>,
    special: bool,
) -> Result<Vec<i64>, DataError> {
    match image_id {
        Some(id) => tokenizer.encode_with_image(text, id),
        None => Ok(tokenizer
            .encode(text, special)?
            .into_iter()
            .map(i64::from)
            .collect()),
    }
}
