//! Sentence embeddings (BERT, mean pooling, L2 normalisation) as an instruction similarity.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;

use super::RoutingError;
use super::similarity::InstructionSimilarity;
use crate::data::TextTokenizer;
use crate::model::bert::{BERT_REMAP, Bert, BertConfig};

/// A sentence encoder in the all-MiniLM-L6-v2 style: BERT, mean of the token states over the
/// attention mask, L2-normalised (sentence-transformers' `Pooling(mean)` + `Normalize`).
pub struct SentenceEncoder<B: Backend> {
    bert: Bert<B>,
    tokenizer: TextTokenizer,
    device: B::Device,
    cache: RefCell<HashMap<String, Vec<f32>>>,
}

impl<B: Backend> SentenceEncoder<B> {
    /// An encoder from its parts (e.g. a random model in tests); inputs longer than `max_len`
    /// tokens are truncated keeping the special tokens (`[CLS] … [SEP]`), as
    /// sentence-transformers does.
    pub fn new(
        bert: Bert<B>,
        tokenizer: TextTokenizer,
        max_len: usize,
        device: &B::Device,
    ) -> Result<Self, RoutingError> {
        let tokenizer = tokenizer
            .with_truncation(max_len)
            .map_err(|e| RoutingError::Instruction(e.to_string()))?;
        Ok(Self {
            bert,
            tokenizer,
            device: device.clone(),
            cache: RefCell::default(),
        })
    }

    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`; inputs are
    /// truncated to `max_seq_length` of `sentence_bert_config.json` when present (256 for
    /// all-MiniLM-L6-v2), else to the model's position limit, keeping `[CLS] … [SEP]`.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, RoutingError> {
        let config_path = dir.join("config.json");
        let config: BertConfig =
            crate::io::read_json(&config_path).map_err(|e| RoutingError::file(&config_path, e))?;
        let bert =
            crate::model::hf::load_weights_with(Bert::init(&config, device), dir, BERT_REMAP)
                .map_err(|e| RoutingError::file(dir, e))?;
        let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"))
            .map_err(|e| RoutingError::file(&dir.join("tokenizer.json"), e))?;
        let max_len = Self::max_seq_length(dir)?.unwrap_or(config.max_position_embeddings);
        Self::new(bert, tokenizer, max_len, device)
    }

    /// `max_seq_length` of `dir/sentence_bert_config.json`, if the file exists.
    fn max_seq_length(dir: &Path) -> Result<Option<usize>, RoutingError> {
        let file = dir.join("sentence_bert_config.json");
        if !file.is_file() {
            return Ok(None);
        }
        let config: serde_json::Value =
            crate::io::read_json(&file).map_err(|e| RoutingError::file(&file, e))?;
        match config.get("max_seq_length") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                RoutingError::file(&file, format!("max_seq_length {v} is not a whole number"))
            }),
        }
    }

    /// Unit-length embeddings of `texts`, one row each, computed in one padded batch.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RoutingError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(t, true)
                    .map_err(|e| RoutingError::Instruction(e.to_string()))
            })
            .collect::<Result<Vec<_>, RoutingError>>()?;
        let len = encoded.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        for row in &encoded {
            for i in 0..len {
                ids.push(row.get(i).map_or(0, |&t| t as i64));
                mask.push(i64::from(i < row.len()));
            }
        }
        let b = texts.len();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, len]), &self.device);
        let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(mask, [b, len]), &self.device);
        let hidden = self.bert.forward(ids, mask.clone());
        let [_, _, d] = hidden.dims();
        let weights = mask.float().reshape([b, len, 1]);
        let summed = (hidden * weights.clone()).sum_dim(1).reshape([b, d]);
        let counts = weights.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
        let mean = summed / counts;
        let norm = mean
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        let unit: Vec<f32> = (mean / norm).into_data().iter::<f32>().collect();
        Ok(unit.chunks(d).map(<[f32]>::to_vec).collect())
    }

    fn cached(&self, text: &str) -> Vec<f32> {
        if let Some(v) = self.cache.borrow().get(text) {
            return v.clone();
        }
        let v = match self.embed(&[text]) {
            Ok(mut rows) => rows.pop().unwrap_or_default(),
            Err(e) => {
                log::warn!("embedding {text:?} failed ({e}); similarity 0");
                Vec::new()
            }
        };
        self.cache.borrow_mut().insert(text.to_string(), v.clone());
        v
    }
}

impl<B: Backend> InstructionSimilarity for SentenceEncoder<B> {
    /// Cosine of the two (unit) embeddings; embeddings are cached per string.
    fn similarity(&self, a: &str, b: &str) -> f64 {
        let (ea, eb) = (self.cached(a), self.cached(b));
        ea.iter()
            .zip(&eb)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }
}
