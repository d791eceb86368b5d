//! Rotary position embeddings in the HuggingFace "rotate half" layout.

use burn::prelude::*;

/// Cosine and sine tables for positions `offset..offset + len`, each `[len, head_dim]`.
///
/// The frequencies are `theta^(-2i/head_dim)` for `i < head_dim/2`, repeated for both halves as
/// transformers' `LlamaRotaryEmbedding` does; computed on the host in f64, then cast.
pub fn rope_tables<B: Backend>(
    theta: f64,
    head_dim: usize,
    offset: usize,
    len: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(len * head_dim);
    let mut sin = Vec::with_capacity(len * head_dim);
    for pos in offset..offset + len {
        for j in 0..head_dim {
            // transformers computes inv_freq in f32 before multiplying by the position
            let inv_freq = (1.0 / theta.powf((2 * (j % half)) as f64 / head_dim as f64)) as f32;
            let angle = (pos as f32 * inv_freq) as f64;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let table = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [len, head_dim]), device);
    (table(cos), table(sin))
}

/// Applies the rotation to `x` `[batch, heads, len, head_dim]` with tables from [`rope_tables`].
pub fn apply_rope<B: Backend>(
    x: Tensor<B, 4>,
    cos: &Tensor<B, 2>,
    sin: &Tensor<B, 2>,
) -> Tensor<B, 4> {
    let [_, _, _, d] = x.dims();
    let x1 = x.clone().slice(s![.., .., .., 0..d / 2]);
    let x2 = x.clone().slice(s![.., .., .., d / 2..d]);
    // rotate_half(x) · sin = [x2, x1] · [−sin₁, sin₂]: the sign moves to the (small, constant)
    // table, the same products bit for bit, without a negated copy of x2 and its backward
    let swapped = Tensor::cat(vec![x2, x1], 3);
    let [len, _] = sin.dims();
    let sin = Tensor::cat(
        vec![
            sin.clone().slice(s![0..len, 0..d / 2]).neg(),
            sin.clone().slice(s![0..len, d / 2..d]),
        ],
        1,
    );
    let cos = cos.clone().cast(x.dtype()).unsqueeze::<4>();
    let sin = sin.cast(x.dtype()).unsqueeze::<4>();
    x * cos + swapped * sin
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = lcia_backends::CpuBackend;

    #[test]
    fn position_zero_is_the_identity_and_rotation_keeps_the_norm() {
        let dev = Default::default();
        let x = Tensor::<B, 4>::from_floats([[[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]]], &dev);
        let (cos, sin) = rope_tables::<B>(10_000.0, 4, 0, 2, &dev);
        let y: Vec<f32> = apply_rope(x, &cos, &sin).into_data().to_vec().unwrap();
        assert_eq!(&y[..4], &[1.0, 2.0, 3.0, 4.0]);
        // position 1, pair (x0, x2) rotated by 1 rad: (1cos1 - 3sin1, 3cos1 + 1sin1)
        let (c, s) = (1f32.cos(), 1f32.sin());
        assert!((y[4] - (c - 3.0 * s)).abs() < 1e-6 && (y[6] - (3.0 * c + s)).abs() < 1e-6);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&y[4..]) - 30.0).abs() < 1e-4);
    }
}
