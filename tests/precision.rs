//! The frozen base's precision: parsed from the run config, refused where the backend cannot
//! compute in it (ndarray), f32 by default without changing the configuration's hash.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use lcia::continual::config::RunConfig;
use lcia::continual::{RunDir, RunOptions};
use lcia::model::precision::cast_frozen;
use lcia::model::{Llava, Precision};

use crate::common::{AB, B};
use crate::pipeline::run_config;
use crate::run_guards::setup;
use crate::trainer::tiny_llava;

#[test]
fn precision_parses_and_defaults_to_f32() {
    assert_eq!("bf16".parse::<Precision>(), Ok(Precision::Bf16));
    assert_eq!("f16".parse::<Precision>(), Ok(Precision::F16));
    assert_eq!("f32".parse::<Precision>(), Ok(Precision::F32));
    assert_eq!(
        "fp8".parse::<Precision>().unwrap_err(),
        "unknown precision 'fp8': expected f32, bf16 or f16"
    );
    assert_eq!((Precision::Bf16.bytes(), Precision::F32.bytes()), (2, 4));
    let (_, plain) = setup("precision-default", &[]);
    let config = RunConfig::from_file(&plain).unwrap();
    assert_eq!(config.model.precision, Precision::F32);
    // the default is not serialised, so existing runs keep their configuration hash
    let toml = toml::to_string(&config).unwrap();
    assert!(!toml.contains("precision ="), "{toml}");
    let (_, bad) = setup(
        "precision-bad",
        &[("[model]\n", "[model]\nprecision = \"fp8\"\n")],
    );
    let err = RunConfig::from_file(&bad).unwrap_err().to_string();
    assert!(err.contains("precision") && err.contains("fp8"), "{err}");
}

#[test]
fn ndarray_refuses_a_half_precision_base_before_writing_anything() {
    let device = Default::default();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config.json");
    let config = lcia::model::HfConfig::from_file(&path)
        .unwrap()
        .into_llava(&path)
        .unwrap();
    for precision in [Precision::Bf16, Precision::F16] {
        assert!(!precision.supported::<B>(&device));
        let err = Llava::<B>::new(&config, &device)
            .unwrap()
            .with_frozen_precision(precision, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("precision {precision}: the ndarray backend")),
            "{err}"
        );
    }
    // f32 is the model as it was
    assert!(Precision::F32.supported::<B>(&device));
    let (dir, bf16) = setup(
        "precision-run",
        &[("[model]\n", "[model]\nprecision = \"bf16\"\n")],
    );
    let out = dir.join("run");
    let err = run_config(&bf16, &out, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("precision bf16"), "{err}");
    assert!(!RunDir::new(&out).manifest().exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_frozen_cast_leaves_the_adapters_alone() {
    // f64 stands in for a half precision: ndarray stores it, and the rule is the same.
    struct Dtypes(Vec<String>, Vec<(String, DType)>);
    impl ModuleVisitor<AB> for Dtypes {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.0.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            self.1.push((self.0.join("."), param.val().dtype()));
        }
    }
    let model = tiny_llava();
    let cast = cast_frozen(model.language_model, FloatDType::F64);
    let mut dtypes = Dtypes(Vec::new(), Vec::new());
    cast.visit(&mut dtypes);
    let (adapters, frozen): (Vec<_>, Vec<_>) = dtypes
        .1
        .into_iter()
        .partition(|(path, _)| path.contains(".lora."));
    assert_eq!(
        adapters.len(),
        8,
        "LoRA A and B on q_proj and v_proj of both layers"
    );
    assert!(
        adapters.iter().all(|(_, d)| *d == DType::F32),
        "{adapters:?}"
    );
    assert!(frozen.len() > 8);
    assert!(frozen.iter().all(|(_, d)| *d == DType::F64), "{frozen:?}");
    for path in ["model.embed_tokens.weight", "model.norm.weight"] {
        assert!(frozen.iter().any(|(p, _)| p == path), "{path} missing");
    }
}
