//! Next-token cross-entropy over supervised positions only.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Label of positions that are not supervised (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Mean cross-entropy of `logits[:, t]` predicting `labels[:, t + 1]` over the positions whose
/// label is not [`IGNORE_INDEX`] (0 when there are none), as transformers' causal-LM loss.
///
/// # Shapes
/// `logits`: `[batch, len, vocab]`, `labels`: `[batch, len]` → `[1]`.
pub fn causal_lm_loss<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2, Int>) -> Tensor<B, 1> {
    let [batch, len, vocab] = logits.dims();
    let device = logits.device();
    if len < 2 {
        return Tensor::zeros([1], &device);
    }
    let n = batch * (len - 1);
    let logits = logits
        .slice([0..batch, 0..len - 1, 0..vocab])
        .reshape([n, vocab]);
    let labels = labels.slice([0..batch, 1..len]).reshape([n]);
    let supervised = labels.clone().greater_equal_elem(0);
    let safe = labels.mask_fill(supervised.clone().bool_not(), 0);
    let picked = log_softmax(logits, 1)
        .gather(1, safe.reshape([n, 1]))
        .reshape([n]);
    let weight = supervised.float();
    (picked * weight.clone()).sum().neg() / weight.sum().clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    type B = lcia_backends::CpuBackend;

    #[test]
    fn averages_over_supervised_next_tokens_only() {
        let dev = Default::default();
        // position 0 predicts label[1] = 1 from logits [0, ln 3]: p = 3/4
        // position 1 predicts label[2] = IGNORE; position 2 has no next token
        let logits =
            Tensor::<B, 3>::from_floats([[[0.0, 3f32.ln()], [5.0, 0.0], [1.0, 2.0]]], &dev);
        let labels = Tensor::<B, 2, Int>::from_ints([[IGNORE_INDEX, 1, IGNORE_INDEX]], &dev);
        let loss: f32 = causal_lm_loss(logits, labels).into_scalar();
        assert!((loss - (-(0.75f32).ln())).abs() < 1e-6, "{loss}");
    }
}
