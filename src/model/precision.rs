//! The precision the frozen base weights are stored and multiplied in: f32, or bf16/f16 for
//! the vision tower and the language model's frozen tensors (embedding, norms, the base
//! weights under the adapters, the LM head). The trainable tensors (LoRA A/B, the projector),
//! the activations between layers, the loss, the optimizer state and the balanced EMA stay
//! f32: each frozen product casts its f32 input to the weight's dtype and its output back
//! ([`crate::adapters::frozen_linear`]), a half-precision vision tower computes in its dtype
//! and hands f32 states to the projector.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

use super::error::ModelError;
use super::llava::Llava;

/// Storage precision of the frozen base weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the default; the only choice on ndarray).
    #[default]
    F32,
    /// bfloat16 frozen weights (CUDA).
    Bf16,
    /// IEEE half frozen weights (CUDA, WGPU adapters with shader-f16).
    F16,
}

impl Precision {
    /// The Burn dtype of the frozen weights.
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
            Precision::F16 => FloatDType::F16,
        }
    }

    /// Bytes per frozen weight.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 | Precision::F16 => 2,
        }
    }

    /// Whether `B` can compute in this precision on `device`.
    pub fn supported<B: Backend>(self, device: &B::Device) -> bool {
        self == Precision::F32 || B::supports_dtype(device, DType::from(self.dtype()))
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            other => Err(format!(
                "unknown precision '{other}': expected f32, bf16 or f16"
            )),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

/// Casts every float parameter to a dtype (ids and trainability kept), except those under a
/// module named `lora` (the adapters, which stay f32).
struct CastFrozen {
    dtype: FloatDType,
    path: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for CastFrozen {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.path.iter().any(|segment| segment == "lora") {
            return param;
        }
        let dtype = self.dtype;
        param.map(|t| {
            let require_grad = t.is_require_grad();
            t.cast(dtype).detach().set_require_grad(require_grad)
        })
    }
}

/// `module` with its frozen float parameters cast to `dtype`: every one but the LoRA
/// adapters' (ids and trainability kept).
pub fn cast_frozen<B: Backend, M: Module<B>>(module: M, dtype: FloatDType) -> M {
    module.map(&mut CastFrozen {
        dtype,
        path: Vec::new(),
    })
}

impl<B: Backend> Llava<B> {
    /// The model with its frozen base stored in `precision` (see the module docs); the
    /// projector and any attached adapters stay f32. Refused with
    /// [`ModelError::UnsupportedPrecision`] where the backend cannot compute in it (ndarray
    /// for bf16 and f16).
    pub fn with_frozen_precision(
        mut self,
        precision: Precision,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        if precision == Precision::F32 {
            return Ok(self);
        }
        if !precision.supported::<B>(device) {
            return Err(ModelError::UnsupportedPrecision {
                precision: precision.to_string(),
                backend: B::name(device),
            });
        }
        let dtype = precision.dtype();
        self.vision_tower = cast_frozen(self.vision_tower, dtype);
        self.language_model = cast_frozen(self.language_model, dtype);
        Ok(self)
    }
}
