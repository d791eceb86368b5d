//! The memory a continual run needs for its weights and training state (activations not
//! included: they depend on batch, sequence length and checkpointing).

use std::fmt;

use crate::model::LlavaConfig;

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

/// The process's peak resident memory in bytes (Linux `VmHWM`), `None` where unavailable.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
