//! A per-step, per-tensor record of the balanced-EMA coefficients, for CSV files and summaries.

use std::fmt::Write as _;
use std::path::Path;

use super::balanced_ema::TensorStep;
use super::stats::DemaStats;

/// Every tensor's α at every recorded step.
#[derive(Debug, Clone, Default)]
pub struct AlphaTrace {
    rows: Vec<(usize, TensorStep)>,
}

/// One tensor's counts over a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSummary {
    /// Module path of the parameter.
    pub name: String,
    /// Number of elements.
    pub numel: usize,
    /// Its steps by source and the range of its dynamic α.
    pub stats: DemaStats,
}

impl AlphaTrace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the coefficients of optimizer step `step` (e.g. [`super::BalancedEma::last_step`]).
    pub fn record(&mut self, step: usize, tensors: &[TensorStep]) {
        self.rows
            .extend(tensors.iter().map(|tensor| (step, tensor.clone())));
    }

    /// Number of (step, tensor) rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every (step, tensor) row in the order recorded.
    pub fn rows(&self) -> impl Iterator<Item = (usize, &TensorStep)> {
        self.rows.iter().map(|(step, t)| (*step, t))
    }

    /// The trace as CSV: `step,tensor,numel,alpha,source,a,b,c,step_l1,kappa` with a = ‖θ − θ*‖₁,
    /// b = ‖g‖₁, c = ‖g − g_prev‖₁, step_l1 = ‖θ_t − θ_{t−1}‖₁ and κ (empty where not computed).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("step,tensor,numel,alpha,source,a,b,c,step_l1,kappa\n");
        let cell = |v: Option<f64>| {
            v.filter(|v| v.is_finite())
                .map_or(String::new(), |v| format!("{v:.6e}"))
        };
        for (step, t) in &self.rows {
            let norms = t.step.norms;
            let _ = writeln!(
                out,
                "{step},{},{},{:.9e},{},{},{},{},{},{}",
                t.name,
                t.numel,
                t.step.alpha,
                t.step.source.label(),
                cell(norms.map(|n| n.drift)),
                cell(norms.map(|n| n.grad)),
                cell(norms.map(|n| n.grad_change)),
                cell(norms.map(|n| n.step)),
                cell(norms.and_then(|n| n.kappa())),
            );
        }
        out
    }

    /// Writes [`Self::to_csv`] to `path` atomically.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        crate::io::write_atomic(path, self.to_csv().as_bytes())
    }

    /// Per-tensor counts, in the order tensors first appear.
    pub fn per_tensor(&self) -> Vec<TensorSummary> {
        let mut out: Vec<TensorSummary> = Vec::new();
        for (_, t) in &self.rows {
            let i = match out.iter().position(|s| s.name == t.name) {
                Some(i) => i,
                None => {
                    out.push(TensorSummary {
                        name: t.name.clone(),
                        numel: t.numel,
                        stats: DemaStats::default(),
                    });
                    out.len() - 1
                }
            };
            out[i].stats.record(&t.step);
        }
        out
    }
}
