//! Data-parallel training: two replicas in one process against one device.

use lcia::continual::config::RunConfig;
use lcia::continual::manifest::Manifest;
use lcia::continual::{RunOptions, run_on};
use lcia::data::ImagePreprocess;
use lcia::data::sample::TrainSample;
use lcia::dema::DemaConfig;
use lcia::train::{TaskData, TrainConfig, TrainReport, train_replicas, train_task};

use crate::common::{AB, snapshot};
use crate::pipeline::{run_config, temp_dir, three_tasks};
use crate::trainer::{image_samples, tiny_llava};

/// Eight samples whose answers differ in length, so the replicas' shares hold different numbers
/// of supervised tokens (a mean of per-replica means would differ from the global mean).
fn uneven_samples(dir: &std::path::Path) -> Vec<TrainSample> {
    image_samples(dir, 8, |i| {
        (0..1 + 3 * (i % 4)).map(|t| 20 + ((i + t) % 40)).collect()
    })
}

fn max_relative(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().map(|v| v.abs()).fold(1e-12, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f64::max)
}

fn relative_l2(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f64 = a.iter().map(|x| x * x).sum();
    (diff / norm.max(1e-300)).sqrt()
}

fn alphas(report: &TrainReport) -> Vec<f64> {
    report
        .steps
        .iter()
        .flat_map(|s| s.alpha.map_or(vec![], |(a, b, c)| vec![a, b, c]))
        .collect()
}

#[test]
fn two_replicas_match_one_device_and_each_other() {
    let dir = temp_dir("parallel");
    let samples = uneven_samples(&dir);
    let config = TrainConfig {
        batch_size: 4,
        epochs: 5,
        lr_lora: 1e-2,
        lr_projector: 1e-3,
        warmup_ratio: 0.0,
        progress: false,
        ..TrainConfig::default()
    };
    let dema = DemaConfig::official();
    let images = ImagePreprocess::llava(32);
    let device = Default::default();
    // One start for both (attaching LoRA draws A at random).
    let start = tiny_llava();
    let (single, single_report) = train_task(
        start.clone(),
        &samples,
        &config,
        Some(&dema),
        &images,
        0,
        &device,
    )
    .unwrap();
    assert_eq!(single_report.steps.len(), 10);
    let data = TaskData {
        samples: &samples,
        images: &images,
        pad_id: 0,
    };
    let devices = [device, device];
    let replicas = train_replicas(start, &data, &config, Some(&dema), &devices, None).unwrap();
    assert_eq!(replicas.len(), 2);
    let (model, report) = &replicas[0];

    // The same steps as one device: losses, token counts, the balanced EMA's coefficient.
    let losses = |r: &TrainReport| r.steps.iter().map(|s| s.loss).collect::<Vec<_>>();
    let (a, b) = (losses(&single_report), losses(report));
    assert!(
        max_relative(&a, &b) < 1e-6,
        "one device {a:?}\ntwo replicas {b:?}"
    );
    let tokens = |r: &TrainReport| r.steps.iter().map(|s| s.tokens).collect::<Vec<_>>();
    assert_eq!(tokens(&single_report), tokens(report));
    let dynamic: usize = single_report.steps.iter().map(|s| s.dynamic).sum();
    assert!(
        dynamic > 0,
        "the coefficient must read the gradient in this test"
    );
    assert!(max_relative(&alphas(&single_report), &alphas(report)) < 1e-6);

    // The same weights after the task (the EMA swapped in), every tensor: ‖a − b‖₂ / ‖a‖₂.
    let (one, two) = (snapshot(&single), snapshot(model));
    let mut worst = 0.0f64;
    for (name, values) in &one {
        let err = relative_l2(values, &two[name]);
        assert!(err < 1e-6, "{name}: relative difference {err:e}");
        worst = worst.max(err);
    }
    eprintln!(
        "2 replicas vs 1 device, 10 steps: loss {:.1e}, alpha {:.1e}, weights {worst:.1e} (relative)",
        max_relative(&a, &b),
        max_relative(&alphas(&single_report), &alphas(report))
    );

    // The replicas are bit-identical: same weights, same step records.
    let other = snapshot(&replicas[1].0);
    assert_eq!(two, other);
    assert_eq!(losses(report), losses(&replicas[1].1));
    assert_eq!(alphas(report), alphas(&replicas[1].1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_continual_run_on_two_replicas_matches_one_device() {
    let dir = temp_dir("parallel-run");
    let path = three_tasks(&dir);
    let config = RunConfig::from_file(&path).unwrap();
    let one = run_config(&path, &dir.join("one"), &RunOptions::default()).unwrap();
    let device = Default::default();
    let out = dir.join("two");
    let two = run_on::<AB>(
        &path,
        &config,
        &out,
        &RunOptions::default(),
        (&[device, device], None),
    );
    let two = two.unwrap();
    assert_eq!(one.matrix, two.matrix);
    for (a, b) in one.manifest.finished.iter().zip(&two.manifest.finished) {
        assert_eq!(a.decision, b.decision);
        let (la, lb) = (a.final_loss.unwrap(), b.final_loss.unwrap());
        assert!(
            (la - lb).abs() <= 1e-5 * la.abs(),
            "{}: {la} vs {lb}",
            a.task
        );
        assert_eq!((a.devices.len(), b.devices.len()), (0, 2));
    }
    let written = Manifest::read(&out).unwrap();
    assert_eq!(written.finished[0].devices, ["Cpu", "Cpu"]);

    // Methods with a loss term per micro-batch are refused before anything is written.
    let mut ewc = RunConfig::from_file(&path).unwrap();
    ewc.method.grouping = false;
    ewc.method.baseline = Some(toml::from_str("name = \"ewc\"").unwrap());
    let (out, options) = (dir.join("ewc"), RunOptions::default());
    let refused = run_on::<AB>(&path, &ewc, &out, &options, (&[device, device], None));
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("EWC, LwF and O-LoRA"), "{message}");
    assert!(!dir.join("ewc").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replica_s_own_error_is_reported_not_the_broken_collective() {
    let dir = temp_dir("parallel-bad-image");
    let mut samples = uneven_samples(&dir);
    let missing = dir.join("missing.png");
    samples[5].image = Some(missing.clone());
    let config = TrainConfig {
        batch_size: 8,
        max_steps: Some(1),
        progress: false,
        ..TrainConfig::default()
    };
    let images = ImagePreprocess::llava(32);
    let data = TaskData {
        samples: &samples,
        images: &images,
        pad_id: 0,
    };
    // Whichever replica's share holds the missing image, the other one is left waiting in the
    // all-reduce; the error is the image's, and both threads end.
    let device = Default::default();
    let error = train_replicas(tiny_llava(), &data, &config, None, &[device, device], None)
        .map(|_| ())
        .unwrap_err();
    assert!(!matches!(error, lcia::Error::Parallel(_)), "{error}");
    assert!(error.to_string().contains("missing.png"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
