//! Shared test helpers: fixture paths and safetensors reading.

use std::path::PathBuf;

use burn::prelude::*;

/// The CPU backend every test runs on.
pub type B = lcia_backends::CpuBackend;
/// The CPU backend with autodiff.
pub type AB = lcia_backends::CpuAutodiff;

/// `../shared/fixtures/<rel>` relative to the repository root.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(rel)
}

/// All tensors of a safetensors file, as (shape, f32 values); integer tensors are converted.
pub struct Fixture {
    bytes: Vec<u8>,
    path: PathBuf,
}

impl Fixture {
    /// Reads `../shared/fixtures/<rel>` (panics with the path if it is missing).
    pub fn open(rel: &str) -> Self {
        Self::open_path(fixture(rel))
    }

    /// Reads a safetensors file at any path.
    pub fn open_path(path: PathBuf) -> Self {
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
        Self { bytes, path }
    }

    /// One tensor's shape and values as f64.
    pub fn get(&self, name: &str) -> (Vec<usize>, Vec<f64>) {
        let st = safetensors::SafeTensors::deserialize(&self.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
        let view = st
            .tensor(name)
            .unwrap_or_else(|e| panic!("{}: tensor {name}: {e}", self.path.display()));
        let data = view.data();
        let values = match view.dtype() {
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{name}: unexpected dtype {other:?}"),
        };
        (view.shape().to_vec(), values)
    }
}

/// A tensor of rank `D` from f64 values.
pub fn tensor<const D: usize>(values: &[f64], shape: &[usize]) -> Tensor<B, D> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, shape.to_vec()), &Default::default())
}

/// A tensor's values as f64.
pub fn values<Bk: Backend, const D: usize>(t: &Tensor<Bk, D>) -> Vec<f64> {
    t.clone().into_data().iter::<f64>().collect()
}

/// `max |a - b| / max |b|` (0 when both are all zero).
pub fn rel_max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    if scale == 0.0 { err } else { err / scale }
}

/// Every float parameter of a module by path (`a.b.weight`), with its values.
pub fn snapshot<Bk: Backend, M: burn::module::Module<Bk>>(
    module: &M,
) -> std::collections::BTreeMap<String, Vec<f64>> {
    struct Visit {
        path: Vec<String>,
        out: std::collections::BTreeMap<String, Vec<f64>>,
    }
    impl<Bk: Backend> burn::module::ModuleVisitor<Bk> for Visit {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<Bk, D>>) {
            self.out.insert(self.path.join("."), values(&param.val()));
        }
    }
    let mut visit = Visit {
        path: Vec::new(),
        out: Default::default(),
    };
    module.visit(&mut visit);
    visit.out
}
