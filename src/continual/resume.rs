//! Opening a run directory: a fresh start (the initial adapters and the configuration saved),
//! or the state of the last committed task restored from the manifest and checkpoints.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;

use super::config::RunConfig;
use super::manifest::{Manifest, write_json};
use super::run_dir::{RunDir, RunOptions, group_name};
use super::setup::{lora_config, set_selector};
use crate::adapters::{ParameterSets, PeftConfig, SetWeights};
use crate::eval::AccuracyMatrix;
use crate::model::Llava;
use crate::model::llava::is_parameter_set_path;
use crate::routing::InstructionCodebook;

/// What the task loop carries from task to task.
pub(crate) struct State<B: AutodiffBackend> {
    pub model: Llava<B>,
    pub sets: ParameterSets<B>,
    pub codebook: InstructionCodebook,
    pub matrix: AccuracyMatrix,
    pub manifest: Manifest,
}

/// A fresh state (the initial adapters saved to `out/initial`, the `fresh` manifest) or the
/// state of the `committed` run the directory's manifest describes.
pub(crate) fn open_state<B: AutodiffBackend>(
    config: &RunConfig,
    run: &RunDir,
    options: &RunOptions,
    model: Llava<B>,
    (fresh, committed): (Manifest, Option<Manifest>),
) -> crate::Result<State<B>> {
    let out = run.root();
    let initial = run.initial();
    if committed.is_some() && !options.resume {
        return Err(crate::Error::run(
            out,
            "already holds a run (manifest.json); pass --resume to continue it, or choose another output directory",
        ));
    }
    let init = config.method.expand_init;
    let Some(manifest) = committed else {
        let peft = PeftConfig::new(
            &lora_config(config),
            &config
                .lora
                .targets
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        model.save_parameter_set(&initial, &peft, config.model.adapter_naming)?;
        write_json(&run.config(), config)?;
        let sets = ParameterSets::new(&model, set_selector(config), init);
        let matrix = AccuracyMatrix::new(fresh.tasks.clone());
        return Ok(State {
            model,
            sets,
            codebook: InstructionCodebook::new(),
            matrix,
            manifest: fresh,
        });
    };
    manifest.base_model.check_same(&fresh.base_model, out)?;
    if manifest.config_hash != fresh.config_hash || manifest.tasks != fresh.tasks {
        return Err(crate::Error::run(
            out,
            "was started with a different configuration; resume it with the configuration it was started with",
        ));
    }
    let selector = set_selector(config);
    let restore = |dir: &Path, model: &Llava<B>, selector| -> crate::Result<SetWeights<B>> {
        let loaded = model.clone().load_parameter_set(dir)?;
        Ok(SetWeights::capture(&loaded, selector))
    };
    let mut model = restore(&initial, &model, is_parameter_set_path)?.apply(model);
    let mut sets = ParameterSets::new(&model, selector, init);
    for (group, checkpoint) in manifest.group_checkpoints() {
        sets.put(
            &group_name(group),
            restore(&run.resolve(&checkpoint), &model, selector)?,
        );
    }
    if let Some(last) = manifest.finished.last() {
        let loaded = model
            .clone()
            .load_parameter_set(&run.resolve(&last.checkpoint))?;
        sets.put(
            &group_name(last.decision.group()),
            SetWeights::capture(&loaded, selector),
        );
        // what no set holds (EProj's shared LoRA) continues from the last checkpoint
        model = SetWeights::capture(&loaded, is_parameter_set_path).apply(model);
    }
    let mut matrix = AccuracyMatrix::new(manifest.tasks.clone());
    for record in &manifest.finished {
        matrix
            .push_row(record.accuracies.clone())
            .map_err(|e| crate::Error::run(out, e))?;
    }
    let codebook = match manifest.finished.last() {
        Some(last) => InstructionCodebook::load(&run.task_codebook(last.index, &last.task))?,
        None => InstructionCodebook::new(),
    };
    log::info!(
        "resuming {} after {} finished task(s)",
        out.display(),
        manifest.finished.len()
    );
    Ok(State {
        model,
        sets,
        codebook,
        matrix,
        manifest,
    })
}
