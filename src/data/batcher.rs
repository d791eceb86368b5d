//! Padding examples into a batch: ids, attention mask and labels.

use burn::prelude::*;

use super::template::{Example, IGNORE_INDEX};

/// A right-padded batch of examples.
#[derive(Debug, Clone)]
pub struct TextBatch<B: Backend> {
    /// Token ids `[batch, len]`, padding with the pad id.
    pub ids: Tensor<B, 2, Int>,
    /// 1 for real tokens, 0 for padding `[batch, len]`.
    pub attention_mask: Tensor<B, 2, Int>,
    /// Labels `[batch, len]`, [`IGNORE_INDEX`] on padding.
    pub labels: Tensor<B, 2, Int>,
    /// Real (unpadded) tokens in the batch.
    pub tokens: usize,
}

/// Pads `examples` on the right to the longest one (LLaVA pads right with `pad_token = unk`).
///
/// ```
/// use lcia::data::batcher::pad_batch;
/// use lcia::data::Example;
/// type B = lcia_backends::CpuBackend;
/// let a = Example { ids: vec![1, 5, 6], labels: vec![-100, 5, 6], mismatch: false };
/// let b = Example { ids: vec![1, 7], labels: vec![-100, 7], mismatch: false };
/// let batch = pad_batch::<B>(&[a, b], 0, &Default::default());
/// assert_eq!(batch.ids.to_data().to_vec::<i64>().unwrap(), vec![1, 5, 6, 1, 7, 0]);
/// assert_eq!(batch.attention_mask.to_data().to_vec::<i64>().unwrap(), vec![1, 1, 1, 1, 1, 0]);
/// assert_eq!(batch.labels.to_data().to_vec::<i64>().unwrap(), vec![-100, 5, 6, -100, 7, -100]);
/// assert_eq!(batch.tokens, 5);
/// ```
pub fn pad_batch<B: Backend>(
    examples: &[Example],
    pad_id: i64,
    device: &B::Device,
) -> TextBatch<B> {
    let batch = examples.len();
    let len = examples
        .iter()
        .map(|e| e.ids.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut ids = Vec::with_capacity(batch * len);
    let mut mask = Vec::with_capacity(batch * len);
    let mut labels = Vec::with_capacity(batch * len);
    for e in examples {
        for i in 0..len {
            let real = i < e.ids.len();
            ids.push(if real { e.ids[i] } else { pad_id });
            mask.push(i64::from(real));
            labels.push(
                e.labels
                    .get(i)
                    .copied()
                    .filter(|_| real)
                    .unwrap_or(IGNORE_INDEX),
            );
        }
    }
    let tensor =
        |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [batch, len]), device);
    TextBatch {
        tokens: examples.iter().map(|e| e.ids.len()).sum(),
        ids: tensor(ids),
        attention_mask: tensor(mask),
        labels: tensor(labels),
    }
}
