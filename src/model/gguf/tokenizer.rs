//! A HuggingFace `tokenizer.json` rebuilt from a GGUF file's `tokenizer.ggml.*` metadata
//! (GPT-2-style byte-level BPE: the token list, the merges, the token types and the
//! pre-tokenizer name).

use serde_json::{Value, json};

use super::{GgufFile, GgufValue};
use crate::model::ModelError;

/// GGUF token types (`llama_token_type`): 3 = control (special), 4 = user-defined.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The `tokenizer.json` text for the GGUF file's vocabulary. Supports `tokenizer.ggml.model =
/// "gpt2"` with the pre-tokenizers `smollm` (single digits, then GPT-2 byte-level splitting),
/// `gpt-2` and `default`; anything else is an error naming the value.
pub fn tokenizer_json(file: &GgufFile) -> Result<String, ModelError> {
    let bad = |message: String| ModelError::Weights {
        file: file.path.clone(),
        message,
    };
    let model = file.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(bad(format!(
            "tokenizer.ggml.model '{model}' is not supported (only 'gpt2' byte-level BPE)"
        )));
    }
    let pre = file
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(GgufValue::as_str)
        .unwrap_or("default");
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
        "trim_offsets": true, "use_regex": true});
    let pre_tokenizer = match pre {
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level]}),
        "gpt-2" | "default" => byte_level.clone(),
        other => {
            return Err(bad(format!(
                "tokenizer.ggml.pre '{other}' is not supported (smollm, gpt-2, default are)"
            )));
        }
    };
    let strings = |key: &str| -> Result<Vec<&str>, ModelError> {
        let array = file.get(key)?.as_array();
        let array =
            array.ok_or_else(|| bad(format!("GGUF metadata key '{key}' is not an array")))?;
        array
            .iter()
            .map(|v| v.as_str())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "GGUF metadata key '{key}' is not an array of strings"
                ))
            })
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match file.metadata.get("tokenizer.ggml.token_type") {
        Some(GgufValue::Array(items)) => items
            .iter()
            .map(|v| match *v {
                GgufValue::I64(t) => t,
                GgufValue::U64(t) => t as i64,
                _ => 1,
            })
            .collect(),
        _ => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(bad(format!(
            "tokenizer.ggml.token_type has {} entries for {} tokens",
            types.len(),
            tokens.len()
        )));
    }
    let mut vocab = serde_json::Map::with_capacity(tokens.len());
    let mut added = Vec::new();
    for (id, (&token, &kind)) in tokens.iter().zip(&types).enumerate() {
        if vocab.insert(token.to_string(), json!(id)).is_some() {
            return Err(bad(format!(
                "token '{token}' appears twice in tokenizer.ggml.tokens"
            )));
        }
        if kind == CONTROL || kind == USER_DEFINED {
            added.push(json!({"id": id, "content": token, "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": kind == USER_DEFINED,
                "special": kind == CONTROL}));
        }
    }
    let unk = file
        .metadata
        .get("tokenizer.ggml.unknown_token_id")
        .and_then(GgufValue::as_u64)
        .and_then(|id| tokens.get(id as usize))
        .map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null);
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true,
            "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
            "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk,
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": merges},
    });
    Ok(serde_json::to_string(&doc).expect("JSON values serialise"))
}
