//! The memory a continual run needs: weights and training state ([`MemoryPlan`]) and the
//! activations one training step keeps for its backward pass ([`ActivationPlan`]).

use std::fmt;

use crate::model::LlavaConfig;
use crate::model::llama::LLAMA_LORA_TARGETS;

/// Bytes of each part of training one LLaVA with LoRA, the balanced EMA and parameter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Parameters of the frozen base model (vision, projector and language model).
    pub base_params: u64,
    /// LoRA parameters (all adapted projections of all layers).
    pub lora_params: u64,
    /// Projector parameters (trained with the adapters).
    pub projector_params: u64,
    /// Bytes per base-model parameter (2 for bf16/f16, 4 for f32).
    pub base_bytes_per_param: u64,
    /// Parameter sets kept in memory (groups).
    pub sets: u64,
}

impl MemoryPlan {
    /// The plan for `config` with rank-`r` adapters on `targets` (PEFT names of the Llama
    /// projections).
    ///
    /// ```
    /// use lcia::continual::memory::MemoryPlan;
    /// use lcia::model::HfConfig;
    /// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/llava-1.5-7b/config.json");
    /// let config = HfConfig::from_file(&path).unwrap().into_llava(&path).unwrap();
    /// let all = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    /// let plan = MemoryPlan::new(&config, 128, &all, 2, 4);
    /// assert_eq!(plan.lora_params, 319_815_680); // ≈ 10.0 M per layer × 32 (METHOD.md §4.1)
    /// assert_eq!(plan.projector_params, 20_979_712); // ≈ 21 M
    /// ```
    pub fn new(
        config: &LlavaConfig,
        r: usize,
        targets: &[&str],
        base_bytes_per_param: u64,
        sets: u64,
    ) -> Self {
        let t = &config.text_config;
        let (d, i) = (t.hidden_size as u64, t.intermediate_size as u64);
        let (q, kv) = (
            (t.num_attention_heads * t.head_dim()) as u64,
            (t.kv_heads() * t.head_dim()) as u64,
        );
        let per_layer: u64 = targets
            .iter()
            .map(|target| {
                let (d_in, d_out) = match *target {
                    "q_proj" => (d, q),
                    "k_proj" | "v_proj" => (d, kv),
                    "o_proj" => (q, d),
                    "gate_proj" | "up_proj" => (d, i),
                    "down_proj" => (i, d),
                    _ => (0, 0),
                };
                r as u64 * (d_in + d_out)
            })
            .sum();
        let dv = config.vision_config.hidden_size as u64;
        let bias = if config.multimodal_projector_bias {
            2 * d
        } else {
            0
        };
        Self {
            base_params: config.num_params(),
            lora_params: per_layer * t.num_hidden_layers as u64,
            projector_params: dv * d + d * d + bias,
            base_bytes_per_param,
            sets,
        }
    }

    /// Trainable parameters (adapters and projector).
    pub fn trainable(&self) -> u64 {
        self.lora_params + self.projector_params
    }

    /// `(part, bytes)` rows: base weights, trainable weights (f32), gradients, AdamW moments,
    /// EMA copy, previous-gradient copy, stored parameter sets.
    pub fn rows(&self) -> Vec<(&'static str, u64)> {
        let f32_trainable = 4 * self.trainable();
        vec![
            (
                "base model weights",
                self.base_params * self.base_bytes_per_param,
            ),
            ("trainable weights (LoRA + projector, f32)", f32_trainable),
            ("gradients (f32)", f32_trainable),
            ("AdamW moments (2 × f32)", 2 * f32_trainable),
            ("balanced EMA copy (f32)", f32_trainable),
            ("previous-gradient copy (f32)", f32_trainable),
            ("stored parameter sets (f32, per set)", f32_trainable),
        ]
    }

    /// Total bytes with all `sets` parameter sets stored.
    pub fn total(&self) -> u64 {
        let rows = self.rows();
        let per_set = rows.last().map_or(0, |r| r.1);
        rows[..rows.len() - 1].iter().map(|r| r.1).sum::<u64>() + per_set * self.sets
    }
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        writeln!(
            f,
            "parameters: base {:.3} B, LoRA {:.1} M, projector {:.1} M",
            self.base_params as f64 / 1e9,
            self.lora_params as f64 / 1e6,
            self.projector_params as f64 / 1e6
        )?;
        writeln!(
            f,
            "training memory plan (weights and optimizer state; activations not included):"
        )?;
        for (part, bytes) in self.rows() {
            writeln!(f, "  {part:<44} {:>9.2} GiB", gib(bytes))?;
        }
        writeln!(
            f,
            "  {:<44} {:>9.2} GiB  ({} parameter set(s))",
            "total",
            gib(self.total()),
            self.sets
        )
    }
}

/// The activations one LoRA training step keeps for its backward pass, counted from what Burn
/// 0.21's autodiff stores for each operation of the model as lcia builds it (no
/// checkpointing), plus the vocabulary-sized rows of the loss.
///
/// Per decoder layer and token, in values: the layer input and the attention output stream
/// (kept by the two RMSNorms, 2·d), the two normalised inputs (kept by the LoRA `A` products,
/// 2·d), one rank-`r` LoRA hidden per adapted projection (kept by the `B` products), the
/// rotated queries and the repeated keys and values (kept by the two attention products, 3·q
/// where q = heads · head size) and the merged heads (kept by `o_proj`'s adapter, q), three
/// score rows of `heads · sequence` values (the shifted scores kept by `exp`, the exponentials
/// kept by the normalising division, the probabilities kept by the value product) and five
/// MLP rows (the gate's input kept by the sigmoid and the product, the sigmoid, the up
/// projection, the SiLU output, the gated product kept by `down_proj`'s adapter: 5·i). Frozen
/// weights are not tracked, so the base products keep nothing. Per image token the projector
/// keeps the vision feature and two hidden rows (dv + 2·d); the final norm keeps d per token.
/// The loss holds four vocabulary-sized rows per supervised token at its peak (logits, shifted
/// logits, exponentials, log-probabilities). The frozen vision tower keeps nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationPlan {
    /// Values kept per decoder layer and token (depends on the sequence length through the
    /// attention scores).
    pub per_layer_token: u64,
    /// Decoder layers.
    pub layers: u64,
    /// Sequences in the batch.
    pub batch: u64,
    /// Tokens per sequence (image tokens included).
    pub sequence: u64,
    /// Image tokens per sequence.
    pub image_tokens: u64,
    /// Values the projector keeps per image token.
    pub projector_per_token: u64,
    /// Values the final norm keeps per token.
    pub final_norm_per_token: u64,
    /// Supervised tokens in the batch.
    pub supervised: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Bytes per activation value (4 for f32, 2 for bf16/f16).
    pub bytes_per_value: u64,
}

impl ActivationPlan {
    /// The plan for `batch` sequences of one image and `text` text tokens (plus a start token),
    /// `supervised` of them supervised per sequence, rank-`r` adapters on `targets`, activations
    /// of `bytes_per_value` bytes.
    ///
    /// ```
    /// use lcia::continual::memory::ActivationPlan;
    /// use lcia::model::HfConfig;
    /// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/llava-1.5-7b/config.json");
    /// let config = HfConfig::from_file(&path).unwrap().into_llava(&path).unwrap();
    /// let all = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    /// let plan = ActivationPlan::new(&config, 128, &all, 1, 1024, 1024, 2);
    /// assert_eq!(plan.sequence, 1 + 576 + 1024);
    /// // 4·4096 + 7·128 + 4·4096 + 3·32·1601 + 5·11008 values per layer and token
    /// assert_eq!(plan.per_layer_token, 16_384 + 896 + 16_384 + 153_696 + 55_040);
    /// ```
    pub fn new(
        config: &LlavaConfig,
        r: usize,
        targets: &[&str],
        batch: usize,
        text: usize,
        supervised: usize,
        bytes_per_value: u64,
    ) -> Self {
        let t = &config.text_config;
        let (d, i) = (t.hidden_size as u64, t.intermediate_size as u64);
        let heads = t.num_attention_heads as u64;
        let q = heads * t.head_dim() as u64;
        let image_tokens = config.vision_config.num_patches() as u64
            + u64::from(config.vision_feature_select_strategy == "full");
        let sequence = 1 + image_tokens + text as u64;
        let adapted = targets
            .iter()
            .filter(|target| LLAMA_LORA_TARGETS.contains(target))
            .count() as u64;
        Self {
            per_layer_token: 4 * d + r as u64 * adapted + 4 * q + 3 * heads * sequence + 5 * i,
            layers: t.num_hidden_layers as u64,
            batch: batch as u64,
            sequence,
            image_tokens,
            projector_per_token: config.vision_config.hidden_size as u64 + 2 * d,
            final_norm_per_token: d,
            supervised: (batch * supervised.min(text)) as u64,
            vocab: t.vocab_size as u64,
            bytes_per_value,
        }
    }

    /// Bytes kept by the decoder layers, the projector and the final norm.
    pub fn kept(&self) -> u64 {
        let values = self.batch
            * (self.sequence * (self.layers * self.per_layer_token + self.final_norm_per_token)
                + self.image_tokens * self.projector_per_token);
        values * self.bytes_per_value
    }

    /// Bytes of the loss's vocabulary-sized rows at its peak (f32: the loss is computed in
    /// f32).
    pub fn loss_rows(&self) -> u64 {
        4 * self.supervised * self.vocab * 4
    }

    /// Peak activation bytes of one step.
    pub fn peak(&self) -> u64 {
        self.kept() + self.loss_rows()
    }
}

/// Common GPU memory sizes in GB, smallest first, for [`step_table`].
pub const GPU_SIZES_GB: [u64; 4] = [24, 40, 48, 80];

/// Bytes a GPU's memory is assumed to lose to the device runtime (CUDA context, allocator
/// pools) in [`step_table`]: an assumption, not a measurement.
pub const RUNTIME_RESERVE: u64 = 1 << 30;

/// A markdown table of one training step's memory for `config` (rank-`r` adapters on the
/// seven projections, `sets` stored parameter sets, `batch` sequences of `text` supervised
/// text tokens) with the frozen base in f32 and in bf16/f16 (activations f32 in both, as
/// [`crate::model::precision`] computes), and the smallest of [`GPU_SIZES_GB`] each fits after
/// [`RUNTIME_RESERVE`].
pub fn step_table(config: &LlavaConfig, r: usize, sets: u64, batch: usize, text: usize) -> String {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let mut out = String::from(
        "| base weights | weights + training state GiB | kept activations GiB | loss rows GiB | total GiB | smallest GPU |\n\
         |---|---:|---:|---:|---:|---|\n",
    );
    for (name, bytes) in [("f32", 4), ("bf16 / f16", 2)] {
        let plan = MemoryPlan::new(config, r, &LLAMA_LORA_TARGETS, bytes, sets);
        let act = ActivationPlan::new(config, r, &LLAMA_LORA_TARGETS, batch, text, text, 4);
        let total = plan.total() + act.peak();
        let fits = GPU_SIZES_GB
            .iter()
            .find(|&&gb| total + RUNTIME_RESERVE <= gb * 1_000_000_000)
            .map_or("none of 24/40/48/80 GB".to_string(), |gb| {
                format!("{gb} GB")
            });
        out.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {fits} |\n",
            gib(plan.total()),
            gib(act.kept()),
            gib(act.loss_rows()),
            gib(total)
        ));
    }
    out
}

/// The process's peak resident memory in bytes (Linux `VmHWM`), `None` where unavailable.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
