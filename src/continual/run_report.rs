//! The reports of a run directory, rewritten after every task: `matrix.csv`, `metrics.json`,
//! `report.md` (lineage, matrix, metrics) and `plots/` (accuracy heatmap, loss, α).

use std::fmt::Write as _;
use std::path::Path;

use super::manifest::{Manifest, read_json, write_json};
use super::run_dir::RunDir;
use crate::eval::AccuracyMatrix;
use crate::eval::plot::{heatmap, line_chart};
use crate::eval::report::{MetricsReport, matrix_markdown, metrics_markdown};
use crate::routing::Decision;
use crate::train::StepRecord;

/// The training steps of each finished task, read back from `tasks/NN-name/steps.json`.
pub fn read_steps(
    out: &Path,
    manifest: &Manifest,
) -> crate::Result<Vec<(String, Vec<StepRecord>)>> {
    let run = RunDir::new(out);
    manifest
        .finished
        .iter()
        .map(|r| {
            Ok((
                r.task.clone(),
                read_json(&run.steps_json(r.index, &r.task))?,
            ))
        })
        .collect()
}

/// The lineage table: task, group, decision, EMA, parent, steps, loss, speed, α use.
pub fn lineage_markdown(manifest: &Manifest) -> String {
    let mut out = String::from(
        "| # | task | group | decision | EMA | parent | steps | final loss | tokens/s | dynamic α / fallback |\n|---:|---|---:|---|---|---|---:|---:|---:|---|\n",
    );
    for r in &manifest.finished {
        let decision = match r.decision {
            Decision::Retrain { similarity, .. } => {
                format!("retrain (sim {:.3})", similarity + 0.0)
            }
            Decision::Expand {
                best_similarity: Some(s),
                ..
            } => format!("expand (best sim {:.3})", s + 0.0),
            Decision::Expand { .. } => "expand (first)".into(),
        };
        let alpha = r.dema.map_or("-".into(), |d| {
            format!("{} / {}", d.dynamic, d.fallback.total())
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {decision} | {} | {} | {} | {} | {:.0} | {alpha} |",
            r.index + 1,
            r.task,
            r.decision.group(),
            if r.ema { "on" } else { "off" },
            r.parent,
            r.steps,
            r.final_loss.map_or("-".into(), |l| format!("{l:.4}")),
            r.tokens_per_second,
        );
    }
    out
}

/// The balanced-EMA regime of each task that ran with the EMA (DEMA-SCALE §2): shares of
/// dynamic and fallback coefficients, the median α and κ, and the EMA's share of the task's
/// movement; `None` when no task recorded one.
pub fn regime_markdown(manifest: &Manifest) -> Option<String> {
    let rows: Vec<_> = manifest
        .finished
        .iter()
        .filter_map(|r| r.regime.map(|g| (r, g)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut out = String::from(
        "| # | task | dynamic | fallback | median α | median dynamic α | median κ | EMA moved |\n|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3e}"));
    for (r, g) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} % | {:.1} % | {} | {} | {} | {} |",
            r.index + 1,
            r.task,
            100.0 * g.dynamic_share,
            100.0 * g.fallback_share,
            opt(g.median_alpha),
            opt(g.median_dynamic_alpha),
            opt(g.median_kappa),
            g.ema_moved.map_or("-".to_string(), |v| format!("{v:.3}")),
        );
    }
    Some(out)
}

/// Writes every report of the run into `out`.
pub fn write_run_reports(
    out: &Path,
    manifest: &Manifest,
    matrix: &AccuracyMatrix,
) -> crate::Result<()> {
    let run = RunDir::new(out);
    let file = run.matrix_csv();
    crate::io::write_atomic(&file, matrix.to_csv().as_bytes())
        .map_err(|e| crate::Error::io(&file, e))?;
    write_json(
        &run.metrics_json(),
        &MetricsReport::new(matrix, manifest.scorer_mode),
    )?;
    let mut md = format!(
        "# Continual run\n\nScorers: {:?}. Accuracy in %, A[j][i] = accuracy on task i after training task j.\n\n## Accuracy matrix\n\n{}\n",
        manifest.scorer_mode,
        matrix_markdown(matrix)
    );
    if let Some(metrics) = matrix.metrics() {
        let _ = write!(
            md,
            "## Metrics (over {} stage(s))\n\n{}\n",
            matrix.rows.len(),
            metrics_markdown(&metrics)
        );
    }
    let _ = write!(md, "## Lineage\n\n{}\n", lineage_markdown(manifest));
    if let Some(regime) = regime_markdown(manifest) {
        let _ = write!(
            md,
            "## Balanced-EMA regime\n\nκ ≫ 1: the EMA catches up with the weights (falls back or snaps); κ ≪ 1: it stays near the task's start. EMA moved = the share of the task's parameter movement the EMA took up.\n\n{regime}\n"
        );
    }
    if let Some(section) = super::retention_run::report_section(out)? {
        md.push_str(&section);
    }
    md.push_str("## Plots\n\n![accuracy](plots/accuracy_matrix.png)\n![loss](plots/loss.png)\n![alpha](plots/alpha.png)\n");
    let file = run.report();
    crate::io::write_atomic(&file, md.as_bytes()).map_err(|e| crate::Error::io(&file, e))?;

    heatmap(&run.plot("accuracy_matrix.png"), matrix)?;
    let steps = read_steps(out, manifest)?;
    let mut offset = 0.0;
    let mut loss = Vec::new();
    let mut alpha = Vec::new();
    for (task, records) in &steps {
        loss.push((
            task.clone(),
            records
                .iter()
                .map(|s| (offset + s.step as f64, s.loss))
                .collect(),
        ));
        let mean: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|s| s.alpha.map(|(_, m, _)| (offset + s.step as f64, m)))
            .collect();
        if !mean.is_empty() {
            alpha.push((task.clone(), mean));
        }
        offset += records.len() as f64;
    }
    line_chart(
        &run.plot("loss.png"),
        "Training loss",
        "optimizer step (all tasks)",
        "loss",
        &loss,
    )?;
    line_chart(
        &run.plot("alpha.png"),
        "Mean balanced α per step (dynamic tensors)",
        "optimizer step (all tasks)",
        "α",
        &alpha,
    )
}
