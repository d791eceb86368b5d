//! The sigmoid-based activations of the models, written with one `tanh` instead of Burn's
//! generic sigmoid.
//!
//! Burn 0.21's default `sigmoid` (used by the ndarray backend) evaluates
//! `exp(-log(1 + exp(-x)))`: two `exp`, one `log` and seven passes over the tensor. The
//! identity `σ(x) = ½·(1 + tanh(x/2))` needs one `tanh`, and `tanh` has its own backward rule
//! (`1 − tanh²`, from the output), so forward and backward both get cheaper on every backend.
//!
//! # Faithfulness
//! Mathematically equal to transformers' `SiLU` and `quick_gelu`; in f32 the two forms differ by
//! rounding only (about 1e-7 relative where σ is not tiny; for x below about −17 the tanh form
//! gives σ = 0 where the exact value is below 4e-8, which changes `x·σ(x)` by less than 1e-6).

use burn::prelude::*;

/// `σ(x) = ½·(1 + tanh(x/2))`.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.mul_scalar(0.5).tanh().mul_scalar(0.5).add_scalar(0.5)
}

/// SiLU (swish): `x·σ(x)`, Llama's MLP activation.
pub fn silu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() * sigmoid(x)
}

/// CLIP's `quick_gelu`: `x·σ(1.702·x)`.
pub fn quick_gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone() * sigmoid(x.mul_scalar(1.702))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn tanh_forms_equal_the_exact_activations() {
        let device = Default::default();
        let xs: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.05).collect();
        let x = Tensor::<NdArray, 1>::from_floats(xs.as_slice(), &device);
        let silu_got: Vec<f32> = silu(x.clone()).into_data().to_vec().unwrap();
        let quick: Vec<f32> = quick_gelu(x).into_data().to_vec().unwrap();
        for (i, &v) in xs.iter().enumerate() {
            let v = f64::from(v);
            let exact = |z: f64| 1.0 / (1.0 + (-z).exp());
            let (s, q) = (v * exact(v), v * exact(1.702 * v));
            assert!((f64::from(silu_got[i]) - s).abs() < 2e-6, "silu({v})");
            assert!((f64::from(quick[i]) - q).abs() < 2e-6, "quick_gelu({v})");
        }
    }
}
