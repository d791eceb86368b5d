//! The frozen base's precision: parsed from the run config, refused where the backend cannot
//! compute in it (ndarray), f32 by default without changing the configuration's hash.

use lcia::continual::config::RunConfig;
use lcia::continual::{RunDir, RunOptions};
use lcia::model::{Llava, Precision};

use crate::common::B;
use crate::pipeline::run_config;
use crate::run_guards::setup;

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
    let options = RunOptions {
        resume: false,
        stop_after: None,
    };
    let err = run_config(&bf16, &out, &options).unwrap_err().to_string();
    assert!(err.contains("precision bf16"), "{err}");
    assert!(!RunDir::new(&out).manifest().exists(), "nothing written");
}
