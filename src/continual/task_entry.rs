//! One `[[tasks]]` entry of the run configuration: its files, scorer, forced group and
//! per-task training settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::eval::ScorerKind;
use crate::train::TrainConfig;

/// One task listed explicitly; a CoIN task name fills the fields left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEntry {
    /// Task name.
    pub name: String,
    /// Training file (default for CoIN names: `<root>/<Task>/train.json`).
    #[serde(default)]
    pub train: Option<PathBuf>,
    /// Test file (default for CoIN names: `<root>/<Task>/test.json`).
    #[serde(default)]
    pub test: Option<PathBuf>,
    /// Scorer (required for a name that is not a CoIN task).
    #[serde(default)]
    pub scorer: Option<ScorerKind>,
    /// Most generated tokens.
    #[serde(default)]
    pub max_new_tokens: Option<usize>,
    /// Pad images to a square at evaluation.
    #[serde(default)]
    pub pad_images: Option<bool>,
    /// Force the task's parameter set: tasks with the same label share one set (the first
    /// opens it, the others retrain it), overriding the instruction codebook, as the official
    /// scripts hard-wire their groups. Needs `method.grouping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// This task's training settings where they differ from `[train]`.
    #[serde(default, skip_serializing_if = "TaskTraining::is_empty")]
    pub training: TaskTraining,
}

/// Per-task training settings (`[tasks.training]`); unset fields take `[train]`'s value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskTraining {
    /// Samples per forward pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Forward passes per optimizer step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_accum: Option<usize>,
    /// Passes over the task's data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Most optimizer steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Learning rate of the adapters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_lora: Option<f64>,
    /// Learning rate of the projector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_projector: Option<f64>,
}

impl TaskTraining {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `base` with this task's settings applied.
    pub fn apply(&self, base: &TrainConfig) -> TrainConfig {
        TrainConfig {
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            grad_accum: self.grad_accum.unwrap_or(base.grad_accum),
            epochs: self.epochs.unwrap_or(base.epochs),
            max_steps: self.max_steps.or(base.max_steps),
            lr_lora: self.lr_lora.unwrap_or(base.lr_lora),
            lr_projector: self.lr_projector.unwrap_or(base.lr_projector),
            ..base.clone()
        }
    }
}
