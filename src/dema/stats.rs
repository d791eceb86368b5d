//! Where each EMA coefficient came from, and counts of them for logs and reports.

use serde::{Deserialize, Serialize};

/// Why the balanced coefficient was replaced by the fallback weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FallbackReason {
    /// The first step of a task: the EMA starts as the weights and there is no previous gradient.
    FirstStep,
    /// The tensor got no gradient this step.
    MissingGradient,
    /// The previous step had no gradient, so the gradient's change is undefined.
    NoPreviousGradient,
    /// `‖θ − θ*‖₁ · ‖g − g_prev‖₁ = 0`, so α would be infinite.
    ZeroNorm,
    /// A sum or the coefficient is NaN or infinite (a non-finite gradient).
    NonFinite,
    /// The coefficient is finite but outside (0, 1).
    OutOfRange,
}

/// Where one step's α came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum AlphaSource {
    /// The balanced coefficient.
    Dynamic,
    /// The fixed-weight EMA.
    Fixed,
    /// The fallback weight, for the given reason.
    Fallback(FallbackReason),
    /// The weights were NaN or infinite: the EMA was left as it was (α = 0).
    SkippedNonFinite,
    /// The EMA is switched off.
    Off,
}

impl AlphaSource {
    /// A short stable label for CSV files and logs, e.g. `dynamic`, `fallback:zero_norm`.
    pub fn label(&self) -> &'static str {
        match self {
            AlphaSource::Dynamic => "dynamic",
            AlphaSource::Fixed => "fixed",
            AlphaSource::Fallback(FallbackReason::FirstStep) => "fallback:first_step",
            AlphaSource::Fallback(FallbackReason::MissingGradient) => "fallback:missing_gradient",
            AlphaSource::Fallback(FallbackReason::NoPreviousGradient) => {
                "fallback:no_previous_gradient"
            }
            AlphaSource::Fallback(FallbackReason::ZeroNorm) => "fallback:zero_norm",
            AlphaSource::Fallback(FallbackReason::NonFinite) => "fallback:non_finite",
            AlphaSource::Fallback(FallbackReason::OutOfRange) => "fallback:out_of_range",
            AlphaSource::SkippedNonFinite => "skipped:non_finite_weights",
            AlphaSource::Off => "off",
        }
    }
}

/// L1 sums of one tensor at one step, the inputs of the coefficient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemaNorms {
    /// `a = ‖θ_t − θ*_{t−1}‖₁`: how far the weights have moved from the EMA.
    pub drift: f64,
    /// `b = ‖g_t‖₁`: the gradient (L′).
    pub grad: f64,
    /// `c = ‖g_t − g_{t−1}‖₁`: the gradient's change (the code's stand-in for L″).
    pub grad_change: f64,
    /// `‖θ_t − θ_{t−1}‖₁`: the last step's size (the `Paper` rule's numerator, and κ's).
    pub step: f64,
}

impl DemaNorms {
    /// κ = 2(1 + b)/(c·‖θ_t − θ_{t−1}‖₁): how far the official rule would move the EMA per step
    /// relative to how far the optimizer moved the weights (DEMA-SCALE §2.1). κ ≫ 1: the EMA
    /// catches up with θ and the coefficient falls back or snaps; κ ≪ 1 (the 7B regime): the
    /// EMA stays near the task's starting weights. `None` when a sum is missing or zero.
    pub fn kappa(&self) -> Option<f64> {
        let value = 2.0 * (1.0 + self.grad) / (self.grad_change * self.step);
        value.is_finite().then_some(value)
    }
}

/// The coefficient one tensor used at one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemaStep {
    /// Weight on the new weights: `θ* ← (1 − α)·θ* + α·θ`.
    pub alpha: f64,
    /// Where α came from.
    pub source: AlphaSource,
    /// The L1 sums read at this step (all four only when the coefficient was computed).
    pub norms: Option<DemaNorms>,
}

impl DemaStep {
    pub(crate) fn dynamic(alpha: f64) -> Self {
        Self {
            alpha,
            source: AlphaSource::Dynamic,
            norms: None,
        }
    }

    /// The same step with the sums it was computed from.
    pub(crate) fn with_norms(self, norms: Option<DemaNorms>) -> Self {
        Self { norms, ..self }
    }

    pub(crate) fn fixed(alpha: f64) -> Self {
        Self {
            alpha,
            source: AlphaSource::Fixed,
            norms: None,
        }
    }

    pub(crate) fn fallback(alpha: f64) -> impl Fn(FallbackReason) -> Self {
        move |reason| Self {
            alpha,
            source: AlphaSource::Fallback(reason),
            norms: None,
        }
    }

    pub(crate) fn skipped() -> Self {
        Self {
            alpha: 0.0,
            source: AlphaSource::SkippedNonFinite,
            norms: None,
        }
    }

    pub(crate) fn off() -> Self {
        Self {
            alpha: 0.0,
            source: AlphaSource::Off,
            norms: None,
        }
    }
}

/// Fallback steps by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackCounts {
    /// See [`FallbackReason::FirstStep`].
    pub first_step: u64,
    /// See [`FallbackReason::MissingGradient`].
    pub missing_gradient: u64,
    /// See [`FallbackReason::NoPreviousGradient`].
    pub no_previous_gradient: u64,
    /// See [`FallbackReason::ZeroNorm`].
    pub zero_norm: u64,
    /// See [`FallbackReason::NonFinite`].
    pub non_finite: u64,
    /// See [`FallbackReason::OutOfRange`].
    pub out_of_range: u64,
}

impl FallbackCounts {
    /// All fallback steps.
    pub fn total(&self) -> u64 {
        self.first_step
            + self.missing_gradient
            + self.no_previous_gradient
            + self.zero_norm
            + self.non_finite
            + self.out_of_range
    }

    fn slot(&mut self, reason: FallbackReason) -> &mut u64 {
        match reason {
            FallbackReason::FirstStep => &mut self.first_step,
            FallbackReason::MissingGradient => &mut self.missing_gradient,
            FallbackReason::NoPreviousGradient => &mut self.no_previous_gradient,
            FallbackReason::ZeroNorm => &mut self.zero_norm,
            FallbackReason::NonFinite => &mut self.non_finite,
            FallbackReason::OutOfRange => &mut self.out_of_range,
        }
    }
}

/// Counts of per-tensor EMA steps by source, and the range of the dynamic coefficients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DemaStats {
    /// Steps that used the balanced coefficient.
    pub dynamic: u64,
    /// Steps of the fixed-weight EMA.
    pub fixed: u64,
    /// Steps that used the fallback weight, by reason.
    pub fallback: FallbackCounts,
    /// Steps whose weights were non-finite and left the EMA untouched.
    pub skipped_non_finite: u64,
    /// Smallest dynamic α (`None` until one is seen).
    pub alpha_min: Option<f64>,
    /// Largest dynamic α.
    pub alpha_max: Option<f64>,
    /// Sum of the dynamic α, for the mean.
    pub alpha_sum: f64,
}

impl DemaStats {
    /// Counts one step.
    pub fn record(&mut self, step: &DemaStep) {
        match step.source {
            AlphaSource::Dynamic => {
                self.dynamic += 1;
                self.alpha_sum += step.alpha;
                self.alpha_min = Some(self.alpha_min.map_or(step.alpha, |m| m.min(step.alpha)));
                self.alpha_max = Some(self.alpha_max.map_or(step.alpha, |m| m.max(step.alpha)));
            }
            AlphaSource::Fixed => self.fixed += 1,
            AlphaSource::Fallback(reason) => *self.fallback.slot(reason) += 1,
            AlphaSource::SkippedNonFinite => self.skipped_non_finite += 1,
            AlphaSource::Off => {}
        }
    }

    /// Mean of the dynamic α (`None` if there was none).
    pub fn alpha_mean(&self) -> Option<f64> {
        (self.dynamic > 0).then(|| self.alpha_sum / self.dynamic as f64)
    }

    /// All counted steps.
    pub fn total(&self) -> u64 {
        self.dynamic + self.fixed + self.fallback.total() + self.skipped_non_finite
    }
}

impl std::fmt::Display for DemaStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fb = &self.fallback;
        write!(
            f,
            "{} tensor-steps: {} dynamic, {} fixed, {} fallback (first {}, no grad {}, no prev grad {}, \
             zero norm {}, non-finite {}, out of range {}), {} skipped",
            self.total(),
            self.dynamic,
            self.fixed,
            fb.total(),
            fb.first_step,
            fb.missing_gradient,
            fb.no_previous_gradient,
            fb.zero_norm,
            fb.non_finite,
            fb.out_of_range,
            self.skipped_non_finite
        )?;
        if let (Some(min), Some(mean), Some(max)) =
            (self.alpha_min, self.alpha_mean(), self.alpha_max)
        {
            write!(
                f,
                "; dynamic alpha min {min:.3e} mean {mean:.3e} max {max:.3e}"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_source_and_tracks_the_dynamic_range() {
        let mut stats = DemaStats::default();
        for step in [
            DemaStep::dynamic(0.2),
            DemaStep::dynamic(0.05),
            DemaStep::fallback(0.01)(FallbackReason::ZeroNorm),
            DemaStep::fallback(0.01)(FallbackReason::FirstStep),
            DemaStep::skipped(),
            DemaStep::fixed(0.01),
        ] {
            stats.record(&step);
        }
        assert_eq!(stats.dynamic, 2);
        assert_eq!(stats.fallback.zero_norm, 1);
        assert_eq!(stats.fallback.first_step, 1);
        assert_eq!(stats.fallback.total(), 2);
        assert_eq!(stats.skipped_non_finite, 1);
        assert_eq!(stats.fixed, 1);
        assert_eq!(stats.total(), 6);
        assert_eq!(stats.alpha_min, Some(0.05));
        assert_eq!(stats.alpha_max, Some(0.2));
        assert!((stats.alpha_mean().unwrap() - 0.125).abs() < 1e-15);
    }
}
