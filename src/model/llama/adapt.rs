//! Attaching LoRA adapters to a Llama's projections by their PEFT names.

use burn::prelude::*;

use super::block::Block;
use super::decoder::Llama;
use crate::adapters::{LoraConfig, LoraLinear};
use crate::model::ModelError;
use crate::model::trainable::set_trainable;

/// PEFT's target modules for Llama in LCIA: every Linear of the decoder except `lm_head`.
pub const LLAMA_LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl<B: Backend> Block<B> {
    /// The projection with this PEFT name, if it is one, to read.
    pub fn projection(&self, name: &str) -> Option<&LoraLinear<B>> {
        Some(match name {
            "q_proj" => &self.self_attn.q_proj,
            "k_proj" => &self.self_attn.k_proj,
            "v_proj" => &self.self_attn.v_proj,
            "o_proj" => &self.self_attn.o_proj,
            "gate_proj" => &self.mlp.gate_proj,
            "up_proj" => &self.mlp.up_proj,
            "down_proj" => &self.mlp.down_proj,
            _ => return None,
        })
    }

    /// The projection with this PEFT name, if it is one.
    pub fn projection_mut(&mut self, name: &str) -> Option<&mut LoraLinear<B>> {
        Some(match name {
            "q_proj" => &mut self.self_attn.q_proj,
            "k_proj" => &mut self.self_attn.k_proj,
            "v_proj" => &mut self.self_attn.v_proj,
            "o_proj" => &mut self.self_attn.o_proj,
            "gate_proj" => &mut self.mlp.gate_proj,
            "up_proj" => &mut self.mlp.up_proj,
            "down_proj" => &mut self.mlp.down_proj,
            _ => return None,
        })
    }
}

impl<B: Backend> Llama<B> {
    /// Freezes every weight of the model and attaches a fresh adapter to each `targets`
    /// projection of every block; only the adapters train. An unknown target is an error.
    pub fn attach_lora(self, config: &LoraConfig, targets: &[&str]) -> Result<Self, ModelError> {
        let mut model = set_trainable(self, false);
        for layer in model.model.layers.iter_mut() {
            for &target in targets {
                layer
                    .projection_mut(target)
                    .ok_or_else(|| {
                        ModelError::Invalid(format!(
                            "unknown LoRA target module '{target}' (expected one of {LLAMA_LORA_TARGETS:?})"
                        ))
                    })?
                    .attach(config);
            }
        }
        Ok(model)
    }

    /// Whether any projection carries an adapter that is not folded into its base weight.
    pub fn has_unmerged_lora(&self) -> bool {
        self.model.layers.iter().any(|layer| {
            LLAMA_LORA_TARGETS.into_iter().any(|t| {
                layer
                    .projection(t)
                    .is_some_and(|p| p.lora.is_some() && !p.is_merged())
            })
        })
    }

    /// Takes every adapter off (merged ones are unmerged first): the base model.
    pub fn without_lora(self) -> Self {
        self.unmerge_lora().map_projections(|mut p| {
            p.lora = None;
            p
        })
    }

    /// Folds every adapter into its base weight (for inference).
    pub fn merge_lora(self) -> Self {
        self.map_projections(LoraLinear::merge)
    }

    /// Takes merged adapters back out of the base weights.
    pub fn unmerge_lora(self) -> Self {
        self.map_projections(LoraLinear::unmerge)
    }

    fn map_projections(mut self, f: impl Fn(LoraLinear<B>) -> LoraLinear<B>) -> Self {
        for layer in self.model.layers.iter_mut() {
            for target in LLAMA_LORA_TARGETS {
                if let Some(p) = layer.projection_mut(target) {
                    *p = f(p.clone());
                }
            }
        }
        self
    }
}
