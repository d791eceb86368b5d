//! The CPU backend's `exp`, `log` and sigmoid of f32 tensors (a vectorised reproduction of
//! glibc's `expf` and `logf` where the CPU has AVX2 and FMA, libm elsewhere) give the system
//! libm's results bit for bit. Every 251st f32 bit pattern (17 M inputs: every exponent, both
//! signs, zeros, subnormals, infinities and NaNs); `LCIA_CPU_MATH_ALL=1` takes all 2³².
//! Its f32 products (matrixmultiply's AVX-512 or AVX2 kernel, or the direct loops for thin
//! products on AVX-512 CPUs) give matrixmultiply's own results bit for bit.
//! Its one-pass softmax, L1 sums and mix give the separate operations' results bit for bit.

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

/// Deterministic values of mixed magnitude with exact and signed zeros; `special` adds
/// infinities and NaNs.
fn values(len: usize, seed: u64, special: bool) -> Vec<f32> {
    let mut rng = lcia::rng::SplitMix64::new(seed);
    (0..len)
        .map(|i| {
            let unit = rng.next_f64() as f32 - 0.5;
            match (i % 29, special) {
                (0, _) => 0.0,
                (7, _) => -0.0,
                (11, true) => f32::INFINITY,
                (13, true) => f32::NAN,
                (17, _) => unit * 1e-3,
                (19, _) => unit * 3e4,
                _ => unit * 2.0,
            }
        })
        .collect()
}

/// `a · b` of row-major `m × k` and `k × n` values by matrixmultiply itself.
fn reference(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    let (k_, n_) = (k as isize, n as isize);
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k_,
            1,
            b.as_ptr(),
            n_,
            1,
            0.0,
            c.as_mut_ptr(),
            n_,
            1,
        );
    }
    c
}

fn same_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}: element {i} is {g:e}, the reference gives {w:e}"
        );
    }
}

#[test]
fn products_equal_matrixmultiply_bit_for_bit() {
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        burn::backend::ndarray::direct_products_active(),
        std::is_x86_feature_detected!("avx512f"),
        "thin products skip packing exactly where the CPU has AVX-512F"
    );
    let device = Default::default();
    // Thin sides (rank-8 LoRA, per-head attention), short and long `k` (blocks of 256), column
    // tails inside and past 64, and wide products that stay with matrixmultiply.
    let shapes = [
        (848, 8, 256),
        (848, 128, 8),
        (128, 106, 8),
        (8, 106, 128),
        (106, 32, 106),
        (65, 16, 65),
        (37, 300, 5),
        (5, 600, 70),
        (3, 513, 130),
        (1, 1, 1),
        (33, 17, 16),
        (31, 40, 200),
        (70, 70, 70),
        (96, 128, 96),
    ];
    for (case, &(m, k, n)) in shapes.iter().enumerate() {
        let special = case % 3 == 0;
        let a = values(m * k, 2 * case as u64, special);
        let b = values(k * n, 2 * case as u64 + 1, special);
        let want = reference(m, k, n, &a, &b);
        let lhs = Tensor::<B, 2>::from_data(TensorData::new(a.clone(), [m, k]), &device);
        let rhs = Tensor::<B, 2>::from_data(TensorData::new(b.clone(), [k, n]), &device);
        // The same operands stored transposed, read through strided views.
        let lhs_t = lhs.clone().transpose().into_data();
        let lhs_t = Tensor::<B, 2>::from_data(lhs_t, &device).transpose();
        let rhs_t = rhs.clone().transpose().into_data();
        let rhs_t = Tensor::<B, 2>::from_data(rhs_t, &device).transpose();
        for (layout, l, r) in [
            ("row-major", &lhs, &rhs),
            ("lhs transposed", &lhs_t, &rhs),
            ("rhs transposed", &lhs, &rhs_t),
            ("both transposed", &lhs_t, &rhs_t),
        ] {
            let got = l
                .clone()
                .matmul(r.clone())
                .into_data()
                .to_vec::<f32>()
                .unwrap();
            same_bits(&format!("{m}x{k}x{n} {layout}"), &got, &want);
        }
        // A batch of left operands against one shared right operand (a linear layer).
        let batch = Tensor::cat(vec![lhs.clone().unsqueeze::<3>(); 2], 0);
        let got = batch
            .matmul(rhs.unsqueeze())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        same_bits(
            &format!("{m}x{k}x{n} batched"),
            &got,
            &[want.clone(), want].concat(),
        );
    }
}

/// The softmax as the backend computed it before: max shift, exponential, sum and division as
/// separate operations, each its own autodiff node.
fn softmax_composite<Bk: Backend>(x: Tensor<Bk, 4>, dim: usize) -> Tensor<Bk, 4> {
    let max = x.clone().detach().max_dim(dim);
    let exp = (x - max).exp();
    let sum = exp.clone().sum_dim(dim);
    exp / sum
}

/// The softmax (one autodiff operation, one pass per row on the CPU) and the gradient of its
/// input equal those of the composite bit for bit: rows of 1 to 300 keys, masked scores
/// (-1e9, as attention masks them) including fully masked rows, ties, both thread splits, and
/// a softmax over another axis (the composite path of the backend).
#[test]
fn softmax_and_its_gradient_equal_the_composite_bit_for_bit() {
    type A = burn::backend::Autodiff<B>;
    let device = Default::default();
    let shapes = [
        ([1, 1, 1, 1], 3),
        ([2, 3, 5, 7], 3),
        ([2, 2, 9, 8], 3),
        ([8, 4, 41, 41], 3),
        ([4, 6, 65, 65], 3),
        ([1, 2, 3, 300], 3),
        ([2, 4, 17, 9], 2),
    ];
    for (case, (shape, dim)) in shapes.into_iter().enumerate() {
        let len: usize = shape.iter().product();
        let mut scores = values(len, 40 + case as u64, false);
        let n = shape[3];
        for (i, v) in scores.iter_mut().enumerate() {
            let (row, col) = (i / n, i % n);
            if row % 5 == 1 && col > n / 2 || row % 7 == 3 {
                *v = -1e9;
            } else if row % 11 == 4 {
                *v = 0.25;
            }
        }
        let upstream = values(len, 90 + case as u64, false);
        let data = |v: &[f32]| TensorData::new(v.to_vec(), shape);
        let run = |fused: bool| {
            let x = Tensor::<A, 4>::from_data(data(&scores), &device).require_grad();
            let y = match fused {
                true => burn::tensor::activation::softmax(x.clone(), dim),
                false => softmax_composite(x.clone(), dim),
            };
            let g = Tensor::<A, 4>::from_data(data(&upstream), &device);
            let grads = (y.clone() * g).sum().backward();
            let dx = x.grad(&grads).expect("a gradient");
            let flat = |t: Tensor<B, 4>| t.into_data().to_vec::<f32>().unwrap();
            (flat(y.inner()), flat(dx))
        };
        let ((y, dx), (want_y, want_dx)) = (run(true), run(false));
        same_bits(&format!("softmax {shape:?} along {dim}"), &y, &want_y);
        same_bits(
            &format!("softmax gradient {shape:?} along {dim}"),
            &dx,
            &want_dx,
        );
    }
}

/// `Σ |a − b|` and `Σ |a|` along an axis and `a·ka + b·kb` with one factor per row (the
/// balanced EMA's L1 sums and mix, one pass per row on the CPU) equal the separate operations
/// bit for bit: rows of 1 to 4 621 elements (every remainder of eight), infinities and NaNs,
/// rows split across threads, an overwritten and a shared left operand, and the composite
/// paths (another axis, a transposed operand, a factor broadcast over everything).
#[test]
fn fused_sums_and_mix_equal_the_separate_operations_bit_for_bit() {
    use burn::tensor::{TensorPrimitive, ops::FloatTensorOps};
    let device = Default::default();
    let prim = |t: Tensor<B, 3>| t.into_primitive().tensor();
    let wrap = |p| Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(p));
    let flat = |t: Tensor<B, 3>| t.into_data().to_vec::<f32>().unwrap();
    let cases = [
        ([1, 1, 1], 2),
        ([1, 1, 9], 2),
        ([2, 3, 7], 2),
        ([1, 5, 8], 2),
        ([3, 2, 17], 2),
        ([2, 4, 4621], 2),
        ([4, 9, 1000], 2),
        ([2, 3, 5], 1),
    ];
    for (case, (shape, dim)) in cases.into_iter().enumerate() {
        let at = format!("{shape:?} along {dim}");
        let len: usize = shape.iter().product();
        let seed = 300 + 10 * case as u64;
        let make = |s: u64, special| {
            let data = TensorData::new(values(len, seed + s, special), shape);
            Tensor::<B, 3>::from_data(data, &device)
        };
        let (a, b) = (make(0, true), make(1, false));
        let transposed = {
            let [d0, d1, d2] = shape;
            let data = TensorData::new(values(len, seed + 2, false), [d0, d2, d1]);
            Tensor::<B, 3>::from_data(data, &device).swap_dims(1, 2)
        };
        for rhs in [b.clone(), transposed] {
            let got = B::float_sum_abs_diff_dim(prim(a.clone()), prim(rhs.clone()), dim);
            let want = (a.clone() - rhs).abs().sum_dim(dim);
            same_bits(&format!("Σ|a − b| {at}"), &flat(wrap(got)), &flat(want));
        }
        let got = B::float_sum_abs_dim(prim(a.clone()), dim);
        let want = a.clone().abs().sum_dim(dim);
        same_bits(&format!("Σ|a| {at}"), &flat(wrap(got)), &flat(want));

        let [d0, d1, _] = shape;
        let factors = |s: u64| {
            let data = TensorData::new(values(d0 * d1, seed + s, false), [d0, d1, 1]);
            Tensor::<B, 3>::from_data(data, &device)
        };
        let (ka, kb) = (factors(3), factors(4));
        let want = flat(a.clone() * ka.clone() + b.clone() * kb.clone());
        let mix = |a: Tensor<B, 3>, ka: Tensor<B, 3>, kb: Tensor<B, 3>| {
            let got = B::float_mix(prim(a), prim(ka), prim(b.clone()), prim(kb));
            flat(wrap(got))
        };
        same_bits(
            &format!("mix, shared {at}"),
            &mix(a.clone(), ka.clone(), kb.clone()),
            &want,
        );
        let unique = make(0, true);
        same_bits(
            &format!("mix, overwritten {at}"),
            &mix(unique, ka, kb.clone()),
            &want,
        );
        let scalar = Tensor::<B, 3>::from_data(TensorData::new(vec![0.75f32], [1, 1, 1]), &device);
        let want = flat(a.clone() * scalar.clone() + b.clone() * kb.clone());
        same_bits(
            &format!("mix, broadcast {at}"),
            &mix(a.clone(), scalar, kb),
            &want,
        );
    }
}
