//! Which similarity measure a run uses, and building it: TF-IDF, or a sentence encoder loaded
//! from a model directory.

use serde::{Deserialize, Serialize};

use super::RoutingError;
use super::embedding::SentenceEncoder;
use super::similarity::{InstructionSimilarity, TfIdf};

/// Which similarity a run uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SimilarityKind {
    /// [`TfIdf`] (the official measure).
    #[default]
    #[serde(rename = "tfidf")]
    TfIdf,
    /// Cosine of sentence embeddings from a BERT-style encoder in this directory.
    Embedding {
        /// Directory with `config.json`, `model.safetensors` and `tokenizer.json`.
        model_dir: std::path::PathBuf,
    },
}

impl SimilarityKind {
    /// The measure this names, on backend `B` for embeddings.
    pub fn build<B: burn::prelude::Backend>(
        &self,
        device: &B::Device,
    ) -> Result<Box<dyn InstructionSimilarity>, RoutingError> {
        Ok(match self {
            SimilarityKind::TfIdf => Box::new(TfIdf),
            SimilarityKind::Embedding { model_dir } => {
                Box::new(SentenceEncoder::<B>::load(model_dir, device)?)
            }
        })
    }
}
