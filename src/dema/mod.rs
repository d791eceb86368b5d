//! The balanced EMA (DEMA): the stability-plasticity coefficient (pure math and its variants),
//! the per-tensor EMA state (f32 or the official run's bf16 arithmetic), the EMA over a whole
//! module, the 7B reference of the size-normalised extension, its statistics, α trace and
//! per-task regime summary.

mod balanced_ema;
pub mod bf16;
mod coefficient;
mod packed;
pub mod reference;
mod regime;
mod state;
mod stats;
mod trace;

pub use balanced_ema::{BalancedEma, StepGradients, TensorStep};
pub use bf16::EmaDtype;
pub use coefficient::{
    DEMA_FALLBACK_ALPHA, DEMA_SCALE, DemaConfig, DemaVariant, FIXED_EMA_BETA, balanced_alpha,
};
pub use regime::DemaRegime;
pub use state::{DemaState, PendingStep};
pub use stats::{AlphaSource, DemaNorms, DemaStats, DemaStep, FallbackCounts, FallbackReason};
pub use trace::{AlphaTrace, TensorSummary};
