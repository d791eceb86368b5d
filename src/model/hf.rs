//! HuggingFace checkpoint import: key layouts, shards, dtypes and strict name checks.
//!
//! The Burn modules use HuggingFace's own names (`model.layers.0.self_attn.q_proj`, ...) and the
//! transformers 5.x vision layout (no `vision_model.` wrapper), so a checkpoint loads through one
//! remap table per key layout plus burn-store's PyTorch adapter (Linear transposes, LayerNorm
//! `weight`/`bias` → `gamma`/`beta`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::prelude::*;
use burn::tensor::{DType, Element};
use burn_store::{
    ApplyError, KeyRemapper, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
    TensorSnapshot,
};

use super::ModelError;
use super::config::{HfConfig, LlavaConfig};
use super::llama::Llama;
use super::llava::Llava;
use super::vision::ClipVision;

/// How a checkpoint names its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLayout {
    /// transformers 4.x hub files: vision weights under `vision_model.` (also inside
    /// `vision_tower.`), language model under `language_model.model.`.
    Hub,
    /// transformers 5.x files: no `vision_model.` level.
    V5,
}

/// Remaps for [`KeyLayout::Hub`] (regex, replacement).
const HUB_REMAP: &[(&str, &str)] = &[
    (r"^vision_tower\.vision_model\.", "vision_tower."),
    (r"^vision_model\.", ""),
];

/// Remaps for [`KeyLayout::V5`]: its names are the modules' names.
const V5_REMAP: &[(&str, &str)] = &[];

/// Remaps every layout needs: the Llama projections are [`crate::adapters::LoraLinear`]s whose
/// pretrained weights sit in `base`; Burn's `LayerNorm` names its parameters `gamma`/`beta`. (burn-store's
/// adapter can look these up under the PyTorch names, but then reports the tensors as unused,
/// which would defeat the strict unused-tensor check.)
const MODULE_REMAP: &[(&str, &str)] = &[
    (
        r"^(.*model\.layers\.\d+\.(?:self_attn|mlp)\.(?:[qkvo]|gate|up|down)_proj)\.(weight|bias)$",
        "$1.base.$2",
    ),
    (
        r"(layer_norm[12]|pre_layrnorm|post_layernorm)\.weight$",
        "$1.gamma",
    ),
    (
        r"(layer_norm[12]|pre_layrnorm|post_layernorm)\.bias$",
        "$1.beta",
    ),
];

/// Tensors that checkpoints carry and the models deliberately do not use: RoPE caches of old
/// Llama files, and the text half of a full `CLIPModel` when only its vision tower is loaded.
const IGNORED_PREFIXES: &[&str] = &[
    "pooler.",
    "text_model.",
    "text_projection.",
    "visual_projection.",
    "logit_scale",
];
const IGNORED_SUFFIXES: &[&str] = &["rotary_emb.inv_freq", "embeddings.position_ids"];

impl KeyLayout {
    /// The remap table of this layout.
    pub fn remap_table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            KeyLayout::Hub => HUB_REMAP,
            KeyLayout::V5 => V5_REMAP,
        }
    }

    /// The layout whose names these are: any `vision_model.` level means [`KeyLayout::Hub`].
    pub fn detect<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        let hub = keys
            .into_iter()
            .any(|k| k.starts_with("vision_model.") || k.starts_with("vision_tower.vision_model."));
        if hub { KeyLayout::Hub } else { KeyLayout::V5 }
    }
}

/// The weight files of a model directory: `model.safetensors.index.json`'s shards, or
/// `model.safetensors`.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|error| ModelError::Io {
            path: index.clone(),
            error,
        })?;
        let bad = |message: String| ModelError::Weights {
            file: index.clone(),
            message,
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
        let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        if shards.is_empty() {
            return Err(bad("\"weight_map\" names no shard".into()));
        }
        return Ok(shards.into_iter().map(|s| dir.join(s)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        Ok(vec![single])
    } else {
        Err(ModelError::Io {
            path: single,
            error: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no model.safetensors or model.safetensors.index.json in the directory",
            ),
        })
    }
}

/// Tensor names in a safetensors file's header (checks the header is complete and valid).
pub fn tensor_names(file: &Path) -> Result<Vec<String>, ModelError> {
    let bad = |message: String| ModelError::Weights {
        file: file.to_path_buf(),
        message,
    };
    let mut reader = std::fs::File::open(file).map_err(|error| ModelError::Io {
        path: file.to_path_buf(),
        error,
    })?;
    let file_len = reader.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    reader
        .read_exact(&mut len)
        .map_err(|_| bad("truncated: no safetensors header".into()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > file_len.saturating_sub(8) {
        return Err(bad(format!(
            "truncated: header of {header_len} bytes, file of {file_len}"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    reader
        .read_exact(&mut header)
        .map_err(|e| bad(format!("truncated header: {e}")))?;
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("corrupt header: {e}")))?;
    let data_len = json
        .values()
        .filter_map(|v| v.get("data_offsets")?.as_array()?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    if 8 + header_len + data_len > file_len {
        return Err(bad(format!(
            "truncated: tensors need {} bytes, file has {file_len}",
            8 + header_len + data_len
        )));
    }
    Ok(json
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect())
}

/// Casts every floating tensor to the backend's float dtype (f16/bf16 files on f32 backends,
/// or the reverse), so half-precision checkpoints load anywhere.
#[derive(Debug, Clone)]
struct CastFloats(DType);

impl ModuleAdapter for CastFloats {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        let target = self.0;
        let is_float = matches!(
            snapshot.dtype,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64
        );
        if !is_float || snapshot.dtype == target {
            return snapshot.clone();
        }
        let data = snapshot.clone_data_fn();
        TensorSnapshot::from_closure(
            Rc::new(move || Ok(data()?.convert_dtype(target))),
            target,
            snapshot.shape.clone(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

fn ignored(name: &str) -> bool {
    IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
        || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Loads every parameter of `module` from the checkpoint in `dir`, strictly: a parameter no
/// file provides, a tensor no parameter takes (other than the ignored ones) and a shape
/// mismatch are errors naming the tensor and the file.
pub fn load_weights<B: Backend, M: Module<B>>(module: M, dir: &Path) -> Result<M, ModelError> {
    load_weights_with(module, dir, &[])
}

/// [`load_weights`] with extra (regex, replacement) remaps applied after the built-in ones,
/// for modules whose names differ from their checkpoint's (e.g. a BERT encoder).
pub fn load_weights_with<B: Backend, M: Module<B>>(
    mut module: M,
    dir: &Path,
    extra_remap: &[(&str, &str)],
) -> Result<M, ModelError> {
    let files = weight_files(dir)?;
    let mut still_missing: Option<BTreeSet<String>> = None;
    for file in &files {
        let names = tensor_names(file)?;
        let layout = KeyLayout::detect(names.iter().map(String::as_str));
        let table = [layout.remap_table(), MODULE_REMAP, extra_remap].concat();
        let remap = KeyRemapper::from_patterns(table).map_err(|e| ModelError::Weights {
            file: file.clone(),
            message: format!("remap table: {e}"),
        })?;
        let target = <B::FloatElem as Element>::dtype();
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(PyTorchToBurnAdapter.chain(CastFloats(target)))
            .remap(remap)
            .allow_partial(true)
            .validate(false);
        let result = module
            .load_from(&mut store)
            .map_err(|e| ModelError::Weights {
                file: file.clone(),
                message: e.to_string(),
            })?;
        if let Some(error) = result.errors.first() {
            return Err(apply_error(error, file));
        }
        if let Some(name) = result.unused.iter().find(|n| !ignored(n)) {
            return Err(ModelError::UnexpectedTensor {
                name: name.clone(),
                file: file.clone(),
            });
        }
        let missing: BTreeSet<String> = result.missing.into_iter().map(|(path, _)| path).collect();
        still_missing = Some(match still_missing {
            Some(before) => before.intersection(&missing).cloned().collect(),
            None => missing,
        });
    }
    if let Some(path) = still_missing.and_then(|m| m.into_iter().next()) {
        let name = checkpoint_name(&path);
        let file = if files.len() > 1 {
            dir.join("model.safetensors.index.json")
        } else {
            files[0].clone()
        };
        return Err(ModelError::MissingTensor { name, file });
    }
    Ok(module)
}

/// The checkpoint's name for a module path: undoes [`MODULE_REMAP`] (the key-layout prefix is
/// left as the module has it).
fn checkpoint_name(module_path: &str) -> String {
    let (stem, leaf) = module_path.rsplit_once('.').unwrap_or(("", module_path));
    let stem = stem.strip_suffix(".base").unwrap_or(stem);
    let leaf = match leaf {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    };
    if stem.is_empty() {
        leaf.to_string()
    } else {
        format!("{stem}.{leaf}")
    }
}

fn apply_error(error: &ApplyError, file: &Path) -> ModelError {
    match error {
        ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => ModelError::ShapeMismatch {
            name: checkpoint_name(path),
            file: file.to_path_buf(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        },
        other => ModelError::Weights {
            file: file.to_path_buf(),
            message: other.to_string(),
        },
    }
}

/// Reads `dir/config.json`.
pub fn read_config(dir: &Path) -> Result<HfConfig, ModelError> {
    HfConfig::from_file(&dir.join("config.json"))
}

fn wrong_type(dir: &Path, want: &str, got: &HfConfig) -> ModelError {
    ModelError::Config {
        path: dir.join("config.json"),
        message: format!("expected a {want} config, found {got:?}"),
    }
}

/// A `LlamaForCausalLM` checkpoint (`model_type: "llama"`).
pub fn load_llama<B: Backend>(dir: &Path, device: &B::Device) -> Result<Llama<B>, ModelError> {
    match read_config(dir)? {
        HfConfig::Llama(config) => load_weights(Llama::init(&config, device), dir),
        other => Err(wrong_type(dir, "llama", &other)),
    }
}

/// A CLIP vision tower, from a `CLIPVisionModel` or a full `CLIPModel` checkpoint.
pub fn load_clip_vision<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<ClipVision<B>, ModelError> {
    match read_config(dir)? {
        HfConfig::ClipVision(config) => load_weights(ClipVision::init(&config, device), dir),
        other => Err(wrong_type(dir, "clip_vision_model or clip", &other)),
    }
}

/// The configuration of a `LlavaForConditionalGeneration` directory; any other model type is
/// an error naming its `config.json`.
pub fn read_llava_config(dir: &Path) -> Result<LlavaConfig, ModelError> {
    read_config(dir)?.into_llava(&dir.join("config.json"))
}

/// A `LlavaForConditionalGeneration` checkpoint (`model_type: "llava"`).
pub fn load_llava<B: Backend>(dir: &Path, device: &B::Device) -> Result<Llava<B>, ModelError> {
    load_weights(Llava::new(&read_llava_config(dir)?, device)?, dir)
}
