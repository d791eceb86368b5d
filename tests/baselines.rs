//! The baselines' defining math on hand-worked numbers (EWC's Fisher and penalty, LwF's
//! distillation KL, replay's buffer), their configuration, and each one run on the tiny
//! 3-task pipeline (EWC also resumed).

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::prelude::*;
use lcia::baselines::replay::{ReplayConfig, buffer_seed, reservoir};
use lcia::baselines::{Baseline, EwcState, diagonal_fisher, distillation_kl};
use lcia::continual::RunOptions;
use lcia::continual::config::RunConfig;

use crate::common::{AB, B as Cpu};
use crate::pipeline::{run_config, temp_dir, three_tasks};

#[derive(Module, Debug)]
struct Two<B: Backend> {
    w: Param<Tensor<B, 1>>,
}

fn two(w: [f32; 2]) -> Two<AB> {
    let device = Default::default();
    Two {
        w: Param::from_tensor(Tensor::<AB, 1>::from_floats(w, &device).require_grad()),
    }
}

fn values(t: Tensor<Cpu, 1>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

/// Squared-error loss ½(w·x − y)² of sample `i` of a fixed 2-sample set.
fn sample_loss(model: &Two<AB>, i: usize) -> lcia::Result<Tensor<AB, 1>> {
    let (x, y) = [([1.0f32, 2.0], 1.0), ([3.0, -1.0], 0.0)][i];
    let x = Tensor::<AB, 1>::from_floats(x, &Default::default());
    Ok((model.w.val() * x)
        .sum()
        .sub_scalar(y)
        .powi_scalar(2)
        .mul_scalar(0.5))
}

#[test]
fn ewc_fisher_and_penalty_on_a_two_parameter_model() {
    // w = (0.5, 0.5): sample 0 residual 0.5, gradient (0.5, 1); sample 1 residual 1, gradient
    // (3, -1); the Fisher is the mean of the squares: (4.625, 1).
    let model = two([0.5, 0.5]);
    let fisher = diagonal_fisher(&model, 2, sample_loss).unwrap();
    assert_eq!(fisher.keys().collect::<Vec<_>>(), ["w"]);
    close(&values(fisher["w"].clone()), &[4.625, 1.0]);

    let theta: BTreeMap<String, Tensor<Cpu, 1>> = [(
        "w".to_string(),
        Tensor::from_floats([0.5, 0.5], &Default::default()),
    )]
    .into();
    let mut state = EwcState::<Cpu>::default();
    assert!(state.is_empty());
    state.consolidate(fisher, &theta).unwrap();
    // at w = (1, 0): 4.625·0.25 + 1·0.25, gradient 2F(θ − θ*) = (4.625, −1)
    let at = two([1.0, 0.0]);
    let penalty: Tensor<AB, 1> = state.penalty(&at);
    close(&values(penalty.clone().inner()), &[1.40625]);
    let grads = penalty.backward();
    close(&values(at.w.val().grad(&grads).unwrap()), &[4.625, -1.0]);

    // a second task with Fisher (1, 0) at θ* = (1, 0): the value and gradient are the sums
    // of the per-task quadratics, also where one task's Fisher is 0
    let second: BTreeMap<String, Tensor<Cpu, 1>> = [(
        "w".to_string(),
        Tensor::from_floats([1.0, 0.0], &Default::default()),
    )]
    .into();
    let fisher2: BTreeMap<String, Tensor<Cpu, 1>> = [(
        "w".to_string(),
        Tensor::from_floats([1.0, 0.0], &Default::default()),
    )]
    .into();
    state.consolidate(fisher2, &second).unwrap();
    let at = two([0.0, 1.0]);
    let penalty: Tensor<AB, 1> = state.penalty(&at);
    // task 1: 4.625·0.25 + 1·0.25 = 1.40625; task 2: 1·1 + 0 = 1
    close(&values(penalty.clone().inner()), &[2.40625]);
    let grads = penalty.backward();
    // task 1: (2·4.625·(−0.5), 2·1·0.5) = (−4.625, 1); task 2: (2·1·(−1), 0)
    close(&values(at.w.val().grad(&grads).unwrap()), &[-6.625, 1.0]);

    let file = temp_dir("ewc-state").join("state.safetensors");
    state.save(&file).unwrap();
    let loaded = EwcState::<Cpu>::load(&file, &Default::default()).unwrap();
    let again: Tensor<AB, 1> = loaded.penalty(&two([0.0, 1.0]));
    close(&values(again.inner()), &[2.40625]);
    let missing = EwcState::<Cpu>::default()
        .consolidate(
            [(
                "v".to_string(),
                Tensor::from_floats([1.0], &Default::default()),
            )]
            .into(),
            &theta,
        )
        .unwrap_err();
    assert!(missing.to_string().contains("'v'"), "{missing}");
}

#[test]
fn lwf_kl_at_temperature_on_hand_worked_logits() {
    let device = Default::default();
    // T = 1: teacher (ln 3, 0) → p = (3/4, 1/4); student (0, 0) → q = (1/2, 1/2)
    let student = Tensor::<Cpu, 2>::from_floats([[0.0, 0.0]], &device);
    let teacher = Tensor::<Cpu, 2>::from_floats([[3f32.ln(), 0.0]], &device);
    let expected = 0.75 * (1.5f32).ln() + 0.25 * (0.5f32).ln();
    let kl = distillation_kl(student.clone(), teacher.clone(), 1.0);
    close(&values(kl), &[expected]);
    // T = 2: teacher/T = (ln √3, 0) → p = (√3, 1)/(√3 + 1); q stays uniform
    let s3 = 3f32.sqrt();
    let (p0, p1) = (s3 / (s3 + 1.0), 1.0 / (s3 + 1.0));
    let expected = p0 * (2.0 * p0).ln() + p1 * (2.0 * p1).ln();
    close(&values(distillation_kl(student, teacher, 2.0)), &[expected]);
    // the mean over rows; identical rows give 0
    let a = Tensor::<Cpu, 2>::from_floats([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], &device);
    let b = Tensor::<Cpu, 2>::from_floats([[1.0, 2.0, 3.0], [3f32.ln(), 0.0, 0.0]], &device);
    let second_row = {
        let z = 5.0f32;
        let p = [3.0 / z, 1.0 / z, 1.0 / z];
        p.iter().map(|p| p * (p * 3.0).ln()).sum::<f32>()
    };
    close(&values(distillation_kl(a, b, 1.0)), &[second_row / 2.0]);
}

#[test]
fn replay_buffer_sizes_and_determinism() {
    let five = ReplayConfig { share: 0.05 };
    let one = ReplayConfig { share: 0.01 };
    assert_eq!(five.kept(240), 12);
    assert_eq!(one.kept(240), 2);
    assert_eq!(one.kept(10), 1, "at least one sample of a task");
    assert_eq!(five.kept(0), 0);
    assert_eq!(ReplayConfig { share: 1.0 }.kept(7), 7);
    let a = reservoir(240, 12, buffer_seed(42, 0));
    assert_eq!(a, reservoir(240, 12, buffer_seed(42, 0)));
    assert_ne!(a, reservoir(240, 12, buffer_seed(42, 1)));
    assert_eq!(a.len(), 12);
    assert!(a.windows(2).all(|w| w[0] < w[1]) && a[11] < 240);
    // every index is kept with probability k/n: over 4000 seeds, 10 of 40 → 1000 each
    let mut counts = [0usize; 40];
    for seed in 0..4000 {
        for i in reservoir(40, 10, seed) {
            counts[i] += 1;
        }
    }
    for (i, c) in counts.iter().enumerate() {
        assert!(
            (880..=1120).contains(c),
            "index {i} kept {c} times of 4000 (expected 1000)"
        );
    }
}

#[test]
fn baseline_section_parses_and_bad_values_are_refused() {
    let text = "[model]\ndir = \"m\"\n[method]\ngrouping = false\nema = \"off\"\n[method.baseline]\nname = \"ewc\"\nlambda = 10.0\n";
    let config: RunConfig = toml::from_str(text).unwrap();
    let Some(Baseline::Ewc(ewc)) = &config.method.baseline else {
        panic!("{:?}", config.method.baseline)
    };
    assert_eq!((ewc.lambda, ewc.fisher_samples), (10.0, 64));
    let unknown = toml::from_str::<RunConfig>(&text.replace("lambda", "lamda")).unwrap_err();
    assert!(unknown.to_string().contains("lamda"), "{unknown}");
    let name = toml::from_str::<RunConfig>(&text.replace("\"ewc\"", "\"sgd\"")).unwrap_err();
    assert!(name.to_string().contains("sgd"), "{name}");
    let dir = temp_dir("baseline-config");
    let path = dir.join("run.toml");
    let bad = text
        .replace("grouping = false", "grouping = true")
        .replace("lambda = 10.0", "lambda = -1.0");
    std::fs::write(&path, bad).unwrap();
    let err = RunConfig::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("method.baseline.lambda: must be ≥ 0"), "{err}");
    assert!(err.contains("method.grouping = true"), "{err}");
}

fn baseline_run(name: &str, section: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = temp_dir(name);
    let path = three_tasks(&dir);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[method]\nema = \"official\"\n",
        &format!("[method]\ngrouping = false\nema = \"off\"\n\n[method.baseline]\n{section}\n"),
    );
    let text = text.replace("epochs = 12", "epochs = 3");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Runs `path` into `out` for `tasks` tasks, then resumes it to the end.
fn stopped_and_resumed(
    path: &std::path::Path,
    out: &std::path::Path,
    tasks: usize,
) -> lcia::continual::RunOutcome {
    let options = RunOptions {
        resume: false,
        stop_after: Some(tasks),
    };
    run_config(path, out, &options).unwrap();
    let options = RunOptions {
        resume: true,
        stop_after: None,
    };
    run_config(path, out, &options).unwrap()
}

fn penalties(dir: &std::path::Path, task: &str) -> Vec<f64> {
    let file = dir.join("tasks").join(task).join("steps.json");
    let steps: Vec<lcia::train::StepRecord> =
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    steps.iter().map(|s| s.penalty.unwrap_or(-1.0)).collect()
}

#[test]
fn ewc_runs_on_the_pipeline_and_resumes_exactly() {
    let (dir, path) = baseline_run("ewc-run", "name = \"ewc\"\nfisher_samples = 4");
    let full = run_config(&path, &dir.join("full"), &RunOptions::default()).unwrap();
    assert_eq!(full.matrix.rows.len(), 3);
    let state = dir.join("full/checkpoints/01-colour/baseline_state.safetensors");
    assert!(state.is_file());
    // no penalty on the first task; on the second, 0 while θ = θ* (the warm-up's first step
    // has learning rate 0), then > 0
    assert!(
        !dir.join("full/tasks/01-colour/steps.csv").is_file() || {
            let csv = std::fs::read_to_string(dir.join("full/tasks/01-colour/steps.csv")).unwrap();
            !csv.contains("penalty")
        }
    );
    let second = penalties(&dir.join("full"), "02-bright");
    assert!(second[0].abs() < 1e-9, "{second:?}");
    assert!(second[2..].iter().all(|p| *p > 0.0), "{second:?}");
    let resumed = stopped_and_resumed(&path, &dir.join("part"), 1);
    assert_eq!(resumed.matrix, full.matrix);
    for ckpt in ["02-bright", "03-option"] {
        for file in ["adapter_model.safetensors", "baseline_state.safetensors"] {
            let a = std::fs::read(dir.join("full/checkpoints").join(ckpt).join(file)).unwrap();
            let b = std::fs::read(dir.join("part/checkpoints").join(ckpt).join(file)).unwrap();
            assert!(a == b, "{ckpt}/{file} differs after resume");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lwf_and_replay_run_on_the_pipeline() {
    let (dir, path) = baseline_run("lwf-run", "name = \"lwf\"");
    let out = run_config(&path, &dir.join("out"), &RunOptions::default()).unwrap();
    assert_eq!(out.matrix.rows.len(), 3);
    let second = penalties(&dir.join("out"), "02-bright");
    // the teacher is the model as the task starts: KL 0 at the first step, then > 0
    assert!(second[0].abs() < 1e-6, "{second:?}");
    assert!(second.iter().skip(1).any(|p| *p > 0.0), "{second:?}");
    let first = std::fs::read_to_string(dir.join("out/tasks/01-colour/steps.csv")).unwrap();
    assert!(!first.contains("penalty"), "no teacher on the first task");

    let (dir2, path) = baseline_run("replay-run", "name = \"replay\"\nshare = 0.25");
    let out = run_config(&path, &dir2.join("out"), &RunOptions::default()).unwrap();
    // 8 samples per task, batch 4, 3 epochs; 25 % of each earlier task = 2 samples
    let steps: Vec<usize> = out.manifest.finished.iter().map(|t| t.steps).collect();
    assert_eq!(
        steps,
        [6, 9, 9],
        "8, 8 + 2 and 8 + 2 + 2 samples in batches of 4"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn olora_penalty_on_hand_worked_slices() {
    use lcia::baselines::slice_orthogonality;
    let device = Default::default();
    // lora_a [in 2, r_total 3], rank 1: slices (1, 2), (3, 4), (5, 6)
    let a =
        Tensor::<AB, 2>::from_floats([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]], &device).require_grad();
    assert!(
        slice_orthogonality(a.clone(), 0, 1).is_none(),
        "nothing before the first task"
    );
    // task 1: (3, 4)·(1, 2) = 11 → 121; gradient 2·11·(1, 2) on slice 1 only
    let p = slice_orthogonality(a.clone(), 1, 1).unwrap();
    close(&values(p.clone().inner()), &[121.0]);
    let grads = p.backward();
    close(
        &values(a.grad(&grads).unwrap().reshape([6])),
        &[0.0, 22.0, 0.0, 0.0, 44.0, 0.0],
    );
    // task 2: (5, 6)·(1, 2) = 17, (5, 6)·(3, 4) = 39 → 289 + 1521
    let p = slice_orthogonality(a.clone(), 2, 1).unwrap();
    close(&values(p.inner()), &[1810.0]);
    assert!(slice_orthogonality(a, 3, 1).is_none(), "no fourth slice");
}

#[test]
fn olora_trains_one_slice_per_task_and_sums_them_in_one_adapter() {
    use lcia::adapters::NamedTensors;
    let (dir, path) = baseline_run("olora-run", "name = \"olora\"");
    let out = run_config(&path, &dir.join("out"), &RunOptions::default()).unwrap();
    assert_eq!(out.matrix.rows.len(), 3);
    let ckpt = |task: &str| dir.join("out/checkpoints").join(task);
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ckpt("02-bright").join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (config["r"].as_u64(), config["lora_alpha"].as_f64()),
        (Some(12), Some(24.0))
    );
    let read =
        |task: &str| NamedTensors::read(&ckpt(task).join("adapter_model.safetensors")).unwrap();
    let (first, second, third) = (read("01-colour"), read("02-bright"), read("03-option"));
    let mut checked = 0;
    for (name, (shape, one)) in first.tensors.iter().filter(|(n, _)| n.contains(".lora_")) {
        let (_, two) = &second.tensors[name];
        let (_, three) = &third.tensors[name];
        // lora_A is [r_total, in] (rows = rank), lora_B is [out, r_total] (columns = rank)
        let slot = |i: usize| {
            if name.contains("lora_A") {
                i / shape[1]
            } else {
                i % shape[1]
            }
        };
        for i in 0..one.len() {
            let slice = slot(i) / 4;
            match slice {
                0 => assert!(
                    one[i] == two[i] && two[i] == three[i],
                    "{name}: task 1's slice moved"
                ),
                1 => assert!(two[i] == three[i], "{name}: task 2's slice moved in task 3"),
                _ => {}
            }
            if name.contains("lora_B") && slice == 2 {
                assert_eq!(two[i], 0.0, "{name}: task 3's B is 0 until task 3");
            }
        }
        if name.contains("lora_B") {
            checked += 1;
            let moved = |t: &[f32], s: usize| (0..t.len()).any(|i| slot(i) / 4 == s && t[i] != 0.0);
            assert!(moved(one, 0) && moved(two, 1) && moved(three, 2), "{name}");
        }
    }
    assert!(checked > 0);
    let second_steps = penalties(&dir.join("out"), "02-bright");
    assert!(second_steps.iter().all(|p| *p > 0.0), "{second_steps:?}");
    let first_steps = penalties(&dir.join("out"), "01-colour");
    assert!(
        first_steps.iter().all(|p| *p == 0.0),
        "no earlier LoRA: {first_steps:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn moelora_router_softmax_mixes_the_experts_per_token() {
    use lcia::adapters::{LoraAdapter, LoraConfig};
    let device = Default::default();
    let config = LoraConfig::new(2, 2.0)
        .with_lora_dropout(0.0)
        .with_experts(2);
    let mut lora = LoraAdapter::<Cpu>::init(&config, 2, 2, &device);
    assert_eq!(lora.experts(), 2);
    // a fresh router is zero: an even mix, and B = 0 changes nothing
    let x = Tensor::<Cpu, 3>::from_floats([[[1.0, 2.0], [0.0, 1.0]]], &device);
    close(&values(lora.forward(x.clone()).reshape([4])), &[0.0; 4]);
    // A = B = I (expert e owns rank column/row e), scale α/r = 1, router [[ln 3, 0], [0, 0]]:
    // token (1, 2): g = softmax(ln 3, 0) = (3/4, 1/4), update (1·3/4, 2·1/4) = (0.75, 0.5)
    // token (0, 1): g = softmax(0, 0) = (1/2, 1/2), update (0, 0.5)
    let eye = || Tensor::<Cpu, 2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
    lora.lora_a = Param::from_tensor(eye());
    lora.lora_b = Param::from_tensor(eye());
    let router = Tensor::<Cpu, 2>::from_floats([[3f32.ln(), 0.0], [0.0, 0.0]], &device);
    lora.gate = Some(Param::from_tensor(router));
    close(
        &values(lora.forward(x).reshape([4])),
        &[0.75, 0.5, 0.0, 0.5],
    );
}

#[test]
fn moelora_files_name_each_expert_and_load_back_exactly() {
    use lcia::adapters::{AdapterNaming, LoraConfig, NamedTensors, PeftConfig};
    use lcia::model::load_llava;
    let device = Default::default();
    let dir = temp_dir("moelora-files");
    let base =
        load_llava::<Cpu>(&crate::common::fixture("tiny-hf/hub-layout/llava"), &device).unwrap();
    let config = LoraConfig::new(4, 8.0)
        .with_lora_dropout(0.0)
        .with_experts(2);
    let mut model = base.clone();
    model.language_model = model
        .language_model
        .attach_lora(&config, &["q_proj", "v_proj"])
        .unwrap();
    // random values everywhere (B and the router start at zero)
    let model = model.map(&mut Randomise(1, Vec::new()));
    let peft = PeftConfig::new(&config, &["q_proj", "v_proj"]);
    for naming in [AdapterNaming::LlavaHf, AdapterNaming::Llava] {
        let out = dir.join(format!("{naming:?}"));
        model.save_parameter_set(&out, &peft, naming).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("adapter_config.json")).unwrap())
                .unwrap();
        assert_eq!(
            (json["peft_type"].as_str(), json["expert_num"].as_u64()),
            (Some("MOELORA"), Some(2))
        );
        let named = NamedTensors::read(&out.join("adapter_model.safetensors")).unwrap();
        let key = |e: &str| {
            named
                .tensors
                .keys()
                .find(|k| k.contains("layers.0.self_attn.q_proj") && k.ends_with(e))
                .cloned()
                .unwrap_or_else(|| panic!("no key ending {e} in {:?}", named.tensors.keys()))
        };
        assert_eq!(named.tensors[&key("lora_A.1.weight")].0[0], 2, "[r/E, in]");
        assert_eq!(named.tensors[&key("lora_B.0.weight")].0[1], 2, "[out, r/E]");
        assert_eq!(named.tensors[&key("lora_router.weight")].0[0], 2, "[E, in]");
        let loaded = base.clone().load_parameter_set(&out).unwrap();
        let ids = Tensor::<Cpu, 2, Int>::from_ints([[1, 5, 9, 3]], &device);
        let a = model.forward(ids.clone(), None, None, None).unwrap();
        let b = loaded.forward(ids, None, None, None).unwrap();
        assert_eq!(
            a.into_data(),
            b.into_data(),
            "{naming:?}: logits after the round trip"
        );
        let unchanged = base
            .clone()
            .forward(Tensor::from_ints([[1, 5, 9, 3]], &device), None, None, None)
            .unwrap();
        let again = model
            .forward(Tensor::from_ints([[1, 5, 9, 3]], &device), None, None, None)
            .unwrap();
        assert_ne!(
            unchanged.into_data(),
            again.into_data(),
            "the experts change the output"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Overwrites every LoRA and router tensor with seeded values in [-0.5, 0.5).
struct Randomise(u64, Vec<String>);

impl burn::module::ModuleMapper<Cpu> for Randomise {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.1.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.1.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<Cpu, D>>) -> Param<Tensor<Cpu, D>> {
        if !self.1.join(".").contains(".lora.") {
            return param;
        }
        param.map(|t| {
            let dims = t.dims();
            let n = t.shape().num_elements();
            let mut rng = lcia::rng::SplitMix64::new(self.0);
            self.0 += 1;
            let v: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32 - 0.5).collect();
            Tensor::from_data(TensorData::new(v, dims), &t.device()).require_grad()
        })
    }
}

#[test]
fn moelora_runs_on_the_pipeline() {
    let (dir, path) = baseline_run("moelora-run", "name = \"moelora\"");
    let out = run_config(&path, &dir.join("out"), &RunOptions::default()).unwrap();
    assert_eq!(out.matrix.rows.len(), 3);
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("out/checkpoints/03-option/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["expert_num"].as_u64(), Some(2));
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("r = 4", "r = 3");
    std::fs::write(&path, text).unwrap();
    let err = RunConfig::from_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("lora.r = 3: must be a multiple of method.baseline.experts = 2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eproj_adds_a_projector_per_task_shares_the_lora_and_resumes_exactly() {
    use lcia::adapters::NamedTensors;
    let dir = temp_dir("eproj-run");
    let path = three_tasks(&dir);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[method]\nema = \"official\"\n",
        "[method]\nema = \"off\"\n\n[method.baseline]\nname = \"eproj\"\n",
    );
    std::fs::write(&path, text.replace("epochs = 12", "epochs = 3")).unwrap();
    let full = run_config(&path, &dir.join("full"), &RunOptions::default()).unwrap();
    let groups: Vec<usize> = full
        .manifest
        .finished
        .iter()
        .map(|t| t.decision.group())
        .collect();
    assert_eq!(
        groups,
        [0, 1, 2],
        "a projector per task, whatever the instructions"
    );
    let read = |task: &str| {
        NamedTensors::read(
            &dir.join("full/checkpoints")
                .join(task)
                .join("adapter_model.safetensors"),
        )
        .unwrap()
        .tensors
    };
    let (one, two) = (read("01-colour"), read("02-bright"));
    let differ = |prefix: &str| {
        one.iter()
            .filter(|(k, _)| k.contains(prefix))
            .any(|(k, v)| two[k] != *v)
    };
    assert!(
        differ("multi_modal_projector"),
        "each task trains its own projector"
    );
    assert!(differ(".lora_B."), "the shared LoRA keeps training");
    let resumed = stopped_and_resumed(&path, &dir.join("part"), 2);
    assert_eq!(resumed.matrix, full.matrix);
    let a =
        std::fs::read(dir.join("full/checkpoints/03-option/adapter_model.safetensors")).unwrap();
    let b =
        std::fs::read(dir.join("part/checkpoints/03-option/adapter_model.safetensors")).unwrap();
    assert!(a == b, "the resumed run's last checkpoint differs");
    // grouping off is refused for EProj
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("[method]\n", "[method]\ngrouping = false\n"),
    )
    .unwrap();
    let err = RunConfig::from_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("method.grouping = false: must be true with baseline 'eproj'"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_readme_lists_every_method_key() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let keys = lcia::experiments::methods::catalog()
        .into_iter()
        .map(|m| m.0);
    for key in keys.chain(["multitask", "zero-shot"]) {
        assert!(
            readme.contains(&format!("| `{key}`")) || readme.contains(&format!(", `{key}` |")),
            "README's Methods table lacks `{key}`"
        );
        lcia::experiments::methods::parse_methods(key).unwrap();
    }
}
