//! The lineage of a run: which task trained which group from which checkpoint, with the
//! configuration hash, the data files' digests, the DEMA statistics and the accuracy row.
//! `manifest.json` is rewritten atomically after each task and is the run's commit point.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::run_dir::{CHECKPOINT_INFO, RunDir};
use crate::dema::{DemaRegime, DemaStats};
use crate::eval::ScorerMode;
use crate::model::hf::weight_files;
use crate::routing::Decision;

/// Hex SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> crate::Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| crate::Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Hex SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// What identifies a base model: its `config.json` digest and its weight files' names and
/// sizes (hashing billions of weights on every start would take minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseModel {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// SHA-256 of `config.json`.
    pub config_sha256: String,
    /// `(file name, bytes)` of each weight file.
    pub weights: Vec<(String, u64)>,
}

impl BaseModel {
    /// Identifies the model in `dir`.
    pub fn identify(dir: &Path) -> crate::Result<Self> {
        let config_sha256 = sha256_file(&dir.join("config.json"))?;
        let mut weights = Vec::new();
        for file in weight_files(dir)? {
            let len = std::fs::metadata(&file)
                .map_err(|e| crate::Error::io(&file, e))?
                .len();
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            weights.push((name.unwrap_or_default(), len));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config_sha256,
            weights,
        })
    }

    /// Refuses (naming `what`) parameters trained on a different base model.
    pub fn check_same(&self, current: &BaseModel, what: &Path) -> crate::Result<()> {
        if self.config_sha256 == current.config_sha256 && self.weights == current.weights {
            return Ok(());
        }
        Err(crate::Error::run(
            what,
            format!(
                "was trained on the base model in {} (config sha256 {}…), not on {} (config sha256 {}…); \
                 its parameter sets cannot be used with this model",
                self.dir.display(),
                &self.config_sha256[..12.min(self.config_sha256.len())],
                current.dir.display(),
                &current.config_sha256[..12.min(current.config_sha256.len())],
            ),
        ))
    }
}

/// The record a checkpoint directory carries about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// The base model it was trained on.
    pub base_model: BaseModel,
    /// The task that produced it.
    pub task: String,
    /// Its group.
    pub group: usize,
}

impl CheckpointInfo {
    /// Reads `dir/lcia-checkpoint.json`.
    pub fn read(dir: &Path) -> crate::Result<Self> {
        read_json(&dir.join(CHECKPOINT_INFO))
    }

    /// Writes it into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> crate::Result<()> {
        write_json(&dir.join(CHECKPOINT_INFO), self)
    }
}

/// One finished task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// 0-based position in the sequence.
    pub index: usize,
    /// Task name.
    pub task: String,
    /// Retrain or expand, and the similarity behind it.
    pub decision: Decision,
    /// Whether the EMA consolidated this task.
    pub ema: bool,
    /// The checkpoint it wrote (relative to the run directory).
    pub checkpoint: String,
    /// The checkpoint it started from (`initial` for the first task of a fresh set).
    pub parent: String,
    /// SHA-256 of the training file.
    pub train_sha256: String,
    /// SHA-256 of the test file.
    pub test_sha256: String,
    /// Training samples used.
    pub train_samples: usize,
    /// Records skipped by the loader or masked by the tokenization guard.
    pub skipped: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Loss of the last step.
    pub final_loss: Option<f64>,
    /// Real tokens per second of training.
    pub tokens_per_second: f64,
    /// DEMA counters (when the EMA was on).
    pub dema: Option<DemaStats>,
    /// Where the coefficient sat over the task (when the EMA was on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regime: Option<DemaRegime>,
    /// Accuracy on every task seen so far, after this task (row of the matrix).
    pub accuracies: Vec<f64>,
    /// Wall time of the task (training and evaluation).
    pub seconds: f64,
    /// The data-parallel devices it trained on, one replica each (absent: one device).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
}

/// The run's lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// SHA-256 of the resolved configuration.
    pub config_hash: String,
    /// The base model.
    pub base_model: BaseModel,
    /// The task sequence.
    pub tasks: Vec<String>,
    /// The scorer mode of every accuracy.
    pub scorer_mode: ScorerMode,
    /// Finished tasks in order.
    pub finished: Vec<TaskRecord>,
}

impl Manifest {
    /// Reads the manifest of the run directory `dir`.
    pub fn read(dir: &Path) -> crate::Result<Self> {
        read_json(&RunDir::new(dir).manifest())
    }

    /// Writes the manifest of the run directory `dir`, atomically.
    pub fn write(&self, dir: &Path) -> crate::Result<()> {
        write_json(&RunDir::new(dir).manifest(), self)
    }

    /// The latest checkpoint of each group, by group index.
    pub fn group_checkpoints(&self) -> Vec<(usize, String)> {
        let mut latest: Vec<(usize, String)> = Vec::new();
        for record in &self.finished {
            let group = record.decision.group();
            match latest.iter_mut().find(|(g, _)| *g == group) {
                Some(slot) => slot.1 = record.checkpoint.clone(),
                None => latest.push((group, record.checkpoint.clone())),
            }
        }
        latest
    }
}

/// Reads a JSON file of a run directory; an error names the file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> crate::Result<T> {
    crate::io::read_json(path).map_err(|e| crate::Error::io(path, e))
}

/// Writes a JSON file of a run directory, atomically; an error names the file.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> crate::Result<()> {
    crate::io::write_json(path, value).map_err(|e| crate::Error::io(path, e))
}
