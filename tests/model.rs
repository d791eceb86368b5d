//! Model forwards against transformers' reference outputs (../shared/fixtures/tiny-hf).

use burn::prelude::*;
use lcia::model::{load_clip_vision, load_llama};

use crate::common::{B, Fixture, fixture, values};

/// The fixture README's tolerance for reproducing transformers' float32 outputs.
const PARITY_TOL: f64 = 1e-4;

const LAYOUTS: [&str; 2] = ["hub-layout", "v5-layout"];

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn ids(fx: &Fixture, name: &str) -> Tensor<B, 2, Int> {
    let (shape, v) = fx.get(name);
    let data: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

fn floats<const D: usize>(fx: &Fixture, name: &str) -> Tensor<B, D> {
    let (shape, v) = fx.get(name);
    crate::common::tensor::<D>(&v, &shape)
}

#[test]
fn llama_logits_match_transformers_in_both_layouts() {
    for layout in LAYOUTS {
        let fx = Fixture::open(&format!("tiny-hf/{layout}/reference.safetensors"));
        let model = load_llama::<B>(
            &fixture(&format!("tiny-hf/{layout}/llama")),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{layout}: {e}"));
        let logits = model.forward(ids(&fx, "ids"));
        let (shape, expected) = fx.get("logits");
        assert_eq!(logits.dims().to_vec(), shape);
        let err = max_abs_diff(&values(&logits), &expected);
        assert!(err < PARITY_TOL, "{layout}: llama logits max abs err {err}");
    }
}

#[test]
fn clip_hidden_states_match_transformers_in_both_layouts() {
    for layout in LAYOUTS {
        let fx = Fixture::open(&format!("tiny-hf/{layout}/reference.safetensors"));
        let dir = fixture(&format!("tiny-hf/{layout}/clip_vision"));
        let tower = load_clip_vision::<B>(&dir, &Default::default())
            .unwrap_or_else(|e| panic!("{layout}: {e}"));
        let pixels = floats::<4>(&fx, "pixel_values");
        let states = tower.hidden_states(pixels.clone());
        let n = states.len();
        for (index, name) in [
            (n - 1, "vision_last_hidden_state"),
            (n - 2, "vision_penultimate_hidden_state"),
        ] {
            let (_, expected) = fx.get(name);
            let err = max_abs_diff(&values(&states[index]), &expected);
            assert!(err < PARITY_TOL, "{layout}: {name} max abs err {err}");
        }
        let penultimate = tower.hidden_state(pixels, -2).unwrap();
        assert_eq!(values(&penultimate), values(&states[n - 2]));
    }
}

#[test]
fn clip_vision_loads_from_a_full_clip_checkpoint() {
    // clip_full has its own random weights (no reference outputs): check that the vision
    // weights land in the tower and the text half is ignored.
    for layout in LAYOUTS {
        let dir = fixture(&format!("tiny-hf/{layout}/clip_full"));
        let tower = load_clip_vision::<B>(&dir, &Default::default())
            .unwrap_or_else(|e| panic!("{layout}: {e}"));
        let file = Fixture::open(&format!("tiny-hf/{layout}/clip_full/model.safetensors"));
        let (_, class) = file.get("vision_model.embeddings.class_embedding");
        assert_eq!(values(&tower.embeddings.class_embedding.val()), class);
        let (_, pos) = file.get("vision_model.embeddings.position_embedding.weight");
        assert_eq!(
            values(&tower.embeddings.position_embedding.weight.val()),
            pos
        );
    }
}

#[test]
fn llava_logits_match_transformers_in_both_layouts() {
    for layout in LAYOUTS {
        let fx = Fixture::open(&format!("tiny-hf/{layout}/reference.safetensors"));
        let dir = fixture(&format!("tiny-hf/{layout}/llava"));
        let model = lcia::model::load_llava::<B>(&dir, &Default::default())
            .unwrap_or_else(|e| panic!("{layout}: {e}"));
        let pixels = floats::<4>(&fx, "pixel_values");
        let logits = model
            .forward(ids(&fx, "llava_ids"), Some(pixels), None, None)
            .unwrap();
        let (shape, expected) = fx.get("llava_logits");
        assert_eq!(logits.dims().to_vec(), shape);
        let err = max_abs_diff(&values(&logits), &expected);
        assert!(err < PARITY_TOL, "{layout}: llava logits max abs err {err}");
    }
}

#[test]
fn greedy_generation_is_the_same_with_and_without_the_cache() {
    use lcia::model::GenerationConfig;
    let fx = Fixture::open("tiny-hf/hub-layout/reference.safetensors");
    let model = load_llama::<B>(&fixture("tiny-hf/hub-layout/llama"), &Default::default()).unwrap();
    let config = GenerationConfig {
        max_new_tokens: 12,
        eos_token_id: None,
        use_cache: true,
    };
    let cached = model.generate(ids(&fx, "ids"), &config);
    let uncached = model.generate(
        ids(&fx, "ids"),
        &GenerationConfig {
            use_cache: false,
            ..config.clone()
        },
    );
    assert_eq!(cached.len(), 12);
    assert_eq!(cached, uncached);
    // the first new token is the argmax of the reference logits at the last prompt position
    let (shape, logits) = fx.get("logits");
    let last = &logits[(shape[1] - 1) * shape[2]..];
    let argmax = (0..last.len())
        .max_by(|&a, &b| last[a].total_cmp(&last[b]))
        .unwrap();
    assert_eq!(cached[0], argmax as i64);

    let llava =
        lcia::model::load_llava::<B>(&fixture("tiny-hf/hub-layout/llava"), &Default::default())
            .unwrap();
    let pixels = floats::<4>(&fx, "pixel_values");
    let with = llava
        .generate(ids(&fx, "llava_ids"), Some(pixels.clone()), &config)
        .unwrap();
    let without = llava
        .generate(
            ids(&fx, "llava_ids"),
            Some(pixels),
            &GenerationConfig {
                use_cache: false,
                ..config
            },
        )
        .unwrap();
    assert_eq!(with, without);
}
