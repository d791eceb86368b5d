//! What training reports: one record per optimizer step, the task's report with its CSV form,
//! and the progress-bar message of a step.

use serde::{Deserialize, Serialize};

use crate::dema::{AlphaSource, AlphaTrace, BalancedEma, DemaRegime, DemaStats};

/// What one optimizer step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based optimizer step.
    pub step: usize,
    /// Mean cross-entropy over the step's forward passes.
    pub loss: f64,
    /// The baseline's extra loss terms (EWC, LwF, O-LoRA), when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<f64>,
    /// LoRA learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping (when clipping is on).
    pub grad_norm: Option<f64>,
    /// Real tokens processed.
    pub tokens: usize,
    /// Smallest, mean and largest α of the step's dynamic tensors.
    pub alpha: Option<(f64, f64, f64)>,
    /// Tensors with a dynamic α this step.
    pub dynamic: usize,
    /// Tensors that took the fallback α this step.
    pub fallback: usize,
    /// Seconds since the task started.
    pub seconds: f64,
}

/// The outcome of a task's training.
#[derive(Debug, Clone, Default)]
pub struct TrainReport {
    /// One record per optimizer step.
    pub steps: Vec<StepRecord>,
    /// DEMA counters over the task (when DEMA was on).
    pub dema: Option<DemaStats>,
    /// Per-step α of every tensor (when DEMA was on).
    pub alpha_trace: AlphaTrace,
    /// Where the coefficient sat over the task (when DEMA was on).
    pub regime: Option<DemaRegime>,
    /// Real tokens per second over the task.
    pub tokens_per_second: f64,
}

impl TrainReport {
    /// The per-step log as CSV.
    pub fn steps_csv(&self) -> String {
        let penalties = self.steps.iter().any(|s| s.penalty.is_some());
        let mut out = String::from(
            "step,loss,lr,grad_norm,tokens,alpha_min,alpha_mean,alpha_max,dynamic,fallback,seconds",
        );
        out.push_str(if penalties { ",penalty\n" } else { "\n" });
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
        for s in &self.steps {
            let (lo, mean, hi) = s
                .alpha
                .map_or((None, None, None), |(a, b, c)| (Some(a), Some(b), Some(c)));
            out.push_str(&format!(
                "{},{:.6},{:.6e},{},{},{},{},{},{},{},{:.3}",
                s.step,
                s.loss,
                s.lr,
                opt(s.grad_norm),
                s.tokens,
                opt(lo),
                opt(mean),
                opt(hi),
                s.dynamic,
                s.fallback,
                s.seconds
            ));
            if penalties {
                out.push_str(&format!(",{}", opt(s.penalty)));
            }
            out.push('\n');
        }
        out
    }
}

/// Smallest, mean and largest α of the EMA's last step over its dynamic tensors, with the
/// counts of dynamic and fallback tensors.
pub fn alpha_summary<B: burn::tensor::backend::AutodiffBackend>(
    ema: &BalancedEma<B>,
) -> (Option<(f64, f64, f64)>, usize, usize) {
    let dynamic: Vec<f64> = ema
        .last_step()
        .iter()
        .filter(|t| t.step.source == AlphaSource::Dynamic)
        .map(|t| t.step.alpha)
        .collect();
    let fallback = ema.last_step().len() - dynamic.len();
    let summary = (!dynamic.is_empty()).then(|| {
        let lo = dynamic.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = dynamic.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, dynamic.iter().sum::<f64>() / dynamic.len() as f64, hi)
    });
    (summary, dynamic.len(), fallback)
}

/// The bar message of a training step: loss, learning rate, mean α, tokens/s.
pub fn step_message(step: &StepRecord, tokens_per_second: f64) -> String {
    let alpha = step
        .alpha
        .map_or("-".to_string(), |(_, mean, _)| format!("{mean:.3}"));
    let penalty = step
        .penalty
        .map_or(String::new(), |p| format!(" + {p:.2e}"));
    format!(
        "loss {:.4}{penalty} lr {:.2e} α {alpha} {:.0} tok/s",
        step.loss, step.lr, tokens_per_second
    )
}
