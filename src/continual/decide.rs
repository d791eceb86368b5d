//! Which parameter set a task trains: a group forced by the run configuration, else the
//! instruction codebook's decision (or the single shared set without grouping), and the
//! checkpoint the task starts from.

use super::config::{ResolvedTask, RunConfig};
use super::manifest::Manifest;
use crate::routing::{Decision, InstructionCodebook, InstructionSimilarity};

/// The group a `group = "..."` label forces on task `index`: the group of the last finished
/// task with the same label, or a new group; `None` when the task names no group.
pub fn forced_group(
    tasks: &[ResolvedTask],
    manifest: &Manifest,
    codebook: &InstructionCodebook,
    index: usize,
) -> Option<usize> {
    let label = tasks[index].group.as_ref()?;
    let earlier = manifest.finished.iter().rev().find(|record| {
        tasks
            .get(record.index)
            .is_some_and(|t| t.group.as_ref() == Some(label))
    });
    Some(earlier.map_or(codebook.groups.len(), |r| r.decision.group()))
}

/// The task's group decision: the forced group, else the codebook at τ (grouping on), else
/// the one shared group; the codebook records it.
pub fn decide(
    config: &RunConfig,
    codebook: &mut InstructionCodebook,
    (similarity, forced): (&dyn InstructionSimilarity, Option<usize>),
    instructions: &[String],
    index: usize,
) -> Decision {
    if let Some(group) = forced {
        let similarities = codebook.similarities(similarity, instructions);
        let decision = match similarities.get(group) {
            Some(&similarity) => Decision::Retrain { group, similarity },
            None => Decision::Expand {
                group,
                best_similarity: similarities.iter().copied().reduce(f64::max),
            },
        };
        codebook.record(decision, instructions);
        return decision;
    }
    if config.method.grouping {
        return codebook.assign(similarity, instructions, config.method.tau);
    }
    if codebook.groups.is_empty() {
        codebook.groups.push(Vec::new());
    }
    let shared = Decision::Retrain {
        group: 0,
        similarity: 1.0,
    };
    codebook.record(shared, instructions);
    match index {
        0 => Decision::Expand {
            group: 0,
            best_similarity: None,
        },
        _ => shared,
    }
}

/// The checkpoint a task starts from: its group's latest (retrain), or the latest of the run
/// or the initial set (expand, by `expand_init`).
pub fn parent_of(config: &RunConfig, manifest: &Manifest, decision: &Decision) -> String {
    let latest_of = |group: usize| {
        manifest
            .group_checkpoints()
            .into_iter()
            .find(|(g, _)| *g == group)
            .map(|(_, c)| c)
    };
    let start = match decision {
        Decision::Retrain { group, .. } => latest_of(*group),
        Decision::Expand { .. } => match config.method.expand_init {
            crate::adapters::ExpandInit::FromLatest => {
                manifest.finished.last().map(|r| r.checkpoint.clone())
            }
            crate::adapters::ExpandInit::Fresh => None,
        },
    };
    start.unwrap_or_else(|| super::run_dir::INITIAL.into())
}
