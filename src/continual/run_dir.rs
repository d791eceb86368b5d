//! Every name in a run directory, in one place, and how a run treats an existing one.
//!
//! ```text
//! manifest.json  config.json  codebook.json  matrix.csv  metrics.json  report.md
//! initial/                  the adapters and projector the run started from
//! checkpoints/NN-task/      the parameter set after task NN (+ lcia-checkpoint.json)
//! tasks/NN-task/            steps.csv, steps.json, alpha_trace.csv, codebook.json,
//!                           predictions/<task>.jsonl, routing/<task>.jsonl
//! plots/                    accuracy_matrix.png, loss.png, alpha.png
//! lcia.lock                 held by the process running the directory
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// File name of the manifest in a run directory (the run's commit point).
pub const MANIFEST: &str = "manifest.json";
/// File name of the resolved configuration a run directory was started with.
pub const RUN_CONFIG: &str = "config.json";
/// File name of the base-model record in each checkpoint directory.
pub const CHECKPOINT_INFO: &str = "lcia-checkpoint.json";
/// The parameter set a run started from, relative to the run directory.
pub const INITIAL: &str = "initial";
/// The lock file a running process holds (its process id inside).
pub const LOCK: &str = "lcia.lock";

/// How to treat an existing run directory, and where to stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Continue after the last finished task of the directory's manifest (a directory without
    /// a manifest is an error).
    pub resume: bool,
    /// Stop after this many tasks in total have finished.
    pub stop_after: Option<usize>,
}

/// The name of group `g`'s parameter set.
pub fn group_name(group: usize) -> String {
    format!("group-{group}")
}

/// `NN-task`: the folder name of the `index`-th task (0-based) of a sequence.
fn numbered(index: usize, task: &str) -> String {
    format!("{:02}-{task}", index + 1)
}

/// The paths of one run directory.
///
/// ```
/// use lcia::continual::RunDir;
/// let run = RunDir::new("runs/lcia");
/// assert_eq!(run.checkpoint_name(1, "TextVQA"), "checkpoints/02-TextVQA");
/// assert!(run.task_dir(0, "GQA").ends_with("tasks/01-GQA"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `manifest.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// `config.json`: the resolved configuration.
    pub fn config(&self) -> PathBuf {
        self.root.join(RUN_CONFIG)
    }

    /// `codebook.json`: the instruction groups after the latest task.
    pub fn codebook(&self) -> PathBuf {
        self.root.join("codebook.json")
    }

    /// `initial/`: the parameter set the run started from.
    pub fn initial(&self) -> PathBuf {
        self.root.join(INITIAL)
    }

    /// The checkpoint of task `index` relative to the run directory (as the manifest keeps it).
    pub fn checkpoint_name(&self, index: usize, task: &str) -> String {
        format!("checkpoints/{}", numbered(index, task))
    }

    /// A checkpoint (or `initial`) named as the manifest names it.
    pub fn resolve(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The folder of task `index`'s logs, predictions and codebook.
    pub fn task_dir(&self, index: usize, task: &str) -> PathBuf {
        self.root.join("tasks").join(numbered(index, task))
    }

    /// The per-step log of a task as JSON (read back by the reports after a resume).
    pub fn steps_json(&self, index: usize, task: &str) -> PathBuf {
        self.task_dir(index, task).join("steps.json")
    }

    /// The per-step log of a task as CSV.
    pub fn steps_csv(&self, index: usize, task: &str) -> PathBuf {
        self.task_dir(index, task).join("steps.csv")
    }

    /// Every tensor's α at every step of a task.
    pub fn alpha_trace(&self, index: usize, task: &str) -> PathBuf {
        self.task_dir(index, task).join("alpha_trace.csv")
    }

    /// The codebook after task `index`.
    pub fn task_codebook(&self, index: usize, task: &str) -> PathBuf {
        self.task_dir(index, task).join("codebook.json")
    }

    /// Predictions on `evaluated` after task `index`.
    pub fn predictions(&self, index: usize, task: &str, evaluated: &str) -> PathBuf {
        self.task_dir(index, task)
            .join("predictions")
            .join(format!("{evaluated}.jsonl"))
    }

    /// Which group answered each instance of `evaluated` after task `index`.
    pub fn routing(&self, index: usize, task: &str, evaluated: &str) -> PathBuf {
        self.task_dir(index, task)
            .join("routing")
            .join(format!("{evaluated}.jsonl"))
    }

    /// `matrix.csv`.
    pub fn matrix_csv(&self) -> PathBuf {
        self.root.join("matrix.csv")
    }

    /// `metrics.json`.
    pub fn metrics_json(&self) -> PathBuf {
        self.root.join("metrics.json")
    }

    /// `report.md`.
    pub fn report(&self) -> PathBuf {
        self.root.join("report.md")
    }

    /// `plots/<name>`.
    pub fn plot(&self, name: &str) -> PathBuf {
        self.root.join("plots").join(name)
    }

    /// Takes the directory's exclusive lock (creating the directory), held until the returned
    /// file is dropped. The operating system releases it when the holder dies, so a lock is
    /// never stale; a directory another process holds is an error naming that process.
    pub fn lock(&self) -> crate::Result<RunLock> {
        let path = self.root.join(LOCK);
        let io = |e| crate::Error::io(&path, e);
        std::fs::create_dir_all(&self.root).map_err(|e| crate::Error::io(&self.root, e))?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (process {pid})"),
                };
                return Err(crate::Error::run(
                    &self.root,
                    format!(
                        "is in use by another lcia process{holder}; wait for it to finish or choose another directory"
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let previous = std::fs::read_to_string(&path).unwrap_or_default();
        if !previous.trim().is_empty() {
            log::info!(
                "{}: taking over the lock that process {} released when it ended",
                self.root.display(),
                previous.trim()
            );
        }
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RunLock { _file: file })
    }
}

/// The exclusive lock of a run directory ([`RunDir::lock`]), released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}
