//! `lcia generate`: one prompt (and image) in, one greedy answer out.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use lcia::continual::manifest::{BaseModel, CHECKPOINT_INFO, CheckpointInfo};
use lcia::continual::setup::{image_tokens, llava_config};
use lcia::data::sample::eval_prompt;
use lcia::data::{ImagePreprocess, Template, TestRecord, TextTokenizer};
use lcia::model::hf::read_config;
use lcia::model::{GenerationConfig, HfConfig};
use lcia_backends::BackendTask;

/// `lcia generate`.
pub struct GenerateTask {
    /// Model directory.
    pub model: PathBuf,
    /// tokenizer.json.
    pub tokenizer: Option<PathBuf>,
    /// Checkpoint directory.
    pub checkpoint: Option<PathBuf>,
    /// Image file.
    pub image: Option<PathBuf>,
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// Conversation template (`None`: from tokenizer_config.json).
    pub template: Option<Template>,
    /// The prompt.
    pub prompt: String,
}

impl BackendTask for GenerateTask {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        type B<AB> = <AB as AutodiffBackend>::InnerBackend;
        let tokenizer_file = self
            .tokenizer
            .clone()
            .unwrap_or_else(|| self.model.join("tokenizer.json"));
        let tokenizer = TextTokenizer::from_file(&tokenizer_file)?;
        let template = match &self.template {
            Some(t) => t.clone(),
            None => Template::from_tokenizer_config(
                &tokenizer_file.with_file_name("tokenizer_config.json"),
            )?,
        };
        let generation = GenerationConfig {
            max_new_tokens: self.max_new_tokens,
            eos_token_id: tokenizer.eos_id().map(i64::from),
            use_cache: true,
        };
        if let HfConfig::Llama(_) = read_config(&self.model)? {
            anyhow::ensure!(
                self.image.is_none() && self.checkpoint.is_none(),
                "{} is a text-only llama model: --image and --checkpoint need a llava model",
                self.model.display()
            );
            let model = lcia::model::load_llama::<B<AB>>(&self.model, &device)?;
            let ids = template.generation_ids(&tokenizer, &self.prompt, None)?;
            let len = ids.len();
            let ids = Tensor::<B<AB>, 2, Int>::from_data(TensorData::new(ids, [1, len]), &device);
            return decode(&tokenizer, model.generate(ids, &generation));
        }
        let config = llava_config(&self.model)?;
        let mut model = lcia::model::load_llava::<B<AB>>(&self.model, &device)?;
        if let Some(checkpoint) = &self.checkpoint {
            if checkpoint.join(CHECKPOINT_INFO).is_file() {
                CheckpointInfo::read(checkpoint)?
                    .base_model
                    .check_same(&BaseModel::identify(&self.model)?, checkpoint)?;
            }
            model = model.load_parameter_set(checkpoint)?;
        }
        let record = TestRecord {
            question_id: "prompt".into(),
            image: self.image.as_ref().map(|p| p.display().to_string()),
            text: self.prompt.clone(),
            extra: Default::default(),
        };
        let prompt = eval_prompt(&record, &tokenizer, &template, image_tokens(&config), None)?;
        let pixels = match &prompt.image {
            Some(path) => {
                let size = config.vision_config.image_size;
                let data = ImagePreprocess::llava(size).load(path)?;
                Some(Tensor::<B<AB>, 4>::from_data(
                    TensorData::new(data, [1, 3, size, size]),
                    &device,
                ))
            }
            None => None,
        };
        let pad = i64::from(tokenizer.eos_id().unwrap_or(0));
        let ids = model
            .generate_batch(&[prompt.ids], pixels, pad, &generation)?
            .pop()
            .unwrap_or_default();
        decode(&tokenizer, ids)
    }
}

fn decode(tokenizer: &TextTokenizer, ids: Vec<i64>) -> anyhow::Result<String> {
    let ids: Vec<u32> = ids
        .into_iter()
        .filter(|&t| t >= 0)
        .map(|t| t as u32)
        .collect();
    Ok(tokenizer.decode(&ids, true)?.trim().to_string())
}
