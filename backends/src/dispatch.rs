//! Running one generic function on the backend a [`DeviceSpec`] names.

use burn::tensor::backend::AutodiffBackend;

use crate::device::{BackendError, BackendKind, DeviceSpec};

/// A computation that can run on any autodiff backend; [`dispatch`] picks the backend.
///
/// Rust closures cannot be generic over a type, so generic work is written as a type with a
/// generic `run` method instead.
pub trait BackendTask {
    /// What the computation returns.
    type Output;

    /// Runs the computation on backend `B` and the given device.
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// The backends compiled into this build, in the order `ndarray`, `wgpu`, `cuda`.
pub fn compiled_backends() -> Vec<BackendKind> {
    let mut kinds = Vec::new();
    if cfg!(feature = "ndarray") {
        kinds.push(BackendKind::Ndarray);
    }
    if cfg!(feature = "wgpu") {
        kinds.push(BackendKind::Wgpu);
    }
    if cfg!(feature = "cuda") {
        kinds.push(BackendKind::Cuda);
    }
    kinds
}

/// What Burn's autodiff keeps for the backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checkpointing {
    /// Every operation's output that the backward pass needs is kept (Burn's `NoCheckpointing`).
    #[default]
    Off,
    /// Burn's `BalancedCheckpointing`: the outputs of memory-bound operations (element-wise
    /// ops, activations, normalisations, softmax) are not kept but recomputed from their
    /// inputs during the backward pass; compute-bound ones (matrix products) are kept. Applies
    /// to the whole model (decoder layers, vision tower, projector).
    Balanced,
}

impl std::str::FromStr for Checkpointing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Checkpointing::Off),
            "balanced" => Ok(Checkpointing::Balanced),
            other => Err(format!(
                "unknown checkpointing '{other}': expected off or balanced"
            )),
        }
    }
}

impl std::fmt::Display for Checkpointing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Checkpointing::Off => "off",
            Checkpointing::Balanced => "balanced",
        })
    }
}

/// Runs `task` on the backend and device named by `spec`, wrapped in `Autodiff` without
/// checkpointing ([`dispatch_with`] chooses).
///
/// GPU devices are probed first with a one-element tensor op: Burn 0.21 reports a missing driver
/// or adapter by panicking on a device thread, which is turned into
/// [`BackendError::DeviceUnavailable`] here. A backend that was not compiled in gives
/// [`BackendError::NotCompiled`].
pub fn dispatch<T: BackendTask>(spec: &DeviceSpec, task: T) -> Result<T::Output, BackendError> {
    dispatch_with(spec, Checkpointing::Off, task)
}

/// [`dispatch`] with a choice of what autodiff keeps for the backward pass: the backend is
/// `Autodiff<B>` or `Autodiff<B, BalancedCheckpointing>`.
pub fn dispatch_with<T: BackendTask>(
    spec: &DeviceSpec,
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    match spec {
        DeviceSpec::Ndarray => run_ndarray(checkpointing, task),
        DeviceSpec::Wgpu(_) | DeviceSpec::WgpuCpu => run_wgpu(spec, checkpointing, task),
        DeviceSpec::Cuda(index) => run_cuda(spec, *index, checkpointing, task),
    }
}

/// Runs `task` on `Autodiff<B>` with the chosen checkpointing strategy.
#[cfg(any(feature = "ndarray", feature = "wgpu", feature = "cuda"))]
fn on<B: burn::tensor::backend::Backend, T: BackendTask>(
    checkpointing: Checkpointing,
    device: B::Device,
    task: T,
) -> T::Output {
    use burn::backend::Autodiff;
    use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
    match checkpointing {
        Checkpointing::Off => task.run::<Autodiff<B>>(device),
        Checkpointing::Balanced => task.run::<Autodiff<B, BalancedCheckpointing>>(device),
    }
}

#[cfg(feature = "ndarray")]
fn run_ndarray<T: BackendTask>(
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    let device = burn::backend::ndarray::NdArrayDevice::Cpu;
    Ok(on::<crate::CpuBackend, T>(checkpointing, device, task))
}

#[cfg(not(feature = "ndarray"))]
fn run_ndarray<T: BackendTask>(
    _checkpointing: Checkpointing,
    _task: T,
) -> Result<T::Output, BackendError> {
    Err(BackendError::NotCompiled {
        kind: BackendKind::Ndarray,
    })
}

#[cfg(feature = "wgpu")]
fn run_wgpu<T: BackendTask>(
    spec: &DeviceSpec,
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    use burn::backend::wgpu::WgpuDevice;
    let device = match spec {
        DeviceSpec::Wgpu(Some(index)) => WgpuDevice::DiscreteGpu(*index),
        DeviceSpec::WgpuCpu => WgpuDevice::Cpu,
        _ => WgpuDevice::DefaultDevice,
    };
    probe::<crate::WgpuBackend>(spec, &device)?;
    Ok(on::<crate::WgpuBackend, T>(checkpointing, device, task))
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<T: BackendTask>(
    _spec: &DeviceSpec,
    _checkpointing: Checkpointing,
    _task: T,
) -> Result<T::Output, BackendError> {
    Err(BackendError::NotCompiled {
        kind: BackendKind::Wgpu,
    })
}

#[cfg(feature = "cuda")]
fn run_cuda<T: BackendTask>(
    spec: &DeviceSpec,
    index: usize,
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    let device = burn::backend::cuda::CudaDevice::new(index);
    probe::<crate::CudaBackend>(spec, &device)?;
    Ok(on::<crate::CudaBackend, T>(checkpointing, device, task))
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: BackendTask>(
    _spec: &DeviceSpec,
    _index: usize,
    _checkpointing: Checkpointing,
    _task: T,
) -> Result<T::Output, BackendError> {
    Err(BackendError::NotCompiled {
        kind: BackendKind::Cuda,
    })
}

/// Runs a one-element op on the device and turns an initialisation panic into an error.
///
/// The backends report the real cause (e.g. a missing `libcuda.so`) by panicking on their device
/// thread; the caller then panics with a bare `RecvError`. While probing, a panic hook collects
/// the first message of any thread instead of printing it, and that message becomes the reason.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn probe<B: burn::tensor::backend::Backend>(
    spec: &DeviceSpec,
    device: &B::Device,
) -> Result<(), BackendError> {
    use burn::tensor::Tensor;
    use std::sync::{Arc, Mutex};

    let first_message: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = Arc::clone(&first_message);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked during initialisation".to_string());
        if let Ok(mut slot) = sink.lock() {
            slot.get_or_insert(text);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<B, 1>::ones([1], device).sum().into_data()
    }));
    std::panic::set_hook(previous_hook);
    result.map(|_| ()).map_err(|_| {
        let reason = first_message
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| "the backend panicked during initialisation".to_string());
        BackendError::DeviceUnavailable {
            device: *spec,
            reason,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    struct Sum;
    impl BackendTask for Sum {
        type Output = f32;
        fn run<B: AutodiffBackend>(self, device: B::Device) -> f32 {
            let x = Tensor::<B, 1>::from_floats([1.0, 2.0, 3.5], &device);
            x.sum().into_scalar().elem::<f32>()
        }
    }

    #[test]
    fn ndarray_runs_the_task() {
        assert_eq!(dispatch(&DeviceSpec::Ndarray, Sum).unwrap(), 6.5);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_backend_names_the_feature() {
        let err = dispatch(&DeviceSpec::Cuda(0), Sum).unwrap_err();
        assert_eq!(
            err.to_string(),
            "backend 'cuda' is not compiled in; rebuild with --features cuda"
        );
    }

    #[test]
    fn compiled_backends_lists_ndarray() {
        assert!(compiled_backends().contains(&BackendKind::Ndarray));
    }
}
