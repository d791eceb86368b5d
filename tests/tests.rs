//! The single integration-test binary (each extra binary re-links Burn).

mod adapters;
mod balanced_ema;
mod baselines;
mod common;
mod cpu_math;
mod data;
mod dema;
mod dema_regime;
mod demo;
mod easy_vqa;
mod embedding;
mod export;
mod gguf;
mod layout;
mod loading;
mod memory;
mod model;
mod nodes;
mod parallel;
mod parsers;
mod peft_files;
mod pipeline;
mod pipeline_errors;
mod precision;
mod retention;
mod routing;
mod run_guards;
mod run_options;
mod score;
mod scorers;
mod threads;
#[path = "support/tiny_tasks.rs"]
mod tiny_tasks;
mod trainer;
