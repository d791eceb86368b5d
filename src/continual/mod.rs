//! Continual tuning: the balanced EMA (DEMA) that consolidates each task's weights.

mod balanced_ema;
mod dema;
mod dema_stats;
mod trace;

pub use balanced_ema::{BalancedEma, StepGradients, TensorStep};
pub use dema::{
    DEMA_FALLBACK_ALPHA, DEMA_SCALE, DemaConfig, DemaNorms, DemaState, DemaVariant, FIXED_EMA_BETA,
    PendingStep, balanced_alpha,
};
pub use dema_stats::{AlphaSource, DemaStats, DemaStep, FallbackCounts, FallbackReason};
pub use trace::{AlphaTrace, TensorSummary};
