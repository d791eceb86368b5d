//! Saving and loading a model's trainable parts in PEFT/LLaVA file layouts.
//!
//! LoRA weights go to `adapter_model.safetensors` under PEFT's names
//! (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`, PyTorch `[out, in]`
//! layout), the projector to `non_lora_trainables.safetensors` under LLaVA's names
//! (`base_model.model.model.mm_projector.0.weight`), next to `adapter_config.json`.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;

use super::llama::{LLAMA_LORA_TARGETS, Llama};
use super::llava::Llava;
use super::projector::Projector;
use crate::adapters::io::{
    ADAPTER_WEIGHTS, NON_LORA_TRAINABLES, read_peft_config, write_peft_config,
};
use crate::adapters::{AdapterError, NamedTensors, PeftConfig};

const PROJECTOR_PREFIX: &str = "base_model.model.model.mm_projector";

fn lora_key(layer: usize, target: &str, which: char) -> String {
    let group = if matches!(target, "gate_proj" | "up_proj" | "down_proj") {
        "mlp"
    } else {
        "self_attn"
    };
    format!("base_model.model.model.layers.{layer}.{group}.{target}.lora_{which}.weight")
}

/// Drops PEFT's in-memory adapter name (`lora_A.default.weight` → `lora_A.weight`).
fn canonical(mut named: NamedTensors) -> NamedTensors {
    named.tensors = std::mem::take(&mut named.tensors)
        .into_iter()
        .map(|(k, v)| (k.replace(".default.weight", ".weight"), v))
        .collect();
    named
}

fn reject_leftovers(named: &NamedTensors, file: &Path) -> Result<(), AdapterError> {
    match named.tensors.keys().next() {
        Some(name) => Err(AdapterError::UnexpectedTensor {
            name: name.clone(),
            file: file.to_path_buf(),
        }),
        None => Ok(()),
    }
}

impl<B: Backend> Llama<B> {
    /// The targets that carry an adapter (in [`LLAMA_LORA_TARGETS`] order).
    pub fn lora_targets(&self) -> Vec<&'static str> {
        let Some(first) = self.model.layers.first() else {
            return Vec::new();
        };
        let mut first = first.clone();
        LLAMA_LORA_TARGETS
            .into_iter()
            .filter(|t| first.projection_mut(t).is_some_and(|p| p.lora.is_some()))
            .collect()
    }

    /// Every adapter's weights under PEFT names, PyTorch layout.
    pub fn lora_tensors(&self) -> NamedTensors {
        let mut named = NamedTensors::default();
        for (i, layer) in self.model.layers.iter().enumerate() {
            let mut layer = layer.clone();
            for target in LLAMA_LORA_TARGETS {
                if let Some(lora) = layer.projection_mut(target).and_then(|p| p.lora.clone()) {
                    named.insert(lora_key(i, target, 'A'), lora.lora_a.val().transpose());
                    named.insert(lora_key(i, target, 'B'), lora.lora_b.val().transpose());
                }
            }
        }
        named
    }

    /// Attaches adapters as `dir/adapter_config.json` describes and fills them from
    /// `dir/adapter_model.safetensors` (as PEFT or [`Llava::save_parameter_set`] wrote it).
    pub fn load_lora(self, dir: &Path) -> Result<Self, AdapterError> {
        let config = read_peft_config(dir)?;
        let targets: Vec<&str> = config.target_modules.iter().map(String::as_str).collect();
        let mut model = self
            .attach_lora(&config.lora_config(), &targets)
            .map_err(|e| AdapterError::file(&dir.join("adapter_config.json"), e.to_string()))?;
        let file = dir.join(ADAPTER_WEIGHTS);
        let mut named = canonical(NamedTensors::read(&file)?);
        for (i, layer) in model.model.layers.iter_mut().enumerate() {
            for &target in &targets {
                let Some(lora) = layer.projection_mut(target).and_then(|p| p.lora.as_mut()) else {
                    continue;
                };
                let [d_in, r] = lora.lora_a.dims();
                let [_, d_out] = lora.lora_b.dims();
                let device = lora.lora_a.device();
                let a: Tensor<B, 2> =
                    named.take(&lora_key(i, target, 'A'), [r, d_in], &file, &device)?;
                let b: Tensor<B, 2> =
                    named.take(&lora_key(i, target, 'B'), [d_out, r], &file, &device)?;
                lora.lora_a = Param::initialized(lora.lora_a.id, a.transpose().require_grad());
                lora.lora_b = Param::initialized(lora.lora_b.id, b.transpose().require_grad());
            }
        }
        reject_leftovers(&named, &file)?;
        Ok(model)
    }
}

impl<B: Backend> Projector<B> {
    /// The projector's weights under LLaVA's `mm_projector.{0,2}` names, PyTorch layout.
    pub fn named_tensors(&self) -> NamedTensors {
        let mut named = NamedTensors::default();
        let layers = [Some(&self.linear_1), self.linear_2.as_ref()];
        for (index, layer) in [0, 2].into_iter().zip(layers) {
            if let Some(layer) = layer {
                named.insert(
                    format!("{PROJECTOR_PREFIX}.{index}.weight"),
                    layer.weight.val().transpose(),
                );
                if let Some(bias) = &layer.bias {
                    named.insert(format!("{PROJECTOR_PREFIX}.{index}.bias"), bias.val());
                }
            }
        }
        named
    }

    /// Fills the projector from [`Self::named_tensors`]-style names (the `base_model.model.`
    /// prefix is optional); `require_grad` is kept as it was.
    pub fn load_named(
        mut self,
        named: &mut NamedTensors,
        file: &Path,
    ) -> Result<Self, AdapterError> {
        named.tensors = std::mem::take(&mut named.tensors)
            .into_iter()
            .map(|(k, v)| match k.strip_prefix("base_model.model.") {
                Some(rest) if !rest.starts_with("base_model") => {
                    (format!("base_model.model.{rest}"), v)
                }
                _ => (format!("base_model.model.{k}"), v),
            })
            .collect();
        let layers = [Some(&mut self.linear_1), self.linear_2.as_mut()];
        for (index, layer) in [0, 2].into_iter().zip(layers) {
            let Some(layer) = layer else { continue };
            let device = layer.weight.device();
            let [d_in, d_out] = layer.weight.dims();
            let grad = layer.weight.val().is_require_grad();
            let w: Tensor<B, 2> = named.take(
                &format!("{PROJECTOR_PREFIX}.{index}.weight"),
                [d_out, d_in],
                file,
                &device,
            )?;
            layer.weight =
                Param::initialized(layer.weight.id, w.transpose().set_require_grad(grad));
            if let Some(bias) = layer.bias.as_mut() {
                let b: Tensor<B, 1> = named.take(
                    &format!("{PROJECTOR_PREFIX}.{index}.bias"),
                    [d_out],
                    file,
                    &device,
                )?;
                *bias = Param::initialized(bias.id, b.set_require_grad(grad));
            }
        }
        Ok(self)
    }
}

impl<B: Backend> Llava<B> {
    /// Writes the LoRA adapters and the projector as a PEFT/LLaVA parameter-set directory
    /// (`adapter_config.json`, `adapter_model.safetensors`, `non_lora_trainables.safetensors`);
    /// every file is written atomically.
    pub fn save_parameter_set(&self, dir: &Path, config: &PeftConfig) -> Result<(), AdapterError> {
        self.language_model
            .lora_tensors()
            .write(&dir.join(ADAPTER_WEIGHTS))?;
        self.multi_modal_projector
            .named_tensors()
            .write(&dir.join(NON_LORA_TRAINABLES))?;
        write_peft_config(dir, config)
    }

    /// Attaches and fills the adapters, and loads the projector, from a parameter-set directory.
    pub fn load_parameter_set(mut self, dir: &Path) -> Result<Self, AdapterError> {
        self.language_model = self.language_model.load_lora(dir)?;
        let file = dir.join(NON_LORA_TRAINABLES);
        let mut named = NamedTensors::read(&file)?;
        self.multi_modal_projector = self.multi_modal_projector.load_named(&mut named, &file)?;
        reject_leftovers(&named, &file)?;
        Ok(self)
    }
}
