//! The study's continual runs: the methods, one run per method and seed (two at a time), the
//! fixed EMA matched to DEMA's median α, and the checks that the runs did what the study says.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::continual::config::{EmaChoice, EmaWhen, MethodSection, RunConfig};
use crate::continual::{RunDir, RunOptions, run};
use crate::dema::{DemaConfig, DemaRegime, DemaState, EmaDtype};
use crate::eval::AccuracyMatrix;
use crate::experiments::parallel::in_parallel;
use crate::routing::Decision;

/// A method of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StudyMethod {
    /// Plain retrain, no EMA.
    NoEma,
    /// Fixed EMA with β = 0.99 on the old average.
    Fixed099,
    /// Fixed EMA with β = 1 − (official DEMA's median α in the same seed).
    FixedMatched,
    /// The official coefficient, f32 EMA.
    OfficialF32,
    /// The official coefficient with the official run's bf16 EMA.
    OfficialBf16,
    /// The paper's reported closed form.
    Paper,
    /// The size-normalised coefficient (an extension, not LCIA).
    SizeNormalised,
}

impl StudyMethod {
    /// Every method, in table order ([`Self::FixedMatched`] runs after [`Self::OfficialF32`]).
    pub const ALL: [StudyMethod; 7] = [
        StudyMethod::NoEma,
        StudyMethod::Fixed099,
        StudyMethod::FixedMatched,
        StudyMethod::OfficialF32,
        StudyMethod::OfficialBf16,
        StudyMethod::Paper,
        StudyMethod::SizeNormalised,
    ];

    /// The name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            StudyMethod::NoEma => "No EMA (plain retrain)",
            StudyMethod::Fixed099 => "Fixed EMA β 0.99",
            StudyMethod::FixedMatched => "Fixed EMA β = 1 − median α",
            StudyMethod::OfficialF32 => "Official DEMA (f32 EMA)",
            StudyMethod::OfficialBf16 => "Official DEMA (bf16 EMA)",
            StudyMethod::Paper => "Paper form",
            StudyMethod::SizeNormalised => "Size-normalised (extension)",
        }
    }

    /// The folder name.
    pub fn slug(&self) -> &'static str {
        match self {
            StudyMethod::NoEma => "no-ema",
            StudyMethod::Fixed099 => "fixed-0.99",
            StudyMethod::FixedMatched => "fixed-matched",
            StudyMethod::OfficialF32 => "official-f32",
            StudyMethod::OfficialBf16 => "official-bf16",
            StudyMethod::Paper => "paper",
            StudyMethod::SizeNormalised => "size-normalised",
        }
    }

    /// The `[method]` section: grouping on (the forced group decides), the EMA on retrained
    /// tasks only. `matched_beta` is the β of [`Self::FixedMatched`].
    pub fn section(&self, matched_beta: f64) -> MethodSection {
        let (ema, ema_dtype, fixed_beta) = match self {
            StudyMethod::NoEma => (EmaChoice::Off, EmaDtype::F32, 0.99),
            StudyMethod::Fixed099 => (EmaChoice::Fixed, EmaDtype::F32, 0.99),
            StudyMethod::FixedMatched => (EmaChoice::Fixed, EmaDtype::F32, matched_beta),
            StudyMethod::OfficialF32 => (EmaChoice::Official, EmaDtype::F32, 0.99),
            StudyMethod::OfficialBf16 => (EmaChoice::Official, EmaDtype::Bf16, 0.99),
            StudyMethod::Paper => (EmaChoice::Paper, EmaDtype::F32, 0.99),
            StudyMethod::SizeNormalised => (EmaChoice::SizeNormalised, EmaDtype::F32, 0.99),
        };
        MethodSection {
            grouping: true,
            ema,
            ema_dtype,
            fixed_beta,
            ema_when: EmaWhen::Retrain,
            ..MethodSection::default()
        }
    }
}

/// One finished run of the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The method.
    pub method: StudyMethod,
    /// The seed.
    pub seed: u64,
    /// Its accuracy matrix over the chain.
    pub matrix: AccuracyMatrix,
    /// Each task's group decision.
    pub decisions: Vec<Decision>,
    /// Each task's EMA regime (`None` without EMA).
    pub regimes: Vec<Option<DemaRegime>>,
    /// The β of a fixed EMA (0 without one).
    pub beta: f64,
    /// The run directory.
    pub run_dir: PathBuf,
}

impl RunResult {
    /// Mean over the retrained tasks of a regime field.
    pub fn regime_mean(&self, pick: impl Fn(&DemaRegime) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self.regimes.iter().flatten().filter_map(pick).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

fn run_one<B: AutodiffBackend>(
    (out, config_path, config): (&Path, &Path, &RunConfig),
    method: StudyMethod,
    seed: u64,
    matched_beta: f64,
    device: &B::Device,
) -> crate::Result<RunResult> {
    let mut config = config.clone();
    config.method = method.section(matched_beta);
    config.lora.seed = seed;
    config.train.seed = config.train.seed.wrapping_add(1000 * seed);
    let run_dir = out
        .join("runs")
        .join(method.slug())
        .join(format!("seed-{seed}"));
    let options = RunOptions {
        resume: RunDir::new(&run_dir).manifest().is_file(),
        stop_after: None,
    };
    let outcome = run::<B>(config_path, &config, &run_dir, &options, device)?;
    let finished = &outcome.manifest.finished;
    let beta = match config.method.ema {
        EmaChoice::Fixed => config.method.fixed_beta,
        _ => 0.0,
    };
    log::info!("study: {} seed {seed} done", method.name());
    Ok(RunResult {
        method,
        seed,
        matrix: outcome.matrix,
        decisions: finished.iter().map(|r| r.decision).collect(),
        regimes: finished.iter().map(|r| r.regime).collect(),
        beta,
        run_dir,
    })
}

/// Every method and seed; the matched fixed EMA after the official f32 run of its seed (β = 1 −
/// the mean over the retrained tasks of the median α).
pub fn run_all<B: AutodiffBackend>(
    out: &Path,
    config_path: &Path,
    config: &RunConfig,
    settings: &super::DemaStudySettings,
    device: &B::Device,
) -> crate::Result<Vec<RunResult>> {
    let ctx = (out, config_path, config);
    let mut first = Vec::new();
    for &method in &settings.methods {
        if method == StudyMethod::FixedMatched {
            continue;
        }
        first.extend(settings.seeds.iter().map(|&seed| (method, seed)));
    }
    let mut results = Vec::new();
    for result in in_parallel(settings.jobs, &first, |&(m, s)| {
        run_one::<B>(ctx, m, s, 0.99, device)
    }) {
        results.push(result?);
    }
    if settings.methods.contains(&StudyMethod::FixedMatched) {
        let mut matched = Vec::new();
        for &seed in &settings.seeds {
            let official = results
                .iter()
                .find(|r| r.method == StudyMethod::OfficialF32 && r.seed == seed)
                .ok_or_else(|| crate::Error::run(out, "the matched EMA needs the official run"))?;
            let alpha = official.regime_mean(|g| g.median_alpha).ok_or_else(|| {
                crate::Error::run(&official.run_dir, "the official run recorded no α")
            })?;
            matched.push((seed, 1.0 - alpha));
        }
        for result in in_parallel(settings.jobs, &matched, |&(seed, beta)| {
            run_one::<B>(ctx, StudyMethod::FixedMatched, seed, beta, device)
        }) {
            results.push(result?);
        }
    }
    let order = |r: &RunResult| StudyMethod::ALL.iter().position(|m| *m == r.method);
    results.sort_by_key(|r| (order(r), r.seed));
    Ok(results)
}

/// Invariant: every run opened the one forced group at the first task and retrained it at
/// every later task (the codebook alone would have decided the same here, so this checks the
/// forcing is honoured, not that it differs).
pub fn check_forced_groups(results: &[RunResult], tasks: usize) -> crate::Result<()> {
    for r in results {
        let ok = r.decisions.iter().enumerate().all(|(i, d)| match (i, d) {
            (0, Decision::Expand { group: 0, .. }) => true,
            (_, Decision::Retrain { group: 0, .. }) => i > 0,
            _ => false,
        });
        if !ok || r.decisions.len() != tasks {
            return Err(crate::Error::run(
                &r.run_dir,
                format!("forced group not honoured: {:?}", r.decisions),
            ));
        }
    }
    Ok(())
}

const BF16_TRACE: &str = include_str!("../../../assets/golden/dema_bf16_trace.json");

/// Invariant: the bf16 EMA equals torch's bf16 arithmetic bit for bit on the hand-made trace
/// of `assets/golden/dema_bf16_trace.json` (made by `make_bf16_ema_golden.py`).
pub fn check_bf16_reference<B: Backend>(device: &B::Device) -> crate::Result<()> {
    #[derive(Deserialize)]
    struct Step {
        theta: Vec<f32>,
        grad: Option<Vec<f32>>,
        alpha: f64,
        ema: Vec<f32>,
    }
    #[derive(Deserialize)]
    struct Trace {
        steps: Vec<Step>,
    }
    let file = Path::new("assets/golden/dema_bf16_trace.json");
    let trace: Trace =
        serde_json::from_str(BF16_TRACE).map_err(|e| crate::Error::run(file, e.to_string()))?;
    let mut state = DemaState::<B, 1>::new(DemaConfig::official().with_dtype(EmaDtype::Bf16));
    let t = |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device);
    for (i, step) in trace.steps.iter().enumerate() {
        let alpha = state.update(&t(&step.theta), step.grad.as_deref().map(t).as_ref());
        let ema: Vec<f32> = state
            .ema()
            .map(|e| e.clone().into_data().iter::<f32>().collect())
            .unwrap_or_default();
        let same = ema
            .iter()
            .map(|v| v.to_bits())
            .eq(step.ema.iter().map(|v| v.to_bits()));
        if alpha != step.alpha || !same {
            return Err(crate::Error::run(
                file,
                format!("bf16 EMA differs from the reference at step {}", i + 1),
            ));
        }
    }
    log::info!(
        "bf16 EMA equals the torch reference on {} steps",
        trace.steps.len()
    );
    Ok(())
}
