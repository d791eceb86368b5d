//! The similarity measure between two instructions, selectable by configuration.

use serde::{Deserialize, Serialize};

/// A similarity between two instruction strings, in [0, 1] for the built-in measures.
pub trait InstructionSimilarity {
    /// How similar `a` and `b` are.
    fn similarity(&self, a: &str, b: &str) -> f64;
}

/// scikit-learn-identical TF-IDF fitted per pair, as the official code measures it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TfIdf;

impl InstructionSimilarity for TfIdf {
    fn similarity(&self, a: &str, b: &str) -> f64 {
        super::tfidf::similarity_or_zero(a, b)
    }
}

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
    ) -> Result<Box<dyn InstructionSimilarity>, super::RoutingError> {
        Ok(match self {
            SimilarityKind::TfIdf => Box::new(TfIdf),
            SimilarityKind::Embedding { model_dir } => Box::new(
                super::embedding::SentenceEncoder::<B>::load(model_dir, device)?,
            ),
        })
    }
}
