//! Studies built on the pipeline from public library pieces: the embedded demo and the
//! SmolLM2 + easy-VQA reproduction (each with its data), the method comparison, the recipe the
//! small runs share, and the step benchmarks.

pub mod compare;
pub mod dema_study;
pub mod demo;
pub mod easy_vqa;
pub mod methods;
pub mod parallel;
pub mod recipe;
pub mod retention_set;
pub mod seeds;
pub mod step_bench;

pub use compare::{MethodResult, compare_methods, comparison_markdown};
