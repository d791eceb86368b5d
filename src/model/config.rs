//! HuggingFace `config.json` structures for Llama, CLIP vision and LLaVA.

use std::path::Path;

use serde::Deserialize;

use super::ModelError;

/// `rope_parameters` of transformers 5.x configs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RopeParameters {
    /// Base of the rotary frequencies.
    pub rope_theta: f64,
    /// Only `"default"` is supported.
    #[serde(default)]
    pub rope_type: Option<String>,
}

/// A Llama-family decoder configuration (Llama-2/Vicuna, TinyLlama, SmolLM2).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); defaults to the query heads.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; defaults to `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base (transformers 4.x form).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// RoPE settings (transformers 5.x form).
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// Longest supported sequence.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Whether the LM head shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Whether the attention projections have biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// Whether the MLP projections have biases.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Beginning-of-sequence token id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// Activation of the MLP; only `silu` is supported.
    #[serde(default = "default_silu")]
    pub hidden_act: String,
}

fn default_rms_eps() -> f64 {
    1e-6
}
fn default_max_positions() -> usize {
    2048
}
fn default_silu() -> String {
    "silu".into()
}

impl LlamaConfig {
    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// Number of key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// RoPE base from either config form (10 000 when neither is given).
    pub fn rope_theta(&self) -> f64 {
        self.rope_parameters
            .as_ref()
            .map(|p| p.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10_000.0)
    }

    /// Number of parameters of the decoder (embeddings, blocks, final norm, LM head).
    pub fn num_params(&self) -> u64 {
        let (d, f, v) = (
            self.hidden_size as u64,
            self.intermediate_size as u64,
            self.vocab_size as u64,
        );
        let (q, kv) = (
            (self.num_attention_heads * self.head_dim()) as u64,
            (self.kv_heads() * self.head_dim()) as u64,
        );
        let attn = d * q
            + 2 * d * kv
            + q * d
            + if self.attention_bias {
                q + 2 * kv + d
            } else {
                0
            };
        let mlp = 3 * d * f + if self.mlp_bias { 2 * f + d } else { 0 };
        let block = attn + mlp + 2 * d;
        let head = if self.tie_word_embeddings { 0 } else { v * d };
        v * d + self.num_hidden_layers as u64 * block + d + head
    }
}

/// A CLIP vision tower configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ClipVisionConfig {
    /// Model width.
    pub hidden_size: usize,
    /// Width of the MLP hidden layer.
    pub intermediate_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Input image side in pixels.
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Input channels.
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    /// `quick_gelu` or `gelu`.
    #[serde(default = "default_quick_gelu")]
    pub hidden_act: String,
}

fn default_channels() -> usize {
    3
}
fn default_ln_eps() -> f64 {
    1e-5
}
fn default_quick_gelu() -> String {
    "quick_gelu".into()
}

impl ClipVisionConfig {
    /// Patches per image (without the class token).
    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }

    /// Number of parameters of the vision tower.
    pub fn num_params(&self) -> u64 {
        let (d, f) = (self.hidden_size as u64, self.intermediate_size as u64);
        let p = self.patch_size as u64;
        let embed = d * self.num_channels as u64 * p * p + d + (self.num_patches() as u64 + 1) * d;
        let layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 4 * d;
        embed + 2 * d + self.num_hidden_layers as u64 * layer + 2 * d
    }
}

/// A LLaVA (llava-hf) configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LlavaConfig {
    /// The language model.
    pub text_config: LlamaConfig,
    /// The vision tower.
    pub vision_config: ClipVisionConfig,
    /// Token id standing for one image patch in the input ids.
    #[serde(default = "default_image_token")]
    pub image_token_index: i64,
    /// Which hidden state of the vision tower feeds the projector (-2: the penultimate layer).
    #[serde(default = "default_feature_layer")]
    pub vision_feature_layer: i64,
    /// `"default"` drops the class token, `"full"` keeps it.
    #[serde(default = "default_strategy")]
    pub vision_feature_select_strategy: String,
    /// Activation between the projector's two layers (`gelu`).
    #[serde(default = "default_gelu")]
    pub projector_hidden_act: String,
    /// Whether the projector's layers have biases.
    #[serde(default = "default_true")]
    pub multimodal_projector_bias: bool,
}

fn default_image_token() -> i64 {
    32000
}
fn default_feature_layer() -> i64 {
    -2
}
fn default_strategy() -> String {
    "default".into()
}
fn default_gelu() -> String {
    "gelu".into()
}
fn default_true() -> bool {
    true
}

impl LlavaConfig {
    /// Number of parameters: vision tower, projector (mlp2x_gelu) and language model.
    pub fn num_params(&self) -> u64 {
        let (dv, dt) = (
            self.vision_config.hidden_size as u64,
            self.text_config.hidden_size as u64,
        );
        let bias = if self.multimodal_projector_bias {
            2 * dt
        } else {
            0
        };
        self.vision_config.num_params() + dv * dt + dt * dt + bias + self.text_config.num_params()
    }
}

/// The `model_type` of a config file, read before the full parse.
#[derive(Debug, Deserialize)]
struct ModelType {
    model_type: Option<String>,
}

/// A parsed `config.json` of one of the supported model types.
#[derive(Debug, Clone, PartialEq)]
pub enum HfConfig {
    /// `model_type: "llama"`.
    Llama(LlamaConfig),
    /// `model_type: "clip_vision_model"`, or the vision part of `"clip"`.
    ClipVision(ClipVisionConfig),
    /// `model_type: "llava"`.
    Llava(Box<LlavaConfig>),
}

impl HfConfig {
    /// Reads and parses `config.json`; an unknown `model_type` is an error naming the file.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|error| ModelError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a `config.json` (errors name `<memory>`).
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        Self::parse(text, Path::new("<memory>"))
    }

    /// The LLaVA configuration this is, or an error naming `path` (where it was read from)
    /// and the type found instead.
    pub fn into_llava(self, path: &Path) -> Result<LlavaConfig, ModelError> {
        match self {
            HfConfig::Llava(config) => Ok(*config),
            other => Err(ModelError::Config {
                path: path.to_path_buf(),
                message: format!("expected a llava config (model_type \"llava\"), found {other:?}"),
            }),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<Self, ModelError> {
        let text = text.to_string();
        let bad = |message: String| ModelError::Config {
            path: path.to_path_buf(),
            message,
        };
        let head: ModelType = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let model_type = head.model_type.unwrap_or_default();
        let parse_err = |e: serde_json::Error| bad(format!("{model_type}: {e}"));
        match model_type.as_str() {
            "llama" => Ok(Self::Llama(serde_json::from_str(&text).map_err(parse_err)?)),
            "clip_vision_model" => Ok(Self::ClipVision(
                serde_json::from_str(&text).map_err(parse_err)?,
            )),
            "clip" => {
                #[derive(Deserialize)]
                struct Clip {
                    vision_config: ClipVisionConfig,
                }
                let clip: Clip = serde_json::from_str(&text).map_err(parse_err)?;
                Ok(Self::ClipVision(clip.vision_config))
            }
            "llava" => Ok(Self::Llava(Box::new(
                serde_json::from_str(&text).map_err(parse_err)?,
            ))),
            other => Err(bad(format!(
                "unsupported model_type '{other}' (expected llama, clip_vision_model, clip or llava)"
            ))),
        }
    }
}
