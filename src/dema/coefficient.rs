//! The stability-plasticity balanced coefficient and the EMA state of one tensor.
//!
//! After every optimizer step, LCIA folds each trainable tensor θ into an EMA copy θ*:
//! `θ* ← (1 − α)·θ* + α·θ`, where α is recomputed per tensor and per step from L1 sums of the
//! weights' drift from the EMA, the gradient and the gradient's change (METHOD.md §2). The EMA
//! replaces the weights at the end of a task. This file holds the rule's settings and its pure
//! arithmetic; [`crate::dema::DemaState`] is the update of one tensor and
//! [`crate::dema::BalancedEma`] walks a whole Burn module.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use super::bf16::{self, EmaDtype};
pub use super::stats::{DemaNorms, FallbackReason};

/// Scale `C` of the official coefficient `α = C·(1 + b)/(a·c)` (`CoIN/peft/tuners/lora.py`, the
/// literal `* 2`; the paper shows no such factor, see METHOD.md §2.7).
pub const DEMA_SCALE: f64 = 2.0;

/// Weight on the new parameters when the coefficient is unusable: first step, missing gradient,
/// or α outside (0, 1) (official code; the paper's β = 0.99 on the old EMA is the same rule).
pub const DEMA_FALLBACK_ALPHA: f64 = 0.01;

/// β of the fixed-weight EMA baseline (METHOD.md §8: "EMA with fixed weight β = 0.99").
pub const FIXED_EMA_BETA: f64 = 0.99;

/// Which EMA rule to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum DemaVariant {
    /// The official code's rule: `α = C·(1 + ‖g‖₁)/(‖θ − θ*‖₁ · ‖g − g_prev‖₁)` is the weight on the
    /// new weights, with the fallback α outside (0, 1).
    ///
    /// # Faithfulness
    /// Matches `ema_update` of the official code (METHOD.md §2.6) step for step, including the
    /// EMA anchored at the weights after the first step and the fallback on the first step and
    /// after a missing gradient. It differs in two deliberate ways: the EMA is kept in f32
    /// (the official run keeps it in bf16), and a step whose weights are non-finite leaves the EMA
    /// untouched instead of writing NaN into it.
    Official,
    /// The paper's reported form: `β = C·(1 + ‖g‖₁)·‖θ − θ_prev‖₁/(‖θ − θ*‖₁ · ‖g − g_prev‖₁)`
    /// is the weight on the OLD EMA (α = 1 − β), with β outside (0, 1) → the fallback
    /// (β = 1 − fallback_alpha = 0.99).
    ///
    /// # Faithfulness
    /// Reconstructed from secondary descriptions of the paper (METHOD.md §2.4-2.5, not verified
    /// against the PDF): L″ is the difference quotient ‖Δg‖₁/‖Δθ‖₁, which needs the previous
    /// weights (one more copy of each tensor). Use `scale = 1.0` for the closed form as printed
    /// ([`DemaConfig::paper`]).
    Paper,
    /// An extension, NOT LCIA: the official rule normalised to the size of the 7B run,
    /// `α = C·k·‖g‖₁/(‖θ − θ*‖₁ · ‖g − g_prev‖₁)` with `k = N·lr_peak/(N₇·lr₇)` (the tensor's
    /// element count times its peak learning rate over the same tensor's in LLaVA-1.5-7B r 128,
    /// [`crate::dema::reference`]), and the official fallback. The EMA then keeps the same
    /// share of the task's movement as the official rule does at 7B (DEMA-SCALE §3.3). The "1 +"
    /// of the official rule, negligible at 7B, is dropped. [`crate::dema::BalancedEma`] sets `k`
    /// per tensor when it knows the peak learning rates; otherwise the value given here is used.
    SizeNormalised {
        /// The factor k (1 at the 7B reference).
        k: f64,
    },
    /// The fixed-weight EMA baseline: `θ* ← β·θ* + (1 − β)·θ` at every step.
    Fixed {
        /// Weight on the old EMA, in [0, 1].
        beta: f64,
    },
    /// No EMA: the weights are used as trained (the official `--dema False`).
    Off,
}

/// Settings of the balanced EMA.
#[derive(Config, Debug, PartialEq)]
pub struct DemaConfig {
    /// Scale `C` of the coefficient ([`DEMA_SCALE`] in the official code).
    #[config(default = "DEMA_SCALE")]
    pub scale: f64,
    /// Weight on the new weights when the coefficient cannot be used ([`DEMA_FALLBACK_ALPHA`]).
    #[config(default = "DEMA_FALLBACK_ALPHA")]
    pub fallback_alpha: f64,
    /// The rule to run.
    #[config(default = "DemaVariant::Official")]
    pub variant: DemaVariant,
    /// Precision of the EMA and of the coefficient's arithmetic (f32; bf16 emulates the
    /// official run bit for bit).
    #[config(default = "EmaDtype::F32")]
    pub dtype: EmaDtype,
}

impl DemaConfig {
    /// The official rule: C = 2, fallback 0.01.
    pub fn official() -> Self {
        Self::new()
    }

    /// The paper's reported rule (weight on the old EMA, difference-quotient L″) with C = 1.
    pub fn paper() -> Self {
        Self::new().with_scale(1.0).with_variant(DemaVariant::Paper)
    }

    /// The fixed-weight EMA baseline with weight `beta` on the old EMA (0.99 in the paper).
    pub fn fixed(beta: f64) -> Self {
        Self::new().with_variant(DemaVariant::Fixed { beta })
    }

    /// No EMA at all.
    pub fn off() -> Self {
        Self::new().with_variant(DemaVariant::Off)
    }

    /// Whether the rule computes a coefficient from the L1 sums (and so needs the previous
    /// gradient and weights).
    pub fn is_dynamic(&self) -> bool {
        matches!(
            self.variant,
            DemaVariant::Official | DemaVariant::Paper | DemaVariant::SizeNormalised { .. }
        )
    }
}

/// The balanced coefficient, as the weight α on the NEW weights, or why it cannot be used.
///
/// Pure arithmetic on the L1 sums; [`crate::dema::DemaState`] handles first steps and missing
/// gradients. `Fixed` and `Off` have no dynamic coefficient and give `Err(OutOfRange)`. With
/// [`EmaDtype::Bf16`] the sums and every operation are rounded to bf16 (the official
/// expression exactly as bf16 tensors evaluate it).
///
/// ```
/// use lcia::dema::{DemaConfig, DemaNorms, FallbackReason, balanced_alpha};
/// let norms = DemaNorms { drift: 4.0, grad: 1.0, grad_change: 10.0, step: 0.0 };
/// // official: 2 · (1 + 1) / (4 · 10) = 0.1
/// assert!((balanced_alpha(&DemaConfig::official(), &norms).unwrap() - 0.1).abs() < 1e-15);
/// // a gradient that did not change: c = 0, α = ∞
/// let flat = DemaNorms { grad_change: 0.0, ..norms };
/// assert_eq!(balanced_alpha(&DemaConfig::official(), &flat), Err(FallbackReason::ZeroNorm));
/// ```
pub fn balanced_alpha(config: &DemaConfig, norms: &DemaNorms) -> Result<f64, FallbackReason> {
    let half = config.dtype == EmaDtype::Bf16;
    let round = |v: f64| if half { bf16::round(v) } else { v };
    let (drift, grad, grad_change, step) = (
        round(norms.drift),
        round(norms.grad),
        round(norms.grad_change),
        round(norms.step),
    );
    let paper = config.variant == DemaVariant::Paper;
    let inputs_finite =
        [drift, grad, grad_change].iter().all(|v| v.is_finite()) && (!paper || step.is_finite());
    if !inputs_finite {
        return Err(FallbackReason::NonFinite);
    }
    let denominator = drift * grad_change;
    if denominator == 0.0 {
        return Err(FallbackReason::ZeroNorm);
    }
    let value = match config.variant {
        DemaVariant::Official if half => {
            bf16::official_alpha(config.scale, drift, grad, grad_change)
        }
        DemaVariant::Official => config.scale * (1.0 + grad) / denominator,
        DemaVariant::Paper => round(config.scale * (1.0 + grad) * step / denominator),
        DemaVariant::SizeNormalised { k } => round(config.scale * k * grad / denominator),
        DemaVariant::Fixed { .. } | DemaVariant::Off => return Err(FallbackReason::OutOfRange),
    };
    if !value.is_finite() {
        return Err(FallbackReason::NonFinite);
    }
    if !(value > 0.0 && value < 1.0) {
        return Err(FallbackReason::OutOfRange);
    }
    Ok(if paper { 1.0 - value } else { value })
}
