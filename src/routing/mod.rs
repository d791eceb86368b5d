//! Instruction grouping: text similarity, the instruction codebook (retrain or expand), and
//! test-time routing of instances to parameter sets.

pub mod codebook;
mod error;
pub mod tfidf;

pub use codebook::{Decision, InstructionCodebook, Split, TAU_DIVERSE, TAU_ORIGIN, TaskKind};
pub use error::RoutingError;
