//! The balanced-EMA state of one tensor: the EMA, the previous gradient and weights, the
//! anchor (the weights the task started from), and one update per optimizer step.

use burn::prelude::*;
use burn::tensor::FloatDType;

use super::bf16::{self, EmaDtype};
use super::coefficient::{DemaConfig, DemaVariant, balanced_alpha};
use super::stats::{AlphaSource, DemaNorms, DemaStats, DemaStep, FallbackReason};

/// What a step of one tensor does, decided before any value was read back from the device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Plan {
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

/// The balanced-EMA state of one tensor: the EMA (f32, or bf16 values with
/// [`EmaDtype::Bf16`]), the previous gradient and weights, and the anchor.
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
    anchor: Option<Tensor<B, D>>,
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
            anchor: None,
            last: DemaStep::off(),
            stats: DemaStats::default(),
        }
    }

    /// The EMA of the weights, in f32; `None` before the first update or with [`DemaVariant::Off`].
    pub fn ema(&self) -> Option<&Tensor<B, D>> {
        self.ema.as_ref()
    }

    /// The weights the EMA started from (the weights after the task's first step), in the
    /// EMA's precision.
    pub fn anchor(&self) -> Option<&Tensor<B, D>> {
        self.anchor.as_ref()
    }

    /// The settings.
    pub fn config(&self) -> &DemaConfig {
        &self.config
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
        let half = self.config.dtype == EmaDtype::Bf16;
        let round = |t: Tensor<B, D>| if half { bf16::round_tensor(t) } else { t };
        let theta = round(theta.clone().detach().cast(FloatDType::F32));
        let grad = grad.map(|g| round(g.clone().detach().cast(FloatDType::F32)));
        let l1 = |t: Tensor<B, D>| t.abs().sum();
        let diff = |x: &Tensor<B, D>, y: &Tensor<B, D>| round(x.clone() - y.clone());
        let Some(ema) = &self.ema else {
            let norms = l1(theta.clone());
            return PendingStep {
                plan: Plan::First,
                norms,
                theta,
                grad,
            };
        };
        let drift = l1(diff(&theta, ema));
        let plan = plan(
            &self.config,
            true,
            grad.is_some(),
            self.prev_grad.is_some(),
            self.prev_theta.is_some(),
        );
        let norms = match (plan, &grad, &self.prev_grad) {
            (Plan::Dynamic, Some(g), Some(g_prev)) => {
                let mut parts = vec![drift, l1(g.clone()), l1(diff(g, g_prev))];
                if let Some(theta_prev) = &self.prev_theta {
                    parts.push(l1(diff(&theta, theta_prev)));
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
        let step = choose(&self.config, plan, norms);
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
            let half = self.config.dtype == EmaDtype::Bf16;
            self.ema = Some(match (plan, self.ema.take()) {
                // The official code copies θ, then its first step fails (no previous gradient)
                // into the fallback mix, which in bf16 need not give θ back exactly.
                (Plan::First, _) | (_, None) => {
                    self.anchor = Some(theta.clone());
                    match half {
                        true => bf16::ema_step(theta.clone(), theta.clone(), step.alpha),
                        false => theta.clone(),
                    }
                }
                (_, Some(ema)) if half => bf16::ema_step(ema, theta.clone(), step.alpha),
                (_, Some(ema)) => {
                    ema.mul_scalar(1.0 - step.alpha) + theta.clone().mul_scalar(step.alpha)
                }
            });
        }
        if self.config.is_dynamic() {
            self.prev_grad = grad;
            self.prev_theta = Some(theta);
        }
    }
}

/// What a step of a tensor does, from what it holds: an EMA, this step's gradient, the previous
/// gradient and the previous weights.
pub(crate) fn plan(
    config: &DemaConfig,
    has_ema: bool,
    has_grad: bool,
    has_prev_grad: bool,
    has_prev_theta: bool,
) -> Plan {
    if !has_ema {
        return Plan::First;
    }
    match (config.variant, has_grad, has_prev_grad) {
        (DemaVariant::Fixed { .. } | DemaVariant::Off, _, _) => Plan::Fixed,
        (_, false, _) => Plan::Fallback(FallbackReason::MissingGradient),
        (_, true, false) => Plan::Fallback(FallbackReason::NoPreviousGradient),
        (DemaVariant::Paper, true, true) if !has_prev_theta => {
            Plan::Fallback(FallbackReason::NoPreviousGradient)
        }
        _ => Plan::Dynamic,
    }
}

/// α and its source for a step of `plan`, from the L1 sums read back: `‖θ‖₁` for a first step,
/// the drift otherwise, then for a dynamic step `‖g‖₁`, `‖g − g_prev‖₁` and, where there are
/// previous weights, `‖θ − θ_prev‖₁`.
pub(crate) fn choose(config: &DemaConfig, plan: Plan, norms: &[f64]) -> DemaStep {
    let fallback = DemaStep::fallback(config.fallback_alpha);
    if config.variant == DemaVariant::Off {
        DemaStep::off()
    } else if !norms.first().is_some_and(|v| v.is_finite()) {
        DemaStep::skipped()
    } else {
        match plan {
            Plan::First => match config.variant {
                DemaVariant::Fixed { beta } => DemaStep::fixed(1.0 - beta),
                _ => fallback(FallbackReason::FirstStep),
            },
            Plan::Fixed => match config.variant {
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
                let step = match balanced_alpha(config, &norms) {
                    Ok(alpha) => DemaStep::dynamic(alpha),
                    Err(reason) => fallback(reason),
                };
                step.with_norms(Some(norms))
            }
        }
    }
}
