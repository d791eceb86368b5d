//! Reports of an accuracy matrix: the content of `metrics.json` and Markdown tables (the
//! matrix's CSV form is [`AccuracyMatrix::to_csv`]).

use std::fmt::Write as _;

use serde::Serialize;

use super::matrix::{AccuracyMatrix, ContinualMetrics};
use super::scorers::ScorerMode;

/// The content of `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport<'a> {
    /// Scorer mode of every accuracy.
    pub scorer_mode: ScorerMode,
    /// Finished stages.
    pub stages: usize,
    /// The metrics over the finished stages (absent before the first).
    pub metrics: Option<ContinualMetrics>,
    /// The matrix.
    pub matrix: &'a AccuracyMatrix,
}

impl<'a> MetricsReport<'a> {
    /// The report of `matrix` with scorers in `mode`.
    pub fn new(matrix: &'a AccuracyMatrix, mode: ScorerMode) -> Self {
        Self {
            scorer_mode: mode,
            stages: matrix.rows.len(),
            metrics: matrix.metrics(),
            matrix,
        }
    }
}

/// The matrix as a Markdown table (rows: after training task j; columns: task i).
pub fn matrix_markdown(matrix: &AccuracyMatrix) -> String {
    let mut out = String::from("| after \\ on |");
    for task in &matrix.tasks {
        let _ = write!(out, " {task} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(matrix.tasks.len()));
    out.push('\n');
    for (j, row) in matrix.rows.iter().enumerate() {
        let _ = write!(out, "| {} |", matrix.tasks[j]);
        for i in 0..matrix.tasks.len() {
            match row.get(i) {
                Some(acc) => {
                    let _ = write!(out, " {acc:.2} |");
                }
                None => out.push_str("  |"),
            }
        }
        out.push('\n');
    }
    out
}

/// The metrics as a Markdown table.
pub fn metrics_markdown(metrics: &ContinualMetrics) -> String {
    format!(
        "| Avg.ACC | Forgetting | New.ACC | BWT | MAA |\n|---:|---:|---:|---:|---:|\n| {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
        metrics.avg_acc, metrics.forgetting, metrics.new_acc, metrics.bwt, metrics.maa
    )
}
