//! Greedy decoding, with or without the key/value cache.

use burn::prelude::*;

use super::ModelError;
use super::llama::Llama;
use super::llava::Llava;

/// Settings of greedy decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most tokens to generate (128 or 1024 in the CoIN evaluation scripts).
    pub max_new_tokens: usize,
    /// Stop after generating this token (it is included in the output).
    pub eos_token_id: Option<i64>,
    /// Reuse keys and values of earlier positions instead of re-running the whole sequence.
    pub use_cache: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            eos_token_id: None,
            use_cache: true,
        }
    }
}

/// Generates up to `max_new_tokens` greedily after the prompt embeddings `[1, len, d_model]`;
/// returns the new token ids.
pub fn greedy_from_embeds<B: Backend>(
    model: &Llama<B>,
    prompt: Tensor<B, 3>,
    config: &GenerationConfig,
) -> Vec<i64> {
    let device = prompt.device();
    let mut out = Vec::with_capacity(config.max_new_tokens);
    let mut cache = config.use_cache.then(|| model.new_cache());
    let mut context = prompt.clone();
    let mut logits = model.last_logits(prompt, None, cache.as_mut());
    for _ in 0..config.max_new_tokens {
        let [_, len, vocab] = logits.dims();
        let next = logits
            .slice([0..1, len - 1..len, 0..vocab])
            .reshape([vocab])
            .argmax(0)
            .into_scalar()
            .elem::<i64>();
        out.push(next);
        if Some(next) == config.eos_token_id || out.len() == config.max_new_tokens {
            break;
        }
        let token = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![next], [1, 1]), &device);
        let embed = model.embed(token);
        logits = match cache.as_mut() {
            Some(cache) => model.last_logits(embed, None, Some(cache)),
            None => {
                context = Tensor::cat(vec![context, embed], 1);
                model.last_logits(context.clone(), None, None)
            }
        };
    }
    out
}

/// Greedy decoding of a batch of left-padded prompt embeddings `[batch, len, d_model]` with
/// their padding mask `[batch, len]` (1 = real token); each row stops at its EOS. Returns the
/// new ids of each row (EOS included when reached).
///
/// Left padding with masked keys gives each row the same attention scores as decoding it
/// alone: rotary embeddings depend only on relative positions, which the common shift keeps.
pub fn greedy_batch_from_embeds<B: Backend>(
    model: &Llama<B>,
    prompt: Tensor<B, 3>,
    mask: Tensor<B, 2, Int>,
    config: &GenerationConfig,
) -> Vec<Vec<i64>> {
    let device = prompt.device();
    let [batch, _, _] = prompt.dims();
    let mut out = vec![Vec::with_capacity(config.max_new_tokens); batch];
    let mut done = vec![false; batch];
    let mut cache = config.use_cache.then(|| model.new_cache());
    let mut context = prompt.clone();
    let mut mask = mask;
    let mut logits = model.last_logits(prompt, Some(mask.clone()), cache.as_mut());
    for _ in 0..config.max_new_tokens {
        let [_, len, vocab] = logits.dims();
        let next: Vec<i64> = logits
            .slice([0..batch, len - 1..len, 0..vocab])
            .reshape([batch, vocab])
            .argmax(1)
            .into_data()
            .iter::<i64>()
            .collect();
        for (row, &token) in next.iter().enumerate() {
            if !done[row] {
                out[row].push(token);
                done[row] = Some(token) == config.eos_token_id;
            }
        }
        if done.iter().all(|&d| d) || out.iter().all(|o| o.len() >= config.max_new_tokens) {
            break;
        }
        let token = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [batch, 1]), &device);
        let embed = model.embed(token);
        mask = Tensor::cat(vec![mask, Tensor::ones([batch, 1], &device)], 1);
        logits = match cache.as_mut() {
            Some(cache) => model.last_logits(embed, Some(mask.clone()), Some(cache)),
            None => {
                context = Tensor::cat(vec![context, embed], 1);
                model.last_logits(context.clone(), Some(mask.clone()), None)
            }
        };
    }
    out
}

impl<B: Backend> Llama<B> {
    /// Greedy continuation of `ids` (`[1, len]`).
    pub fn generate(&self, ids: Tensor<B, 2, Int>, config: &GenerationConfig) -> Vec<i64> {
        greedy_from_embeds(self, self.embed(ids), config)
    }
}

impl<B: Backend> Llava<B> {
    /// Greedy continuation of `ids` (`[1, len]`, with image tokens) and the image(s).
    pub fn generate(
        &self,
        ids: Tensor<B, 2, Int>,
        pixels: Option<Tensor<B, 4>>,
        config: &GenerationConfig,
    ) -> Result<Vec<i64>, ModelError> {
        let embeds = self.embed(ids, pixels)?;
        Ok(greedy_from_embeds(&self.language_model, embeds, config))
    }

    /// Greedy continuations of several prompts (ids with image tokens, any lengths), left-padded
    /// with `pad_id` into one batch; `pixels` holds the images of the prompts that have one, in
    /// order.
    pub fn generate_batch(
        &self,
        prompts: &[Vec<i64>],
        pixels: Option<Tensor<B, 4>>,
        pad_id: i64,
        config: &GenerationConfig,
    ) -> Result<Vec<Vec<i64>>, ModelError> {
        let device = self.language_model.devices()[0].clone();
        let batch = prompts.len();
        let len = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if batch == 0 || len == 0 {
            return Ok(vec![Vec::new(); batch]);
        }
        let mut ids = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len);
        for p in prompts {
            let pad = len - p.len();
            ids.extend(std::iter::repeat_n(pad_id, pad).chain(p.iter().copied()));
            mask.extend(std::iter::repeat_n(0i64, pad).chain(std::iter::repeat_n(1, p.len())));
        }
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [batch, len]), &device);
        let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(mask, [batch, len]), &device);
        let embeds = self.embed(ids, pixels)?;
        Ok(greedy_batch_from_embeds(
            &self.language_model,
            embeds,
            mask,
            config,
        ))
    }
}
