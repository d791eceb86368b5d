#![warn(missing_docs)]
//! # lcia: continual instruction tuning of multimodal LLMs on Burn
//!
//! A LLaVA-style model (CLIP vision tower → projector → Llama-family LM with LoRA adapters) is tuned
//! on one instruction dataset after another and must not forget the earlier ones. lcia implements
//! the method of "Large Continual Instruction Assistant" (LCIA, ICML 2025):
//!
//! 1. **Balanced EMA** ([`continual::BalancedEma`]): after each optimizer step, every trainable
//!    tensor is folded into an EMA copy with a per-tensor coefficient derived from a Taylor
//!    expansion of the loss ([`continual::balanced_alpha`]); the EMA replaces the weights at the
//!    end of each task.
//! 2. **Instruction grouping**: a task's instructions decide whether an existing parameter set is
//!    retrained or a new one is added, and which set answers each test instance.
//!
//! The model ([`model`]) is LLaVA-1.5 on Burn: a Llama decoder, a CLIP ViT tower and the
//! projector, loaded from HuggingFace safetensors and checked against transformers' logits;
//! [`data`] turns records, prompts and images into its inputs as LLaVA does; [`adapters`] holds
//! the LoRA adapters and the named parameter sets; [`routing`] the instruction codebook and the
//! test-time router; [`eval`] the CoIN scorers, batched generation, the accuracy matrix and the
//! reports.
//!
//! The pipeline ([`continual::run`], `lcia run --config run.toml`): for each task of the sequence
//! ([`continual::config::RunConfig`]) the codebook decides retrain-or-expand, the chosen parameter
//! set trains ([`continual::train_task`]: AdamW with two learning rates, cosine schedule, the
//! balanced EMA when the method says so), its checkpoint is written, every task seen so far is
//! evaluated with its routed set, and the manifest ([`continual::manifest::Manifest`]) commits the
//! task; a killed run resumes after the last committed task.
//!
//! Everything is generic over Burn's `Backend`; the `lcia-backends` crate picks NdArray (CPU),
//! WGPU or CUDA at run time from a `--device` string.

pub mod adapters;
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
