//! The run configuration (`run.toml`): model, adapters, training, method, data and tasks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::adapters::ExpandInit;
use crate::baselines::Baseline;
use crate::data::tasks::{CoinTask, TaskOrder};
use crate::dema::{DemaConfig, DemaVariant, EmaDtype, FIXED_EMA_BETA};
use crate::eval::{LongPrompts, ScorerKind, ScorerMode, TaskSpec};
use crate::routing::{RoutingMode, SimilarityKind, TAU_ORIGIN};
use crate::train::TrainConfig;

pub use super::task_entry::{TaskEntry, TaskTraining};

/// The base model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// HF LLaVA directory (`config.json`, safetensors).
    pub dir: PathBuf,
    /// `tokenizer.json` (default: `<dir>/tokenizer.json`).
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// Conversation template: `"vicuna_v1"` (default, LLaVA-1.5) or
    /// `{ chat_ml = { system = "..." } }` (SmolLM2 and other ChatML models).
    #[serde(default)]
    pub template: crate::data::Template,
    /// Keep the projector frozen too (only the adapters train; LCIA trains the projector).
    #[serde(default, skip_serializing_if = "is_false")]
    pub freeze_projector: bool,
    /// How the checkpoints' adapter files name their tensors: `"llava-hf"` (default; PEFT on
    /// transformers' `LlavaForConditionalGeneration` loads them as they are) or `"llava"` (the
    /// original LLaVA/LCIA code base). Reading accepts both.
    #[serde(default, skip_serializing_if = "is_default_naming")]
    pub adapter_naming: crate::adapters::AdapterNaming,
    /// Storage precision of the frozen base (vision tower, language model): `"f32"`
    /// (default), `"bf16"` (CUDA) or `"f16"` (CUDA, WGPU with shader-f16). Adapters,
    /// projector, activations, optimizer state and EMA stay f32.
    #[serde(default, skip_serializing_if = "is_f32_base")]
    pub precision: crate::model::Precision,
}

fn is_f32_base(precision: &crate::model::Precision) -> bool {
    *precision == crate::model::Precision::F32
}

fn is_default_naming(naming: &crate::adapters::AdapterNaming) -> bool {
    *naming == crate::adapters::AdapterNaming::default()
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The LoRA adapters (LCIA: r 128, α 256, dropout 0.05, all seven projections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSection {
    /// Rank.
    pub r: usize,
    /// `lora_alpha`.
    pub alpha: f64,
    /// Adapter dropout.
    pub dropout: f64,
    /// Target projections (PEFT names).
    pub targets: Vec<String>,
    /// Seed of the adapters' initial `lora_A`.
    pub seed: u64,
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            r: 128,
            alpha: 256.0,
            dropout: 0.05,
            targets: crate::model::llama::LLAMA_LORA_TARGETS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            seed: 0,
        }
    }
}

/// Which EMA, if any, consolidates a task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmaChoice {
    /// No EMA (sequential fine-tuning).
    Off,
    /// The balanced coefficient as the official code computes it.
    Official,
    /// The paper's reported closed form.
    Paper,
    /// A fixed EMA with weight `fixed_beta` on the old average.
    Fixed,
    /// An extension, not LCIA: the official coefficient normalised to the 7B run's size
    /// ([`DemaVariant::SizeNormalised`]).
    SizeNormalised,
}

/// When the EMA is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmaWhen {
    /// Only when a group is retrained (the official scripts).
    Retrain,
    /// In every task (the paper's description).
    Always,
}

/// The continual method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MethodSection {
    /// Instruction grouping on; off = one parameter set for every task.
    pub grouping: bool,
    /// Similarity of instructions.
    pub similarity: SimilarityKind,
    /// Retrain threshold τ (0.9 for Origin instructions, 0.3 for Diverse/10Type).
    pub tau: f64,
    /// How a new group starts.
    pub expand_init: ExpandInit,
    /// The EMA.
    pub ema: EmaChoice,
    /// Weight on the old average for `ema = "fixed"`.
    pub fixed_beta: f64,
    /// When the EMA is on.
    pub ema_when: EmaWhen,
    /// Precision of the EMA: `"f32"` (default) or `"bf16"` (the official run's arithmetic).
    #[serde(skip_serializing_if = "is_f32")]
    pub ema_dtype: EmaDtype,
    /// Test-time allocation granularity.
    pub routing: RoutingMode,
    /// A compared baseline (`[method.baseline]`, `name` = `"ewc"`, `"lwf"` or `"replay"`,
    /// with its hyper-parameters); none for LCIA and its ablations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

impl Default for MethodSection {
    fn default() -> Self {
        Self {
            grouping: true,
            similarity: SimilarityKind::TfIdf,
            tau: TAU_ORIGIN,
            expand_init: ExpandInit::FromLatest,
            ema: EmaChoice::Official,
            fixed_beta: FIXED_EMA_BETA,
            ema_when: EmaWhen::Retrain,
            ema_dtype: EmaDtype::F32,
            routing: RoutingMode::PerDataset,
            baseline: None,
        }
    }
}

impl MethodSection {
    /// The EMA configuration, `None` when off.
    pub fn dema(&self) -> Option<DemaConfig> {
        let config = DemaConfig::new();
        let config = match self.ema {
            EmaChoice::Off => return None,
            EmaChoice::Official => config,
            EmaChoice::Paper => DemaConfig::paper(),
            EmaChoice::Fixed => config.with_variant(DemaVariant::Fixed {
                beta: self.fixed_beta,
            }),
            EmaChoice::SizeNormalised => {
                config.with_variant(DemaVariant::SizeNormalised { k: 1.0 })
            }
        };
        Some(config.with_dtype(self.ema_dtype))
    }
}

fn is_f32(value: &EmaDtype) -> bool {
    *value == EmaDtype::F32
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSection {
    /// Official or repaired scorers.
    pub mode: ScorerMode,
    /// Prompts per generation batch.
    pub batch_size: usize,
    /// Caps every task's `max_new_tokens`.
    pub max_new_tokens: Option<usize>,
    /// Use at most this many test records per task (all when unset).
    pub max_samples: Option<usize>,
    /// A prompt longer than the context: `"truncate"` (the question's start) or `"refuse"`.
    #[serde(skip_serializing_if = "is_truncate")]
    pub long_prompts: LongPrompts,
}

/// Whether `value` is the default (kept out of the serialised configuration, so configuration
/// hashes of runs made before the option existed stay the same).
fn is_truncate(value: &LongPrompts) -> bool {
    *value == LongPrompts::Truncate
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            mode: ScorerMode::Official,
            batch_size: 8,
            max_new_tokens: None,
            max_samples: None,
            long_prompts: LongPrompts::Truncate,
        }
    }
}

/// Where the data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// The instruction folder of the CoIN tasks (`<root>/<Task>/train.json`, `test.json`).
    pub root: PathBuf,
    /// Folder the records' image paths are relative to.
    pub image_root: Option<PathBuf>,
    /// The CoIN task order, when no `[[tasks]]` are listed.
    pub order: TaskOrder,
    /// A bad record is an error (else it is skipped and counted).
    pub strict: bool,
    /// Use at most this many training records per task (all when unset).
    pub max_train_samples: Option<usize>,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            root: PathBuf::from("data/CoIN/Instructions"),
            image_root: None,
            order: TaskOrder::Origin,
            strict: false,
            max_train_samples: None,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The base model.
    pub model: ModelSection,
    /// The adapters.
    #[serde(default)]
    pub lora: LoraSection,
    /// Per-task training.
    #[serde(default)]
    pub train: TrainConfig,
    /// The continual method.
    #[serde(default)]
    pub method: MethodSection,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSection,
    /// Data location and order.
    #[serde(default)]
    pub data: DataSection,
    /// Explicit task list (overrides `data.order`).
    #[serde(default)]
    pub tasks: Vec<TaskEntry>,
    /// Data-parallel devices of one backend (`["cuda:0", "cuda:1"]`; `--devices` overrides);
    /// one replica each. Not part of the run's identity (never serialised): the manifest records
    /// the layout of each task.
    #[serde(default, skip_serializing)]
    pub devices: Vec<String>,
}

/// A task of the sequence with its files resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTask {
    /// The training file.
    pub train_file: PathBuf,
    /// The forced group label, if any.
    pub group: Option<String>,
    /// The task's training settings (`[train]` with the task's overrides).
    pub train: TrainConfig,
    /// Everything evaluation needs.
    pub spec: TaskSpec,
}

fn relative_to(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

impl RunConfig {
    /// Joins every relative path to `base`.
    pub fn make_paths_absolute(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| *p = relative_to(base, p);
        fix(&mut self.model.dir);
        self.model.tokenizer.iter_mut().for_each(fix);
        fix(&mut self.data.root);
        self.data.image_root.iter_mut().for_each(fix);
        for task in &mut self.tasks {
            task.train.iter_mut().for_each(fix);
            task.test.iter_mut().for_each(fix);
        }
        if let SimilarityKind::Embedding { model_dir } = &mut self.method.similarity {
            fix(model_dir);
        }
    }

    /// The tokenizer file.
    pub fn tokenizer_file(&self) -> PathBuf {
        self.model
            .tokenizer
            .clone()
            .unwrap_or_else(|| self.model.dir.join("tokenizer.json"))
    }

    /// The task sequence with files, scorers and generation lengths; an unknown task name
    /// without a scorer, a repeated name or an empty list is an error naming `path`.
    pub fn resolve_tasks(&self, path: &Path) -> crate::Result<Vec<ResolvedTask>> {
        let err = |message: String| crate::Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let entries: Vec<TaskEntry> = if self.tasks.is_empty() {
            let tasks = self.data.order.tasks().map_err(err)?;
            tasks
                .into_iter()
                .map(|t| TaskEntry {
                    name: t.name().to_string(),
                    train: None,
                    test: None,
                    scorer: None,
                    max_new_tokens: None,
                    pad_images: None,
                    group: None,
                    training: TaskTraining::default(),
                })
                .collect()
        } else {
            self.tasks.clone()
        };
        let mut out: Vec<ResolvedTask> = Vec::with_capacity(entries.len());
        for entry in entries {
            if out.iter().any(|t| t.spec.name == entry.name) {
                return Err(err(format!("task '{}' appears twice", entry.name)));
            }
            let coin = entry.name.parse::<CoinTask>().ok();
            let scorer = match (entry.scorer, coin) {
                (Some(s), _) => s,
                (None, Some(task)) => ScorerKind::from(task),
                (None, None) => {
                    let unknown = entry.name.parse::<CoinTask>().unwrap_err();
                    return Err(err(format!(
                        "{unknown}; a task outside CoIN needs `scorer`"
                    )));
                }
            };
            let folder = coin.map_or(entry.name.clone(), |t| t.name().to_string());
            let file = |given: &Option<PathBuf>, leaf: &str| {
                given
                    .clone()
                    .unwrap_or_else(|| self.data.root.join(&folder).join(leaf))
            };
            let max_new = entry
                .max_new_tokens
                .or(coin.map(CoinTask::max_new_tokens))
                .unwrap_or(128);
            out.push(ResolvedTask {
                train_file: file(&entry.train, "train.json"),
                group: entry.group.clone(),
                train: entry.training.apply(&self.train),
                spec: TaskSpec {
                    name: entry.name.clone(),
                    test_file: file(&entry.test, "test.json"),
                    image_root: self.data.image_root.clone(),
                    scorer,
                    max_new_tokens: self.eval.max_new_tokens.map_or(max_new, |c| c.min(max_new)),
                    pad_images: entry
                        .pad_images
                        .or(coin.map(CoinTask::pads_images_at_eval))
                        .unwrap_or(true),
                },
            });
        }
        if out.is_empty() {
            return Err(err("no tasks".into()));
        }
        Ok(out)
    }
}
