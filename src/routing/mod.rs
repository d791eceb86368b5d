//! Instruction grouping: text similarity, the instruction codebook (retrain or expand), and
//! test-time routing of instances to parameter sets.

pub mod codebook;
pub mod embedding;
mod error;
pub mod measure;
pub mod router;
pub mod similarity;
pub mod tfidf;

pub use codebook::{Decision, InstructionCodebook, Split, TAU_DIVERSE, TAU_ORIGIN, TaskKind};
pub use embedding::SentenceEncoder;
pub use error::RoutingError;
pub use measure::SimilarityKind;
pub use router::{AuditRecord, Router, RoutingMode, group_counts, read_audit, write_audit};
pub use similarity::{InstructionSimilarity, TfIdf};
