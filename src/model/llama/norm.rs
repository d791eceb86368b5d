//! RMSNorm with the HuggingFace parameter name (`weight`) and arithmetic (normalise in f32).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;

/// Configuration of [`RmsNorm`].
#[derive(Config, Debug)]
pub struct RmsNormConfig {
    /// Width of the normalised dimension.
    pub d_model: usize,
    /// Added to the mean square before the square root.
    #[config(default = 1e-6)]
    pub eps: f64,
}

/// `y = x / sqrt(mean(x²) + eps) * weight`, the Llama RMSNorm.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// Per-channel scale.
    pub weight: Param<Tensor<B, 1>>,
    eps: f64,
}

impl RmsNormConfig {
    /// A norm with unit scale.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RmsNorm<B> {
        RmsNorm {
            weight: Param::from_tensor(Tensor::ones([self.d_model], device)),
            eps: self.eps,
        }
    }
}

impl<B: Backend> RmsNorm<B> {
    /// # Shapes
    /// `x`: `[..., d_model]` → same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let x32 = x.cast(FloatDType::F32);
        let rms = x32
            .clone()
            .powi_scalar(2)
            .mean_dim(D - 1)
            .add_scalar(self.eps)
            .sqrt();
        let normed = (x32 / rms).cast(FloatDType::from(dtype));
        // a half-precision frozen weight scales activations in their own dtype
        normed * crate::adapters::in_dtype(self.weight.val(), dtype).unsqueeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = lcia_backends::CpuBackend;

    #[test]
    fn normalises_by_the_root_mean_square() {
        let dev = Default::default();
        let norm = RmsNormConfig::new(2).with_eps(0.0).init::<B>(&dev);
        let x = Tensor::<B, 2>::from_floats([[3.0, 4.0]], &dev);
        // rms = sqrt((9 + 16) / 2) = 3.5355339
        let y: Vec<f32> = norm.forward(x).into_data().to_vec().unwrap();
        assert!((y[0] - 0.8485281).abs() < 1e-6 && (y[1] - 1.1313708).abs() < 1e-6);
    }
}
