//! `lcia generate`: one prompt (and image) in, one greedy answer out.

use std::path::PathBuf;

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use lcia::adapters::io::check_finite_parameter_set;
use lcia::continual::manifest::{BaseModel, CheckpointInfo};
use lcia::continual::run_dir::CHECKPOINT_INFO;
use lcia::continual::setup::image_tokens;
use lcia::data::sample::{Fitted, eval_prompt_within, outside_vocabulary};
use lcia::data::{ImagePreprocess, Template, TestRecord, TextTokenizer};
use lcia::model::hf::{read_config, read_llava_config};
use lcia::model::{GenerationConfig, HfConfig};
use lcia_backends::BackendTask;

/// A conversation template by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateName {
    /// LLaVA-1.5's `vicuna_v1`.
    #[value(name = "vicuna-v1", alias = "vicuna_v1")]
    VicunaV1,
    /// ChatML (SmolLM2, Qwen), with `--system`.
    #[value(name = "chat-ml", alias = "chat_ml", alias = "chatml")]
    ChatMl,
}

/// `lcia generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// HF LLaVA (or text-only Llama) model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// tokenizer.json (default: <model>/tokenizer.json).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// A checkpoint directory (a run's checkpoint or a PEFT adapter, either LLaVA naming) to
    /// load on top of the base model.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// An image file.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Most new tokens.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Conversation template; default: what the model's tokenizer_config.json chat_template
    /// uses (vicuna-v1 without one).
    #[arg(long)]
    pub template: Option<TemplateName>,
    /// System message of the chat-ml template.
    #[arg(long, requires = "template")]
    pub system: Option<String>,
    /// Load a checkpoint even when its weights hold NaN or infinite values.
    #[arg(long)]
    pub allow_non_finite: bool,
    /// The question or instruction.
    pub prompt: String,
}

impl GenerateArgs {
    /// The template named on the command line, if any.
    fn template(&self) -> Option<Template> {
        self.template.map(|name| name.template(self.system.clone()))
    }
}

impl TemplateName {
    /// The template, with `system` as the ChatML system message.
    pub fn template(self, system: Option<String>) -> Template {
        match self {
            TemplateName::VicunaV1 => Template::VicunaV1,
            TemplateName::ChatMl => Template::ChatMl { system },
        }
    }
}

impl BackendTask for GenerateArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        type B<AB> = <AB as AutodiffBackend>::InnerBackend;
        let tokenizer_file = self
            .tokenizer
            .clone()
            .unwrap_or_else(|| self.model.join("tokenizer.json"));
        let tokenizer = TextTokenizer::from_file(&tokenizer_file)?;
        let template = match self.template() {
            Some(t) => t,
            None => Template::from_tokenizer_config(
                &tokenizer_file.with_file_name("tokenizer_config.json"),
            )?,
        };
        let generation = GenerationConfig {
            max_new_tokens: self.max_new_tokens,
            eos_token_id: tokenizer.eos_id().map(i64::from),
            use_cache: true,
        };
        if let HfConfig::Llama(llama) = read_config(&self.model)? {
            anyhow::ensure!(
                self.image.is_none() && self.checkpoint.is_none(),
                "{} is a text-only llama model: --image and --checkpoint need a llava model",
                self.model.display()
            );
            let model = lcia::model::load_llama::<B<AB>>(&self.model, &device)?;
            let ids = template.generation_ids(&tokenizer, &self.prompt, None)?;
            let len = ids.len();
            check_vocabulary(&ids, llama.vocab_size)?;
            let context = llama.max_position_embeddings;
            anyhow::ensure!(
                len + self.max_new_tokens <= context,
                "the prompt takes {len} tokens; with --max-new-tokens {} that is more than the context of {context}",
                self.max_new_tokens
            );
            let ids = Tensor::<B<AB>, 2, Int>::from_data(TensorData::new(ids, [1, len]), &device);
            return decode(&tokenizer, model.generate(ids, &generation));
        }
        let config = read_llava_config(&self.model)?;
        let mut model = lcia::model::load_llava::<B<AB>>(&self.model, &device)?;
        if let Some(checkpoint) = &self.checkpoint {
            if checkpoint.join(CHECKPOINT_INFO).is_file() {
                CheckpointInfo::read(checkpoint)?
                    .base_model
                    .check_same(&BaseModel::identify(&self.model)?, checkpoint)?;
            }
            if !self.allow_non_finite {
                check_finite_parameter_set(checkpoint)
                    .context("refused (pass --allow-non-finite to load it anyway)")?;
            }
            model = model.load_parameter_set(checkpoint)?;
        }
        let record = TestRecord {
            question_id: "prompt".into(),
            image: self.image.as_ref().map(|p| p.display().to_string()),
            text: self.prompt.clone(),
            extra: Default::default(),
        };
        let context = config.text_config.max_position_embeddings;
        let budget = context.saturating_sub(self.max_new_tokens);
        let tokens = image_tokens(&config);
        let prompt = match eval_prompt_within(&record, &tokenizer, &template, tokens, None, budget)?
        {
            Fitted::Whole(prompt) => prompt,
            Fitted::Cut(prompt) => {
                log::warn!(
                    "the prompt is longer than {budget} tokens (context {context} less {} new tokens): its start was cut",
                    self.max_new_tokens
                );
                prompt
            }
            Fitted::TemplateTooLong(n) => anyhow::bail!(
                "the template and image alone take {n} tokens; the context of {context} leaves {budget} beside --max-new-tokens {}",
                self.max_new_tokens
            ),
        };
        check_vocabulary(&prompt.ids, config.text_config.vocab_size)?;
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

/// Refuses prompt ids the model has no embedding for (a tokenizer of another model).
fn check_vocabulary(ids: &[i64], vocab: usize) -> anyhow::Result<()> {
    match outside_vocabulary(ids, vocab) {
        Some(id) => anyhow::bail!(
            "the prompt has token id {id}, outside the model's vocabulary of {vocab}; is the tokenizer the model's?"
        ),
        None => Ok(()),
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
