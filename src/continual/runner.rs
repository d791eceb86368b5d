//! The whole task sequence: per task, decide the group, train it (with the EMA when the
//! method says so), checkpoint it, evaluate every task seen so far, and commit the manifest;
//! `resume` continues after the last committed task.

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

use super::config::{EmaWhen, ResolvedTask, RunConfig};
use super::decide::{decide, forced_group, parent_of};
use super::manifest::{
    BaseModel, CheckpointInfo, Manifest, TaskRecord, sha256_bytes, sha256_file, write_json,
};
use super::run_dir::{RunDir, RunOptions, group_name};
use super::setup::{
    build_model, image_tokens, load_samples, lora_config, replay_samples, routes_for,
};
use crate::adapters::PeftConfig;
use crate::baselines::{Baseline, BaselineRun};
use crate::data::{ImagePreprocess, load_test_records};
use crate::eval::{AccuracyMatrix, EvalContext, evaluate_task, write_predictions};
use crate::model::hf::read_llava_config;
use crate::routing::codebook::unique_instructions;
use crate::routing::{Decision, InstructionSimilarity, Split, TaskKind, write_audit};
use crate::train::{
    NodePlacement, TrainConfig, TrainReport, describe_layout, train_task_parallel, train_task_with,
};

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The accuracy matrix so far.
    pub matrix: AccuracyMatrix,
    /// The manifest as committed.
    pub manifest: Manifest,
}

/// Runs (or resumes) the configured task sequence into `out`, holding the directory's lock
/// ([`RunDir::lock`]) throughout. Before the first task it checks every task's files
/// ([`super::preflight::preflight`]), removes temporary files left by an interrupted write and,
/// when resuming, rewrites the reports from the committed tasks.
pub fn run<B: AutodiffBackend>(
    config_path: &Path,
    config: &RunConfig,
    out: &Path,
    options: &RunOptions,
    device: &B::Device,
) -> crate::Result<RunOutcome> {
    run_on::<B>(
        config_path,
        config,
        out,
        options,
        (std::slice::from_ref(device), None),
    )
}

/// [`run`] with one data-parallel replica per device of `devices` (all of one backend; the
/// first also evaluates and holds the run's model) and, with a node placement, the replicas of
/// other processes: each step's batch is split between the replicas and their gradients summed
/// ([`crate::train::train_task_parallel`]). Every process evaluates and writes its own run
/// directory (the same weights, so the same results).
pub fn run_on<B: AutodiffBackend>(
    config_path: &Path,
    config: &RunConfig,
    out: &Path,
    options: &RunOptions,
    (devices, node): (&[B::Device], Option<&NodePlacement>),
) -> crate::Result<RunOutcome> {
    let Some(device) = devices.first() else {
        return Err(crate::Error::Parallel("no device given".into()));
    };
    super::validate::validate(config, config_path)?;
    let baseline = config.method.baseline.as_ref();
    let replicas = devices.len() * node.map_or(1, |n| n.nodes);
    if replicas > 1 && baseline.is_some_and(|b| b.adds_loss_terms()) {
        return Err(crate::Error::Config {
            path: config_path.to_path_buf(),
            message: format!(
                "{replicas} replicas: EWC, LwF and O-LoRA add a loss term to every micro-batch, \
                 which data-parallel replicas do not split yet; run them on one device"
            ),
        });
    }
    let tasks = config.resolve_tasks(config_path)?;
    for task in &tasks {
        for file in [&task.train_file, &task.spec.test_file] {
            if !file.is_file() {
                return Err(crate::Error::run(
                    file,
                    format!("file of task '{}' not found", task.spec.name),
                ));
            }
        }
    }
    let llava = read_llava_config(&config.model.dir)?;
    let tokens = image_tokens(&llava);
    let tokenizer = super::setup::tokenizer(config)?;
    let base = BaseModel::identify(&config.model.dir)?;
    let config_hash =
        sha256_bytes(&serde_json::to_vec(config).map_err(|e| crate::Error::run(config_path, e))?);
    let similarity = config.method.similarity.build::<B>(device)?;
    let model = build_model::<B>(config, device)?;
    let fresh = Manifest {
        version: 1,
        config_hash,
        base_model: base,
        tasks: tasks.iter().map(|t| t.spec.name.clone()).collect(),
        scorer_mode: config.eval.mode,
        finished: Vec::new(),
    };
    let run = RunDir::new(out);
    if options.resume && !run.manifest().is_file() {
        return Err(crate::Error::run(
            out,
            "holds no run to resume (no manifest.json); start it without --resume",
        ));
    }
    let _lock = run.lock()?;
    let committed = match run.manifest().is_file() {
        true => Some(Manifest::read(out)?),
        false => None,
    };
    let finished = committed.as_ref().map_or(0, |m| m.finished.len());
    super::preflight::preflight(config_path, config, (&tasks, finished), &tokenizer, &llava)?;
    let stale = crate::io::remove_stale_temporaries(out).map_err(|e| crate::Error::io(out, e))?;
    if stale > 0 {
        log::warn!(
            "{}: removed {stale} temporary file(s) of an interrupted write",
            out.display()
        );
    }
    let mut state = super::resume::open_state(config, &run, options, model, (fresh, committed))?;
    if !state.manifest.finished.is_empty() {
        // a crash between a task's commit and its reports leaves them stale: write them anew
        super::run_report::write_run_reports(out, &state.manifest, &state.matrix)?;
    }
    let previous = state
        .manifest
        .finished
        .last()
        .map(|r| run.resolve(&r.checkpoint));
    let baseline = config.method.baseline.as_ref();
    let rank = config.lora.r;
    let mut baseline = BaselineRun::<B>::open(baseline, previous.as_deref(), rank, device)?;
    let mut replay = Vec::new();
    let ctx = EvalContext {
        tokenizer: &tokenizer,
        template: &config.model.template,
        image_tokens: tokens,
        image_size: llava.vision_config.image_size,
        batch_size: config.eval.batch_size,
        mode: config.eval.mode,
        progress: config.train.progress,
        context: llava.text_config.max_position_embeddings,
        long_prompts: config.eval.long_prompts,
    };
    let peft = PeftConfig::new(
        &lora_config(config),
        &config
            .lora
            .targets
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    for index in state.manifest.finished.len()..tasks.len() {
        if options.stop_after.is_some_and(|n| index >= n) {
            break;
        }
        let started = Instant::now();
        let task = &tasks[index];
        let name = task.spec.name.as_str();
        let (records, samples, skipped) =
            load_samples(&task.train_file, config, &tokenizer, tokens)?;
        let prompts = records
            .iter()
            .filter_map(|r| r.conversations.first().map(|t| t.value.as_str()));
        let instructions = unique_instructions(prompts, TaskKind::of_task(name), Split::Train)?;
        let own_group = matches!(config.method.baseline, Some(Baseline::EProj(_)));
        let forced = forced_group(&tasks, &state.manifest, &state.codebook, index)
            .or(own_group.then_some(state.codebook.groups.len()));
        let decision = decide(
            config,
            &mut state.codebook,
            (similarity.as_ref(), forced),
            &instructions,
            index,
        );
        let group = decision.group();
        let parent = parent_of(config, &state.manifest, &decision);
        state.model = match decision {
            Decision::Expand { .. } => state.sets.expand(&group_name(group), state.model)?,
            Decision::Retrain { .. } => state.sets.select(&group_name(group), state.model)?,
        };
        let dema = config.method.dema().filter(|_| {
            config.method.ema_when == EmaWhen::Always
                || matches!(decision, Decision::Retrain { .. })
        });
        log::info!(
            "task {}/{} {name}: {} samples, {decision:?}, EMA {}",
            index + 1,
            tasks.len(),
            samples.len(),
            if dema.is_some() { "on" } else { "off" }
        );
        B::seed(device, config.train.seed.wrapping_add(index as u64));
        let train = TrainConfig {
            seed: config.train.seed.wrapping_add(index as u64),
            ..task.train.clone()
        };
        let images = ImagePreprocess::llava(llava.vision_config.image_size);
        let replayed = replay_samples(config, (&tasks, index), &tokenizer, tokens, &mut replay)?;
        if !replayed.is_empty() {
            log::info!("  replaying {} samples of earlier tasks", replayed.len());
        }
        let mixed = [samples.as_slice(), replayed.as_slice()].concat();
        let terms = baseline.terms(&state.model, index);
        let objective = (dema.as_ref(), terms);
        let in_task = |e| crate::Error::Task {
            task: name.to_string(),
            source: Box::new(e),
        };
        let trained = match replicas {
            1 => train_task_with(state.model, &mixed, &train, objective, &images, 0, device),
            _ => {
                let layout = (devices, node);
                let dema = dema.as_ref();
                train_task_parallel(state.model, &mixed, &train, dema, &images, 0, layout)
            }
        };
        let (model, report) = trained.map_err(in_task)?;
        state.model = model;
        state.sets.store(&state.model)?;

        let checkpoint = run.checkpoint_name(index, name);
        let checkpoint_dir = run.resolve(&checkpoint);
        state
            .model
            .save_parameter_set(&checkpoint_dir, &peft, config.model.adapter_naming)?;
        let info = CheckpointInfo {
            base_model: state.manifest.base_model.clone(),
            task: name.to_string(),
            group,
        };
        info.write(&checkpoint_dir)?;
        baseline
            .finish_task(
                &state.model,
                &samples,
                (&images, train.seed, train.progress),
                &checkpoint_dir,
                device,
            )
            .map_err(in_task)?;
        write_training_logs(&run, index, name, &report)?;

        let row = evaluate_seen(
            &mut state,
            &tasks[..=index],
            config,
            &ctx,
            similarity.as_ref(),
            (&run, index, name),
        )?;
        state.codebook.save(&run.task_codebook(index, name))?;
        state.codebook.save(&run.codebook())?;
        state
            .matrix
            .push_row(row.clone())
            .map_err(|e| crate::Error::run(out, e))?;
        state.manifest.finished.push(TaskRecord {
            index,
            task: name.to_string(),
            decision,
            ema: dema.is_some(),
            checkpoint,
            parent,
            train_sha256: sha256_file(&task.train_file)?,
            test_sha256: sha256_file(&task.spec.test_file)?,
            train_samples: samples.len(),
            skipped,
            steps: report.steps.len(),
            final_loss: report.steps.last().map(|s| s.loss),
            tokens_per_second: report.tokens_per_second,
            dema: report.dema,
            regime: report.regime,
            accuracies: row,
            seconds: started.elapsed().as_secs_f64(),
            devices: describe_layout::<B>(devices, node),
        });
        state.manifest.write(out)?;
        super::run_report::write_run_reports(out, &state.manifest, &state.matrix)?;
        log::info!(
            "task {name} done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(RunOutcome {
        matrix: state.matrix,
        manifest: state.manifest,
    })
}

fn write_training_logs(
    run: &RunDir,
    index: usize,
    task: &str,
    report: &TrainReport,
) -> crate::Result<()> {
    let csv = run.steps_csv(index, task);
    crate::io::write_atomic(&csv, report.steps_csv().as_bytes())
        .map_err(|e| crate::Error::io(&csv, e))?;
    write_json(&run.steps_json(index, task), &report.steps)?;
    if report.dema.is_some() {
        let trace = run.alpha_trace(index, task);
        report
            .alpha_trace
            .write_csv(&trace)
            .map_err(|e| crate::Error::io(&trace, e))?;
    }
    Ok(())
}

/// Evaluates every task seen so far with its routed groups, writing predictions and routes
/// under the current task's folder (`run`, its index and name); returns the accuracy row.
fn evaluate_seen<B: AutodiffBackend>(
    state: &mut super::resume::State<B>,
    seen: &[ResolvedTask],
    config: &RunConfig,
    ctx: &EvalContext,
    similarity: &dyn InstructionSimilarity,
    (run, index, current): (&RunDir, usize, &str),
) -> crate::Result<Vec<f64>> {
    let mut row = Vec::with_capacity(seen.len());
    for task in seen {
        let mut records = load_test_records(&task.spec.test_file)?;
        if let Some(max) = config.eval.max_samples {
            records.truncate(max);
        }
        let routes = routes_for(
            config,
            &state.codebook,
            similarity,
            &task.spec.name,
            &records,
        )?;
        let (sets, model) = (&mut state.sets, &state.model);
        let result = evaluate_task(&task.spec, &records, &routes, ctx, "lcia", |group| {
            Ok(sets.select(&group_name(group), model.clone())?.valid())
        })?;
        write_predictions(
            &run.predictions(index, current, &task.spec.name),
            &result.predictions,
        )?;
        write_audit(&run.routing(index, current, &task.spec.name), &routes)?;
        log::info!("  {}: {:.2}", task.spec.name, result.accuracy);
        row.push(result.accuracy);
    }
    Ok(row)
}
