//! The progress bar of long loops (hidden when stderr is not a terminal or when disabled).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
