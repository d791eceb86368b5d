//! The learning-rate schedule of the official runs: linear warm-up, then cosine decay to zero
//! (`transformers.get_cosine_schedule_with_warmup`, `--warmup_ratio 0.03`).

/// Warm-up ratio of the official training scripts.
pub const WARMUP_RATIO: f64 = 0.03;

/// Warm-up steps for `total` optimizer steps: `ceil(total · ratio)`, as transformers'
/// `TrainingArguments.get_warmup_steps` computes them.
///
/// ```
/// use lcia::train::schedule::warmup_steps;
/// assert_eq!(warmup_steps(100, 0.03), 3);
/// assert_eq!(warmup_steps(10, 0.03), 1);
/// assert_eq!(warmup_steps(10, 0.0), 0);
/// ```
pub fn warmup_steps(total: usize, ratio: f64) -> usize {
    (total as f64 * ratio).ceil() as usize
}

/// The multiplier of the base learning rate at optimizer step `step` (0-based) of `total`:
/// `step / warmup` during warm-up, then `0.5 · (1 + cos(π · progress))`.
///
/// ```
/// use lcia::train::schedule::cosine_with_warmup;
/// assert_eq!(cosine_with_warmup(0, 100, 3), 0.0);
/// assert!((cosine_with_warmup(1, 100, 3) - 1.0 / 3.0).abs() < 1e-12);
/// assert_eq!(cosine_with_warmup(3, 100, 3), 1.0);
/// // Half-way through the decay the rate is halved.
/// assert!((cosine_with_warmup(3 + 97 / 2, 100, 3) - 0.5).abs() < 0.02);
/// assert!(cosine_with_warmup(99, 100, 3) < 0.001);
/// ```
pub fn cosine_with_warmup(step: usize, total: usize, warmup: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
    (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}
