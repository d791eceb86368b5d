//! Evaluation: per-task scorers, the VQA answer normalisation, the accuracy matrix and its
//! continual-learning metrics.

pub mod matrix;
pub mod scorers;
pub mod vqa_normalize;

pub use matrix::{AccuracyMatrix, ContinualMetrics};
pub use scorers::ScorerMode;
