//! The balanced EMA (DEMA): the stability-plasticity coefficient (pure math and its variants),
//! the per-tensor EMA state, the EMA over a whole module, its statistics and α trace.

mod balanced_ema;
mod coefficient;
mod stats;
mod trace;

pub use balanced_ema::{BalancedEma, StepGradients, TensorStep};
pub use coefficient::{
    DEMA_FALLBACK_ALPHA, DEMA_SCALE, DemaConfig, DemaNorms, DemaState, DemaVariant, FIXED_EMA_BETA,
    PendingStep, balanced_alpha,
};
pub use stats::{AlphaSource, DemaStats, DemaStep, FallbackCounts, FallbackReason};
pub use trace::{AlphaTrace, TensorSummary};
