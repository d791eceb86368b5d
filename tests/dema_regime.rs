//! The balanced EMA in its operating regime: the bf16 EMA of the official run bit for bit
//! against torch, the bf16 EMA freezing where the f32 one moves, the size-normalised extension
//! at the 7B reference, and the regime read-outs (κ, EMA moved).

use burn::prelude::*;
use lcia::dema::reference::size_factor;
use lcia::dema::{
    AlphaSource, DemaConfig, DemaNorms, DemaState, DemaVariant, EmaDtype, balanced_alpha,
};
use serde::Deserialize;

use crate::common::{B, tensor, values};

fn t1(v: &[f64]) -> Tensor<B, 1> {
    tensor::<1>(v, &[v.len()])
}

#[derive(Deserialize)]
struct GoldenStep {
    theta: Vec<f64>,
    grad: Option<Vec<f64>>,
    alpha: f64,
    source: String,
    ema: Vec<f64>,
}

#[derive(Deserialize)]
struct Golden {
    steps: Vec<GoldenStep>,
}

/// `assets/golden/dema_bf16_trace.json` (torch, bf16): every α and every EMA element equal.
#[test]
fn bf16_ema_matches_torch_bit_for_bit() {
    let text = std::fs::read_to_string("assets/golden/dema_bf16_trace.json").unwrap();
    let golden: Golden = serde_json::from_str(&text).unwrap();
    assert!(golden.steps.len() >= 10);
    let config = DemaConfig::official().with_dtype(EmaDtype::Bf16);
    let mut state = DemaState::<B, 1>::new(config);
    let (mut dynamic, mut fallback) = (0, 0);
    for (i, step) in golden.steps.iter().enumerate() {
        let theta = t1(&step.theta);
        let grad = step.grad.as_deref().map(t1);
        let alpha = state.update(&theta, grad.as_ref());
        assert_eq!(alpha, step.alpha, "step {}: α", i + 1);
        let source = state.last().source;
        let is_dynamic = source == AlphaSource::Dynamic;
        assert_eq!(
            is_dynamic,
            step.source == "dynamic",
            "step {}: {source:?}",
            i + 1
        );
        dynamic += usize::from(is_dynamic);
        fallback += usize::from(!is_dynamic);
        let ema: Vec<f32> = values(state.ema().unwrap())
            .iter()
            .map(|&v| v as f32)
            .collect();
        let expected: Vec<f32> = step.ema.iter().map(|&v| v as f32).collect();
        assert_eq!(ema, expected, "step {}: EMA", i + 1);
    }
    assert!(
        dynamic >= 4 && fallback >= 4,
        "{dynamic} dynamic, {fallback} fallback"
    );
}

/// A trace whose official α is ≈ 10⁻³: weights that jumped by 0.5 from an EMA at 1 and a
/// gradient that flips sign (b = N, c = 2N, a = N/2, so α = 2(1 + N)/N² ≈ 2/N).
fn freeze_trace(dtype: EmaDtype) -> (Vec<f64>, Vec<f64>) {
    let n = 2000;
    let mut state = DemaState::<B, 1>::new(DemaConfig::official().with_dtype(dtype));
    state.update(&t1(&vec![1.0; n]), Some(&t1(&vec![1.0; n])));
    let mut alphas = Vec::new();
    for step in 0..20 {
        let sign = if step % 2 == 0 { -1.0 } else { 1.0 };
        alphas.push(state.update(&t1(&vec![1.5; n]), Some(&t1(&vec![sign; n]))));
    }
    (alphas, values(state.ema().unwrap()))
}

#[test]
fn the_bf16_ema_freezes_where_the_f32_one_moves() {
    let (alphas32, ema32) = freeze_trace(EmaDtype::F32);
    let (alphas16, ema16) = freeze_trace(EmaDtype::Bf16);
    for alpha in alphas32.iter().chain(&alphas16) {
        assert!((5e-4..2e-3).contains(alpha), "α = {alpha}");
    }
    // f32: 20 steps at α ≈ 1e-3 carry the EMA ≈ 2 % of the way from 1 to 1.5.
    let moved32 = (ema32[0] - 1.0) / 0.5;
    assert!((0.01..0.05).contains(&moved32), "f32 moved {moved32}");
    // bf16: 1·(1 − α) rounds to 1 and 1.5·α is under half an ulp of 1: nothing moves.
    assert!(
        ema16.iter().all(|&v| v == 1.0),
        "bf16 EMA {:?}",
        &ema16[..4]
    );
}

#[test]
fn size_normalised_alpha_equals_the_official_one_at_the_7b_reference() {
    let name = "language_model.model.layers.3.mlp.up_proj.lora.lora_b";
    let k = size_factor(name, 11008 * 128, 2e-4);
    assert!((k - 1.0).abs() < 1e-12, "k = {k}");
    let ext = DemaConfig::new().with_variant(DemaVariant::SizeNormalised { k });
    // b ≫ 1 at 7B: the dropped "1 +" changes α by the factor b/(1 + b) only.
    let norms = DemaNorms {
        drift: 9.0e4,
        grad: 4.0e3,
        grad_change: 5.5e3,
        step: 0.0,
    };
    let official = balanced_alpha(&DemaConfig::official(), &norms).unwrap();
    let extended = balanced_alpha(&ext, &norms).unwrap();
    assert!(official > 1e-6 && official < 1e-4, "α = {official}");
    let expected = official * norms.grad / (1.0 + norms.grad);
    assert!((extended - expected).abs() <= 1e-15 * expected);
    assert!((extended / official - 1.0).abs() < 1.0 / norms.grad);
    // At the demo's size the same sums give a coefficient smaller by k ≈ 0.03.
    let demo_k = size_factor(name, 256 * 8, 3e-3);
    let demo = DemaConfig::new().with_variant(DemaVariant::SizeNormalised { k: demo_k });
    let small = balanced_alpha(&demo, &norms).unwrap();
    assert!((small / extended - demo_k).abs() < 1e-12);
}

#[test]
fn the_trace_records_the_sums_and_kappa() {
    let mut state = DemaState::<B, 1>::new(DemaConfig::official());
    state.update(&t1(&[0.0, 0.0]), Some(&t1(&[1.0, -1.0])));
    state.update(&t1(&[2.0, 2.0]), Some(&t1(&[-1.0, 1.0])));
    let step = state.last();
    let norms = step.norms.expect("a computed coefficient keeps its sums");
    assert_eq!(
        (norms.drift, norms.grad, norms.grad_change, norms.step),
        (4.0, 2.0, 4.0, 4.0)
    );
    // κ = 2(1 + b)/(c·‖Δθ‖₁) = 6/16
    assert_eq!(norms.kappa(), Some(0.375));
    assert_eq!(step.alpha, 0.375);
}

#[test]
fn the_frontier_interpolates_each_tensor_and_reads_its_upper_envelope() {
    use lcia::adapters::NamedTensors;
    use lcia::experiments::dema_study::frontier::interpolate;
    use lcia::experiments::dema_study::report::frontier_old_at;
    let dir = crate::pipeline::temp_dir("frontier");
    let set = |name: &str, a: [f32; 2], p: f32| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut lora = NamedTensors::default();
        lora.tensors
            .insert("x.lora_A.weight".into(), (vec![2], a.to_vec()));
        lora.write(&d.join("adapter_model.safetensors")).unwrap();
        let mut projector = NamedTensors::default();
        projector
            .tensors
            .insert("p.weight".into(), (vec![1], vec![p]));
        projector
            .write(&d.join("non_lora_trainables.safetensors"))
            .unwrap();
        for file in ["adapter_config.json", "lcia-checkpoint.json"] {
            std::fs::write(d.join(file), "{}").unwrap();
        }
        d
    };
    let (start, end) = (set("start", [1.0, -2.0], 4.0), set("end", [3.0, 2.0], 4.0));
    let out = dir.join("mixed");
    std::fs::create_dir_all(&out).unwrap();
    interpolate(&start, &end, 0.25, &out).unwrap();
    let mixed = NamedTensors::read(&out.join("adapter_model.safetensors")).unwrap();
    assert_eq!(mixed.tensors["x.lora_A.weight"].1, vec![2.5, 1.0]);
    let projector = NamedTensors::read(&out.join("non_lora_trainables.safetensors")).unwrap();
    assert_eq!(projector.tensors["p.weight"].1, vec![4.0]);
    // A set without the other's tensor is refused, naming it.
    let other = set("other", [0.0, 0.0], 4.0);
    let mut lora = NamedTensors::default();
    lora.tensors
        .insert("y.lora_A.weight".into(), (vec![2], vec![0.0, 0.0]));
    lora.write(&other.join("adapter_model.safetensors"))
        .unwrap();
    let err = interpolate(&start, &other, 0.5, &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.lora_A.weight"), "{err}");

    // (new, old) in ω order; the highest segment spanning x counts.
    let curve = [(10.0, 0.0), (13.0, 0.0), (33.0, 0.0), (0.0, 27.0)];
    let at = frontier_old_at(&curve, 10.0).unwrap();
    assert!((at - 27.0 * 23.0 / 33.0).abs() < 1e-12, "{at}");
    assert_eq!(frontier_old_at(&curve, 40.0), None);
}
