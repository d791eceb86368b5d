//! llava-hf export: the key names, shapes and metadata transformers itself writes (the
//! tiny-hf fixtures were saved by transformers 4.57 and 5.24), merged adapters without leftover
//! tensors, and the side files beside the weights.

use lcia::model::export::{TransformersLayout, copy_side_files, save_llava};

use crate::common::{Fixture, fixture};
use crate::peft_files::{base, golden, logits, max_abs_diff, shapes};

const VERSIONS: [(TransformersLayout, &str); 2] = [
    (TransformersLayout::V4, "hub-layout"),
    (TransformersLayout::V5, "v5-layout"),
];

/// The `format` metadata field, the one transformers checks (it accepts pt, tf, flax, mlx).
fn format(file: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(file).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().as_ref()?.get("format").cloned()
}

#[test]
fn export_writes_transformers_own_layout_for_each_major_version() {
    // the hub-layout model written in each version's layout
    let src = fixture("tiny-hf/hub-layout/llava");
    let config = std::fs::read_to_string(src.join("config.json")).unwrap();
    for (layout, reference) in VERSIONS {
        let dir = crate::pipeline::temp_dir(&format!("export-{reference}"));
        save_llava(&base("hub-layout"), &config, &dir, layout).unwrap();
        let expected = fixture(&format!("tiny-hf/{reference}/llava/model.safetensors"));
        assert_eq!(
            shapes(dir.join("model.safetensors")),
            shapes(expected.clone()),
            "{layout:?}: keys or shapes differ from transformers' own file"
        );
        assert_eq!(format(&dir.join("model.safetensors")), format(&expected));
        assert_eq!(format(&expected).as_deref(), Some("pt"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_merged_adapter_exports_without_adapter_tensors_and_keeps_peft_logits() {
    for (version, layout) in VERSIONS {
        let src = fixture(&format!("tiny-hf/{layout}/llava"));
        let config = std::fs::read_to_string(src.join("config.json")).unwrap();
        let dir = crate::pipeline::temp_dir(&format!("export-merged-{layout}"));
        let unmerged = base(layout)
            .load_parameter_set(&golden(layout, "hf_rslora"))
            .unwrap();
        let err = save_llava(&unmerged, &config, &dir, version).unwrap_err();
        assert!(err.to_string().contains("unmerged LoRA"), "{err}");
        assert!(!dir.join("model.safetensors").exists());

        let mut merged = unmerged;
        merged.language_model = merged.language_model.merge_lora();
        save_llava(&merged, &config, &dir, version).unwrap();
        copy_side_files(&src, &dir, &config).unwrap();
        assert_eq!(
            shapes(dir.join("model.safetensors")),
            shapes(src.join("model.safetensors")),
            "{layout}: a merged export must hold exactly the base model's tensors"
        );
        assert_eq!(
            std::fs::read(dir.join("generation_config.json")).unwrap(),
            std::fs::read(src.join("generation_config.json")).unwrap()
        );
        let fx = Fixture::open_path(golden(layout, "reference.safetensors"));
        let (_, expected) = fx.get("logits_merged");
        let back = lcia::model::load_llava(&dir, &Default::default()).unwrap();
        let err = max_abs_diff(&logits(&back, &fx), &expected);
        assert!(
            err < 1e-4,
            "{layout}: exported merged model vs PEFT merge_and_unload: {err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_missing_generation_config_is_made_from_the_model_config() {
    let dir = crate::pipeline::temp_dir("export-generation");
    let config =
        r#"{"model_type": "llava", "text_config": {"bos_token_id": 1, "eos_token_id": 2}}"#;
    copy_side_files(&dir.join("nothing-here"), &dir, config).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("generation_config.json")).unwrap())
            .unwrap();
    assert_eq!(written["bos_token_id"], 1);
    assert_eq!(written["eos_token_id"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}
