//! Writing a [`Llava`] as a llava-hf checkpoint directory that transformers opens as it is:
//! `model.safetensors` with `format: pt` metadata under the key layout of the chosen
//! transformers major version, merged LoRA without adapter tensors, `config.json`, and
//! `generation_config.json` and the tokenizer/processor files copied from the source model.

use std::path::Path;

use burn::prelude::*;
use burn_store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PathFilter, SafetensorsStore};

use super::ModelError;
use super::llava::Llava;

/// The key layout of the transformers major version that will read the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransformersLayout {
    /// transformers 4.x: the vision tower under `vision_tower.vision_model.` (4.x loaders
    /// initialise every `vision_tower.embeddings...`-style key at random).
    #[default]
    V4,
    /// transformers 5.x: no `vision_model.` level.
    V5,
}

impl std::str::FromStr for TransformersLayout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "4" => Ok(Self::V4),
            "5" => Ok(Self::V5),
            other => Err(format!(
                "unknown transformers major version '{other}' (expected 4 or 5)"
            )),
        }
    }
}

/// Module path → checkpoint name: the Llama projections' weights leave their `base` level.
/// (LayerNorm `gamma`/`beta` become `weight`/`bias` in [`BurnToPyTorchAdapter`].)
const EXPORT_REMAP: &[(&str, &str)] = &[(r"^(.*_proj)\.base\.(weight|bias)$", "$1.$2")];

/// The extra remap of [`TransformersLayout::V4`].
const V4_REMAP: &[(&str, &str)] = &[(r"^vision_tower\.", "vision_tower.vision_model.")];

/// Files copied from the source model directory when present.
pub const SIDE_FILES: &[&str] = &[
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
];

fn not_an_adapter(path: &str, _: &str) -> bool {
    !path.contains(".lora.")
}

/// Writes `model` to `dir/model.safetensors` in PyTorch layout under `layout`'s names and
/// `config_json` to `dir/config.json`, each through a temporary name and a rename. Adapters
/// must be merged first ([`crate::model::llama::Llama::merge_lora`]); their tensors are not
/// written. Unmerged adapters are refused (they would be lost).
pub fn save_llava<B: Backend>(
    model: &Llava<B>,
    config_json: &str,
    dir: &Path,
    layout: TransformersLayout,
) -> Result<(), ModelError> {
    let file = dir.join("model.safetensors");
    if model.language_model.has_unmerged_lora() {
        return Err(ModelError::Weights {
            file,
            message: "the model holds unmerged LoRA adapters: merge them, or write the base \
                      model and the adapter separately (`lcia export --unmerged`; MoELoRA \
                      adapters depend on the input and can only be written that way)"
                .into(),
        });
    }
    let mut table = EXPORT_REMAP.to_vec();
    if layout == TransformersLayout::V4 {
        table.extend_from_slice(V4_REMAP);
    }
    let remap = KeyRemapper::from_patterns(table).map_err(|e| ModelError::Weights {
        file: file.clone(),
        message: format!("remap table: {e}"),
    })?;
    crate::io::replace_atomic(&file, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp)
            .with_to_adapter(BurnToPyTorchAdapter)
            .filter(PathFilter::new().with_predicate(not_an_adapter))
            .remap(remap)
            .metadata("format", "pt");
        model
            .save_into(&mut store)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| ModelError::Weights {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let config = dir.join("config.json");
    crate::io::write_atomic(&config, config_json.as_bytes()).map_err(|error| ModelError::Io {
        path: config,
        error,
    })
}

/// Copies [`SIDE_FILES`] that exist in `from` into `to` (atomically each); without a
/// `generation_config.json` in `from`, writes one from `config_json`'s token ids.
pub fn copy_side_files(from: &Path, to: &Path, config_json: &str) -> Result<(), ModelError> {
    let io = |path: &Path, error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    };
    for name in SIDE_FILES {
        let source = from.join(name);
        if source.is_file() {
            let bytes = std::fs::read(&source).map_err(|e| io(&source, e))?;
            let target = to.join(name);
            crate::io::write_atomic(&target, &bytes).map_err(|e| io(&target, e))?;
        }
    }
    let target = to.join("generation_config.json");
    if !target.exists() {
        let config: serde_json::Value = serde_json::from_str(config_json).unwrap_or_default();
        let text = config.get("text_config").unwrap_or(&config);
        let mut generation = serde_json::Map::new();
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
            if let Some(v) = text.get(key).or_else(|| config.get(key)) {
                generation.insert(key.into(), v.clone());
            }
        }
        generation.insert("_from_model_config".into(), true.into());
        let bytes = serde_json::to_vec_pretty(&generation).expect("a JSON map serialises");
        crate::io::write_atomic(&target, &bytes).map_err(|e| io(&target, e))?;
    }
    Ok(())
}
