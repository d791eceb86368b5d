//! Running several methods over one task sequence and comparing them: the continual runs,
//! the optional zero-shot row, the multitask upper bound, the table and the plot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use super::demo::data::SyntheticBenchmark;
use super::methods::{MethodChoice, MethodSpec};
use super::parallel::in_parallel;
use crate::continual::checkpoint_eval::evaluate_checkpoint;
use crate::continual::config::{EmaChoice, MethodSection, RunConfig, TaskEntry};
use crate::continual::{RunDir, RunOptions, run};
use crate::eval::ContinualMetrics;
use crate::io::{read_json, write_json};

/// One method's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodResult {
    /// Method name.
    pub method: String,
    /// Its metrics (multitask: Forgetting and BWT are 0 by construction).
    pub metrics: ContinualMetrics,
    /// Final accuracy per task.
    pub final_accuracy: Vec<(String, f64)>,
    /// Wall time in seconds: the run's tasks as its manifest records them (training and the
    /// evaluation after each task, also when the run was reused from an earlier invocation),
    /// plus any evaluation done now.
    pub seconds: f64,
    /// The run directory.
    pub run_dir: PathBuf,
}

fn flat(
    accuracy: Vec<(String, f64)>,
    seconds: f64,
    method: &str,
    run_dir: PathBuf,
    tasks: usize,
) -> (MethodResult, Curve) {
    let mean = accuracy.iter().map(|a| a.1).sum::<f64>() / accuracy.len().max(1) as f64;
    let row = MethodResult {
        method: method.to_string(),
        metrics: ContinualMetrics {
            avg_acc: mean,
            forgetting: 0.0,
            new_acc: mean,
            bwt: 0.0,
            maa: mean,
        },
        final_accuracy: accuracy,
        seconds,
        run_dir,
    };
    (row, vec![(1.0, mean), (tasks as f64, mean)])
}

/// Runs each continual method of `choice` over the tasks of `config` (one run directory each
/// under `out/runs/`, named by the method's key, resumed when already there) and, when chosen,
/// the multitask upper bound, `jobs` of them at a time on their own threads (the CPU backend's
/// threads are shared by the process: `jobs` × threads should not exceed the cores); then, when chosen, evaluates the starting model (the first
/// run's `initial/` parameter set) on every task. Writes `comparison.md`, `comparison.json`
/// and `comparison.png` (mean accuracy on the tasks seen so far, multitask as a dashed
/// reference) into `out`.
pub fn compare_methods<B: AutodiffBackend>(
    out: &Path,
    config: &RunConfig,
    choice: &MethodChoice,
    bench: &SyntheticBenchmark,
    jobs: usize,
    device: &B::Device,
) -> crate::Result<Vec<MethodResult>> {
    let config_path = out.join("comparison.toml");
    let methods = &choice.continual;
    let runs = methods.len() + usize::from(choice.multitask);
    let indices: Vec<usize> = (0..runs).collect();
    let done = in_parallel(jobs, &indices, |&i| {
        let (key, done) = match methods.get(i) {
            Some(spec) => (
                spec.key.as_str(),
                one_method::<B>(out, &config_path, config, spec, device),
            ),
            None => ("multitask", multitask::<B>(out, config, bench, device)),
        };
        if let Err(e) = &done {
            // said now, not after the other methods have run for hours
            log::error!("{key} failed (the other methods go on): {e}");
        }
        done
    });
    let mut results = Vec::new();
    let mut curves = Vec::new();
    for job in done {
        let (result, curve) = job?;
        curves.push((result.method.clone(), curve));
        results.push(result);
    }
    if choice.zero_shot {
        let started = Instant::now();
        let first = methods.first().map_or("multitask", |m| m.key.as_str());
        let initial = RunDir::new(out.join("runs").join(first)).initial();
        let evaluated = evaluate_checkpoint::<B::InnerBackend>(
            &config_path,
            config,
            &initial,
            &[],
            &out.join("zero-shot"),
            device,
        )?;
        let accuracy = evaluated
            .iter()
            .map(|r| (r.task.clone(), r.accuracy))
            .collect();
        let seconds = started.elapsed().as_secs_f64();
        let (row, curve) = flat(accuracy, seconds, "Zero-shot", initial, bench.tasks.len());
        curves.insert(0, (row.method.clone(), curve));
        results.insert(0, row);
    }
    let tasks: Vec<String> = bench.tasks.iter().map(|t| t.0.clone()).collect();
    let reference = choice.multitask.then(|| curves.pop()).flatten();
    crate::eval::plot::task_chart(
        &out.join("comparison.png"),
        "Mean accuracy on the tasks seen so far",
        &tasks,
        &curves,
        reference
            .as_ref()
            .map(|(name, c)| (name.as_str(), c.first().map_or(0.0, |p| p.1))),
    )?;
    let file = out.join("comparison.json");
    write_json(&file, &results).map_err(|e| crate::Error::io(&file, e))?;
    let file = out.join("comparison.md");
    crate::io::write_atomic(&file, comparison_markdown(&results).as_bytes())
        .map_err(|e| crate::Error::io(&file, e))?;
    Ok(results)
}

/// Mean accuracy on the tasks seen so far, after each task.
type Curve = Vec<(f64, f64)>;

fn one_method<B: AutodiffBackend>(
    out: &Path,
    config_path: &Path,
    config: &RunConfig,
    spec: &MethodSpec,
    device: &B::Device,
) -> crate::Result<(MethodResult, Curve)> {
    let mut method_config = config.clone();
    method_config.method = spec.section.clone();
    let run_dir = out.join("runs").join(&spec.key);
    let options = RunOptions {
        resume: RunDir::new(&run_dir).manifest().is_file(),
        stop_after: None,
    };
    let outcome = run::<B>(config_path, &method_config, &run_dir, &options, device)?;
    let matrix = &outcome.matrix;
    let metrics = matrix
        .metrics()
        .ok_or_else(|| crate::Error::run(&run_dir, "no finished task"))?;
    let last = matrix.rows.last().cloned().unwrap_or_default();
    let curve = matrix
        .rows
        .iter()
        .enumerate()
        .map(|(j, row)| ((j + 1) as f64, row.iter().sum::<f64>() / row.len() as f64))
        .collect();
    let result = MethodResult {
        method: spec.label.clone(),
        metrics,
        final_accuracy: matrix.tasks.iter().cloned().zip(last).collect(),
        seconds: task_seconds(&outcome.manifest),
        run_dir,
    };
    Ok((result, curve))
}

fn multitask<B: AutodiffBackend>(
    out: &Path,
    config: &RunConfig,
    bench: &SyntheticBenchmark,
    device: &B::Device,
) -> crate::Result<(MethodResult, Curve)> {
    let joint = out.join("joint");
    let mut records = Vec::new();
    for (_, train, _) in &bench.tasks {
        let list: Vec<serde_json::Value> =
            read_json(train).map_err(|e| crate::Error::io(train, e))?;
        records.extend(list);
    }
    let file = joint.join("train.json");
    write_json(&file, &records).map_err(|e| crate::Error::io(&file, e))?;
    let mut joint_config = config.clone();
    joint_config.method = MethodSection {
        grouping: false,
        ema: EmaChoice::Off,
        ..MethodSection::default()
    };
    joint_config.tasks = vec![TaskEntry {
        name: "joint".into(),
        train: Some(joint.join("train.json")),
        test: bench.tasks.first().map(|t| t.2.clone()),
        ..config.tasks[0].clone()
    }];
    let config_path = out.join("multitask.toml");
    let run_dir = out.join("runs/multitask");
    let joint_run = RunDir::new(&run_dir);
    let trained = run::<B>(
        &config_path,
        &joint_config,
        &run_dir,
        &RunOptions {
            resume: joint_run.manifest().is_file(),
            stop_after: None,
        },
        device,
    )?;
    let started = Instant::now();
    let results = evaluate_checkpoint::<B::InnerBackend>(
        &config_path,
        config,
        &joint_run.resolve(&joint_run.checkpoint_name(0, "joint")),
        &[],
        &run_dir.join("eval"),
        device,
    )?;
    let accuracy = results
        .iter()
        .map(|r| (r.task.clone(), r.accuracy))
        .collect();
    let name = "Multitask (upper bound)";
    let seconds = task_seconds(&trained.manifest) + started.elapsed().as_secs_f64();
    Ok(flat(accuracy, seconds, name, run_dir, bench.tasks.len()))
}

fn task_seconds(manifest: &crate::continual::manifest::Manifest) -> f64 {
    manifest.finished.iter().map(|t| t.seconds).sum()
}

/// The comparison table: one row per method.
pub fn comparison_markdown(results: &[MethodResult]) -> String {
    let mut out = String::from(
        "| method | Avg.ACC | Forgetting | New.ACC | BWT | final accuracy per task | time (s) |\n|---|---:|---:|---:|---:|---|---:|\n",
    );
    for r in results {
        let per_task: Vec<String> = r
            .final_accuracy
            .iter()
            .map(|(t, a)| format!("{t} {a:.0}"))
            .collect();
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} |\n",
            r.method,
            r.metrics.avg_acc,
            r.metrics.forgetting,
            r.metrics.new_acc,
            r.metrics.bwt,
            per_task.join(", "),
            r.seconds
        ));
    }
    out
}
