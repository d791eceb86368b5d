//! A continual run: the run configuration, the run directory and its names, setup, the task
//! loop with resume and the manifest, checkpoint evaluation, the memory plan and the reports.

pub mod checkpoint_eval;
pub mod config;
pub mod decide;
pub mod manifest;
pub mod memory;
pub mod preflight;
mod resume;
pub mod retention;
pub mod retention_run;
pub mod run_dir;
pub mod run_report;
pub mod runner;
pub mod setup;
pub mod task_entry;
pub mod validate;

pub use run_dir::{RunDir, RunOptions, group_name};
pub use runner::{RunOutcome, run, run_on};
