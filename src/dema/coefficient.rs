//! The stability-plasticity balanced coefficient and the EMA state of one tensor.
//!
//! After every optimizer step, LCIA folds each trainable tensor θ into an EMA copy θ*:
//! `θ* ← (1 − α)·θ* + α·θ`, where α is recomputed per tensor and per step from L1 sums of the
//! weights' drift from the EMA, the gradient and the gradient's change (METHOD.md §2). The EMA
//! replaces the weights at the end of a task. [`DemaState`] is that update for one tensor;
//! [`crate::dema::BalancedEma`] walks a whole Burn module.

use burn::config::Config;
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

pub use super::stats::{AlphaSource, DemaStats, DemaStep, FallbackReason};

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
}

/// L1 sums of one tensor at one step, the inputs of the coefficient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemaNorms {
    /// `a = ‖θ_t − θ*_{t−1}‖₁`: how far the weights have moved from the EMA.
    pub drift: f64,
    /// `b = ‖g_t‖₁`: the gradient (L′).
    pub grad: f64,
    /// `c = ‖g_t − g_{t−1}‖₁`: the gradient's change (the code's stand-in for L″).
    pub grad_change: f64,
    /// `‖θ_t − θ_{t−1}‖₁`: the last step's size; used only by [`DemaVariant::Paper`].
    pub step: f64,
}

/// The balanced coefficient, as the weight α on the NEW weights, or why it cannot be used.
///
/// Pure arithmetic on the L1 sums; [`DemaState`] handles first steps and missing gradients.
/// `Fixed` and `Off` have no dynamic coefficient and give `Err(OutOfRange)`.
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
    let DemaNorms {
        drift,
        grad,
        grad_change,
        step,
    } = *norms;
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
        DemaVariant::Official => config.scale * (1.0 + grad) / denominator,
        DemaVariant::Paper => config.scale * (1.0 + grad) * step / denominator,
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

/// What [`DemaState::prepare`] decided before any value was read back from the device.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// No EMA yet: it becomes θ (after a finiteness check of θ).
    First,
    /// The EMA exists but the coefficient cannot be computed.
    Fallback(FallbackReason),
    /// Fixed-weight EMA.
    Fixed,
    /// The balanced coefficient from the L1 sums.
    Dynamic,
}

/// One step of [`DemaState`] with its device-side sums still unread: lets a caller read the sums
/// of many tensors in one transfer (see [`DemaState::prepare`]).
#[derive(Debug)]
pub struct PendingStep<B: Backend, const D: usize> {
    plan: Plan,
    norms: Tensor<B, 1>,
    theta: Tensor<B, D>,
    grad: Option<Tensor<B, D>>,
}

impl<B: Backend, const D: usize> PendingStep<B, D> {
    /// The L1 sums to read back (1 to 4 values); pass them to [`DemaState::resolve`].
    pub fn norms(&self) -> &Tensor<B, 1> {
        &self.norms
    }
}

/// The balanced-EMA state of one tensor: the EMA (f32) and the previous gradient.
///
/// ```
/// use burn::prelude::*;
/// use lcia::dema::{AlphaSource, DemaConfig, DemaState};
/// type B = lcia_backends::CpuBackend;
/// let dev = Default::default();
/// let mut state = DemaState::<B, 1>::new(DemaConfig::official());
/// let theta = Tensor::<B, 1>::from_floats([1.0, 2.0], &dev);
/// let grad = Tensor::<B, 1>::from_floats([0.5, -0.5], &dev);
/// assert_eq!(state.update(&theta, Some(&grad)), 0.01); // first step: fallback
/// assert_eq!(state.last().source, AlphaSource::Fallback(lcia::dema::FallbackReason::FirstStep));
/// ```
#[derive(Debug, Clone)]
pub struct DemaState<B: Backend, const D: usize> {
    config: DemaConfig,
    ema: Option<Tensor<B, D>>,
    prev_grad: Option<Tensor<B, D>>,
    prev_theta: Option<Tensor<B, D>>,
    last: DemaStep,
    stats: DemaStats,
}

impl<B: Backend, const D: usize> DemaState<B, D> {
    /// A fresh state (no EMA yet, no previous gradient), as at the start of a task.
    pub fn new(config: DemaConfig) -> Self {
        Self {
            config,
            ema: None,
            prev_grad: None,
            prev_theta: None,
            last: DemaStep::off(),
            stats: DemaStats::default(),
        }
    }

    /// The EMA of the weights, in f32; `None` before the first update or with [`DemaVariant::Off`].
    pub fn ema(&self) -> Option<&Tensor<B, D>> {
        self.ema.as_ref()
    }

    /// The last step's coefficient and where it came from.
    pub fn last(&self) -> DemaStep {
        self.last
    }

    /// Counts of this tensor's steps by source, and the range of its dynamic coefficients.
    pub fn stats(&self) -> &DemaStats {
        &self.stats
    }

    /// Folds the weights right after an optimizer step into the EMA and returns the α used (the
    /// weight on `theta`; 0 when the EMA was left untouched). `grad` is that step's gradient,
    /// `None` when the tensor got none (which also clears the previous gradient).
    pub fn update(&mut self, theta: &Tensor<B, D>, grad: Option<&Tensor<B, D>>) -> f64 {
        if self.config.variant == DemaVariant::Off {
            self.last = DemaStep::off();
            return 0.0;
        }
        let pending = self.prepare(theta, grad);
        let values: Vec<f64> = pending.norms.clone().into_data().iter::<f64>().collect();
        self.resolve(pending, &values).alpha
    }

    /// First half of [`Self::update`]: queues the L1 sums on the device without reading them.
    pub fn prepare(&self, theta: &Tensor<B, D>, grad: Option<&Tensor<B, D>>) -> PendingStep<B, D> {
        let theta = theta.clone().detach().cast(FloatDType::F32);
        let grad = grad.map(|g| g.clone().detach().cast(FloatDType::F32));
        let l1 = |t: Tensor<B, D>| t.abs().sum();
        let Some(ema) = &self.ema else {
            let norms = l1(theta.clone());
            return PendingStep {
                plan: Plan::First,
                norms,
                theta,
                grad,
            };
        };
        let drift = l1(theta.clone() - ema.clone());
        let plan = match (self.config.variant, &grad, &self.prev_grad) {
            (DemaVariant::Fixed { .. } | DemaVariant::Off, _, _) => Plan::Fixed,
            (_, None, _) => Plan::Fallback(FallbackReason::MissingGradient),
            (_, Some(_), None) => Plan::Fallback(FallbackReason::NoPreviousGradient),
            (DemaVariant::Paper, Some(_), Some(_)) if self.prev_theta.is_none() => {
                Plan::Fallback(FallbackReason::NoPreviousGradient)
            }
            _ => Plan::Dynamic,
        };
        let norms = match (plan, &grad, &self.prev_grad) {
            (Plan::Dynamic, Some(g), Some(g_prev)) => {
                let mut parts = vec![drift, l1(g.clone()), l1(g.clone() - g_prev.clone())];
                if let Some(theta_prev) = &self.prev_theta {
                    parts.push(l1(theta.clone() - theta_prev.clone()));
                }
                Tensor::cat(parts, 0)
            }
            _ => drift,
        };
        PendingStep {
            plan,
            norms,
            theta,
            grad,
        }
    }

    /// Second half of [`Self::update`]: takes the values of [`PendingStep::norms`], chooses α,
    /// updates the EMA and the previous gradient, and records the step.
    pub fn resolve(&mut self, pending: PendingStep<B, D>, norms: &[f64]) -> DemaStep {
        let PendingStep {
            plan, theta, grad, ..
        } = pending;
        let fallback = DemaStep::fallback(self.config.fallback_alpha);
        let step = if self.config.variant == DemaVariant::Off {
            DemaStep::off()
        } else if !norms.first().is_some_and(|v| v.is_finite()) {
            DemaStep::skipped()
        } else {
            match plan {
                Plan::First => match self.config.variant {
                    DemaVariant::Fixed { beta } => DemaStep::fixed(1.0 - beta),
                    _ => fallback(FallbackReason::FirstStep),
                },
                Plan::Fixed => match self.config.variant {
                    DemaVariant::Fixed { beta } => DemaStep::fixed(1.0 - beta),
                    _ => DemaStep::off(),
                },
                Plan::Fallback(reason) => fallback(reason),
                Plan::Dynamic => {
                    let norms = DemaNorms {
                        drift: norms[0],
                        grad: norms.get(1).copied().unwrap_or(f64::NAN),
                        grad_change: norms.get(2).copied().unwrap_or(f64::NAN),
                        step: norms.get(3).copied().unwrap_or(f64::NAN),
                    };
                    match balanced_alpha(&self.config, &norms) {
                        Ok(alpha) => DemaStep::dynamic(alpha),
                        Err(reason) => fallback(reason),
                    }
                }
            }
        };
        if self.config.variant != DemaVariant::Off {
            self.apply_step(&step, plan, theta, grad);
        }
        self.last = step;
        self.stats.record(&step);
        step
    }

    fn apply_step(
        &mut self,
        step: &DemaStep,
        plan: Plan,
        theta: Tensor<B, D>,
        grad: Option<Tensor<B, D>>,
    ) {
        if step.source != AlphaSource::SkippedNonFinite {
            self.ema = Some(match (plan, self.ema.take()) {
                (Plan::First, _) | (_, None) => theta.clone(),
                (_, Some(ema)) => {
                    ema.mul_scalar(1.0 - step.alpha) + theta.clone().mul_scalar(step.alpha)
                }
            });
        }
        match self.config.variant {
            DemaVariant::Official => self.prev_grad = grad,
            DemaVariant::Paper => {
                self.prev_grad = grad;
                self.prev_theta = Some(theta);
            }
            DemaVariant::Fixed { .. } | DemaVariant::Off => {}
        }
    }
}
