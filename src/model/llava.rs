//! LLaVA: image features spliced into the token embeddings of a Llama decoder.

use burn::module::Module;
use burn::prelude::*;

use super::ModelError;
use super::config::LlavaConfig;
use super::llama::{Llama, LlamaCache};
use super::loss::{IGNORE_INDEX, causal_lm_loss};
use super::projector::Projector;
use super::vision::ClipVision;

/// The token id of LLaVA's original code for "one image here" (`IMAGE_TOKEN_INDEX = -200`),
/// expanded to one [`LlavaConfig::image_token_index`] per patch by
/// [`expand_image_placeholders`].
pub const IMAGE_PLACEHOLDER_ID: i64 = -200;

/// Vision tower → projector → language model (HuggingFace `LlavaForConditionalGeneration`).
#[derive(Module, Debug)]
pub struct Llava<B: Backend> {
    /// The CLIP vision tower.
    pub vision_tower: ClipVision<B>,
    /// Vision features → text embeddings.
    pub multi_modal_projector: Projector<B>,
    /// The Llama decoder with its LM head.
    pub language_model: Llama<B>,
    image_token_index: i64,
    vision_feature_layer: i64,
    keep_class_token: bool,
}

/// Which parts of a [`Llava`] take gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trainable {
    /// The vision tower (frozen in LLaVA-1.5 and LCIA).
    pub vision: bool,
    /// The projector (trained in LCIA).
    pub projector: bool,
    /// The language model's own weights (frozen under LoRA).
    pub language: bool,
}

impl<B: Backend> Llava<B> {
    /// A random-initialised model for `config`; checks that `vision_feature_layer` names one
    /// of the tower's hidden states.
    pub fn new(config: &LlavaConfig, device: &B::Device) -> Result<Self, ModelError> {
        let states = config.vision_config.num_hidden_layers as i64 + 1;
        let layer = config.vision_feature_layer;
        if !(-states..states).contains(&layer) {
            return Err(ModelError::Invalid(format!(
                "vision_feature_layer {layer} is outside the tower's {states} hidden states"
            )));
        }
        Ok(Self {
            vision_tower: ClipVision::init(&config.vision_config, device),
            multi_modal_projector: Projector::init(
                config.vision_config.hidden_size,
                config.text_config.hidden_size,
                true,
                config.multimodal_projector_bias,
                device,
            ),
            language_model: Llama::init(&config.text_config, device),
            image_token_index: config.image_token_index,
            vision_feature_layer: config.vision_feature_layer,
            keep_class_token: config.vision_feature_select_strategy == "full",
        })
    }

    /// Whether a module path belongs to a parameter set: the LoRA adapters and the projector
    /// (what LCIA trains and saves per instruction group).
    pub fn is_parameter_set_tensor(path: &str) -> bool {
        is_parameter_set_path(path)
    }

    /// The token id that stands for one image patch.
    pub fn image_token_index(&self) -> i64 {
        self.image_token_index
    }

    /// Freezes or unfreezes each part, every tensor of it (attached LoRA adapters included:
    /// attach adapters after freezing the language model).
    pub fn with_trainable(self, parts: Trainable) -> Self {
        Self {
            vision_tower: super::trainable::set_trainable(self.vision_tower, parts.vision),
            multi_modal_projector: super::trainable::set_trainable(
                self.multi_modal_projector,
                parts.projector,
            ),
            language_model: super::trainable::set_trainable(self.language_model, parts.language),
            ..self
        }
    }

    /// Projected image features: the selected vision hidden state, class token dropped unless
    /// the strategy is `"full"`, through the projector.
    ///
    /// # Shapes
    /// `pixels`: `[images, channels, size, size]` → `[images, tokens, d_text]`.
    pub fn image_features(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let hidden = self
            .vision_tower
            .hidden_state(pixels, self.vision_feature_layer)
            .expect("vision_feature_layer was checked against the tower when the model was built");
        let [n, tokens, d] = hidden.dims();
        let selected = if self.keep_class_token {
            hidden
        } else {
            hidden.slice([0..n, 1..tokens, 0..d])
        };
        self.multi_modal_projector.forward(selected)
    }

    /// Token embeddings with every image-token position replaced, in order, by the next image
    /// feature (all images' features, image after image).
    ///
    /// # Shapes
    /// `ids`: `[batch, len]`, `pixels`: `[images, channels, size, size]` → `[batch, len, d_text]`.
    pub fn embed(
        &self,
        ids: Tensor<B, 2, Int>,
        pixels: Option<Tensor<B, 4>>,
    ) -> Result<Tensor<B, 3>, ModelError> {
        let [batch, len] = ids.dims();
        let flat_ids: Vec<i64> = ids.to_data().iter::<i64>().collect();
        let is_image: Vec<bool> = flat_ids
            .iter()
            .map(|&id| id == self.image_token_index)
            .collect();
        let image_positions = is_image.iter().filter(|&&b| b).count();
        let text_ids = ids
            .clone()
            .mask_fill(ids.equal_elem(self.image_token_index), 0);
        let text = self.language_model.embed(text_ids);
        let Some(pixels) = pixels else {
            return match image_positions {
                0 => Ok(text),
                found => Err(ModelError::ImageTokens { expected: 0, found }),
            };
        };
        let features = self.image_features(pixels);
        let [images, tokens, d] = features.dims();
        if images * tokens != image_positions {
            return Err(ModelError::ImageTokens {
                expected: images * tokens,
                found: image_positions,
            });
        }
        let mut next_feature = batch * len;
        let gather: Vec<i64> = is_image
            .iter()
            .enumerate()
            .map(|(p, &image)| {
                if image {
                    next_feature += 1;
                    (next_feature - 1) as i64
                } else {
                    p as i64
                }
            })
            .collect();
        let device = text.device();
        let gather =
            Tensor::<B, 1, Int>::from_data(TensorData::new(gather, [batch * len]), &device);
        let pool = Tensor::cat(
            vec![
                text.reshape([batch * len, d]),
                features.reshape([images * tokens, d]),
            ],
            0,
        );
        Ok(pool.select(0, gather).reshape([batch, len, d]))
    }

    /// Logits for ids with image tokens, an optional padding mask (`[batch, len]`, 1 = real
    /// token) and an optional cache.
    ///
    /// # Shapes
    /// `ids`: `[batch, len]` → `[batch, len, vocab]`.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        pixels: Option<Tensor<B, 4>>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        cache: Option<&mut LlamaCache<B>>,
    ) -> Result<Tensor<B, 3>, ModelError> {
        let embeds = self.embed(ids, pixels)?;
        Ok(self
            .language_model
            .forward_embeds(embeds, attention_mask, cache))
    }

    /// Logits and the next-token cross-entropy over the supervised positions of `labels`
    /// (`[batch, len]`, [`IGNORE_INDEX`] where unsupervised; image positions are ignored
    /// whatever `labels` says).
    pub fn forward_loss(
        &self,
        ids: Tensor<B, 2, Int>,
        pixels: Option<Tensor<B, 4>>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        labels: Tensor<B, 2, Int>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 1>), ModelError> {
        let labels = labels.mask_fill(ids.clone().equal_elem(self.image_token_index), IGNORE_INDEX);
        let logits = self.forward(ids, pixels, attention_mask, None)?;
        let loss = causal_lm_loss(logits.clone(), labels);
        Ok((logits, loss))
    }

    /// The same loss as [`Self::forward_loss`] with the LM head applied only where a label is
    /// supervised (the labels are read to the host to find those positions): for a large
    /// vocabulary and short answers the head on every position would be a large part of the
    /// step. Training uses this; there are no logits to return.
    pub fn supervised_loss(
        &self,
        ids: Tensor<B, 2, Int>,
        pixels: Option<Tensor<B, 4>>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        labels: Tensor<B, 2, Int>,
    ) -> Result<Tensor<B, 1>, ModelError> {
        let device = ids.device();
        Ok(self
            .supervised_logits(ids, pixels, attention_mask, labels)?
            .map_or_else(|| Tensor::zeros([1], &device), |s| s.loss()))
    }

    /// The logits of the supervised positions only (see [`Self::supervised_loss`]), with
    /// their targets; `None` when no position is supervised. Distillation (LwF) compares two
    /// models' logits on exactly these rows.
    pub fn supervised_logits(
        &self,
        ids: Tensor<B, 2, Int>,
        pixels: Option<Tensor<B, 4>>,
        attention_mask: Option<Tensor<B, 2, Int>>,
        labels: Tensor<B, 2, Int>,
    ) -> Result<Option<SupervisedLogits<B>>, ModelError> {
        let labels = labels.mask_fill(ids.clone().equal_elem(self.image_token_index), IGNORE_INDEX);
        let [batch, len] = ids.dims();
        let device = ids.device();
        let embeds = self.embed(ids, pixels)?;
        if len < 2 {
            return Ok(None);
        }
        let labels: Vec<i64> = labels
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for b in 0..batch {
            for t in 0..len - 1 {
                let label = labels[b * len + t + 1];
                if label != IGNORE_INDEX {
                    rows.push((b * len + t) as i64);
                    targets.push(label);
                }
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let n = rows.len();
        let hidden = self
            .language_model
            .hidden_states(embeds, attention_mask, None);
        let width = hidden.dims()[2];
        let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device);
        let picked = hidden.reshape([batch * len, width]).select(0, rows);
        let logits = self.language_model.head(picked.unsqueeze_dim(0));
        let vocab = logits.dims()[2];
        Ok(Some(SupervisedLogits {
            logits: logits.reshape([n, vocab]),
            targets: Tensor::from_data(TensorData::new(targets, [n]), &device),
        }))
    }
}

/// The logits of a batch's supervised positions and the tokens they predict.
#[derive(Debug, Clone)]
pub struct SupervisedLogits<B: Backend> {
    /// `[rows, vocab]`, one row per supervised position (batch-major, then position).
    pub logits: Tensor<B, 2>,
    /// `[rows]`, the next token of each row.
    pub targets: Tensor<B, 1, Int>,
}

impl<B: Backend> SupervisedLogits<B> {
    /// Mean next-token cross-entropy of the rows, `[1]`.
    pub fn loss(&self) -> Tensor<B, 1> {
        let n = self.targets.dims()[0];
        let log_p = burn::tensor::activation::log_softmax(self.logits.clone(), 1);
        log_p
            .gather(1, self.targets.clone().reshape([n, 1]))
            .mean()
            .neg()
    }
}

/// Whether a module path of a [`Llava`] belongs to the projector (the parameter sets of
/// EProj, whose LoRA is shared); a [`crate::adapters::SetSelector`].
pub fn is_projector_path(path: &str) -> bool {
    path.starts_with("multi_modal_projector.")
}

/// Whether a module path of a [`Llava`] belongs to a parameter set (LoRA adapters and the
/// projector); a [`crate::adapters::SetSelector`].
pub fn is_parameter_set_path(path: &str) -> bool {
    path.contains(".lora.") || path.starts_with("multi_modal_projector.")
}

/// Replaces each `placeholder` (e.g. [`IMAGE_PLACEHOLDER_ID`]) by `tokens` copies of
/// `image_token`, turning original-LLaVA ids into llava-hf ids.
///
/// ```
/// use lcia::model::llava::expand_image_placeholders;
/// assert_eq!(expand_image_placeholders(&[1, -200, 5], -200, 9, 3), vec![1, 9, 9, 9, 5]);
/// ```
pub fn expand_image_placeholders(
    ids: &[i64],
    placeholder: i64,
    image_token: i64,
    tokens: usize,
) -> Vec<i64> {
    ids.iter()
        .flat_map(|&id| {
            let n = if id == placeholder { tokens } else { 1 };
            std::iter::repeat_n(if id == placeholder { image_token } else { id }, n)
        })
        .collect()
}
