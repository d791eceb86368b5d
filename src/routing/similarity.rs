//! The similarity measure between two instructions, selectable by configuration.

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
