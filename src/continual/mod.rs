//! Continual tuning: the balanced EMA (DEMA) that consolidates each task's weights.

mod balanced_ema;
pub mod bench;
pub mod checkpoint_eval;
pub mod compare;
pub mod config;
mod dema;
mod dema_stats;
pub mod demo;
pub mod easy_vqa;
pub mod grads;
pub mod manifest;
pub mod memory;
mod resume;
pub mod run_report;
pub mod runner;
pub mod schedule;
pub mod setup;
mod trace;
pub mod trainer;
pub mod vision_pretrain;

pub use balanced_ema::{BalancedEma, StepGradients, TensorStep};
pub use dema::{
    DEMA_FALLBACK_ALPHA, DEMA_SCALE, DemaConfig, DemaNorms, DemaState, DemaVariant, FIXED_EMA_BETA,
    PendingStep, balanced_alpha,
};
pub use dema_stats::{AlphaSource, DemaStats, DemaStep, FallbackCounts, FallbackReason};
pub use runner::{RunOptions, RunOutcome, run};
pub use trace::{AlphaTrace, TensorSummary};
pub use trainer::{StepRecord, TrainConfig, TrainReport, train_task};
