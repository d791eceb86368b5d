//! `--device` strings: parsing and display, and the errors of choosing a backend.

use std::fmt;
use std::str::FromStr;

/// The backend families lcia can be built with, one per cargo feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// `burn-ndarray` on the CPU (feature `ndarray`).
    Ndarray,
    /// `burn-wgpu`: Vulkan, Metal, DX12 or OpenGL (feature `wgpu`).
    Wgpu,
    /// `burn-cuda` on NVIDIA GPUs (feature `cuda`).
    Cuda,
}

impl BackendKind {
    /// The cargo feature that compiles this backend in (also its `--device` prefix).
    pub fn feature(self) -> &'static str {
        match self {
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}

/// Errors of device parsing and backend dispatch.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The `--device` string is not one of the documented forms.
    #[error("unknown device '{given}': expected ndarray, wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N")]
    BadDevice {
        /// The string as given.
        given: String,
    },
    /// The backend exists but this binary was built without its cargo feature.
    #[error("backend '{kind}' is not compiled in; rebuild with --features {kind}")]
    NotCompiled {
        /// The backend that was asked for.
        kind: BackendKind,
    },
    /// The backend is compiled in but the device could not be initialised (no driver, no adapter).
    #[error("device {device} could not be initialised: {reason}")]
    DeviceUnavailable {
        /// The device that was asked for.
        device: DeviceSpec,
        /// What the backend reported.
        reason: String,
    },
    /// Data-parallel devices must all belong to one backend.
    #[error(
        "devices {first} and {other} belong to different backends; data-parallel devices must share one"
    )]
    MixedDevices {
        /// The first device.
        first: DeviceSpec,
        /// The first device of another backend.
        other: DeviceSpec,
    },
    /// No device was given.
    #[error("no device given")]
    NoDevice,
}

/// A device chosen on the command line: `ndarray`, `wgpu`, `wgpu:N`, `wgpu:cpu`, `cuda` or `cuda:N`.
///
/// ```
/// use lcia_backends::DeviceSpec;
/// assert_eq!("cuda:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
/// assert_eq!("wgpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Wgpu(None));
/// assert!("tpu".parse::<DeviceSpec>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    /// The CPU through `burn-ndarray`.
    #[default]
    Ndarray,
    /// A wgpu adapter: `None` lets wgpu choose, `Some(n)` is the n-th discrete GPU.
    Wgpu(Option<usize>),
    /// wgpu's software (CPU) adapter, e.g. lavapipe.
    WgpuCpu,
    /// The CUDA device with this index.
    Cuda(usize),
}

impl DeviceSpec {
    /// The backend family this device belongs to.
    pub fn kind(&self) -> BackendKind {
        match self {
            DeviceSpec::Ndarray => BackendKind::Ndarray,
            DeviceSpec::Wgpu(_) | DeviceSpec::WgpuCpu => BackendKind::Wgpu,
            DeviceSpec::Cuda(_) => BackendKind::Cuda,
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Ndarray => f.write_str("ndarray"),
            DeviceSpec::Wgpu(None) => f.write_str("wgpu"),
            DeviceSpec::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
            DeviceSpec::WgpuCpu => f.write_str("wgpu:cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BackendError::BadDevice {
            given: s.to_string(),
        };
        let lower = s.trim().to_ascii_lowercase();
        let (name, index) = match lower.split_once(':') {
            Some((name, index)) => (name, Some(index)),
            None => (lower.as_str(), None),
        };
        let parse_index = |index: &str| index.parse::<usize>().map_err(|_| bad());
        match (name, index) {
            ("ndarray" | "cpu", None) => Ok(DeviceSpec::Ndarray),
            ("wgpu", None) => Ok(DeviceSpec::Wgpu(None)),
            ("wgpu", Some("cpu")) => Ok(DeviceSpec::WgpuCpu),
            ("wgpu", Some(i)) => Ok(DeviceSpec::Wgpu(Some(parse_index(i)?))),
            ("cuda", None) => Ok(DeviceSpec::Cuda(0)),
            ("cuda", Some(i)) => Ok(DeviceSpec::Cuda(parse_index(i)?)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let cases = [
            ("ndarray", DeviceSpec::Ndarray),
            ("cpu", DeviceSpec::Ndarray),
            ("wgpu", DeviceSpec::Wgpu(None)),
            ("wgpu:2", DeviceSpec::Wgpu(Some(2))),
            ("WGPU:cpu", DeviceSpec::WgpuCpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
        ];
        for (text, spec) in cases {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            DeviceSpec::Ndarray,
            DeviceSpec::Wgpu(None),
            DeviceSpec::Wgpu(Some(1)),
            DeviceSpec::WgpuCpu,
            DeviceSpec::Cuda(7),
        ] {
            assert_eq!(spec.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn rejects_malformed_strings_with_the_input_in_the_message() {
        for text in [
            "",
            "tpu",
            "cuda:",
            "cuda:x",
            "wgpu:-1",
            "ndarray:0",
            "cuda:1:2",
        ] {
            let err = text.parse::<DeviceSpec>().unwrap_err();
            assert!(err.to_string().contains(&format!("'{text}'")), "{err}");
        }
    }
}
