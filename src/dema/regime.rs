//! Where a task's coefficient sat: the per-task "regime" summary of an α trace (DEMA-SCALE §2),
//! for the run report and `lcia inspect`.

use serde::{Deserialize, Serialize};

use super::stats::AlphaSource;
use super::trace::AlphaTrace;

/// One task's balanced-EMA regime: how often the coefficient was computed or fell back, its
/// median, the median κ, and how much of the task's movement the EMA took up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemaRegime {
    /// Tensor-steps recorded.
    pub tensor_steps: usize,
    /// Share of tensor-steps whose α was the balanced coefficient.
    pub dynamic_share: f64,
    /// Share of tensor-steps that took the fallback weight.
    pub fallback_share: f64,
    /// Median α actually used (dynamic, fixed or fallback).
    pub median_alpha: Option<f64>,
    /// Median of the dynamic α alone.
    pub median_dynamic_alpha: Option<f64>,
    /// Median κ = 2(1 + b)/(c·‖θ_t − θ_{t−1}‖₁) over the steps where it was computed.
    pub median_kappa: Option<f64>,
    /// Share of the task's movement the EMA took up (see
    /// [`crate::dema::BalancedEma::ema_moved`]).
    pub ema_moved: Option<f64>,
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(match values.len() % 2 {
        1 => values[mid],
        _ => 0.5 * (values[mid - 1] + values[mid]),
    })
}

impl DemaRegime {
    /// The summary of `trace`, with the EMA's share of the movement measured at the task's end.
    pub fn from_trace(trace: &AlphaTrace, ema_moved: Option<f64>) -> Self {
        let (mut dynamic, mut fallback, mut used, mut kappas) = (vec![], 0, vec![], vec![]);
        let mut total = 0;
        for (_, row) in trace.rows() {
            total += 1;
            match row.step.source {
                AlphaSource::Dynamic => dynamic.push(row.step.alpha),
                AlphaSource::Fallback(_) => fallback += 1,
                _ => {}
            }
            if row.step.source != AlphaSource::Off {
                used.push(row.step.alpha);
            }
            if let Some(kappa) = row.step.norms.and_then(|n| n.kappa()) {
                kappas.push(kappa);
            }
        }
        let share = |n: usize| {
            if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            }
        };
        Self {
            tensor_steps: total,
            dynamic_share: share(dynamic.len()),
            fallback_share: share(fallback),
            median_alpha: median(used),
            median_dynamic_alpha: median(dynamic),
            median_kappa: median(kappas),
            ema_moved,
        }
    }
}

impl std::fmt::Display for DemaRegime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3e}"));
        write!(
            f,
            "{:.1} % dynamic, {:.1} % fallback over {} tensor-steps; median α {} (dynamic {}), \
             median κ {}, EMA moved {}",
            100.0 * self.dynamic_share,
            100.0 * self.fallback_share,
            self.tensor_steps,
            opt(self.median_alpha),
            opt(self.median_dynamic_alpha),
            opt(self.median_kappa),
            self.ema_moved
                .map_or("-".to_string(), |v| format!("{v:.3}")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN]), None);
    }
}
