//! A Linear layer with an optional low-rank adapter (LoRA), as PEFT builds it.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Settings of one LoRA adapter (PEFT names).
#[derive(Config, Debug, PartialEq)]
pub struct LoraConfig {
    /// Rank `r` (128 in LCIA).
    pub r: usize,
    /// `lora_alpha`; the update is scaled by `lora_alpha / r` (256 / 128 = 2 in LCIA).
    pub lora_alpha: f64,
    /// Dropout on the adapter's input (0.05 in LCIA).
    #[config(default = 0.05)]
    pub lora_dropout: f64,
    /// rsLoRA (Kalajdzievski 2023): scale by `lora_alpha / √r` instead of `lora_alpha / r`.
    #[config(default = false)]
    pub use_rslora: bool,
    /// MoELoRA experts: with `E > 1` the rank is split into `E` experts of `r / E` each, mixed
    /// per token by a softmax router over the layer's input (1 = plain LoRA).
    #[config(default = 1)]
    pub experts: usize,
}

impl LoraConfig {
    /// `lora_alpha / r`, or `lora_alpha / √r` with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }
}

/// The low-rank update `scale · B(A(dropout(x)))`, Burn layout (`lora_a` is `[in, r]`,
/// `lora_b` is `[r, out]`; PEFT stores their transposes `lora_A.weight` `[r, in]` and
/// `lora_B.weight` `[out, r]`).
///
/// With a router (MoELoRA, [`LoraConfig::experts`] `E > 1`), the rank is `E` experts of
/// `r / E` columns of `A` and rows of `B` each, and the update is
/// `scale · Σ_e g_e(x) · B_e(A_e(dropout(x)))` with `g = softmax(x · gate)` per token.
///
/// # Faithfulness
/// MoELoRA as CoIN's baseline (after Liu et al., "MOELoRA", 2023): experts split the rank so
/// the trainable size equals plain LoRA's, and a dense router mixes them; here the router reads
/// the token's input (the form; MOELoRA's gate reads a task embedding) and starts at
/// zero, an even mix, so a new MoE adapter, like a new LoRA, changes nothing.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// Down projection `[in, r]`, kaiming-uniform(a = √5) initialised.
    pub lora_a: Param<Tensor<B, 2>>,
    /// Up projection `[r, out]`, zero initialised so a new adapter changes nothing.
    pub lora_b: Param<Tensor<B, 2>>,
    /// MoELoRA's router `[in, E]` (none for plain LoRA).
    pub gate: Option<Param<Tensor<B, 2>>>,
    dropout: Dropout,
    scale: f64,
}

impl<B: Backend> LoraAdapter<B> {
    /// A fresh adapter for a `d_in → d_out` layer.
    ///
    /// # Faithfulness
    /// PEFT initialises `lora_A` with `kaiming_uniform_(a=√5)`: U(−b, b) with
    /// `b = gain·√(3/fan_in)`, gain = √(2/(1 + a²)) = √(1/3), fan_in = `d_in`, so b = 1/√d_in.
    pub fn init(config: &LoraConfig, d_in: usize, d_out: usize, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Self {
            lora_a: Param::from_tensor(Tensor::random(
                [d_in, config.r],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            lora_b: Param::from_tensor(Tensor::zeros([config.r, d_out], device)),
            gate: (config.experts > 1)
                .then(|| Param::from_tensor(Tensor::zeros([d_in, config.experts], device))),
            dropout: DropoutConfig::new(config.lora_dropout).init(),
            scale: config.scaling(),
        }
    }

    /// `lora_alpha / r`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.lora_a.dims()[1]
    }

    /// MoELoRA experts (1 for plain LoRA).
    pub fn experts(&self) -> usize {
        self.gate.as_ref().map_or(1, |g| g.dims()[1])
    }

    /// The dense update `scale · A·B`, `[in, out]` (for a MoELoRA adapter: with every expert
    /// weighted 1, which no token sees; such adapters are never merged).
    pub fn delta(&self) -> Tensor<B, 2> {
        self.lora_a
            .val()
            .matmul(self.lora_b.val())
            .mul_scalar(self.scale)
    }

    /// # Shapes
    /// `x`: `[batch, len, in]` → `[batch, len, out]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let route = self.gate.as_ref().map(|gate| {
            burn::tensor::activation::softmax(x.clone().matmul(gate.val().unsqueeze()), 2)
        });
        let mut h = self
            .dropout
            .forward(x)
            .matmul(self.lora_a.val().unsqueeze());
        if let Some(g) = route {
            let [batch, len, r] = h.dims();
            let experts = g.dims()[2];
            let per_expert = h.reshape([batch, len, experts, r / experts]);
            h = (per_expert * g.unsqueeze_dim::<4>(3)).reshape([batch, len, r]);
        }
        h.matmul(self.lora_b.val().unsqueeze())
            .mul_scalar(self.scale)
    }
}

/// A Linear layer (`base`) with an optional adapter: `y = W x + b + scale · B(A(dropout(x)))`.
#[derive(Module, Debug)]
pub struct LoraLinear<B: Backend> {
    /// The pretrained layer (frozen while an adapter trains).
    pub base: Linear<B>,
    /// The adapter, if one is attached.
    pub lora: Option<LoraAdapter<B>>,
    merged: bool,
}

impl<B: Backend> LoraLinear<B> {
    /// A layer without adapter.
    pub fn new(base: Linear<B>) -> Self {
        Self {
            base,
            lora: None,
            merged: false,
        }
    }

    /// A random-initialised `d_in → d_out` layer without adapter.
    pub fn init(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        Self::new(LinearConfig::new(d_in, d_out).with_bias(bias).init(device))
    }

    /// Attaches a fresh adapter (replacing any, unmerged) and freezes the base layer.
    pub fn attach(&mut self, config: &LoraConfig) {
        let [d_in, d_out] = self.base.weight.dims();
        let device = self.base.weight.device();
        self.base = self.base.clone().no_grad();
        self.lora = Some(LoraAdapter::init(config, d_in, d_out, &device));
        self.merged = false;
    }

    /// Whether the adapter's update is folded into `base`.
    pub fn is_merged(&self) -> bool {
        self.merged
    }

    /// Folds the adapter into the base weight (`W += scale·A·B`) for inference; the adapter
    /// is kept so [`Self::unmerge`] can take it out again. A MoELoRA adapter depends on the
    /// input and stays unmerged.
    pub fn merge(self) -> Self {
        self.fold(1.0, true)
    }

    /// Takes a merged adapter back out of the base weight.
    pub fn unmerge(self) -> Self {
        self.fold(-1.0, false)
    }

    fn fold(mut self, sign: f64, merged: bool) -> Self {
        let routed = self.lora.as_ref().is_some_and(|l| l.gate.is_some());
        if self.merged == merged || routed {
            return self;
        }
        if let Some(lora) = &self.lora {
            let delta = lora.delta().mul_scalar(sign).detach();
            self.base.weight = self.base.weight.map(|w| {
                let require_grad = w.is_require_grad();
                let delta = in_dtype(delta, w.dtype());
                (w + delta).detach().set_require_grad(require_grad)
            });
        }
        self.merged = merged;
        self
    }

    /// # Shapes
    /// `x`: `[batch, len, in]` → `[batch, len, out]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lora {
            Some(lora) if !self.merged => frozen_linear(&self.base, x.clone()) + lora.forward(x),
            _ => frozen_linear(&self.base, x),
        }
    }
}

/// `tensor` in `dtype` (a float dtype), unchanged when it already is.
pub fn in_dtype<B: Backend, const D: usize>(
    tensor: Tensor<B, D>,
    dtype: burn::tensor::DType,
) -> Tensor<B, D> {
    if tensor.dtype() == dtype {
        tensor
    } else {
        tensor.cast(burn::tensor::FloatDType::from(dtype))
    }
}

/// `f` applied to `x` cast to `weight` (the dtype of a frozen weight that may be stored in
/// another precision than the activations), the result cast back to `x`'s dtype; no cast
/// when both agree.
pub fn in_weight_dtype<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: burn::tensor::DType,
    f: impl FnOnce(Tensor<B, D>) -> Tensor<B, D>,
) -> Tensor<B, D> {
    let act = x.dtype();
    in_dtype(f(in_dtype(x, weight)), act)
}

/// `linear` applied to `x` when its weight may be stored in another precision than the
/// activations (a half-precision frozen base): the product is taken in the weight's dtype
/// ([`in_weight_dtype`]).
///
/// # Shapes
/// `x`: `[batch, len, in]` → `[batch, len, out]`.
pub fn frozen_linear<B: Backend>(linear: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    in_weight_dtype(x, linear.weight.val().dtype(), |x| linear.forward(x))
}

struct Reseed {
    seed: u64,
    path: Vec<String>,
}

impl<B: Backend> burn::module::ModuleMapper<B> for Reseed {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let path = self.path.join(".");
        if !path.ends_with("lora_a") {
            return param;
        }
        // FNV-1a of the path, so every adapter draws its own stream.
        let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut rng = crate::rng::SplitMix64::new(self.seed ^ hash);
        param.map(|current| {
            let dims = current.dims();
            let bound = 1.0 / (dims[0] as f64).sqrt();
            let n = current.shape().num_elements();
            let values: Vec<f32> = (0..n)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                .collect();
            let require_grad = current.is_require_grad();
            Tensor::<B, D>::from_data(TensorData::new(values, dims), &current.device())
                .set_require_grad(require_grad)
        })
    }
}

/// Re-draws every adapter's `lora_a` (the same U(−1/√d_in, 1/√d_in) as
/// [`LoraAdapter::init`]) from a seeded generator, one stream per module path, so a run's
/// initial adapters are the same on every backend and in every process.
pub fn reseed_lora<B: Backend, M: Module<B>>(module: M, seed: u64) -> M {
    module.map(&mut Reseed {
        seed,
        path: Vec::new(),
    })
}
