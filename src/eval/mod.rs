//! Evaluation: per-task scorers, the VQA answer normalisation, model → predictions, the
//! accuracy matrix and its continual-learning metrics, the reports, and rescoring existing
//! answer files.

pub mod evaluate;
pub mod matrix;
pub mod plot;
pub mod report;
pub mod rescore;
pub mod retention;
pub mod scorers;
pub mod task_score;
pub mod vqa_normalize;

pub use evaluate::{
    EvalContext, LongPrompts, Prediction, TaskEval, TaskSpec, answer_task, evaluate_task,
    write_predictions,
};
pub use matrix::{AccuracyMatrix, ContinualMetrics};
pub use scorers::ScorerMode;
pub use task_score::{ScorerKind, score_instance};
