//! Trains a small regression MLP with the balanced EMA and traces every tensor's coefficient.
//!
//! `cargo run --release --example dema_trace -- [--device ndarray] [--steps 300]`
//! Prints a per-tensor summary (dynamic vs fallback steps, α range), the time the EMA update
//! costs next to the optimizer step, and writes the full trace as CSV.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use clap::Parser;
use lcia::dema::{AlphaTrace, BalancedEma, DemaConfig, StepGradients};
use lcia_backends::{BackendTask, DeviceSpec, dispatch};

#[derive(Parser, Debug)]
struct Args {
    /// ndarray, wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N.
    #[arg(long, default_value = "ndarray")]
    device: String,
    /// Optimizer steps.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Scale C of the coefficient (2.0 in the official code).
    #[arg(long, default_value_t = lcia::dema::DEMA_SCALE)]
    scale: f64,
    /// Where to write the trace.
    #[arg(long, default_value = "target/dema_trace.csv")]
    out: PathBuf,
}

#[derive(Module, Debug)]
struct Mlp<B: Backend> {
    input: Linear<B>,
    hidden: Linear<B>,
    head: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.input.forward(x).tanh();
        self.head.forward(self.hidden.forward(h).tanh())
    }
}

struct Trace(Args);

impl BackendTask for Trace {
    type Output = anyhow::Result<()>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> anyhow::Result<()> {
        let args = self.0;
        B::seed(&device, 42);
        let mut model = Mlp {
            input: LinearConfig::new(32, 128).init::<B>(&device),
            hidden: LinearConfig::new(128, 128).init(&device),
            head: LinearConfig::new(128, 1).init(&device),
        };
        let x = Tensor::<B, 2>::random([1024, 32], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<B, 2>::random([32, 1], Distribution::Normal(0.0, 0.3), &device);
        let y = x.clone().matmul(w).sin();
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        let mut ema = BalancedEma::<B>::new(DemaConfig::official().with_scale(args.scale));
        let mut trace = AlphaTrace::new();
        let (mut t_grad, mut t_optim, mut t_ema) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let batch = 64;
        for step in 0..args.steps {
            let start = (step * batch) % 1024;
            let (xb, yb) = (
                x.clone().slice(start..start + batch),
                y.clone().slice(start..start + batch),
            );
            let t0 = Instant::now();
            let loss = (model.forward(xb) - yb).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let _ = B::sync(&device);
            let t1 = Instant::now();
            let snapshot = StepGradients::from_params(&model, &grads);
            model = optim.step(1e-3, model, grads);
            let _ = B::sync(&device);
            let t2 = Instant::now();
            ema.update(&model, &snapshot);
            let _ = B::sync(&device);
            (t_grad, t_optim, t_ema) = (
                t_grad + (t1 - t0),
                t_optim + (t2 - t1),
                t_ema + t2.elapsed(),
            );
            trace.record(step, ema.last_step());
            if step % 50 == 0 || step + 1 == args.steps {
                println!(
                    "step {step:>4}  loss {:.5}",
                    loss.into_scalar().elem::<f64>()
                );
            }
        }
        let (x_eval, y_eval) = (x.clone(), y.clone());
        let trained = (model.forward(x.clone()) - y.clone()).powi_scalar(2).mean();
        let model = ema.apply(model);
        let consolidated = (model.forward(x_eval) - y_eval).powi_scalar(2).mean();
        println!(
            "\nfull-data MSE: trained weights {:.5}, EMA weights {:.5}",
            trained.into_scalar().elem::<f64>(),
            consolidated.into_scalar().elem::<f64>()
        );

        println!(
            "\n{:<16} {:>6} {:>8} {:>9} {:>10} {:>10} {:>10}",
            "tensor", "numel", "dynamic", "fallback", "alpha min", "mean", "max"
        );
        for s in trace.per_tensor() {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3e}"));
            println!(
                "{:<16} {:>6} {:>8} {:>9} {:>10} {:>10} {:>10}",
                s.name,
                s.numel,
                s.stats.dynamic,
                s.stats.fallback.total(),
                f(s.stats.alpha_min),
                f(s.stats.alpha_mean()),
                f(s.stats.alpha_max)
            );
        }
        println!("all tensors: {}", ema.stats());

        let ms = |d: Duration| d.as_secs_f64() * 1e3 / args.steps as f64;
        println!(
            "\nper step: forward+backward {:.3} ms, optimizer {:.3} ms, DEMA update {:.3} ms \
             ({:.0}% of the optimizer step)",
            ms(t_grad),
            ms(t_optim),
            ms(t_ema),
            100.0 * t_ema.as_secs_f64() / t_optim.as_secs_f64()
        );
        trace.write_csv(&args.out)?;
        println!("trace: {} rows -> {}", trace.len(), args.out.display());
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let spec: DeviceSpec = args.device.parse()?;
    dispatch(&spec, Trace(args))?
}
