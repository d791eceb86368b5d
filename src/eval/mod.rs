//! Evaluation: the accuracy matrix and its continual-learning metrics.

pub mod matrix;

pub use matrix::{AccuracyMatrix, ContinualMetrics};
