//! `lcia check`: a tiny regression model trained for a few steps with the balanced EMA.

use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use lcia::dema::{BalancedEma, DemaConfig};
use lcia_backends::BackendTask;

#[derive(Module, Debug)]
struct TwoLayer<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
}

impl<B: Backend> TwoLayer<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.out
            .forward(burn::tensor::activation::relu(self.hidden.forward(x)))
    }
}

/// `lcia check`: trains a 16-32-1 model for `steps` AdamW steps with the balanced EMA on the
/// chosen backend.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Optimizer steps to run (at least 1).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,
}

impl BackendTask for CheckArgs {
    type Output = String;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> String {
        B::seed(&device, 7);
        let mut model = TwoLayer {
            hidden: LinearConfig::new(16, 32).init::<B>(&device),
            out: LinearConfig::new(32, 1).init::<B>(&device),
        };
        let x = Tensor::<B, 2>::random([64, 16], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<B, 2>::random([16, 1], Distribution::Normal(0.0, 1.0), &device);
        let y = x.clone().matmul(w);
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        let mut ema = BalancedEma::<B>::new(DemaConfig::official());
        let mut losses = Vec::with_capacity(self.steps as usize);
        let start = Instant::now();
        for _ in 0..self.steps {
            let loss = (model.forward(x.clone()) - y.clone()).powi_scalar(2).mean();
            losses.push(loss.clone().into_scalar().elem::<f64>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = ema.optimizer_step(&mut optim, 1e-2, model, grads);
        }
        let per_step = start.elapsed().as_secs_f64() / self.steps as f64;
        let model = ema.apply(model);
        let final_loss = (model.forward(x) - y).powi_scalar(2).mean();
        format!(
            "ok: {} steps, {:.2} ms/step, loss {:.4} -> {:.4} (EMA weights {:.4})\nDEMA: {}",
            self.steps,
            per_step * 1e3,
            losses.first().copied().unwrap_or(f64::NAN),
            losses.last().copied().unwrap_or(f64::NAN),
            final_loss.into_scalar().elem::<f64>(),
            ema.stats()
        )
    }
}
