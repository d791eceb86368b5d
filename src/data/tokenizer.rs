//! Text tokenization from a HuggingFace `tokenizer.json` (no hub, no network), with LLaVA's
//! image-token insertion.

use std::path::{Path, PathBuf};

use super::DataError;

/// The image marker in prompts (`DEFAULT_IMAGE_TOKEN` of LLaVA).
pub const IMAGE_MARKER: &str = "<image>";

/// A loaded tokenizer with its BOS/EOS ids.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    bos: Option<u32>,
    eos: Option<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; BOS and EOS are `<s>`/`</s>` when present (Llama-2 style),
    /// otherwise `eos_token` (and `bos_token` when `add_bos_token` is true) of a
    /// `tokenizer_config.json` beside it (GPT-2-style vocabularies such as SmolLM2's). Padding and truncation settings stored in the file are switched off: callers pad and
    /// truncate batches themselves (and a fixed padding would otherwise be taken for text).
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let mut inner =
            tokenizers::Tokenizer::from_file(path).map_err(|e| DataError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| DataError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let mut bos = inner.token_to_id("<s>");
        let mut eos = inner.token_to_id("</s>");
        if eos.is_none() {
            let side = path.with_file_name("tokenizer_config.json");
            if let Ok(text) = std::fs::read_to_string(&side) {
                let config: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| DataError::Tokenizer {
                        path: side.clone(),
                        message: e.to_string(),
                    })?;
                let id = |key: &str| config[key].as_str().and_then(|t| inner.token_to_id(t));
                eos = id("eos_token");
                bos = if config["add_bos_token"] == serde_json::Value::Bool(true) {
                    id("bos_token")
                } else {
                    None
                };
            }
        }
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            bos,
            eos,
        })
    }

    /// Overrides the BOS/EOS ids (e.g. from a model's `config.json`).
    pub fn with_special_ids(mut self, bos: Option<u32>, eos: Option<u32>) -> Self {
        self.bos = bos;
        self.eos = eos;
        self
    }

    /// Beginning-of-sequence id.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of `text`; `special` applies the tokenizer's post-processor (adds BOS for Llama).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, DataError> {
        self.inner
            .encode(text, special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| DataError::Tokenizer {
                path: self.path.clone(),
                message: format!("encoding {text:?}: {e}"),
            })
    }

    /// Truncates every encoding to `max_len` ids counting the special tokens the
    /// post-processor adds, which are kept (BERT: `[CLS]` + the first `max_len - 2` word pieces
    /// + `[SEP]`), as transformers' tokenizers do with `truncation=True, max_length=max_len`.
    pub fn with_truncation(mut self, max_len: usize) -> Result<Self, DataError> {
        let params = tokenizers::TruncationParams {
            max_length: max_len,
            ..Default::default()
        };
        self.inner
            .with_truncation(Some(params))
            .map_err(|e| DataError::Tokenizer {
                path: self.path.clone(),
                message: format!("truncation to {max_len}: {e}"),
            })?;
        Ok(self)
    }

    /// Text of `ids`, special tokens dropped when `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, DataError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| DataError::Tokenizer {
                path: self.path.clone(),
                message: format!("decoding: {e}"),
            })
    }

    /// LLaVA's `tokenizer_image_token`: the text around each `<image>` is tokenized separately
    /// (each chunk with BOS), the first chunk's BOS is kept once, the other chunks' BOS dropped,
    /// and `image_id` is inserted where each `<image>` was.
    pub fn encode_with_image(&self, prompt: &str, image_id: i64) -> Result<Vec<i64>, DataError> {
        let chunks = prompt
            .split(IMAGE_MARKER)
            .map(|chunk| self.encode(chunk, true))
            .collect::<Result<Vec<_>, _>>()?;
        let starts_with_bos = |c: &Vec<u32>| self.bos.is_some() && c.first().copied() == self.bos;
        let offset = usize::from(chunks.first().is_some_and(starts_with_bos));
        let mut ids: Vec<i64> = Vec::new();
        if offset == 1 {
            ids.push(chunks[0][0] as i64);
        }
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                ids.push(image_id);
            }
            ids.extend(chunk.iter().skip(offset).map(|&t| t as i64));
        }
        Ok(ids)
    }
}
