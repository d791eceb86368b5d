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

    /// Runs the computation on several devices of backend `B` ([`dispatch_many`]); by default
    /// on the first only (tasks that train data-parallel override it).
    fn run_many<B: AutodiffBackend>(self, mut devices: Vec<B::Device>) -> Self::Output
    where
        Self: Sized,
    {
        self.run::<B>(devices.swap_remove(0))
    }
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
    dispatch_many(std::slice::from_ref(spec), checkpointing, task)
}

/// Runs `task` on several devices of one backend ([`BackendTask::run_many`]), each probed
/// first; devices of different backends are refused ([`BackendError::MixedDevices`]). The same
/// device may be named more than once (several replicas on one CPU or GPU).
pub fn dispatch_many<T: BackendTask>(
    specs: &[DeviceSpec],
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    let first = *specs.first().ok_or(BackendError::NoDevice)?;
    if let Some(other) = specs.iter().find(|s| s.kind() != first.kind()) {
        return Err(BackendError::MixedDevices {
            first,
            other: *other,
        });
    }
    match first.kind() {
        BackendKind::Ndarray => run_ndarray(specs, checkpointing, task),
        BackendKind::Wgpu => run_wgpu(specs, checkpointing, task),
        BackendKind::Cuda => run_cuda(specs, checkpointing, task),
    }
}

/// Runs `task` on `Autodiff<B>` with the chosen checkpointing strategy.
#[cfg(any(feature = "ndarray", feature = "wgpu", feature = "cuda"))]
fn on<B: burn::tensor::backend::Backend, T: BackendTask>(
    checkpointing: Checkpointing,
    devices: Vec<B::Device>,
    task: T,
) -> T::Output {
    use burn::backend::Autodiff;
    use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
    match checkpointing {
        Checkpointing::Off => task.run_many::<Autodiff<B>>(devices),
        Checkpointing::Balanced => task.run_many::<Autodiff<B, BalancedCheckpointing>>(devices),
    }
}

#[cfg(feature = "ndarray")]
fn run_ndarray<T: BackendTask>(
    specs: &[DeviceSpec],
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    let devices = vec![burn::backend::ndarray::NdArrayDevice::Cpu; specs.len()];
    Ok(on::<crate::CpuBackend, T>(checkpointing, devices, task))
}

#[cfg(not(feature = "ndarray"))]
fn run_ndarray<T: BackendTask>(
    _specs: &[DeviceSpec],
    _checkpointing: Checkpointing,
    _task: T,
) -> Result<T::Output, BackendError> {
    Err(BackendError::NotCompiled {
        kind: BackendKind::Ndarray,
    })
}

#[cfg(feature = "wgpu")]
fn run_wgpu<T: BackendTask>(
    specs: &[DeviceSpec],
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    use burn::backend::wgpu::WgpuDevice;
    let mut devices = Vec::with_capacity(specs.len());
    for spec in specs {
        let device = match spec {
            DeviceSpec::Wgpu(Some(index)) => WgpuDevice::DiscreteGpu(*index),
            DeviceSpec::WgpuCpu => WgpuDevice::Cpu,
            _ => WgpuDevice::DefaultDevice,
        };
        probe::<crate::WgpuBackend>(spec, &device)?;
        devices.push(device);
    }
    Ok(on::<crate::WgpuBackend, T>(checkpointing, devices, task))
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu<T: BackendTask>(
    _specs: &[DeviceSpec],
    _checkpointing: Checkpointing,
    _task: T,
) -> Result<T::Output, BackendError> {
    Err(BackendError::NotCompiled {
        kind: BackendKind::Wgpu,
    })
}

#[cfg(feature = "cuda")]
fn run_cuda<T: BackendTask>(
    specs: &[DeviceSpec],
    checkpointing: Checkpointing,
    task: T,
) -> Result<T::Output, BackendError> {
    let mut devices = Vec::with_capacity(specs.len());
    for spec in specs {
        let index = match spec {
            DeviceSpec::Cuda(index) => *index,
            _ => 0,
        };
        let device = burn::backend::cuda::CudaDevice::new(index);
        probe::<crate::CudaBackend>(spec, &device)?;
        devices.push(device);
    }
    Ok(on::<crate::CudaBackend, T>(checkpointing, devices, task))
}

#[cfg(not(feature = "cuda"))]
fn run_cuda<T: BackendTask>(
    _specs: &[DeviceSpec],
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
    fn data_parallel_devices_share_one_backend() {
        let two = [DeviceSpec::Ndarray, DeviceSpec::Ndarray];
        assert_eq!(dispatch_many(&two, Checkpointing::Off, Sum).unwrap(), 6.5);
        let mixed = [DeviceSpec::Ndarray, DeviceSpec::Cuda(0)];
        let err = dispatch_many(&mixed, Checkpointing::Off, Sum).unwrap_err();
        assert_eq!(
            err.to_string(),
            "devices ndarray and cuda:0 belong to different backends; data-parallel devices must share one"
        );
        assert!(matches!(
            dispatch_many(&[], Checkpointing::Off, Sum),
            Err(BackendError::NoDevice)
        ));
    }

    #[test]
    fn compiled_backends_lists_ndarray() {
        assert!(compiled_backends().contains(&BackendKind::Ndarray));
    }
}
