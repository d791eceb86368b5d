//! `adapter_config.json` as PEFT writes it: every field PEFT 0.17 saves is either honoured
//! (rank, alpha, rsLoRA, rank/alpha patterns, target modules as a list or a regex, the projector
//! as a module to save) or refused with its name; nothing is dropped silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lora::LoraConfig;

/// `target_modules`: a list of module-name suffixes, or one regex matched against the whole
/// module name (PEFT's two forms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// A module is targeted when its name equals an entry or ends with `.entry`.
    List(Vec<String>),
    /// A module is targeted when the regex matches its whole name.
    Regex(String),
}

/// `adapter_config.json` (PEFT's LoRA config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeftConfig {
    /// `"LORA"`, or `"MOELORA"` for MoELoRA adapters (which PEFT itself does not load).
    #[serde(default = "lora")]
    pub peft_type: String,
    /// MoELoRA experts per adapted module (written only for MoELoRA).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub expert_num: usize,
    /// `"CAUSAL_LM"` (PEFT writes null for a model wrapped without a task).
    #[serde(default)]
    pub task_type: Option<String>,
    /// Rank.
    pub r: usize,
    /// Scaling numerator.
    pub lora_alpha: f64,
    /// Adapter input dropout.
    #[serde(default)]
    pub lora_dropout: f64,
    /// The adapted modules.
    pub target_modules: TargetModules,
    /// `"none"`: no bias is trained (the only value lcia applies).
    #[serde(default = "none")]
    pub bias: String,
    /// PEFT's flag for `[in, out]` weight layouts; PEFT itself resets it to false for
    /// `nn.Linear` (every Llama projection), and so does lcia.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Whether the adapter was saved for inference.
    #[serde(default)]
    pub inference_mode: bool,
    /// The base model the adapter belongs to, if known.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// rsLoRA: scale `alpha / √r` instead of `alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Per-module rank, keyed by a regex matched at the end of the module name.
    #[serde(default)]
    pub rank_pattern: BTreeMap<String, usize>,
    /// Per-module alpha, keyed like `rank_pattern`.
    #[serde(default)]
    pub alpha_pattern: BTreeMap<String, f64>,
    /// Modules trained and saved whole: only the projector (`multi_modal_projector` or
    /// `mm_projector`) is accepted.
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// Every other field PEFT wrote; checked by [`PeftConfig::check`].
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

fn lora() -> String {
    "LORA".into()
}
fn one() -> usize {
    1
}
fn is_one(value: &usize) -> bool {
    *value == 1
}
/// `peft_type` of MoELoRA adapters.
pub const MOELORA: &str = "MOELORA";
fn none() -> String {
    "none".into()
}

/// Fields that only steer how PEFT initialises or documents an adapter: any value loads the
/// same weights.
const INIT_ONLY: &[&str] = &[
    "init_lora_weights",
    "loftq_config",
    "eva_config",
    "corda_config",
    "megatron_core",
    "revision",
    "auto_mapping",
    "qalora_group_size",
    "layers_pattern",
    "peft_version",
];

/// The module names PEFT uses for the projector in the two LLaVA namings.
pub const PROJECTOR_MODULES: [&str; 2] = ["multi_modal_projector", "mm_projector"];

impl PeftConfig {
    /// The PEFT config of adapters built with `config` on `targets`.
    pub fn new(config: &LoraConfig, targets: &[&str]) -> Self {
        Self {
            peft_type: match config.experts > 1 {
                true => MOELORA.into(),
                false => lora(),
            },
            expert_num: config.experts.max(1),
            task_type: Some("CAUSAL_LM".into()),
            r: config.r,
            lora_alpha: config.lora_alpha,
            lora_dropout: config.lora_dropout,
            target_modules: TargetModules::List(targets.iter().map(|t| t.to_string()).collect()),
            bias: none(),
            fan_in_fan_out: false,
            inference_mode: true,
            base_model_name_or_path: None,
            use_rslora: config.use_rslora,
            rank_pattern: BTreeMap::new(),
            alpha_pattern: BTreeMap::new(),
            modules_to_save: None,
            other: BTreeMap::new(),
        }
    }

    /// Refuses what lcia cannot apply, naming the field: another PEFT type, trained biases,
    /// modules to save other than the projector, bad regexes, and any other field (DoRA,
    /// `layers_to_transform`, `exclude_modules`, `lora_bias`, ...) set to a non-default value.
    pub fn check(&self) -> Result<(), String> {
        match (self.peft_type.as_str(), self.expert_num) {
            ("LORA", 1) => {}
            ("LORA", n) => {
                return Err(format!(
                    "field 'expert_num' = {n} needs peft_type \"{MOELORA}\""
                ));
            }
            (MOELORA, n) if n >= 2 => {
                let ranks = std::iter::once(&self.r).chain(self.rank_pattern.values());
                if let Some(r) = ranks.into_iter().find(|r| *r % n != 0) {
                    return Err(format!(
                        "MoELoRA rank {r} does not split into expert_num = {n} experts"
                    ));
                }
            }
            (MOELORA, n) => return Err(format!("field 'expert_num' = {n}: MoELoRA needs ≥ 2")),
            (other, _) => return Err(format!("peft_type '{other}' is not LORA or {MOELORA}")),
        }
        if self.bias != "none" {
            return Err(format!(
                "field 'bias' = '{}': lcia trains no biases (only \"none\" is supported)",
                self.bias
            ));
        }
        for module in self.modules_to_save.iter().flatten() {
            if !PROJECTOR_MODULES.contains(&module.as_str()) {
                return Err(format!(
                    "field 'modules_to_save' names '{module}': lcia saves only the projector \
                     ({PROJECTOR_MODULES:?})"
                ));
            }
        }
        if let TargetModules::Regex(pattern) = &self.target_modules {
            whole(pattern).map_err(|e| format!("field 'target_modules': {e}"))?;
        }
        for key in self.rank_pattern.keys().chain(self.alpha_pattern.keys()) {
            suffix(key).map_err(|e| format!("rank_pattern/alpha_pattern key '{key}': {e}"))?;
        }
        for (field, value) in &self.other {
            let unset = match value {
                serde_json::Value::Null | serde_json::Value::Bool(false) => true,
                serde_json::Value::Array(a) => a.is_empty(),
                serde_json::Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if !unset && !INIT_ONLY.contains(&field.as_str()) {
                return Err(format!(
                    "field '{field}' = {value} is not supported by lcia (only plain LoRA with \
                     rsLoRA and rank/alpha patterns is)"
                ));
            }
        }
        Ok(())
    }

    /// Whether the module with this (in-model) name carries an adapter.
    pub fn targets(&self, module: &str) -> bool {
        match &self.target_modules {
            TargetModules::List(names) => names
                .iter()
                .any(|t| module == t || module.ends_with(&format!(".{t}"))),
            TargetModules::Regex(pattern) => whole(pattern).is_ok_and(|re| re.is_match(module)),
        }
    }

    /// The adapter settings of one module: `rank_pattern`/`alpha_pattern` (first matching key,
    /// as PEFT picks it) over `r`/`lora_alpha`, and rsLoRA.
    pub fn lora_config_for(&self, module: &str) -> LoraConfig {
        let pick = |keys: Vec<&String>| {
            keys.into_iter()
                .find(|k| suffix(k).is_ok_and(|re| re.is_match(module)))
                .cloned()
        };
        let r = pick(self.rank_pattern.keys().collect()).map_or(self.r, |k| self.rank_pattern[&k]);
        let alpha = pick(self.alpha_pattern.keys().collect())
            .map_or(self.lora_alpha, |k| self.alpha_pattern[&k]);
        LoraConfig::new(r, alpha)
            .with_lora_dropout(self.lora_dropout)
            .with_use_rslora(self.use_rslora)
            .with_experts(self.expert_num)
    }

    /// The settings of modules no pattern names.
    pub fn lora_config(&self) -> LoraConfig {
        LoraConfig::new(self.r, self.lora_alpha)
            .with_lora_dropout(self.lora_dropout)
            .with_use_rslora(self.use_rslora)
            .with_experts(self.expert_num)
    }
}

fn whole(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// PEFT's `get_pattern_key`: `(.*\.)?(key)$` matched from the start of the name.
fn suffix(key: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!(r"^(?:.*\.)?(?:{key})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> PeftConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn patterns_pick_rank_alpha_and_rslora_scale() {
        let c = config(
            r#"{"r": 8, "lora_alpha": 16, "use_rslora": true, "target_modules": "x",
                "rank_pattern": {"q_proj": 4}, "alpha_pattern": {"down_proj": 24}}"#,
        );
        let q = c.lora_config_for("model.layers.0.self_attn.q_proj");
        assert_eq!((q.r, q.lora_alpha), (4, 16.0));
        assert!((q.scaling() - 16.0 / 2.0).abs() < 1e-12);
        let down = c.lora_config_for("model.layers.1.mlp.down_proj");
        assert_eq!((down.r, down.lora_alpha), (8, 24.0));
        assert!((down.scaling() - 24.0 / 8f64.sqrt()).abs() < 1e-12);
        // a key matches whole name parts only
        assert_eq!(c.lora_config_for("model.layers.0.self_attn.xq_proj").r, 8);
    }

    #[test]
    fn targets_follow_list_suffixes_and_whole_regexes() {
        let list = config(r#"{"r": 1, "lora_alpha": 1, "target_modules": ["q_proj"]}"#);
        assert!(list.targets("model.layers.0.self_attn.q_proj"));
        assert!(!list.targets("model.layers.0.self_attn.xq_proj"));
        let re =
            config(r#"{"r": 1, "lora_alpha": 1, "target_modules": ".*language_model.*\\.q_proj"}"#);
        assert!(re.targets("model.language_model.layers.0.self_attn.q_proj"));
        assert!(!re.targets("model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj"));
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let base = r#""r": 1, "lora_alpha": 1, "target_modules": ["q_proj"]"#;
        let dora = config(&format!("{{{base}, \"use_dora\": true}}"));
        assert!(dora.check().unwrap_err().contains("'use_dora'"));
        let layers = config(&format!("{{{base}, \"layers_to_transform\": [0]}}"));
        assert!(
            layers
                .check()
                .unwrap_err()
                .contains("'layers_to_transform'")
        );
        let bias = config(&format!("{{{base}, \"bias\": \"all\"}}"));
        assert!(bias.check().unwrap_err().contains("'bias'"));
        let save = config(&format!("{{{base}, \"modules_to_save\": [\"lm_head\"]}}"));
        assert!(save.check().unwrap_err().contains("'lm_head'"));
        let fine = config(&format!(
            "{{{base}, \"use_dora\": false, \"init_lora_weights\": \"gaussian\", \
             \"loftq_config\": {{}}, \"modules_to_save\": [\"multi_modal_projector\"]}}"
        ));
        fine.check().unwrap();
    }
}
