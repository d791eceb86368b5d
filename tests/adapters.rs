//! LoRA adapters on the tiny models: identity at init, what trains, PEFT files, merging.

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use lcia::adapters::{AdapterNaming, LoraConfig, PeftConfig};
use lcia::model::llama::LLAMA_LORA_TARGETS;
use lcia::model::{Llava, Trainable, load_llama, load_llava};

use crate::common::{AB, B, Fixture, fixture, snapshot, values};

const LLAVA: &str = "tiny-hf/hub-layout/llava";

fn lora_config() -> LoraConfig {
    LoraConfig::new(4, 8.0).with_lora_dropout(0.0)
}

fn ids<Bk: Backend>() -> Tensor<Bk, 2, Int> {
    Tensor::from_ints([[1, 17, 256, 998, 3, 44]], &Default::default())
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lcia-adapters-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The tiny LLaVA with LoRA on all seven projections, projector trainable, tower frozen.
fn lora_llava<Bk: Backend>() -> Llava<Bk> {
    let mut model = load_llava::<Bk>(&fixture(LLAVA), &Default::default())
        .unwrap()
        .with_trainable(Trainable {
            vision: false,
            projector: true,
            language: false,
        });
    // attaching after freezing: the adapters are the language model's only trainable tensors
    model.language_model = model
        .language_model
        .attach_lora(&lora_config(), &LLAMA_LORA_TARGETS)
        .unwrap();
    model
}

/// The first adapter's B matrix (layer 0, q_proj).
fn first_lora_b<Bk: Backend>(model: &Llava<Bk>) -> Tensor<Bk, 2> {
    let q_proj = &model.language_model.model.layers[0].self_attn.q_proj;
    q_proj
        .lora
        .as_ref()
        .expect("an adapter on q_proj")
        .lora_b
        .val()
}

/// A few AdamW steps on the reference batch, so B is no longer zero.
fn train(mut model: Llava<AB>, steps: usize) -> Llava<AB> {
    let fx = Fixture::open("tiny-hf/hub-layout/reference.safetensors");
    let (shape, v) = fx.get("llava_ids");
    let raw: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    let (ps, pv) = fx.get("pixel_values");
    let dev = Default::default();
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    for _ in 0..steps {
        let ids =
            Tensor::<AB, 2, Int>::from_data(TensorData::new(raw.clone(), shape.clone()), &dev);
        let pixels = Tensor::<AB, 4>::from_data(
            TensorData::new(pv.iter().map(|&x| x as f32).collect(), ps.clone()),
            &dev,
        );
        let (_, loss) = model
            .forward_loss(ids.clone(), Some(pixels), None, ids)
            .unwrap();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    model
}

#[test]
fn fresh_adapters_leave_the_logits_exactly_unchanged() {
    let base = load_llama::<B>(&fixture("tiny-hf/v5-layout/llama"), &Default::default()).unwrap();
    let expected = values(&base.forward(ids()));
    let lora = base
        .attach_lora(&lora_config(), &LLAMA_LORA_TARGETS)
        .unwrap();
    assert_eq!(lora.lora_targets(), LLAMA_LORA_TARGETS.to_vec());
    assert_eq!(values(&lora.forward(ids())), expected);
    let err = lora.attach_lora(&lora_config(), &["qkv"]).unwrap_err();
    assert!(err.to_string().contains("'qkv'"), "{err}");
}

#[test]
fn one_step_changes_only_the_adapters_and_the_projector() {
    let model = lora_llava::<AB>();
    let before = snapshot(&model);
    let after = snapshot(&train(model, 1));
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert!(!changed.is_empty());
    for name in &changed {
        let trainable = name.contains(".lora.") || name.starts_with("multi_modal_projector.");
        assert!(trainable, "{name} changed");
    }
    // B starts at zero, so A has no gradient on the first step; every B moves
    let b_total = before.keys().filter(|k| k.ends_with("lora_b")).count();
    let b_moved = changed.iter().filter(|k| k.ends_with("lora_b")).count();
    assert_eq!((b_total, b_moved), (14, 14));
    assert!(
        changed
            .iter()
            .any(|k| k.starts_with("multi_modal_projector.linear_2"))
    );
}

#[test]
fn parameter_set_round_trips_bit_exactly_and_merging_keeps_the_logits() {
    let trained = train(lora_llava::<AB>(), 3).valid();
    let b = values(&first_lora_b(&trained));
    assert!(b.iter().any(|v| *v != 0.0), "training left B at zero");
    let config = PeftConfig::new(&lora_config(), &LLAMA_LORA_TARGETS);
    let mut loaded = None;
    for (naming, files) in [
        (
            AdapterNaming::Llava,
            &["non_lora_trainables.safetensors"][..],
        ),
        (AdapterNaming::LlavaHf, &[][..]),
    ] {
        let dir = scratch(&format!("roundtrip-{}", naming.as_str()));
        trained.save_parameter_set(&dir, &config, naming).unwrap();
        for file in ["adapter_config.json", "adapter_model.safetensors"]
            .iter()
            .chain(files)
        {
            assert!(dir.join(file).exists(), "{file}");
        }
        let back = load_llava::<B>(&fixture(LLAVA), &Default::default())
            .unwrap()
            .load_parameter_set(&dir)
            .unwrap();
        let (a, b) = (snapshot(&trained), snapshot(&back));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (name, v) in &a {
            assert_eq!(v, &b[name], "{name} differs after save/load ({naming:?})");
        }
        loaded = Some(back);
    }
    let loaded = loaded.unwrap();

    let lm = loaded.language_model;
    let unmerged = values(&lm.forward(ids()));
    let merged_model = lm.clone().merge_lora();
    let merged = values(&merged_model.forward(ids()));
    let err = unmerged
        .iter()
        .zip(&merged)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(err < 1e-5, "merged vs unmerged logits: {err}");
    let base_before = snapshot(&lm);
    let restored = snapshot(&merged_model.unmerge_lora());
    for (name, v) in &base_before {
        let e = v
            .iter()
            .zip(&restored[name])
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(e < 1e-6, "{name} after merge+unmerge: {e}");
    }
}

/// Writes a PEFT-style adapter for the tiny llama by hand: q_proj and v_proj, r = 2, PyTorch
/// layout (`lora_A.weight` `[r, in]`, `lora_B.weight` `[out, r]`), in-memory adapter name kept.
fn write_peft_by_hand(dir: &std::path::Path, extra: Option<&str>, skip: Option<&str>) {
    use safetensors::{Dtype, tensor::TensorView};
    std::fs::create_dir_all(dir).unwrap();
    let config = r#"{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 6,
        "lora_dropout": 0.05, "target_modules": ["v_proj", "q_proj"], "bias": "none",
        "fan_in_fan_out": false, "inference_mode": true, "base_model_name_or_path": "tiny"}"#;
    std::fs::write(dir.join("adapter_config.json"), config).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for layer in 0..2 {
        for (target, out) in [("q_proj", 64), ("v_proj", 32)] {
            for (which, shape) in [("A", vec![2, 64]), ("B", vec![out, 2])] {
                let n: usize = shape.iter().product();
                let v: Vec<u8> = (0..n)
                    .flat_map(|i| {
                        (((i * 7 + layer * 3 + out) % 11) as f32 * 0.01 - 0.05).to_le_bytes()
                    })
                    .collect();
                let name = format!(
                    "base_model.model.model.layers.{layer}.self_attn.{target}.lora_{which}.default.weight"
                );
                if Some(name.as_str()) != skip {
                    tensors.push((name, shape, v));
                }
            }
        }
    }
    if let Some(name) = extra {
        tensors.push((name.to_string(), vec![1], 0f32.to_le_bytes().to_vec()));
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("adapter_model.safetensors"),
        safetensors::tensor::serialize(views, None).unwrap(),
    )
    .unwrap();
}

#[test]
fn peft_named_file_loads_with_the_peft_delta() {
    let dir = scratch("peft");
    write_peft_by_hand(&dir, None, None);
    let base = load_llama::<B>(&fixture("tiny-hf/v5-layout/llama"), &Default::default()).unwrap();
    let w0 = values(&base.model.layers[1].self_attn.v_proj.base.weight.val()); // [in, out]
    let lora = base.load_lora(&dir).unwrap();
    assert_eq!(lora.lora_targets(), vec!["q_proj", "v_proj"]);
    let merged = lora.merge_lora();
    let w1 = values(&merged.model.layers[1].self_attn.v_proj.base.weight.val());
    // PEFT: delta W[out, in] = (lora_alpha / r) * B[out, r] @ A[r, in] = 3 * B A
    let file = crate::common::Fixture::open_path(dir.join("adapter_model.safetensors"));
    let (_, a) = file.get("base_model.model.model.layers.1.self_attn.v_proj.lora_A.default.weight");
    let (_, b) = file.get("base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight");
    let (d_in, d_out) = (64, 32);
    for i in 0..d_in {
        for o in 0..d_out {
            let delta = 3.0 * (b[o * 2] * a[i] + b[o * 2 + 1] * a[d_in + i]);
            let got = w1[i * d_out + o] - w0[i * d_out + o];
            assert!((got - delta).abs() < 1e-6, "[{i},{o}]: {got} vs {delta}");
        }
    }
}

#[test]
fn adapter_files_with_missing_or_unknown_tensors_are_rejected() {
    let base =
        || load_llama::<B>(&fixture("tiny-hf/v5-layout/llama"), &Default::default()).unwrap();
    let missing = "base_model.model.model.layers.1.self_attn.q_proj.lora_B.default.weight";
    let dir = scratch("peft-missing");
    write_peft_by_hand(&dir, None, Some(missing));
    let err = base().load_lora(&dir).unwrap_err().to_string();
    assert!(
        err.contains("layers.1.self_attn.q_proj.lora_B.weight")
            && err.contains("adapter_model.safetensors"),
        "{err}"
    );
    let dir = scratch("peft-extra");
    write_peft_by_hand(&dir, Some("base_model.model.lm_head.lora_A.weight"), None);
    let err = base().load_lora(&dir).unwrap_err().to_string();
    assert!(
        err.contains("unexpected tensor 'base_model.model.lm_head.lora_A.weight'"),
        "{err}"
    );
}

#[test]
fn parameter_sets_expand_retrain_and_select_over_one_base_model() {
    use lcia::adapters::{ExpandInit, ParameterSets, SetWeights};
    let selector: lcia::adapters::SetSelector = Llava::<AB>::is_parameter_set_tensor;
    let model = lora_llava::<AB>();
    let frozen = |m: &Llava<AB>| {
        snapshot(m)
            .into_iter()
            .filter(|(k, _)| !Llava::<AB>::is_parameter_set_tensor(k))
            .collect::<Vec<_>>()
    };
    let base = frozen(&model);
    let of = |m: &Llava<AB>| {
        let w = SetWeights::capture(m, selector);
        w.paths()
            .map(|p| values(w.get(p).unwrap()))
            .collect::<Vec<_>>()
    };
    let initial = of(&model);
    let mut sets = ParameterSets::new(&model, selector, ExpandInit::FromLatest);

    let model = sets.expand("g1", model).unwrap();
    let model = train(model, 2);
    sets.store(&model).unwrap();
    let g1 = of(&model);
    assert_ne!(g1, initial);

    // a new group starts from the latest trained set
    let model = sets.expand("g2", model).unwrap();
    assert_eq!(of(&model), g1);
    let model = train(model, 2);
    sets.store(&model).unwrap();
    let g2 = of(&model);
    assert_ne!(g2, g1);

    let model = sets.select("g1", model).unwrap();
    assert_eq!((of(&model), sets.active()), (g1.clone(), Some("g1")));
    assert_eq!(sets.names(), vec!["g1", "g2"]);
    assert!(sets.select("g9", model.clone()).is_err());
    assert!(sets.expand("g1", model.clone()).is_err());
    assert_eq!(frozen(&model), base, "the base model changed");
    // the adapters stay trainable after being swapped in
    assert!(first_lora_b(&model).is_require_grad());

    let mut fresh = ParameterSets::new(&model, selector, ExpandInit::Fresh);
    fresh.store(&model).unwrap_err();
    let model = fresh.expand("new", model).unwrap();
    assert_eq!(
        of(&model),
        g1,
        "Fresh starts from the weights it was created with"
    );
}
