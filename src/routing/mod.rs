//! Instruction grouping: text similarity, the instruction codebook (retrain or expand), and
//! test-time routing of instances to parameter sets.

pub mod tfidf;
