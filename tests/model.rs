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

#[test]
fn llava_1_5_7b_config_counts_7_06_billion_parameters() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/configs/llava-1.5-7b/config.json");
    let config = lcia::model::HfConfig::from_file(&path)
        .unwrap()
        .into_llava(&path)
        .unwrap();
    // By hand: LM 32 x 202_383_360 + 2 x 32064 x 4096 + 4096 = 6_738_939_904;
    // CLIP ViT-L/14-336 303_507_456; projector 20_979_712. Sum 7_063_427_072, the size of the
    // published llava-1.5-7b-hf checkpoint.
    assert_eq!(config.text_config.num_params(), 6_738_939_904);
    assert_eq!(config.vision_config.num_params(), 303_507_456);
    assert_eq!(config.num_params(), 7_063_427_072);
}

#[test]
fn llama_family_configs_count_their_published_sizes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs");
    // By hand: SmolLM2-135M (GQA 9/3, tied head): 28_311_552 + 30 x 3_540_096 + 576;
    // TinyLlama-1.1B (GQA 32/4, untied): 2 x 65_536_000 + 22 x 44_044_288 + 2048.
    for (dir, expected, tied) in [
        ("smollm2-135m", 134_515_008u64, true),
        ("tinyllama-1.1b", 1_100_048_384, false),
    ] {
        let lcia::model::HfConfig::Llama(c) =
            lcia::model::HfConfig::from_file(&root.join(dir).join("config.json")).unwrap()
        else {
            panic!("{dir}: not a llama config");
        };
        assert_eq!(
            (c.num_params(), c.tie_word_embeddings),
            (expected, tied),
            "{dir}"
        );
    }
}

#[test]
fn padded_batch_gives_the_logits_of_each_sequence_alone() {
    let model = load_llama::<B>(&fixture("tiny-hf/v5-layout/llama"), &Default::default()).unwrap();
    let dev = Default::default();
    let long = [1i64, 45, 300, 7, 12, 600];
    let short = [1i64, 99, 512];
    let alone_long = values(&model.forward(Tensor::from_data(
        TensorData::new(long.to_vec(), [1, 6]),
        &dev,
    )));
    let alone_short = values(&model.forward(Tensor::from_data(
        TensorData::new(short.to_vec(), [1, 3]),
        &dev,
    )));
    let mut ids = long.to_vec();
    ids.extend([short[0], short[1], short[2], 0, 0, 0]);
    let mask = Tensor::<B, 2, Int>::from_data(
        TensorData::new(vec![1i64, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [2, 6]),
        &dev,
    );
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [2, 6]), &dev);
    let batched = values(&model.forward_embeds(model.embed(ids), Some(mask), None));
    let vocab = 1000;
    assert!(max_abs_diff(&batched[..6 * vocab], &alone_long) < 1e-5);
    assert!(max_abs_diff(&batched[6 * vocab..9 * vocab], &alone_short) < 1e-5);

    // left padding: the pads must be masked out; RoPE is relative, so the real tokens' logits
    // equal the unpadded ones up to float rounding
    let ids =
        Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 0, 0, 1, 99, 512], [1, 6]), &dev);
    let mask =
        Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 0, 0, 1, 1, 1], [1, 6]), &dev);
    let left = values(&model.forward_embeds(model.embed(ids.clone()), Some(mask), None));
    let err = max_abs_diff(&left[3 * vocab..], &alone_short);
    assert!(err < 1e-4, "left-padded logits differ by {err}");
    let unmasked = values(&model.forward(ids));
    assert!(
        max_abs_diff(&unmasked[3 * vocab..], &alone_short) > 1e-2,
        "the mask changed nothing"
    );
}

#[test]
fn llava_loss_is_the_cross_entropy_of_the_reference_logits() {
    use lcia::model::IGNORE_INDEX;
    let fx = Fixture::open("tiny-hf/hub-layout/reference.safetensors");
    let model =
        lcia::model::load_llava::<B>(&fixture("tiny-hf/hub-layout/llava"), &Default::default())
            .unwrap();
    let ids_t = ids(&fx, "llava_ids");
    let raw: Vec<i64> = ids_t.to_data().iter::<i64>().collect();
    // supervise the last two text tokens; the rest is "instruction" (ignored)
    let labels: Vec<i64> = raw
        .iter()
        .enumerate()
        .map(|(i, &t)| if i >= raw.len() - 2 { t } else { IGNORE_INDEX })
        .collect();
    let labels_t = Tensor::<B, 2, Int>::from_data(
        TensorData::new(labels.clone(), [1, raw.len()]),
        &Default::default(),
    );
    let pixels = floats::<4>(&fx, "pixel_values");
    let (_, loss) = model
        .forward_loss(ids_t.clone(), Some(pixels.clone()), None, labels_t.clone())
        .unwrap();
    let sparse = model
        .supervised_loss(ids_t, Some(pixels), None, labels_t)
        .unwrap();
    let (_, logits) = fx.get("llava_logits");
    let vocab = 1000;
    let mut expected = 0.0;
    for t in raw.len() - 2..raw.len() {
        let row = &logits[(t - 1) * vocab..t * vocab];
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        expected += lse - row[labels[t] as usize];
    }
    expected /= 2.0;
    let got = values(&loss)[0];
    assert!((got - expected).abs() < 1e-4, "loss {got} vs {expected}");
    let got = values(&sparse)[0];
    assert!(
        (got - expected).abs() < 1e-4,
        "head on supervised rows: {got} vs {expected}"
    );
}

#[test]
fn original_llava_placeholder_expands_to_the_hf_image_tokens() {
    use lcia::model::llava::{IMAGE_PLACEHOLDER_ID, expand_image_placeholders};
    let fx = Fixture::open("tiny-hf/hub-layout/reference.safetensors");
    let hf: Vec<i64> = ids(&fx, "llava_ids").to_data().iter::<i64>().collect();
    let mut original: Vec<i64> = hf.iter().copied().filter(|&t| t != 999).collect();
    original.insert(1, IMAGE_PLACEHOLDER_ID);
    assert_eq!(
        expand_image_placeholders(&original, IMAGE_PLACEHOLDER_ID, 999, 16),
        hf
    );
}

#[test]
fn trainable_switch_limits_gradients_to_the_chosen_parts() {
    use burn::optim::GradientsParams;
    use lcia::model::Trainable;
    type AB = crate::common::AB;
    let fx = Fixture::open("tiny-hf/hub-layout/reference.safetensors");
    let model =
        lcia::model::load_llava::<AB>(&fixture("tiny-hf/hub-layout/llava"), &Default::default())
            .unwrap()
            .with_trainable(Trainable {
                vision: false,
                projector: true,
                language: false,
            });
    let (shape, v) = fx.get("llava_ids");
    let raw: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    let ids = Tensor::<AB, 2, Int>::from_data(
        TensorData::new(raw.clone(), shape.clone()),
        &Default::default(),
    );
    let labels = Tensor::<AB, 2, Int>::from_data(TensorData::new(raw, shape), &Default::default());
    let (ps, pv) = fx.get("pixel_values");
    let pixels = Tensor::<AB, 4>::from_data(
        TensorData::new(pv.iter().map(|&x| x as f32).collect(), ps),
        &Default::default(),
    );
    let (_, loss) = model.forward_loss(ids, Some(pixels), None, labels).unwrap();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    // the projector's two Linear layers with biases, nothing else
    assert_eq!(grads.len(), 4);
    assert!(
        grads
            .get::<B, 2>(model.multi_modal_projector.linear_1.weight.id)
            .is_some()
    );
}

#[test]
fn config_parameter_counts_equal_the_built_modules() {
    use burn::module::Module;
    use lcia::model::HfConfig;
    for dir in ["llama", "clip_vision", "llava"] {
        let path = fixture(&format!("tiny-hf/v5-layout/{dir}"));
        let dev = Default::default();
        let (config, built) = match HfConfig::from_file(&path.join("config.json")).unwrap() {
            HfConfig::Llama(c) => (
                c.num_params(),
                load_llama::<B>(&path, &dev).unwrap().num_params(),
            ),
            HfConfig::ClipVision(c) => (
                c.num_params(),
                load_clip_vision::<B>(&path, &dev).unwrap().num_params(),
            ),
            HfConfig::Llava(c) => (
                c.num_params(),
                lcia::model::load_llava::<B>(&path, &dev)
                    .unwrap()
                    .num_params(),
            ),
        };
        assert_eq!(config, built as u64, "{dir}");
    }
}
