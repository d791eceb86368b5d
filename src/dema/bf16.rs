//! Bit-exact emulation of a bf16 EMA (the official run keeps the EMA in bf16, METHOD.md §2.6 and
//! DEMA-SCALE §2.6): every tensor and every intermediate of the update is rounded to bf16 with
//! round-to-nearest-even, while each operation itself runs in f32, as PyTorch computes bf16
//! element-wise ops (in f32, then rounded) and bf16 reductions (accumulated in f32, then rounded).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Precision of the EMA and of the coefficient's arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmaDtype {
    /// f32 throughout (the method as intended; the project's default).
    #[default]
    F32,
    /// The official run's arithmetic: θ, g, the differences, the L1 sums, the scalar expression
    /// of α and each EMA operation rounded to bf16. Below α ≈ 2⁻⁹ the decay term rounds away.
    Bf16,
}

/// `x` rounded to the nearest bf16 (ties to even), returned as f64.
pub fn round(x: f64) -> f64 {
    f64::from(half::bf16::from_f32(x as f32).to_f32())
}

/// Every element of `tensor` rounded to bf16 (kept in f32 storage). Runs through the host, so
/// it works on every backend (ndarray has no bf16 dtype).
pub fn round_tensor<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, D> {
    let device = tensor.device();
    let shape = tensor.shape();
    let values: Vec<f32> = tensor
        .into_data()
        .iter::<f32>()
        .map(|v| half::bf16::from_f32(v).to_f32())
        .collect();
    Tensor::from_data(TensorData::new(values, shape), &device)
}

/// The official expression `float((1 + b) / (a * c) * scale)` with `a`, `b`, `c` bf16 scalars:
/// each operation is rounded to bf16 (the sums are rounded first).
pub fn official_alpha(scale: f64, drift: f64, grad: f64, grad_change: f64) -> f64 {
    let (a, b, c) = (round(drift), round(grad), round(grad_change));
    let numerator = round(1.0 + b);
    let denominator = round(a * c);
    round(round(numerator / denominator) * scale)
}

/// `ema·(1 − α) + θ·α` as bf16 tensors do it: each product in f32 with the scalar as f32,
/// rounded, then the sum in f32, rounded. `ema` and `theta` must already be bf16 values.
pub fn ema_step<B: Backend, const D: usize>(
    ema: Tensor<B, D>,
    theta: Tensor<B, D>,
    alpha: f64,
) -> Tensor<B, D> {
    let keep = f64::from((1.0 - alpha) as f32);
    let take = f64::from(alpha as f32);
    round_tensor(round_tensor(ema.mul_scalar(keep)) + round_tensor(theta.mul_scalar(take)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_nearest_even_with_an_eight_bit_significand() {
        assert_eq!(round(1.0), 1.0);
        // 1 + 2^-8 is exactly half an ulp above 1: ties go to the even significand (1.0).
        assert_eq!(round(1.0 + 2f64.powi(-8)), 1.0);
        assert_eq!(round(1.0 + 3.0 * 2f64.powi(-8)), 1.0 + 2f64.powi(-6) * 1.0);
        assert_eq!(round(1.0 + 2f64.powi(-7)), 1.0 + 2f64.powi(-7));
    }

    #[test]
    fn the_decay_term_rounds_away_below_two_to_the_minus_nine() {
        type B = lcia_backends::CpuBackend;
        let dev = Default::default();
        let ema = Tensor::<B, 1>::from_floats([1.0, -3.0, 0.5], &dev);
        let theta = Tensor::<B, 1>::from_floats([1.25, -2.5, 0.625], &dev);
        let next = ema_step(ema.clone(), theta, 1e-3);
        let moved: Vec<f32> = next.into_data().iter::<f32>().collect();
        assert_eq!(moved, vec![1.0, -3.0, 0.5]);
    }
}
