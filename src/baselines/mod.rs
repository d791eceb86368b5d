//! The continual-learning baselines the LCIA paper and its peers compare against, run by the
//! same pipeline, data, model, scorer and budget as LCIA: EWC ([`ewc`]), LwF ([`lwf`]),
//! experience replay ([`replay`]), O-LoRA ([`olora`]), MoELoRA ([`MoeLoraConfig`]) and EProj
//! ([`EProjConfig`]). Each
//! is chosen by `[method.baseline] name = "..."` in a run configuration with its
//! hyper-parameters beside the name; each one's `# Faithfulness` section names the paper it
//! follows and every deliberate difference.
//!
//! The regularisers enter training as [`crate::train::LossTerm`]s; what a baseline carries
//! from task to task (EWC's Fisher) is saved beside each task's checkpoint, so a resumed run
//! continues exactly.

pub mod ewc;
pub mod lwf;
pub mod olora;
pub mod replay;

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

pub use ewc::{EwcConfig, EwcState, EwcTerm, diagonal_fisher};
pub use lwf::{LwfConfig, LwfTerm, distillation_kl};
pub use olora::{OLoraConfig, OLoraTerm, orthogonality, slice_orthogonality, widened};
pub use replay::{ReplayConfig, reservoir};

use crate::adapters::params::values_by_path;
use crate::data::ImagePreprocess;
use crate::data::sample::TrainSample;
use crate::model::llava::Llava;
use crate::rng::SplitMix64;
use crate::train::{LossTerm, MicroBatch};

/// A baseline and its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Baseline {
    /// Elastic weight consolidation.
    Ewc(EwcConfig),
    /// Learning without forgetting.
    Lwf(LwfConfig),
    /// Experience replay.
    Replay(ReplayConfig),
    /// Orthogonal-subspace LoRA.
    #[serde(rename = "olora")]
    OLora(OLoraConfig),
    /// Mixture-of-experts LoRA.
    #[serde(rename = "moelora")]
    MoeLora(MoeLoraConfig),
    /// A projector per task, the LoRA shared.
    #[serde(rename = "eproj")]
    EProj(EProjConfig),
}

impl Baseline {
    /// Whether the method adds a term to every micro-batch's loss (EWC, LwF, O-LoRA): such
    /// terms are not split between data-parallel replicas, so those methods run on one device.
    pub fn adds_loss_terms(&self) -> bool {
        matches!(
            self,
            Baseline::Ewc(_) | Baseline::Lwf(_) | Baseline::OLora(_)
        )
    }
}

/// EProj (He et al., "Continual Instruction Tuning for Large Multimodal Models", 2023):
/// every task adds its own projector (started from the latest one) while the language
/// model's LoRA is one shared set trained through all tasks; at test time each instance's
/// instruction picks the projector of the most similar task (the run's instruction router,
/// as LCIA's groups are chosen), standing in for the paper's task-key selection.
///
/// # Faithfulness
/// Deliberate differences: the task key is the instruction-similarity router of the run
/// (TF-IDF by default) rather than the paper's learned image-and-instruction keys, and the
/// paper's task-similarity-informed regularisation of the shared weights is left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EProjConfig {}

/// MoELoRA's hyper-parameters (`[method.baseline] name = "moelora"`): the adapters are
/// [`crate::adapters::LoraAdapter`]s with a router (their `# Faithfulness` section); nothing
/// is added to the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoeLoraConfig {
    /// Experts per adapted module; the LoRA rank is split evenly among them.
    pub experts: usize,
}

impl Default for MoeLoraConfig {
    fn default() -> Self {
        Self { experts: 2 }
    }
}

impl Baseline {
    /// The name in a run configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Baseline::Ewc(_) => "ewc",
            Baseline::Lwf(_) => "lwf",
            Baseline::Replay(_) => "replay",
            Baseline::OLora(_) => "olora",
            Baseline::MoeLora(_) => "moelora",
            Baseline::EProj(_) => "eproj",
        }
    }

    /// Problems with the hyper-parameters, as `(field, what is wrong)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut check = |field: &str, ok: bool, what: &str| {
            if !ok {
                out.push((format!("method.baseline.{field}"), what.to_string()));
            }
        };
        match self {
            Baseline::Ewc(c) => {
                check(
                    "lambda",
                    c.lambda.is_finite() && c.lambda >= 0.0,
                    "must be ≥ 0",
                );
                check("fisher_samples", c.fisher_samples >= 1, "must be ≥ 1");
            }
            Baseline::Lwf(c) => {
                check(
                    "lambda",
                    c.lambda.is_finite() && c.lambda >= 0.0,
                    "must be ≥ 0",
                );
                let t = c.temperature;
                check("temperature", t.is_finite() && t > 0.0, "must be > 0");
            }
            Baseline::Replay(c) => {
                let s = c.share;
                check("share", s > 0.0 && s <= 1.0, "must be in (0, 1]");
            }
            Baseline::OLora(c) => {
                check(
                    "lambda",
                    c.lambda.is_finite() && c.lambda >= 0.0,
                    "must be ≥ 0",
                );
            }
            Baseline::MoeLora(c) => check("experts", c.experts >= 2, "must be ≥ 2"),
            Baseline::EProj(_) => {}
        }
        out
    }
}

/// File of a baseline's state beside a task's checkpoint.
pub const STATE_FILE: &str = "baseline_state.safetensors";

/// What a baseline carries through a run.
pub struct BaselineRun<B: AutodiffBackend> {
    baseline: Option<Baseline>,
    ewc: EwcState<B::InnerBackend>,
    rank: usize,
}

impl<B: AutodiffBackend> BaselineRun<B> {
    /// The state of `baseline` at the start of a run, or, resuming, as saved beside the last
    /// finished task's checkpoint `previous`; `rank` is the run's per-task LoRA rank.
    pub fn open(
        baseline: Option<&Baseline>,
        previous: Option<&Path>,
        rank: usize,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let mut ewc = EwcState::default();
        if let (Some(Baseline::Ewc(_)), Some(dir)) = (baseline, previous) {
            let file = dir.join(STATE_FILE);
            if !file.is_file() {
                return Err(crate::Error::run(
                    dir,
                    format!("no {STATE_FILE}: the EWC run cannot resume without it"),
                ));
            }
            ewc = EwcState::load(&file, device)?;
        }
        Ok(Self {
            baseline: baseline.cloned(),
            ewc,
            rank,
        })
    }

    /// The loss terms of the task starting now from `model`.
    pub fn terms(&self, model: &Llava<B>, index: usize) -> Vec<Box<dyn LossTerm<B>>> {
        match &self.baseline {
            Some(Baseline::Ewc(c)) if !self.ewc.is_empty() => {
                vec![Box::new(EwcTerm::<B>::new(self.ewc.clone(), c.lambda))]
            }
            Some(Baseline::Lwf(c)) if index > 0 => {
                vec![Box::new(LwfTerm::<B>::new(model, c.clone()))]
            }
            Some(Baseline::OLora(c)) => vec![Box::new(OLoraTerm::new(index, self.rank, c))],
            _ => Vec::new(),
        }
    }

    /// After a task: EWC estimates the Fisher of `model` (the task's final weights) on the
    /// task's `samples` (a seeded choice of them, a progress bar with `progress`) and writes
    /// its state into `checkpoint` (the task's checkpoint folder).
    pub fn finish_task(
        &mut self,
        model: &Llava<B>,
        samples: &[TrainSample],
        (images, seed, progress): (&ImagePreprocess, u64, bool),
        checkpoint: &Path,
        device: &B::Device,
    ) -> crate::Result<()> {
        let Some(Baseline::Ewc(c)) = &self.baseline else {
            return Ok(());
        };
        let mut order: Vec<usize> = (0..samples.len()).collect();
        SplitMix64::new(seed).shuffle(&mut order);
        order.truncate(c.fisher_samples);
        let bar = crate::progress::bar(order.len() as u64, progress);
        bar.set_prefix("fisher");
        let fisher = diagonal_fisher(model, order.len(), |m: &Llava<B>, i| {
            let batch = MicroBatch::<B>::from_samples(&[&samples[order[i]]], images, 0, device)?;
            bar.inc(1);
            Ok(m.supervised_loss(batch.ids, batch.pixels, batch.attention_mask, batch.labels)?)
        })?;
        bar.finish_and_clear();
        let theta = values_by_path(&model.valid(), None);
        self.ewc.consolidate(fisher, &theta)?;
        self.ewc.save(&checkpoint.join(STATE_FILE))
    }
}
