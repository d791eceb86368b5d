//! The CPU backend's `exp`, `log` and sigmoid of f32 tensors (a vectorised reproduction of
//! glibc's `expf` and `logf` where the CPU has AVX2 and FMA, libm elsewhere) give the system
//! libm's results bit for bit. Every 251st f32 bit pattern (17 M inputs: every exponent, both
//! signs, zeros, subnormals, infinities and NaNs); `LCIA_CPU_MATH_ALL=1` takes all 2³².

use burn::prelude::*;

use crate::common::B;

/// The backend-generic sigmoid with libm's functions, as the backend evaluated it before.
fn sigmoid_libm(x: f32) -> f32 {
    (-((-x).exp() + 1.0).ln()).exp()
}

fn check(name: &str, inputs: &[f32], got: Vec<f32>, libm: fn(f32) -> f32) {
    for (x, y) in inputs.iter().zip(got) {
        let want = libm(*x);
        assert_eq!(
            y.to_bits(),
            want.to_bits(),
            "{name}({x:e}) (bits {:#010x}): {y:e}, libm {want:e}",
            x.to_bits()
        );
    }
}

#[test]
fn exp_log_and_sigmoid_equal_libm_bit_for_bit() {
    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        assert!(
            burn::backend::ndarray::fast_math_active(),
            "the reproduced expf/logf differ from this glibc's: the fast path is off"
        );
    }
    let step: u64 = match std::env::var("LCIA_CPU_MATH_ALL") {
        Ok(_) => 1,
        Err(_) => 251,
    };
    let device = Default::default();
    let chunk = 1u64 << 22;
    let mut start = 0u64;
    while start <= u32::MAX as u64 {
        // Lengths not a multiple of 4 also cover the scalar tail.
        let inputs: Vec<f32> = (0..chunk - 3)
            .map(|i| start + i * step)
            .take_while(|&bits| bits <= u32::MAX as u64)
            .map(|bits| f32::from_bits(bits as u32))
            .collect();
        start += chunk * step;
        let tensor = Tensor::<B, 1>::from_data(TensorData::from(inputs.as_slice()), &device);
        let values = |t: Tensor<B, 1>| t.into_data().to_vec::<f32>().unwrap();
        check("exp", &inputs, values(tensor.clone().exp()), f32::exp);
        check("log", &inputs, values(tensor.clone().log()), f32::ln);
        let sigmoid = burn::tensor::activation::sigmoid(tensor);
        check("sigmoid", &inputs, values(sigmoid), sigmoid_libm);
    }
}
