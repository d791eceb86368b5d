//! Experience replay: a fixed share of every earlier task's training samples, drawn once per
//! task by seeded reservoir sampling, is mixed into each new task's samples.
//!
//! # Faithfulness
//! Experience replay as continual-learning baselines define it (a rehearsal memory of earlier
//! tasks' samples trained together with the new task's): a per-task buffer of `share · n`
//! samples (at least one), kept for the rest of the run, shuffled with the new task's samples
//! into the same batches.
//! Deliberate differences: the buffer is chosen by reservoir sampling (Vitter's algorithm R)
//! over the task's samples in file order with a generator seeded by the run's seed and the
//! task's index, so it is the same in every process and on resume, where it is drawn again
//! from the earlier tasks' files; presets `replay-1` and `replay-5` are 1 % and 5 %.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Replay's hyper-parameters (`[method.baseline] name = "replay"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// Share of each earlier task's training samples that is replayed, in (0, 1].
    pub share: f64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self { share: 0.05 }
    }
}

impl ReplayConfig {
    /// How many of a task's `n` samples the buffer keeps: `share · n` rounded, at least one
    /// (none of an empty task), at most `n`.
    pub fn kept(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((self.share * n as f64).round() as usize).clamp(1, n)
    }
}

/// `k` of the indices `0..n` by reservoir sampling with a generator seeded by `seed`, in
/// increasing order.
///
/// ```
/// let picked = lcia::baselines::replay::reservoir(100, 5, 7);
/// assert_eq!(picked.len(), 5);
/// assert_eq!(picked, lcia::baselines::replay::reservoir(100, 5, 7));
/// assert!(picked.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn reservoir(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let k = k.min(n);
    let mut rng = SplitMix64::new(seed);
    let mut kept: Vec<usize> = (0..k).collect();
    for i in k..n {
        let j = (rng.next_f64() * (i + 1) as f64) as usize;
        if j < k {
            kept[j] = i;
        }
    }
    kept.sort_unstable();
    kept
}

/// The seed of task `index`'s buffer in a run seeded with `seed`.
pub fn buffer_seed(seed: u64, index: usize) -> u64 {
    seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1))
}
