//! PEFT-compatible adapter files: `adapter_config.json` + `adapter_model.safetensors`, and the
//! projector as `non_lora_trainables.safetensors`.

use std::collections::BTreeMap;
use std::path::Path;

use super::AdapterError;
pub use super::peft_config::PeftConfig;
use burn::prelude::*;
use burn::tensor::{bf16, f16};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// File names of a saved parameter set.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// LoRA weights, PEFT key names.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The projector (and any other non-LoRA trainables), LLaVA key names.
pub const NON_LORA_TRAINABLES: &str = "non_lora_trainables.safetensors";

/// Named tensors in PyTorch layout, ready for a safetensors file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedTensors {
    /// name → (shape, f32 values).
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl NamedTensors {
    /// Adds a tensor (values read back from the device).
    pub fn insert<B: Backend, const D: usize>(&mut self, name: String, tensor: Tensor<B, D>) {
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().iter::<f32>().collect();
        self.tensors.insert(name, (shape, values));
    }

    /// Takes a tensor out as `[D]`-rank data on `device`, checking its shape.
    pub fn take<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        file: &Path,
        device: &B::Device,
    ) -> Result<Tensor<B, D>, AdapterError> {
        let (found, values) =
            self.tensors
                .remove(name)
                .ok_or_else(|| AdapterError::MissingTensor {
                    name: name.to_string(),
                    file: file.to_path_buf(),
                })?;
        if found != shape {
            return Err(AdapterError::ShapeMismatch {
                name: name.to_string(),
                file: file.to_path_buf(),
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// Writes all tensors as f32 safetensors, atomically.
    pub fn write(&self, file: &Path) -> Result<(), AdapterError> {
        let bytes: BTreeMap<&String, Vec<u8>> = self
            .tensors
            .iter()
            .map(|(name, (_, v))| (name, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views = self
            .tensors
            .iter()
            .map(|(name, (shape, _))| {
                TensorView::new(Dtype::F32, shape.clone(), &bytes[name]).map(|view| (name, view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AdapterError::file(file, e.to_string()))?;
        // PEFT's and transformers' own metadata (transformers refuses other formats)
        let metadata = [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect();
        let data = safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| AdapterError::file(file, e.to_string()))?;
        crate::io::write_atomic(file, &data).map_err(|e| AdapterError::file(file, e.to_string()))
    }

    /// Reads every tensor of a safetensors file (f32, f16 or bf16) as f32.
    pub fn read(file: &Path) -> Result<Self, AdapterError> {
        let bytes = std::fs::read(file).map_err(|e| AdapterError::file(file, e.to_string()))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| AdapterError::file(file, e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                other => {
                    return Err(AdapterError::file(
                        file,
                        format!("tensor '{name}' has unsupported dtype {other:?}"),
                    ));
                }
            };
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(Self { tensors })
    }

    /// The first tensor (by name) holding a NaN or infinite value, with how many it holds.
    pub fn first_non_finite(&self) -> Option<(&str, usize)> {
        self.tensors.iter().find_map(|(name, (_, values))| {
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            (bad > 0).then_some((name.as_str(), bad))
        })
    }
}

/// Writes `config` as `adapter_config.json` in `dir`, atomically.
pub fn write_peft_config(dir: &Path, config: &PeftConfig) -> Result<(), AdapterError> {
    let file = dir.join(ADAPTER_CONFIG);
    crate::io::write_json(&file, config).map_err(|e| AdapterError::file(&file, e.to_string()))
}

/// Reads `adapter_config.json` from `dir`.
pub fn read_peft_config(dir: &Path) -> Result<PeftConfig, AdapterError> {
    let file = dir.join(ADAPTER_CONFIG);
    let config: PeftConfig =
        crate::io::read_json(&file).map_err(|e| AdapterError::file(&file, e.to_string()))?;
    config.check().map_err(|e| AdapterError::file(&file, e))?;
    if config.fan_in_fan_out {
        log::warn!(
            "{}: fan_in_fan_out = true ignored: the adapted layers are Linear layers (PEFT \
             resets it to false for them too)",
            file.display()
        );
    }
    Ok(config)
}

/// Refuses a parameter-set directory whose adapters or projector hold a NaN or infinite value
/// (a diverged run), naming the file, the tensor and how many values are not finite.
pub fn check_finite_parameter_set(dir: &Path) -> Result<(), AdapterError> {
    for name in [ADAPTER_WEIGHTS, NON_LORA_TRAINABLES] {
        let file = dir.join(name);
        if !file.is_file() {
            continue;
        }
        if let Some((tensor, bad)) = NamedTensors::read(&file)?.first_non_finite() {
            return Err(AdapterError::file(
                &file,
                format!("tensor '{tensor}' holds {bad} NaN or infinite values (a diverged run)"),
            ));
        }
    }
    Ok(())
}
