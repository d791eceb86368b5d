//! The study's tables, verdicts, plot and JSON: per method the old- and new-task accuracy after
//! the first retrained task, the chain's Avg.ACC and Forgetting, and the regime figures (median
//! α and κ, the EMA's share of the movement), mean ± sd over seeds; the frontier per ω; where
//! each method lands against the frontier; the official α against the 7B prediction.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::frontier::FrontierPoint;
use super::runs::{RunResult, StudyMethod};
use super::{DemaStudySettings, FRONTIER_OMEGAS};

/// DEMA-SCALE §2.3-2.4: the official rule's median α predicted for LLaVA-1.5-7B r 128 at 150
/// steps per task (1.2·10⁻³; 6.1·10⁻⁴ at 300 steps).
pub const PREDICTED_7B_ALPHA: f64 = 1.2e-3;
/// DEMA-SCALE §3.2: the same prediction for the demo model at r 128 (2.5·10⁻³).
pub const PREDICTED_DEMO_R128_ALPHA: f64 = 2.5e-3;
/// DEMA-SCALE §3.2: the same prediction for SmolLM2-135M at r 128, 100 steps (2.8·10⁻³).
pub const PREDICTED_SMOLLM2_R128_ALPHA: f64 = 2.8e-3;

/// Mean and sample standard deviation (0 for a single value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub sd: f64,
}

impl Spread {
    /// Over `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = match values.len() {
            1 => 0.0,
            _ => values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0),
        };
        Some(Self {
            mean,
            sd: var.sqrt(),
        })
    }
}

/// One method over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodRow {
    /// The method.
    pub method: StudyMethod,
    /// Old-task (first) accuracy after the first retrained task.
    pub old: Spread,
    /// New-task (second) accuracy after it.
    pub new: Spread,
    /// Avg.ACC after the whole chain.
    pub avg_acc: Spread,
    /// Forgetting after the whole chain.
    pub forgetting: Spread,
    /// Median α used (mean over retrained tasks).
    pub median_alpha: Option<Spread>,
    /// Median dynamic α.
    pub median_dynamic_alpha: Option<Spread>,
    /// Median κ.
    pub median_kappa: Option<Spread>,
    /// The EMA's share of the task's movement.
    pub ema_moved: Option<Spread>,
    /// The β of a fixed EMA (mean over seeds).
    pub beta: Option<f64>,
    /// Where the mean point lies against the frontier.
    pub verdict: String,
}

/// Everything the study measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyReport {
    /// The task chain (the first is the old task of the frontier, the second the new one).
    pub tasks: Vec<String>,
    /// DEMA-SCALE's prediction of the official median α for this setup: what and value.
    pub prediction: (String, f64),
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Steps per task of the first run.
    pub steps_per_task: usize,
    /// Per method.
    pub methods: Vec<MethodRow>,
    /// The frontier: ω, old and new accuracy over seeds.
    pub frontier: Vec<(f64, Spread, Spread)>,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// Every frontier point.
    pub points: Vec<FrontierPoint>,
    /// Wall time of the whole study in seconds (runs reused from an earlier call count 0).
    pub seconds: f64,
}

/// The frontier's old-task accuracy at new-task accuracy `x`: the highest of its segments
/// (in ω order) that span `x`, linearly interpolated; `None` outside its range.
pub fn frontier_old_at(curve: &[(f64, f64)], x: f64) -> Option<f64> {
    curve
        .windows(2)
        .filter_map(|w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            let (lo, hi) = (x0.min(x1), x0.max(x1));
            if x < lo || x > hi {
                return None;
            }
            Some(match hi - lo {
                0.0 => y0.max(y1),
                _ => y0 + (y1 - y0) * (x - x0) / (x1 - x0),
            })
        })
        .reduce(f64::max)
}

/// "above", "on" or "below" the frontier, with the margin; a method is on it when its mean
/// old-task accuracy is within max(its sd, 2 points) of the frontier's at its new-task accuracy.
fn verdict(curve: &[(f64, f64)], old: Spread, new: Spread) -> String {
    match frontier_old_at(curve, new.mean) {
        None => "outside the frontier's new-task range".into(),
        Some(line) => {
            let margin = old.mean - line;
            let tolerance = old.sd.max(2.0);
            let side = match margin {
                m if m > tolerance => "above",
                m if m < -tolerance => "below",
                _ => "on",
            };
            format!("{side} ({margin:+.1} points vs {line:.1})")
        }
    }
}

impl StudyReport {
    /// Aggregates the runs and the frontier.
    pub fn new(
        settings: &DemaStudySettings,
        runs: &[RunResult],
        points: &[FrontierPoint],
        seconds: f64,
    ) -> Self {
        let frontier: Vec<(f64, Spread, Spread)> = FRONTIER_OMEGAS
            .iter()
            .filter_map(|&omega| {
                let at: Vec<&FrontierPoint> = points.iter().filter(|p| p.omega == omega).collect();
                let old = Spread::of(&at.iter().map(|p| p.old).collect::<Vec<_>>())?;
                let new = Spread::of(&at.iter().map(|p| p.new).collect::<Vec<_>>())?;
                Some((omega, old, new))
            })
            .collect();
        let curve: Vec<(f64, f64)> = frontier.iter().map(|(_, o, n)| (n.mean, o.mean)).collect();
        let methods = settings
            .methods
            .iter()
            .filter_map(|&method| {
                let mine: Vec<&RunResult> = runs.iter().filter(|r| r.method == method).collect();
                let pick = |f: &dyn Fn(&RunResult) -> Option<f64>| {
                    Spread::of(&mine.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
                };
                let old = pick(&|r| r.matrix.rows.get(1).map(|row| row[0]))?;
                let new = pick(&|r| r.matrix.rows.get(1).map(|row| row[1]))?;
                Some(MethodRow {
                    method,
                    old,
                    new,
                    avg_acc: pick(&|r| r.matrix.metrics().map(|m| m.avg_acc))?,
                    forgetting: pick(&|r| r.matrix.metrics().map(|m| m.forgetting))?,
                    median_alpha: pick(&|r| r.regime_mean(|g| g.median_alpha)),
                    median_dynamic_alpha: pick(&|r| r.regime_mean(|g| g.median_dynamic_alpha)),
                    median_kappa: pick(&|r| r.regime_mean(|g| g.median_kappa)),
                    ema_moved: pick(&|r| r.regime_mean(|g| g.ema_moved)),
                    beta: pick(&|r| (r.beta > 0.0).then_some(r.beta)).map(|s| s.mean),
                    verdict: verdict(&curve, old, new),
                })
            })
            .collect();
        let steps_per_task = runs
            .first()
            .and_then(|r| crate::continual::manifest::Manifest::read(&r.run_dir).ok())
            .and_then(|m| m.finished.first().map(|t| t.steps))
            .unwrap_or(0);
        Self {
            tasks: runs
                .first()
                .map(|r| r.matrix.tasks.clone())
                .unwrap_or_default(),
            prediction: settings.prediction.clone(),
            seeds: settings.seeds.clone(),
            steps_per_task,
            methods,
            frontier,
            runs: runs.to_vec(),
            points: points.to_vec(),
            seconds,
        }
    }

    fn task(&self, i: usize) -> &str {
        self.tasks.get(i).map_or("?", String::as_str)
    }

    /// The tables as markdown.
    pub fn markdown(&self) -> String {
        let pm = |s: Spread| format!("{:.1} ± {:.1}", s.mean, s.sd);
        let sci =
            |s: Option<Spread>| s.map_or("-".into(), |s| format!("{:.2e} ± {:.1e}", s.mean, s.sd));
        let share =
            |s: Option<Spread>| s.map_or("-".into(), |s| format!("{:.3} ± {:.3}", s.mean, s.sd));
        let (old, new) = (self.task(0), self.task(1));
        let mut out = format!(
            "Seeds {:?}, {} optimizer steps per task. Old = {old}, new = {new}: accuracy (%) right after the {new} task (the first retrain). Avg.ACC and Forgetting after {}. α, κ and EMA moved: mean over the retrained tasks of each task's median.\n\n",
            self.seeds,
            self.steps_per_task,
            self.tasks.join(" → ")
        );
        let _ = writeln!(
            out,
            "| method | old ({old}) | new ({new}) | Avg.ACC | Forgetting | median α | median κ | EMA moved | vs frontier |\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for m in &self.methods {
            let name = match m.beta {
                Some(beta) if m.method == StudyMethod::FixedMatched => {
                    format!("{} (β {beta:.4})", m.method.name())
                }
                _ => m.method.name().to_string(),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                pm(m.old),
                pm(m.new),
                pm(m.avg_acc),
                pm(m.forgetting),
                sci(m.median_alpha),
                sci(m.median_kappa),
                share(m.ema_moved),
                m.verdict
            );
        }
        let _ = write!(
            out,
            "\nInterpolation frontier θ(ω) = ω·θ_start + (1 − ω)·θ_end of the plain retrain ({new} task):\n\n| ω | old ({old}) | new ({new}) |\n|---:|---:|---:|\n"
        );
        for (omega, old, new) in &self.frontier {
            let _ = writeln!(out, "| {omega:.2} | {} | {} |", pm(*old), pm(*new));
        }
        if let Some(official) = self
            .methods
            .iter()
            .find(|m| m.method == StudyMethod::OfficialF32)
            .and_then(|m| m.median_dynamic_alpha)
        {
            let factor = |p: f64| official.mean.max(p) / official.mean.min(p);
            let within = |p: f64| match factor(p) <= 3.0 {
                true => "within a factor 3",
                false => "NOT within a factor 3",
            };
            let (what, predicted) = (&self.prediction.0, self.prediction.1);
            let _ = write!(
                out,
                "\nOfficial rule (f32), median dynamic α {:.2e}: {:.1}× from the 7B prediction {PREDICTED_7B_ALPHA:.1e} ({}), {:.1}× from the {what} prediction {predicted:.1e} ({}) (DEMA-SCALE §2-3).\n",
                official.mean,
                factor(PREDICTED_7B_ALPHA),
                within(PREDICTED_7B_ALPHA),
                factor(predicted),
                within(predicted),
            );
        }
        out
    }

    /// Writes `dema-study.md`, `dema-study.json` and `stability-plasticity.png` into `out`.
    pub fn write(&self, out: &Path) -> crate::Result<()> {
        let md = out.join("dema-study.md");
        let text = format!(
            "# Balanced EMA in its operating regime\n\n{}",
            self.markdown()
        );
        crate::io::write_atomic(&md, text.as_bytes()).map_err(|e| crate::Error::io(&md, e))?;
        let json = out.join("dema-study.json");
        crate::io::write_json(&json, self).map_err(|e| crate::Error::io(&json, e))?;
        let line: Vec<(String, f64, f64)> = self
            .frontier
            .iter()
            .map(|(w, o, n)| (format!("ω {w}"), n.mean, o.mean))
            .collect();
        let points: Vec<crate::eval::plot::SpreadPoint> = self
            .methods
            .iter()
            .map(|m| {
                let name = m.method.name().to_string();
                (name, (m.new.mean, m.old.mean), (m.new.sd, m.old.sd))
            })
            .collect();
        let (old, new) = (self.task(0), self.task(1));
        crate::eval::plot::tradeoff_chart(
            &out.join("stability-plasticity.png"),
            &format!("After the first retrained task ({old} → {new}), mean ± sd over seeds"),
            (
                &format!("new-task accuracy: {new} (%)"),
                &format!("old-task accuracy: {old} (%)"),
            ),
            ("interpolation frontier", &line),
            &points,
        )
    }
}
