//! The interpolation frontier, the control of the study: θ(ω) = ω·θ_start + (1 − ω)·θ_end
//! between the plain retrain's weights before and after the first retrained task (LoRA A and B
//! interpolated separately, as the EMA averages them), each evaluated on the old and the new
//! task. A method that merely learns less of the new task lands on this line; one that balances
//! better than averaging weights lands above it.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::runs::RunResult;
use crate::adapters::io::{ADAPTER_WEIGHTS, NON_LORA_TRAINABLES, NamedTensors};
use crate::continual::RunDir;
use crate::continual::checkpoint_eval::evaluate_checkpoint;
use crate::continual::config::RunConfig;
use crate::continual::run_dir::CHECKPOINT_INFO;
use crate::io::read_json;

/// One point of the frontier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// The seed of the plain-retrain run it interpolates.
    pub seed: u64,
    /// Weight on the start (ω = 1: the weights before the task; ω = 0: after it).
    pub omega: f64,
    /// Accuracy on the old task (the first of the chain).
    pub old: f64,
    /// Accuracy on the new task (the second).
    pub new: f64,
}

/// Writes the parameter set ω·`start` + (1 − ω)·`end` into `out` (tensor by tensor; both sets
/// must hold the same names and shapes), with `end`'s adapter config and checkpoint info.
pub fn interpolate(start: &Path, end: &Path, omega: f64, out: &Path) -> crate::Result<()> {
    // the projector sits in the adapter file (llava-hf naming) or in its own file (LLaVA naming)
    let files = [ADAPTER_WEIGHTS, NON_LORA_TRAINABLES]
        .into_iter()
        .filter(|f| *f == ADAPTER_WEIGHTS || end.join(f).is_file());
    for file in files {
        let a = NamedTensors::read(&start.join(file))?;
        let b = NamedTensors::read(&end.join(file))?;
        let mut mixed = NamedTensors::default();
        for (name, (shape, x)) in &a.tensors {
            let (other_shape, y) = b.tensors.get(name).ok_or_else(|| {
                crate::Error::run(end.join(file), format!("no tensor '{name}' to interpolate"))
            })?;
            if other_shape != shape || a.tensors.len() != b.tensors.len() {
                return Err(crate::Error::run(
                    end.join(file),
                    format!("'{name}' differs in shape or the sets differ in tensors"),
                ));
            }
            let (w, v) = (omega as f32, (1.0 - omega) as f32);
            let values = x.iter().zip(y).map(|(x, y)| w * x + v * y).collect();
            mixed.tensors.insert(name.clone(), (shape.clone(), values));
        }
        mixed.write(&out.join(file))?;
    }
    for file in ["adapter_config.json", CHECKPOINT_INFO] {
        std::fs::copy(end.join(file), out.join(file))
            .map_err(|e| crate::Error::io(end.join(file), e))?;
    }
    Ok(())
}

/// The frontier of one plain-retrain run at each ω: interpolated sets under
/// `out/seed-S/omega-W/`, evaluated on the first two tasks (reused when already evaluated).
pub fn frontier<B: Backend>(
    config_path: &Path,
    config: &RunConfig,
    plain: &RunResult,
    omegas: &[f64],
    out: &Path,
    device: &B::Device,
) -> crate::Result<Vec<FrontierPoint>> {
    let run = RunDir::new(&plain.run_dir);
    let tasks: Vec<String> = plain.matrix.tasks.iter().take(2).cloned().collect();
    let start = run.resolve(&run.checkpoint_name(0, &tasks[0]));
    let end = run.resolve(&run.checkpoint_name(1, &tasks[1]));
    let mut points = Vec::new();
    for &omega in omegas {
        let dir = out
            .join(format!("seed-{}", plain.seed))
            .join(format!("omega-{omega:.2}"));
        let summary = dir.join("eval").join("accuracy.json");
        let accuracy: Vec<(String, f64)> = match summary.is_file() {
            true => read_json(&summary).map_err(|e| crate::Error::io(&summary, e))?,
            false => {
                std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
                interpolate(&start, &end, omega, &dir)?;
                evaluate_checkpoint::<B>(
                    config_path,
                    config,
                    &dir,
                    &tasks,
                    &dir.join("eval"),
                    device,
                )?
                .into_iter()
                .map(|r| (r.task, r.accuracy))
                .collect()
            }
        };
        let of = |task: &str| accuracy.iter().find(|(t, _)| t == task).map(|(_, a)| *a);
        let (Some(old), Some(new)) = (of(&tasks[0]), of(&tasks[1])) else {
            return Err(crate::Error::run(&summary, "an accuracy is missing"));
        };
        points.push(FrontierPoint {
            seed: plain.seed,
            omega,
            old,
            new,
        });
    }
    Ok(points)
}

/// Invariant: the frontier's endpoints are the plain retrain's own accuracies (ω = 0: both
/// tasks after the retrained task; ω = 1: the old task before it).
pub fn check_endpoints(plain: &RunResult, points: &[FrontierPoint]) -> crate::Result<()> {
    let rows = &plain.matrix.rows;
    let at = |omega: f64| points.iter().find(|p| p.omega == omega);
    let mut problems = Vec::new();
    if at(0.0).is_none() || at(1.0).is_none() {
        problems.push("the frontier lacks an endpoint (ω = 0 or 1)".to_string());
    }
    if let Some(end) = at(0.0)
        && (end.old, end.new) != (rows[1][0], rows[1][1])
    {
        problems.push(format!(
            "ω = 0 gives ({}, {}), the run ({}, {})",
            end.old, end.new, rows[1][0], rows[1][1]
        ));
    }
    if let Some(start) = at(1.0)
        && start.old != rows[0][0]
    {
        problems.push(format!(
            "ω = 1 gives {} on the old task, the run {}",
            start.old, rows[0][0]
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(crate::Error::run(&plain.run_dir, problems.join("; "))),
    }
}
