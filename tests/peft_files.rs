//! PEFT adapters saved by PEFT itself (assets/golden/peft, `make_peft_golden.py`): both LLaVA
//! namings, rsLoRA, rank/alpha patterns, the projector as a module to save, vision-tower
//! targets refused; logits against PEFT's at 1e-4, and lcia's own files named as PEFT names them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use lcia::adapters::{AdapterNaming, NamedTensors, PeftConfig, TargetModules};
use lcia::model::{Llava, load_llava};

use crate::common::{B, Fixture, fixture, values};

/// The tiny fixtures: transformers 4.57 files (PEFT 0.17.1 adapters) and 5.24 files (PEFT
/// 0.21.2 adapters).
pub const LAYOUTS: [&str; 2] = ["hub-layout", "v5-layout"];

/// `LCIA_PEFT_GOLDEN` points the tests at freshly made files (scripts/peft-roundtrip.sh).
pub fn golden(layout: &str, rel: &str) -> PathBuf {
    std::env::var_os("LCIA_PEFT_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/golden/peft"))
        .join(layout)
        .join(rel)
}

pub fn base(layout: &str) -> Llava<B> {
    load_llava::<B>(
        &fixture(&format!("tiny-hf/{layout}/llava")),
        &Default::default(),
    )
    .unwrap()
}

pub fn logits(model: &Llava<B>, fx: &Fixture) -> Vec<f64> {
    let (shape, v) = fx.get("llava_ids");
    let ids: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, shape), &Default::default());
    let (shape, v) = fx.get("pixel_values");
    let pixels = crate::common::tensor::<4>(&v, &shape);
    values(&model.forward(ids, Some(pixels), None, None).unwrap())
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

pub fn shapes(file: PathBuf) -> BTreeMap<String, Vec<usize>> {
    NamedTensors::read(&file)
        .unwrap()
        .tensors
        .into_iter()
        .map(|(k, (shape, _))| (k, shape))
        .collect()
}

#[test]
fn peft_adapters_load_in_both_namings_with_peft_logits() {
    for layout in LAYOUTS {
        let fx = Fixture::open_path(golden(layout, "reference.safetensors"));
        let (_, expected) = fx.get("logits_adapter");
        let (_, plain) = fx.get("logits_base");
        for dir in ["hf_rslora", "llava_naming"] {
            let model = base(layout)
                .load_parameter_set(&golden(layout, dir))
                .unwrap();
            let got = logits(&model, &fx);
            let err = max_abs_diff(&got, &expected);
            assert!(
                err < 1e-4,
                "{layout}/{dir}: logits max abs err {err} against PEFT"
            );
            // the adapter matters: the base model is far from it
            assert!(
                max_abs_diff(&got, &plain) > 0.1,
                "{dir}: adapter had no effect"
            );
            // ranks from rank_pattern
            let layer = &model.language_model.model.layers[0];
            let q = layer.self_attn.q_proj.lora.as_ref().unwrap();
            let down = layer.mlp.down_proj.lora.as_ref().unwrap();
            assert_eq!((q.rank(), down.rank()), (4, 8), "{dir}");
            assert!((q.scale() - 8.0).abs() < 1e-12, "{dir}: rsLoRA 16/√4");
            assert!((down.scale() - 24.0 / 8f64.sqrt()).abs() < 1e-12, "{dir}");
        }
    }
}

#[test]
fn merged_adapter_gives_peft_merge_and_unload_logits() {
    for layout in LAYOUTS {
        let fx = Fixture::open_path(golden(layout, "reference.safetensors"));
        let (_, expected) = fx.get("logits_merged");
        let mut model = base(layout)
            .load_parameter_set(&golden(layout, "hf_rslora"))
            .unwrap();
        model.language_model = model.language_model.merge_lora();
        let err = max_abs_diff(&logits(&model, &fx), &expected);
        assert!(err < 1e-4, "merged logits max abs err {err}");
    }
}

#[test]
fn vision_tower_adapters_are_refused_with_their_modules_named() {
    for layout in LAYOUTS {
        let err = base(layout)
            .load_parameter_set(&golden(layout, "clip_targets"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("4 vision-tower module(s)")
                && err.contains("encoder.layers.0.self_attn.q_proj")
                && err.contains("adapter_model.safetensors"),
            "{err}"
        );
    }
}

#[test]
fn lcia_writes_the_keys_shapes_and_config_peft_writes() {
    for layout in LAYOUTS {
        let model = base(layout)
            .load_parameter_set(&golden(layout, "hf_rslora"))
            .unwrap();
        let peft: PeftConfig = serde_json::from_str(
            &std::fs::read_to_string(golden(layout, "hf_rslora/adapter_config.json")).unwrap(),
        )
        .unwrap();
        let out =
            std::env::temp_dir().join(format!("lcia-peft-files-{}-{layout}", std::process::id()));
        for (naming, reference) in [
            (AdapterNaming::LlavaHf, "hf_rslora"),
            (AdapterNaming::Llava, "llava_naming"),
        ] {
            let dir = out.join(naming.as_str());
            std::fs::create_dir_all(&dir).unwrap();
            model.save_parameter_set(&dir, &peft, naming).unwrap();
            let file = |d: &PathBuf, f: &str| d.join(f);
            assert_eq!(
                shapes(file(&dir, "adapter_model.safetensors")),
                shapes(golden(layout, reference).join("adapter_model.safetensors")),
                "{naming:?}: adapter keys or shapes differ from PEFT's"
            );
            let header = std::fs::read(file(&dir, "adapter_model.safetensors")).unwrap();
            let (_, meta) = safetensors::SafeTensors::read_metadata(&header).unwrap();
            assert_eq!(
                meta.metadata()
                    .as_ref()
                    .and_then(|m| m.get("format"))
                    .map(String::as_str),
                Some("pt")
            );
            let written: PeftConfig = serde_json::from_str(
                &std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
            )
            .unwrap();
            assert!(written.use_rslora, "{naming:?}");
            assert_eq!(written.rank_pattern, peft.rank_pattern);
            assert_eq!(written.alpha_pattern, peft.alpha_pattern);
            match naming {
                AdapterNaming::LlavaHf => {
                    assert!(matches!(written.target_modules, TargetModules::Regex(_)));
                    assert_eq!(
                        written.modules_to_save,
                        Some(vec!["multi_modal_projector".into()])
                    );
                }
                AdapterNaming::Llava => assert_eq!(
                    shapes(dir.join("non_lora_trainables.safetensors")),
                    shapes(golden(layout, reference).join("non_lora_trainables.safetensors"))
                ),
            }
            // and it reads back to the same logits
            let fx = Fixture::open_path(golden(layout, "reference.safetensors"));
            let (_, expected) = fx.get("logits_adapter");
            let back = base(layout).load_parameter_set(&dir).unwrap();
            assert!(
                max_abs_diff(&logits(&back, &fx), &expected) < 1e-4,
                "{naming:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn adapter_config_options_lcia_cannot_apply_are_refused_by_name() {
    for layout in LAYOUTS {
        let out =
            std::env::temp_dir().join(format!("lcia-peft-dora-{}-{layout}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        for name in ["adapter_model.safetensors", "adapter_config.json"] {
            std::fs::copy(golden(layout, "hf_rslora").join(name), out.join(name)).unwrap();
        }
        let path = out.join("adapter_config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"use_dora\": false", "\"use_dora\": true"),
        )
        .unwrap();
        let err = base(layout)
            .load_parameter_set(&out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'use_dora'") && err.contains("adapter_config.json"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}
