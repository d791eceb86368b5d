//! Weight import: sharded and bf16 checkpoints, and clear errors on bad files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::bf16;
use lcia::model::{ModelError, load_llama};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::common::{B, fixture, values};

/// A scratch copy of a fixture model directory.
fn scratch(name: &str, from: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lcia-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture(from).join("config.json"), dir.join("config.json")).unwrap();
    dir
}

type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

fn read_tensors(file: &Path) -> Tensors {
    let bytes = std::fs::read(file).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write_tensors(file: &Path, tensors: &Tensors) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::tensor::serialize(views, None).unwrap();
    std::fs::write(file, bytes).unwrap();
}

const LLAMA: &str = "tiny-hf/hub-layout/llama";

fn llama_tensors() -> Tensors {
    read_tensors(&fixture(LLAMA).join("model.safetensors"))
}

fn reference_logits() -> Vec<f64> {
    let model = load_llama::<B>(&fixture(LLAMA), &Default::default()).unwrap();
    values(&model.forward(ids()))
}

fn ids() -> burn::tensor::Tensor<B, 2, burn::tensor::Int> {
    burn::tensor::Tensor::from_ints([[1, 17, 256, 999, 3]], &Default::default())
}

#[test]
fn sharded_checkpoint_loads_like_the_single_file() {
    let dir = scratch("sharded", LLAMA);
    let tensors = llama_tensors();
    let (first, second) = tensors.split_at(tensors.len() / 2);
    let mut map = HashMap::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        write_tensors(&dir.join(shard), &part.to_vec());
        for (name, ..) in part {
            map.insert(name.clone(), shard.to_string());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let model = load_llama::<B>(&dir, &Default::default()).unwrap();
    assert_eq!(values(&model.forward(ids())), reference_logits());

    // a tensor missing from every shard is named, with the index file
    write_tensors(
        &dir.join("model-00002-of-00002.safetensors"),
        &second[1..].to_vec(),
    );
    let err = load_llama::<B>(&dir, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&second[0].0) && err.contains("model.safetensors.index.json"),
        "{err}"
    );
}

#[test]
fn bf16_checkpoint_loads_with_exactly_rounded_weights() {
    let dir = scratch("bf16", LLAMA);
    let to_bf16 = |b: &[u8]| -> Vec<u8> {
        b.chunks_exact(4)
            .flat_map(|c| bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
            .collect()
    };
    let tensors: Tensors = llama_tensors()
        .into_iter()
        .map(|(n, _, s, b)| (n, Dtype::BF16, s, to_bf16(&b)))
        .collect();
    write_tensors(&dir.join("model.safetensors"), &tensors);
    let model = load_llama::<B>(&dir, &Default::default()).unwrap();
    let (_, _, _, norm) = tensors.iter().find(|t| t.0 == "model.norm.weight").unwrap();
    let expected: Vec<f64> = norm
        .chunks_exact(2)
        .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32() as f64)
        .collect();
    assert_eq!(values(&model.model.norm.weight.val()), expected);
    let err = values(&model.forward(ids()))
        .iter()
        .zip(reference_logits())
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    // bf16 keeps 8 bits of mantissa: weights move by up to 2^-9 relative
    assert!(err > 0.0 && err < 5e-2, "bf16 logits max abs err {err}");
}

fn load_err(name: &str, edit: impl FnOnce(&mut Tensors)) -> String {
    let dir = scratch(name, LLAMA);
    let mut tensors = llama_tensors();
    edit(&mut tensors);
    write_tensors(&dir.join("model.safetensors"), &tensors);
    let err = load_llama::<B>(&dir, &Default::default()).unwrap_err();
    format!("{err} / {err:?}")
}

#[test]
fn missing_tensor_is_named_with_the_file() {
    let err = load_err("missing", |t| t.retain(|x| x.0 != "model.norm.weight"));
    assert!(
        err.contains("MissingTensor") && err.contains("model.norm.weight"),
        "{err}"
    );
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let err = load_err("shape", |t| {
        let norm = t.iter_mut().find(|x| x.0 == "model.norm.weight").unwrap();
        norm.2 = vec![32];
        norm.3.truncate(32 * 4);
    });
    assert!(
        err.contains("ShapeMismatch") && err.contains("model.norm.weight"),
        "{err}"
    );
    assert!(err.contains("[32]") && err.contains("[64]"), "{err}");
}

#[test]
fn unexpected_tensor_is_named() {
    let err = load_err("unexpected", |t| {
        t.push(("model.extra.weight".into(), Dtype::F32, vec![2], vec![0; 8]));
    });
    assert!(
        err.contains("UnexpectedTensor") && err.contains("model.extra.weight"),
        "{err}"
    );
}

#[test]
fn truncated_file_is_a_clear_error() {
    let dir = scratch("truncated", LLAMA);
    let bytes = std::fs::read(fixture(LLAMA).join("model.safetensors")).unwrap();
    for cut in [4, 200, bytes.len() / 2] {
        std::fs::write(dir.join("model.safetensors"), &bytes[..cut]).unwrap();
        let err = load_llama::<B>(&dir, &Default::default()).unwrap_err();
        assert!(matches!(err, ModelError::Weights { .. }), "{err:?}");
        assert!(
            err.to_string().contains("truncated") || err.to_string().contains("corrupt"),
            "{err}"
        );
    }
}

#[test]
fn unknown_model_type_names_the_type_and_the_file() {
    let dir = scratch("model-type", LLAMA);
    std::fs::write(
        dir.join("config.json"),
        r#"{"model_type": "gpt2", "n_embd": 8}"#,
    )
    .unwrap();
    let err = load_llama::<B>(&dir, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'gpt2'") && err.contains("config.json"),
        "{err}"
    );
}

#[test]
fn tied_head_uses_the_embedding_matrix() {
    // untied copy whose head IS the embedding matrix, vs the same weights saved tied (no lm_head)
    let mut tensors = llama_tensors();
    let embed = tensors
        .iter()
        .find(|t| t.0 == "model.embed_tokens.weight")
        .unwrap()
        .3
        .clone();
    tensors
        .iter_mut()
        .find(|t| t.0 == "lm_head.weight")
        .unwrap()
        .3 = embed;
    let untied = scratch("untied", LLAMA);
    write_tensors(&untied.join("model.safetensors"), &tensors);
    let tied = scratch("tied", LLAMA);
    tensors.retain(|t| t.0 != "lm_head.weight");
    write_tensors(&tied.join("model.safetensors"), &tensors);
    let config = std::fs::read_to_string(tied.join("config.json")).unwrap();
    let config = config.replace(
        "\"tie_word_embeddings\": false",
        "\"tie_word_embeddings\": true",
    );
    std::fs::write(tied.join("config.json"), config).unwrap();

    let a = load_llama::<B>(&untied, &Default::default()).unwrap();
    let b = load_llama::<B>(&tied, &Default::default()).unwrap();
    assert!(b.lm_head.is_none());
    let (la, lb) = (values(&a.forward(ids())), values(&b.forward(ids())));
    let err = la
        .iter()
        .zip(&lb)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(err < 1e-5, "tied vs untied-with-embeddings: {err}");
}
