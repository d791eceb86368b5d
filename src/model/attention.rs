//! The attention kernel shared by Llama, CLIP and BERT: scaled dot-product scores, an
//! optional mask, softmax over the keys, and the weighted sum of the values.

use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Score given to masked positions before the softmax (finite, so a fully masked row of
/// left padding gives a uniform distribution instead of NaN).
pub const MASKED_SCORE: f32 = -1e9;

/// `softmax(q·kᵀ / √head_dim, masked) · v`.
///
/// # Shapes
/// - `q`: `[batch, heads, queries, head_dim]`; `k`, `v`: `[batch, heads, keys, head_dim]`
/// - `mask`: broadcastable to `[batch, heads, queries, keys]`, true where attention is NOT
///   allowed
/// - output: `[batch, heads, queries, head_dim]`
///
/// # Faithfulness
/// transformers' CLIP multiplies the queries by `head_dim^-0.5` before the product, and Llama
/// the scores; dividing the scores by `√head_dim` is the same up to rounding, and exactly the
/// same when `head_dim` is a power of four.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::prelude::*;
/// use lcia::model::attention::scaled_dot_product;
/// let device = Default::default();
/// let q = Tensor::<NdArray, 4>::from_floats([[[[1.0, 0.0]]]], &device);
/// let k = Tensor::<NdArray, 4>::from_floats([[[[1.0, 0.0], [0.0, 1.0]]]], &device);
/// let v = Tensor::<NdArray, 4>::from_floats([[[[2.0, 0.0], [0.0, 4.0]]]], &device);
/// let mask = Tensor::<NdArray, 4, Bool>::from_bool(TensorData::from([[[[false, true]]]]), &device);
/// let out: Vec<f32> = scaled_dot_product(q, k, v, Some(&mask)).into_data().to_vec().unwrap();
/// assert_eq!(out, [2.0, 0.0]);
/// ```
pub fn scaled_dot_product<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<&Tensor<B, 4, Bool>>,
) -> Tensor<B, 4> {
    let head_dim = q.dims()[3];
    let scores = q
        .matmul(k.swap_dims(2, 3))
        .div_scalar((head_dim as f64).sqrt());
    let scores = match mask {
        Some(mask) => scores.mask_fill(mask.clone(), MASKED_SCORE),
        None => scores,
    };
    softmax(scores, 3).matmul(v)
}
