//! Test-time allocation: which parameter set (group) answers each test instance, with an
//! audit record per instance.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RoutingError;
use super::codebook::{
    InstructionCodebook, Split, TaskKind, extract_instruction, unique_instructions,
};
use super::similarity::InstructionSimilarity;

/// Granularity of the allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// Each instance by its own instruction (the paper's claim).
    PerInstance,
    /// One group for the whole test file, from its unique instructions (the official code).
    PerDataset,
}

/// Where one test instance goes, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The instance's id in its test file.
    pub id: String,
    /// The task (test file) it belongs to.
    pub task: String,
    /// The instruction that was compared (per dataset: the file's instructions joined by " | ").
    pub instruction: String,
    /// The chosen group.
    pub group: usize,
    /// The best group's mean similarity.
    pub similarity: f64,
    /// True when the best similarity was below τ and the latest group was used.
    pub fallback: bool,
}

/// Routes instructions to groups of a codebook: the most similar group if its similarity is
/// at least τ, else the latest group (METHOD.md §3.3).
pub struct Router<'a> {
    codebook: &'a InstructionCodebook,
    similarity: &'a dyn InstructionSimilarity,
    tau: f64,
}

impl<'a> Router<'a> {
    /// A router over `codebook` with the given measure and threshold.
    pub fn new(
        codebook: &'a InstructionCodebook,
        similarity: &'a dyn InstructionSimilarity,
        tau: f64,
    ) -> Self {
        Self {
            codebook,
            similarity,
            tau,
        }
    }

    /// The group for a set of instructions: (group, best similarity, fell back).
    pub fn route(&self, instructions: &[String]) -> Result<(usize, f64, bool), RoutingError> {
        let latest = self
            .codebook
            .groups
            .len()
            .checked_sub(1)
            .ok_or(RoutingError::EmptyCodebook)?;
        let (best, similarity) = self
            .codebook
            .best(self.similarity, instructions)
            .ok_or(RoutingError::EmptyCodebook)?;
        Ok(if similarity >= self.tau {
            (best, similarity, false)
        } else {
            (latest, similarity, true)
        })
    }

    /// Routes every `(id, prompt)` of a test file; prompts are test-split texts.
    pub fn route_dataset<'p>(
        &self,
        task: &str,
        instances: &[(&'p str, &'p str)],
        mode: RoutingMode,
    ) -> Result<Vec<AuditRecord>, RoutingError> {
        let kind = TaskKind::of_task(task);
        let record = |id: &str, instruction: String, (group, similarity, fallback)| AuditRecord {
            id: id.to_string(),
            task: task.to_string(),
            instruction,
            group,
            similarity,
            fallback,
        };
        match mode {
            RoutingMode::PerDataset => {
                let all =
                    unique_instructions(instances.iter().map(|(_, p)| *p), kind, Split::Test)?;
                let route = self.route(&all)?;
                let joined = all.join(" | ");
                Ok(instances
                    .iter()
                    .map(|(id, _)| record(id, joined.clone(), route))
                    .collect())
            }
            RoutingMode::PerInstance => {
                let mut seen: HashMap<String, (usize, f64, bool)> = HashMap::new();
                instances
                    .iter()
                    .map(|(id, prompt)| {
                        let ins =
                            extract_instruction(prompt, kind, Split::Test).unwrap_or_default();
                        let route = match seen.get(&ins) {
                            Some(route) => *route,
                            None => {
                                let route = self.route(std::slice::from_ref(&ins))?;
                                seen.insert(ins.clone(), route);
                                route
                            }
                        };
                        Ok(record(id, ins, route))
                    })
                    .collect()
            }
        }
    }
}

/// Instances per group.
pub fn group_counts(records: &[AuditRecord]) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r.group).or_default() += 1;
    }
    counts
}

/// Writes the records as JSON lines, atomically.
pub fn write_audit(path: &Path, records: &[AuditRecord]) -> Result<(), RoutingError> {
    let mut out = String::new();
    for r in records {
        let line = serde_json::to_string(r).map_err(|e| RoutingError::file(path, e))?;
        let _ = writeln!(out, "{line}");
    }
    crate::io::write_atomic(path, out.as_bytes()).map_err(|e| RoutingError::file(path, e))
}

/// Reads a file written by [`write_audit`].
pub fn read_audit(path: &Path) -> Result<Vec<AuditRecord>, RoutingError> {
    let text = std::fs::read_to_string(path).map_err(|e| RoutingError::file(path, e))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| RoutingError::file(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}
