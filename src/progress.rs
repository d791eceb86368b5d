//! The progress bar of long loops (hidden when stderr is not a terminal or when disabled).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::continual::StepRecord;

/// A bar of `len` steps showing position, rate, time left and a message.
pub fn bar(len: u64, enabled: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}<{eta} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The bar message of a training step: loss, learning rate, mean α, tokens/s.
pub fn step_message(step: &StepRecord, tokens_per_second: f64) -> String {
    let alpha = step
        .alpha
        .map_or("-".to_string(), |(_, mean, _)| format!("{mean:.3}"));
    format!(
        "loss {:.4} lr {:.2e} α {alpha} {:.0} tok/s",
        step.loss, step.lr, tokens_per_second
    )
}
