//! Writing a [`Llava`] as a llava-hf checkpoint directory (transformers 5.x key layout), so a
//! model trained here loads like any downloaded one.

use std::path::Path;

use burn::prelude::*;
use burn_store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, SafetensorsStore};

use super::ModelError;
use super::llava::Llava;

/// Module path → checkpoint name: the Llama projections' weights leave their `base` level.
/// (LayerNorm `gamma`/`beta` become `weight`/`bias` in [`BurnToPyTorchAdapter`].)
const EXPORT_REMAP: &[(&str, &str)] = &[(r"^(.*_proj)\.base\.(weight|bias)$", "$1.$2")];

/// Writes `model` (without LoRA adapters: merge or leave them out first) to
/// `dir/model.safetensors` in PyTorch layout and `config_json` to `dir/config.json`; both
/// files are written through a temporary name and renamed.
pub fn save_llava<B: Backend>(
    model: &Llava<B>,
    config_json: &str,
    dir: &Path,
) -> Result<(), ModelError> {
    let file = dir.join("model.safetensors");
    let remap =
        KeyRemapper::from_patterns(EXPORT_REMAP.to_vec()).map_err(|e| ModelError::Weights {
            file: file.clone(),
            message: format!("remap table: {e}"),
        })?;
    crate::io::replace_atomic(&file, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp)
            .with_to_adapter(BurnToPyTorchAdapter)
            .remap(remap);
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
