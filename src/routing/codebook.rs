//! The instruction codebook: groups of instructions, and the retrain-or-expand decision
//! (METHOD.md §3.1-3.3, the official `instruct/LoRASelect.py`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RoutingError;
use super::similarity::InstructionSimilarity;

/// τ for the original CoIN instructions (`Instructions`).
pub const TAU_ORIGIN: f64 = 0.90;
/// τ for the `Instructions_Diverse` and `Instructions_10Type` variants.
pub const TAU_DIVERSE: f64 = 0.30;

/// How a task's prompts carry the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// The instruction is the last line of the prompt (VQA-like tasks).
    Default,
    /// The last line up to its first ':' (drops the referring expression).
    Grounding,
    /// The second line in training files; the whole text in test files.
    ImageNet,
}

impl TaskKind {
    /// The kind of a CoIN task name (`Grounding`, `ImageNet`, anything else is `Default`).
    pub fn of_task(task: &str) -> Self {
        match task {
            "Grounding" => TaskKind::Grounding,
            "ImageNet" => TaskKind::ImageNet,
            _ => TaskKind::Default,
        }
    }
}

/// Whether the prompt comes from a training or a test file (they differ for ImageNet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// `conversations[0].value` of a training record.
    Train,
    /// `text` of a test record.
    Test,
}

/// The instruction of one prompt, as LoRASelect extracts it; `None` when an ImageNet training
/// prompt has no second line.
///
/// ```
/// use lcia::routing::codebook::{Split, TaskKind, extract_instruction};
/// let p = "<image>\nWhat is it?\nAnswer the question using a single word or phrase.";
/// assert_eq!(extract_instruction(p, TaskKind::Default, Split::Train).unwrap(),
///            "Answer the question using a single word or phrase.");
/// assert_eq!(extract_instruction("<image>\nBox this: red car", TaskKind::Grounding, Split::Train).unwrap(),
///            "Box this");
/// ```
pub fn extract_instruction(prompt: &str, kind: TaskKind, split: Split) -> Option<String> {
    let last = || prompt.split('\n').next_back().unwrap_or("");
    let text = match (kind, split) {
        (TaskKind::Default, _) => last(),
        (TaskKind::Grounding, _) => last().split(':').next().unwrap_or(""),
        (TaskKind::ImageNet, Split::Train) => prompt.split('\n').nth(1)?,
        (TaskKind::ImageNet, Split::Test) => prompt,
    };
    Some(text.trim().to_string())
}

/// The unique instructions of a task's prompts, in first-seen order.
pub fn unique_instructions<'a>(
    prompts: impl IntoIterator<Item = &'a str>,
    kind: TaskKind,
    split: Split,
) -> Result<Vec<String>, RoutingError> {
    let mut out: Vec<String> = Vec::new();
    for (i, prompt) in prompts.into_iter().enumerate() {
        let ins = extract_instruction(prompt, kind, split).ok_or_else(|| {
            RoutingError::Instruction(format!(
                "record {i}: an ImageNet training prompt needs a second line: {prompt:?}"
            ))
        })?;
        if !out.contains(&ins) {
            out.push(ins);
        }
    }
    Ok(out)
}

/// What to do with a task's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Train group `group` further (its instructions are similar enough).
    Retrain {
        /// Index of the group.
        group: usize,
        /// Its mean similarity to the task's instructions.
        similarity: f64,
    },
    /// Open a new group (a new parameter set) with index `group`.
    Expand {
        /// Index of the new group.
        group: usize,
        /// The best existing group's similarity (`None` for the first task).
        best_similarity: Option<f64>,
    },
}

impl Decision {
    /// The group the task trains.
    pub fn group(&self) -> usize {
        match *self {
            Decision::Retrain { group, .. } | Decision::Expand { group, .. } => group,
        }
    }
}

/// Groups of instructions, one per parameter set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstructionCodebook {
    /// Each group's instructions.
    pub groups: Vec<Vec<String>>,
}

impl InstructionCodebook {
    /// An empty codebook.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mean pairwise similarity of `instructions` to each group.
    pub fn similarities(
        &self,
        sim: &dyn InstructionSimilarity,
        instructions: &[String],
    ) -> Vec<f64> {
        self.groups
            .iter()
            .map(|group| {
                let pairs = (instructions.len() * group.len()).max(1) as f64;
                let total: f64 = instructions
                    .iter()
                    .flat_map(|c| group.iter().map(move |h| sim.similarity(c, h)))
                    .sum();
                // `+ 0.0` turns a -0.0 mean into 0.0 for display
                total / pairs + 0.0
            })
            .collect()
    }

    /// The most similar group and its similarity (ties: the lower index), if any group exists.
    pub fn best(
        &self,
        sim: &dyn InstructionSimilarity,
        instructions: &[String],
    ) -> Option<(usize, f64)> {
        self.similarities(sim, instructions)
            .into_iter()
            .enumerate()
            .fold(None, |best, (k, s)| match best {
                Some((_, b)) if s <= b => best,
                _ => Some((k, s)),
            })
    }

    /// The decision for a training task's instructions at threshold `tau`, without changing
    /// the codebook.
    pub fn decide(
        &self,
        sim: &dyn InstructionSimilarity,
        instructions: &[String],
        tau: f64,
    ) -> Decision {
        match self.best(sim, instructions) {
            Some((group, similarity)) if similarity >= tau => {
                Decision::Retrain { group, similarity }
            }
            best => Decision::Expand {
                group: self.groups.len(),
                best_similarity: best.map(|(_, s)| s),
            },
        }
    }

    /// Decides and records: a retrained group gains the instructions it lacks, an expansion
    /// adds a group of all of them.
    pub fn assign(
        &mut self,
        sim: &dyn InstructionSimilarity,
        instructions: &[String],
        tau: f64,
    ) -> Decision {
        let decision = self.decide(sim, instructions, tau);
        self.record(decision, instructions);
        decision
    }

    /// Records a decision made elsewhere (e.g. a group forced by the run configuration): a
    /// retrained group gains the instructions it lacks, an expansion adds a group of all of
    /// them. An expansion must name the next group index.
    pub fn record(&mut self, decision: Decision, instructions: &[String]) {
        match decision {
            Decision::Retrain { group, .. } => {
                for ins in instructions {
                    if !self.groups[group].contains(ins) {
                        self.groups[group].push(ins.clone());
                    }
                }
            }
            Decision::Expand { .. } => self.groups.push(instructions.to_vec()),
        }
    }

    /// Saves as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<(), RoutingError> {
        crate::io::write_json(path, self).map_err(|e| RoutingError::file(path, e))
    }

    /// Loads a JSON codebook written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self, RoutingError> {
        crate::io::read_json(path).map_err(|e| RoutingError::file(path, e))
    }

    /// Reads the official codebook directory: `instruction_1.txt`, `instruction_2.txt`, ...
    /// (one instruction per line), up to the first missing index.
    pub fn from_official_dir(dir: &Path) -> Result<Self, RoutingError> {
        let mut groups = Vec::new();
        loop {
            let file = dir.join(format!("instruction_{}.txt", groups.len() + 1));
            if !file.exists() {
                break;
            }
            let text = std::fs::read_to_string(&file).map_err(|e| RoutingError::file(&file, e))?;
            groups.push(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
        if groups.is_empty() {
            return Err(RoutingError::file(dir, "no instruction_1.txt"));
        }
        Ok(Self { groups })
    }
}
