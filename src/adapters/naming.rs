//! The two ways LLaVA adapter files name their tensors, and which one a file uses.
//!
//! | naming | LoRA key of layer N's `q_proj` | projector |
//! |---|---|---|
//! | [`AdapterNaming::Llava`] (original LLaVA, LCIA, a Llama wrapped alone) | `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` | `non_lora_trainables.safetensors`: `base_model.model.model.mm_projector.{0,2}.*` |
//! | [`AdapterNaming::LlavaHf`] (PEFT on transformers' `LlavaForConditionalGeneration`) | `base_model.model.model.language_model.layers.N.self_attn.q_proj.lora_A.weight` | `adapter_model.safetensors` (`modules_to_save`): `base_model.model.model.multi_modal_projector.linear_{1,2}.*` |

use serde::{Deserialize, Serialize};

/// How a parameter set's files name the LoRA and projector tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdapterNaming {
    /// transformers' llava-hf models (`model.language_model.layers.N`); the projector travels
    /// in the adapter file as a module to save, so `PeftModel.from_pretrained` on a
    /// `LlavaForConditionalGeneration` loads everything. lcia's models are llava-hf
    /// directories, so this is the default.
    #[default]
    LlavaHf,
    /// The original LLaVA code base (and LCIA's): `model.layers.N`, projector in
    /// `non_lora_trainables.safetensors`.
    Llava,
}

impl AdapterNaming {
    /// The in-model name of decoder layer `layer`'s projection `target` (what PEFT's
    /// `target_modules` and patterns are matched against).
    pub fn module(self, layer: usize, target: &str) -> String {
        let group = if matches!(target, "gate_proj" | "up_proj" | "down_proj") {
            "mlp"
        } else {
            "self_attn"
        };
        let layers = match self {
            AdapterNaming::LlavaHf => "model.language_model.layers",
            AdapterNaming::Llava => "model.layers",
        };
        format!("{layers}.{layer}.{group}.{target}")
    }

    /// The file key of an adapter matrix (`which` is `'A'` or `'B'`).
    pub fn lora_key(self, layer: usize, target: &str, which: char) -> String {
        format!(
            "base_model.model.{}.lora_{which}.weight",
            self.module(layer, target)
        )
    }

    /// The file key of the projector's Linear `index` (0 or 1) parameter `param`.
    pub fn projector_key(self, index: usize, param: &str) -> String {
        match self {
            AdapterNaming::LlavaHf => format!(
                "base_model.model.model.multi_modal_projector.linear_{}.{param}",
                index + 1
            ),
            AdapterNaming::Llava => {
                format!("base_model.model.model.mm_projector.{}.{param}", 2 * index)
            }
        }
    }

    /// The naming of an adapter file's keys: any `language_model.layers.` or
    /// `multi_modal_projector.` key means llava-hf; `None` when no key says.
    pub fn detect<'a>(keys: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut found = None;
        for key in keys {
            if key.contains(".language_model.layers.") || key.contains("multi_modal_projector.") {
                return Some(AdapterNaming::LlavaHf);
            }
            if key.contains("model.layers.") || key.contains("mm_projector.") {
                found = Some(AdapterNaming::Llava);
            }
        }
        found
    }

    /// The name used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterNaming::LlavaHf => "llava-hf",
            AdapterNaming::Llava => "llava",
        }
    }
}

impl std::str::FromStr for AdapterNaming {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "llava-hf" => Ok(AdapterNaming::LlavaHf),
            "llava" => Ok(AdapterNaming::Llava),
            other => Err(format!(
                "unknown adapter naming '{other}' (expected llava-hf or llava)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_both_namings() {
        assert_eq!(
            AdapterNaming::LlavaHf.lora_key(3, "down_proj", 'B'),
            "base_model.model.model.language_model.layers.3.mlp.down_proj.lora_B.weight"
        );
        assert_eq!(
            AdapterNaming::Llava.lora_key(0, "q_proj", 'A'),
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        );
        assert_eq!(
            AdapterNaming::LlavaHf.projector_key(1, "bias"),
            "base_model.model.model.multi_modal_projector.linear_2.bias"
        );
        assert_eq!(
            AdapterNaming::Llava.projector_key(1, "weight"),
            "base_model.model.model.mm_projector.2.weight"
        );
        for naming in [AdapterNaming::LlavaHf, AdapterNaming::Llava] {
            let key = naming.lora_key(1, "v_proj", 'A');
            assert_eq!(AdapterNaming::detect([key.as_str()]), Some(naming));
            assert_eq!(naming.as_str().parse::<AdapterNaming>().unwrap(), naming);
        }
    }
}
