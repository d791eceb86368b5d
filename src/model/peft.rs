//! Saving and loading a model's trainable parts in PEFT/LLaVA file layouts.
//!
//! LoRA weights go to `adapter_model.safetensors` under PEFT's names (PyTorch `[out, in]`
//! layout) in either [`AdapterNaming`]; the projector goes into the same file as PEFT's module
//! to save (llava-hf naming) or to `non_lora_trainables.safetensors` under LLaVA's
//! `mm_projector.{0,2}` names (original naming), next to `adapter_config.json`. Reading detects
//! the naming from the keys and honours rsLoRA and rank/alpha patterns (see [`PeftConfig`]).

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;

use super::llama::{LLAMA_LORA_TARGETS, Llama};
use super::llava::Llava;
use super::projector::Projector;
use super::trainable::set_trainable;
use crate::adapters::io::{
    ADAPTER_WEIGHTS, NON_LORA_TRAINABLES, read_peft_config, write_peft_config,
};
use crate::adapters::{AdapterError, AdapterNaming, NamedTensors, PeftConfig, TargetModules};

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

/// Refuses adapters on the vision tower (lcia's CLIP layers carry none), listing the modules.
fn reject_vision_adapters(named: &NamedTensors, file: &Path) -> Result<(), AdapterError> {
    let mut modules: Vec<&str> = named
        .tensors
        .keys()
        .filter(|k| k.contains("vision_tower") || k.contains("vision_model"))
        .map(|k| k.split(".lora_").next().unwrap_or(k))
        .collect();
    modules.dedup();
    if modules.is_empty() {
        return Ok(());
    }
    Err(AdapterError::file(
        file,
        format!(
            "the adapter adapts {} vision-tower module(s), which lcia does not apply (LoRA on the \
             language model only; with PEFT, restrict target_modules, e.g. to \
             \".*language_model.*\\.(q_proj|v_proj)\"): {}",
            modules.len(),
            modules.join(", ")
        ),
    ))
}

/// A parameter-set directory's config, adapter file path, tensors (canonical names) and
/// naming; adapters on the vision tower are refused here.
fn read_adapter(
    dir: &Path,
) -> Result<(PeftConfig, PathBuf, NamedTensors, AdapterNaming), AdapterError> {
    let config = read_peft_config(dir)?;
    let file = dir.join(ADAPTER_WEIGHTS);
    let named = canonical(NamedTensors::read(&file)?);
    reject_vision_adapters(&named, &file)?;
    let naming =
        AdapterNaming::detect(named.tensors.keys().map(String::as_str)).unwrap_or_default();
    Ok((config, file, named, naming))
}

impl<B: Backend> Llama<B> {
    /// The targets that carry an adapter (in [`LLAMA_LORA_TARGETS`] order).
    pub fn lora_targets(&self) -> Vec<&'static str> {
        let Some(first) = self.model.layers.first() else {
            return Vec::new();
        };
        LLAMA_LORA_TARGETS
            .into_iter()
            .filter(|t| first.projection(t).is_some_and(|p| p.lora.is_some()))
            .collect()
    }

    /// Every adapter's weights under PEFT names in `naming`, PyTorch layout.
    pub fn lora_tensors(&self, naming: AdapterNaming) -> NamedTensors {
        let mut named = NamedTensors::default();
        for (i, layer) in self.model.layers.iter().enumerate() {
            for target in LLAMA_LORA_TARGETS {
                if let Some(lora) = layer.projection(target).and_then(|p| p.lora.as_ref()) {
                    let (a, b) = (lora.lora_a.val(), lora.lora_b.val());
                    let (key_a, key_b) = (
                        naming.lora_key(i, target, 'A'),
                        naming.lora_key(i, target, 'B'),
                    );
                    let Some(gate) = &lora.gate else {
                        named.insert(key_a, a.transpose());
                        named.insert(key_b, b.transpose());
                        continue;
                    };
                    let [d_in, r] = a.dims();
                    let [_, d_out] = b.dims();
                    let experts = gate.dims()[1];
                    let k = r / experts;
                    for e in 0..experts {
                        let a_e = a.clone().slice([0..d_in, e * k..(e + 1) * k]);
                        let b_e = b.clone().slice([e * k..(e + 1) * k, 0..d_out]);
                        named.insert(expert_key(&key_a, e), a_e.transpose());
                        named.insert(expert_key(&key_b, e), b_e.transpose());
                    }
                    named.insert(router_key(&key_a), gate.val().transpose());
                }
            }
        }
        named
    }

    /// Freezes the model, attaches an adapter to every projection `config` targets (under
    /// `naming`'s module names, with its per-module rank, alpha and rsLoRA) and fills it from
    /// `named`, taking the tensors out. No targeted module at all is an error.
    pub fn load_lora_tensors(
        self,
        config: &PeftConfig,
        naming: AdapterNaming,
        named: &mut NamedTensors,
        file: &Path,
    ) -> Result<Self, AdapterError> {
        let mut model = set_trainable(self, false);
        let mut attached = 0;
        for (i, layer) in model.model.layers.iter_mut().enumerate() {
            for target in LLAMA_LORA_TARGETS {
                let module = naming.module(i, target);
                if !config.targets(&module) {
                    continue;
                }
                let Some(projection) = layer.projection_mut(target) else {
                    continue;
                };
                projection.attach(&config.lora_config_for(&module));
                attached += 1;
                let lora = projection.lora.as_mut().expect("just attached");
                let [d_in, r] = lora.lora_a.dims();
                let [_, d_out] = lora.lora_b.dims();
                let device = lora.lora_a.device();
                let (key_a, key_b) = (
                    naming.lora_key(i, target, 'A'),
                    naming.lora_key(i, target, 'B'),
                );
                let (a, b): (Tensor<B, 2>, Tensor<B, 2>) = match lora.gate.as_mut() {
                    None => (
                        named.take(&key_a, [r, d_in], file, &device)?,
                        named.take(&key_b, [d_out, r], file, &device)?,
                    ),
                    Some(gate) => {
                        let experts = gate.dims()[1];
                        let k = r / experts;
                        let (mut a_parts, mut b_parts) = (Vec::new(), Vec::new());
                        for e in 0..experts {
                            a_parts.push(named.take(
                                &expert_key(&key_a, e),
                                [k, d_in],
                                file,
                                &device,
                            )?);
                            b_parts.push(named.take(
                                &expert_key(&key_b, e),
                                [d_out, k],
                                file,
                                &device,
                            )?);
                        }
                        let g: Tensor<B, 2> =
                            named.take(&router_key(&key_a), [experts, d_in], file, &device)?;
                        *gate = Param::initialized(gate.id, g.transpose().require_grad());
                        (Tensor::cat(a_parts, 0), Tensor::cat(b_parts, 1))
                    }
                };
                lora.lora_a = Param::initialized(lora.lora_a.id, a.transpose().require_grad());
                lora.lora_b = Param::initialized(lora.lora_b.id, b.transpose().require_grad());
            }
        }
        if attached == 0 {
            return Err(AdapterError::file(
                file,
                format!(
                    "target_modules {:?} names none of the language model's projections \
                     (e.g. {})",
                    config.target_modules,
                    naming.module(0, "q_proj")
                ),
            ));
        }
        Ok(model)
    }

    /// Attaches adapters as `dir/adapter_config.json` describes and fills them from
    /// `dir/adapter_model.safetensors` (a Llama wrapped alone in PEFT, or
    /// [`Llava::save_parameter_set`]'s LoRA part in either naming); any other tensor is refused.
    pub fn load_lora(self, dir: &Path) -> Result<Self, AdapterError> {
        let (config, file, mut named, naming) = read_adapter(dir)?;
        let model = self.load_lora_tensors(&config, naming, &mut named, &file)?;
        reject_leftovers(&named, &file)?;
        Ok(model)
    }
}

impl<B: Backend> Projector<B> {
    /// The projector's weights under `naming`'s projector names, PyTorch layout.
    pub fn named_tensors(&self, naming: AdapterNaming) -> NamedTensors {
        let mut named = NamedTensors::default();
        let layers = [Some(&self.linear_1), self.linear_2.as_ref()];
        for (index, layer) in layers.into_iter().enumerate() {
            if let Some(layer) = layer {
                named.insert(
                    naming.projector_key(index, "weight"),
                    layer.weight.val().transpose(),
                );
                if let Some(bias) = &layer.bias {
                    named.insert(naming.projector_key(index, "bias"), bias.val());
                }
            }
        }
        named
    }

    /// Fills the projector from [`Self::named_tensors`]-style names in `naming` (the
    /// `base_model.model.` prefix is optional), taking them out; `require_grad` is kept.
    pub fn load_named(
        mut self,
        named: &mut NamedTensors,
        naming: AdapterNaming,
        file: &Path,
    ) -> Result<Self, AdapterError> {
        named.tensors = std::mem::take(&mut named.tensors)
            .into_iter()
            .map(|(k, v)| match k.starts_with("base_model.model.") {
                true => (k, v),
                false => (format!("base_model.model.{k}"), v),
            })
            .collect();
        let layers = [Some(&mut self.linear_1), self.linear_2.as_mut()];
        for (index, layer) in layers.into_iter().enumerate() {
            let Some(layer) = layer else { continue };
            let device = layer.weight.device();
            let [d_in, d_out] = layer.weight.dims();
            let grad = layer.weight.val().is_require_grad();
            let key = naming.projector_key(index, "weight");
            let w: Tensor<B, 2> = named.take(&key, [d_out, d_in], file, &device)?;
            layer.weight =
                Param::initialized(layer.weight.id, w.transpose().set_require_grad(grad));
            if let Some(bias) = layer.bias.as_mut() {
                let key = naming.projector_key(index, "bias");
                let b: Tensor<B, 1> = named.take(&key, [d_out], file, &device)?;
                *bias = Param::initialized(bias.id, b.set_require_grad(grad));
            }
        }
        Ok(self)
    }
}

/// MoELoRA's key of expert `e` for a LoRA key (`….lora_A.weight` → `….lora_A.{e}.weight`).
pub fn expert_key(key: &str, e: usize) -> String {
    match key.rsplit_once(".weight") {
        Some((stem, _)) => format!("{stem}.{e}.weight"),
        None => format!("{key}.{e}"),
    }
}

/// MoELoRA's router key beside a module's `….lora_A.weight` (`….lora_router.weight`,
/// PyTorch layout `[E, in]`).
pub fn router_key(key_a: &str) -> String {
    key_a.replace(".lora_A.weight", ".lora_router.weight")
}

/// `config` as it must read for files written in `naming` from a model adapting `targets`:
/// llava-hf files restrict the targets to the language model (a plain list would also adapt
/// CLIP's `q_proj`/`k_proj`/`v_proj` in PEFT) and carry the projector as a module to save.
fn config_for(config: &PeftConfig, naming: AdapterNaming, targets: &[&str]) -> PeftConfig {
    let mut config = config.clone();
    match naming {
        AdapterNaming::LlavaHf => {
            config.target_modules =
                TargetModules::Regex(format!(r".*language_model.*\.({})", targets.join("|")));
            config.modules_to_save = Some(vec!["multi_modal_projector".into()]);
        }
        AdapterNaming::Llava => {
            config.target_modules =
                TargetModules::List(targets.iter().map(|t| t.to_string()).collect());
            config.modules_to_save = None;
        }
    }
    config
}

impl<B: Backend> Llava<B> {
    /// Writes the LoRA adapters and the projector as a PEFT/LLaVA parameter-set directory in
    /// `naming` (`adapter_config.json`, `adapter_model.safetensors`, and for the original
    /// naming `non_lora_trainables.safetensors`); every file is written atomically. `config`'s
    /// rank, alpha, rsLoRA and patterns are kept; its targets are the model's adapted ones.
    pub fn save_parameter_set(
        &self,
        dir: &Path,
        config: &PeftConfig,
        naming: AdapterNaming,
    ) -> Result<(), AdapterError> {
        let mut lora = self.language_model.lora_tensors(naming);
        let projector = self.multi_modal_projector.named_tensors(naming);
        let non_lora = dir.join(NON_LORA_TRAINABLES);
        match naming {
            AdapterNaming::LlavaHf => {
                lora.tensors.extend(projector.tensors);
                if non_lora.exists() {
                    std::fs::remove_file(&non_lora)
                        .map_err(|e| AdapterError::file(&non_lora, e.to_string()))?;
                }
            }
            AdapterNaming::Llava => projector.write(&non_lora)?,
        }
        lora.write(&dir.join(ADAPTER_WEIGHTS))?;
        let targets = self.language_model.lora_targets();
        write_peft_config(dir, &config_for(config, naming, &targets))
    }

    /// Attaches and fills the adapters, and loads the projector, from a parameter-set directory
    /// in either naming. The projector comes from the adapter file (PEFT's module to save) or
    /// from `non_lora_trainables.safetensors`; an adapter that carries neither (LoRA only,
    /// no `modules_to_save`) keeps the model's projector. Any tensor left over is refused.
    pub fn load_parameter_set(mut self, dir: &Path) -> Result<Self, AdapterError> {
        let (config, file, mut named, naming) = read_adapter(dir)?;
        self.language_model = self
            .language_model
            .load_lora_tensors(&config, naming, &mut named, &file)?;
        // the projector, wherever it is: PEFT's modules_to_save keys or LLaVA's file
        let in_adapter = |named: &NamedTensors| {
            [AdapterNaming::LlavaHf, AdapterNaming::Llava]
                .into_iter()
                .find(|n| named.tensors.contains_key(&n.projector_key(0, "weight")))
        };
        let non_lora = dir.join(NON_LORA_TRAINABLES);
        if let Some(naming) = in_adapter(&named) {
            self.multi_modal_projector = self
                .multi_modal_projector
                .load_named(&mut named, naming, &file)?;
        } else if non_lora.is_file() {
            let mut extra = canonical(NamedTensors::read(&non_lora)?);
            let naming = in_adapter(&extra).unwrap_or(AdapterNaming::Llava);
            self.multi_modal_projector = self
                .multi_modal_projector
                .load_named(&mut extra, naming, &non_lora)?;
            reject_leftovers(&extra, &non_lora)?;
        } else if config.modules_to_save.is_some() {
            return Err(AdapterError::file(
                &file,
                "modules_to_save names the projector but neither this file nor \
                 non_lora_trainables.safetensors holds it",
            ));
        }
        reject_leftovers(&named, &file)?;
        Ok(self)
    }
}
