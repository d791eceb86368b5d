#![warn(missing_docs)]
//! # lcia: continual instruction tuning of multimodal LLMs on Burn
//!
//! A LLaVA-style model (CLIP vision tower → projector → Llama-family LM with LoRA adapters) is tuned
//! on one instruction dataset after another and must not forget the earlier ones. lcia implements
//! the method of "Large Continual Instruction Assistant" (LCIA, ICML 2025):
//!
//! 1. **Balanced EMA** ([`dema::BalancedEma`]): after each optimizer step, every trainable
//!    tensor is folded into an EMA copy with a per-tensor coefficient derived from a Taylor
//!    expansion of the loss ([`dema::balanced_alpha`]); the EMA replaces the weights at the end
//!    of each task.
//! 2. **Instruction grouping** ([`routing`]): a task's instructions decide whether an existing
//!    parameter set is retrained or a new one is added, and which set answers each test
//!    instance.
//!
//! The folders, top first; a module uses only the ones below it:
//!
//! | module | owns |
//! |---|---|
//! | [`experiments`] | the embedded demo, the SmolLM2 + easy-VQA reproduction, the method comparison, step benchmarks |
//! | [`continual`] | a continual run: [`continual::run`], its configuration, run directory, resume, manifest, reports |
//! | [`baselines`] | the compared continual-learning methods: EWC, LwF, experience replay |
//! | [`eval`], [`train`] | scorers, batched generation and the accuracy matrix; one task's training around the one [`train::train_step`] |
//! | [`routing`] | instruction similarity, the codebook (retrain or expand), the test-time router |
//! | [`model`] | Llama, CLIP, projector, LLaVA, BERT, one attention kernel, HF/GGUF/PEFT files, generation |
//! | [`adapters`], [`dema`] | LoRA layers, PEFT files and parameter sets; the balanced EMA |
//! | [`data`], [`io`], [`progress`], [`rng`] | records, prompts and images; atomic files and JSON; progress bars; seeded randomness |
//!
//! [`error`] wraps the errors of `routing` and below into the error the upper layers return.
//! Everything is generic over Burn's `Backend`; the `lcia-backends` crate picks NdArray (CPU),
//! WGPU or CUDA at run time from a `--device` string.

pub mod adapters;
pub mod baselines;
pub mod continual;
pub mod data;
pub mod dema;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod io;
pub mod model;
pub mod progress;
pub mod rng;
pub mod routing;
pub mod train;

pub use error::{Error, Result};
