//! Parameter-efficient adapters: LoRA layers, PEFT-compatible files, and the parameter sets
//! (one per instruction group) that share one base model.

mod error;
pub mod io;
pub mod lora;
pub mod naming;
pub mod params;
pub mod peft_config;
pub mod sets;

pub use error::AdapterError;
pub use io::NamedTensors;
pub use lora::{LoraAdapter, LoraConfig, LoraLinear, frozen_linear, in_dtype, in_weight_dtype};
pub use naming::AdapterNaming;
pub use peft_config::{PeftConfig, TargetModules};
pub use sets::{ExpandInit, ParameterSets, SetSelector, SetWeights};
