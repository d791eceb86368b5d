#![warn(missing_docs)]
//! Backend selection for lcia.
//!
//! This crate is the only place in the workspace that names a concrete Burn backend or carries a
//! `#[cfg(feature = ..)]`. Everything else in lcia is generic over `B: Backend` (or
//! `B: AutodiffBackend`) and reaches a real backend through [`dispatch`]:
//!
//! ```
//! use burn::prelude::*;
//! use burn::tensor::backend::AutodiffBackend;
//! use lcia_backends::{BackendTask, DeviceSpec, dispatch};
//!
//! struct SumOnes;
//! impl BackendTask for SumOnes {
//!     type Output = f32;
//!     fn run<B: AutodiffBackend>(self, device: B::Device) -> f32 {
//!         Tensor::<B, 1>::ones([4], &device).sum().into_scalar().elem::<f32>()
//!     }
//! }
//!
//! let spec: DeviceSpec = "ndarray".parse().unwrap();
//! assert_eq!(dispatch(&spec, SumOnes).unwrap(), 4.0);
//! ```
//!
//! | cargo feature | `--device` values | backend |
//! |---|---|---|
//! | `ndarray` (default) | `ndarray` | `Autodiff<NdArray<f32>>`, CPU, deterministic |
//! | `wgpu` | `wgpu`, `wgpu:N`, `wgpu:cpu` | `Autodiff<Wgpu<f32>>`, Vulkan/Metal/DX12/GL |
//! | `cuda` | `cuda`, `cuda:N` | `Autodiff<Cuda<f32>>`, NVIDIA |

mod device;
mod dispatch;
pub mod threads;

pub use device::{BackendError, BackendKind, DeviceSpec};
pub use dispatch::{
    BackendTask, Checkpointing, compiled_backends, dispatch, dispatch_many, dispatch_with,
};
pub use threads::{cpu_threads, runs_at_a_time, set_cpu_threads};

/// The CPU backend used by the deterministic test suite (`NdArray<f32>`).
#[cfg(feature = "ndarray")]
pub type CpuBackend = burn::backend::NdArray<f32>;

/// [`CpuBackend`] with automatic differentiation, for training on the CPU.
#[cfg(feature = "ndarray")]
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;

/// The portable GPU backend (`Wgpu<f32>`).
#[cfg(feature = "wgpu")]
pub type WgpuBackend = burn::backend::Wgpu<f32>;

/// The NVIDIA backend (`Cuda<f32>`).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda<f32>;
