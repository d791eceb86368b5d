//! `lcia export`: a llava-hf model, optionally with a parameter set (a run checkpoint or a
//! PEFT adapter) merged in or written beside it, as a directory transformers opens as it is.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use lcia::adapters::AdapterNaming;
use lcia::adapters::io::read_peft_config;
use lcia::model::export::{TransformersLayout, copy_side_files, save_llava};
use lcia_backends::BackendTask;

/// `lcia export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The llava-hf model directory (config.json, safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// A parameter-set directory to apply: a run's checkpoints/NN-task, or a PEFT adapter in
    /// either LLaVA naming.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Output directory (created; files already there with the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep the adapter separate: the base model in OUT, the adapter (PEFT, with the projector
    /// as a module to save) in OUT/adapter; default: merge it into the weights.
    #[arg(long)]
    pub unmerged: bool,
    /// The transformers major version that will read the export (4 or 5).
    #[arg(long, default_value = "4")]
    pub transformers: TransformersLayout,
    /// Naming of the adapter written with --unmerged: llava-hf or llava.
    #[arg(long, default_value = "llava-hf")]
    pub adapter_naming: AdapterNaming,
}

impl BackendTask for ExportArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        type B<AB> = <AB as AutodiffBackend>::InnerBackend;
        let config = std::fs::read_to_string(self.model.join("config.json"))
            .with_context(|| format!("reading {}", self.model.join("config.json").display()))?;
        let mut model = lcia::model::load_llava::<B<AB>>(&self.model, &device)?;
        if let Some(adapter) = &self.adapter {
            lcia::adapters::io::check_finite_parameter_set(adapter)?;
            model = model.load_parameter_set(adapter)?;
        }
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let mut written = vec!["model.safetensors", "config.json"];
        match (&self.adapter, self.unmerged) {
            (Some(adapter), true) => {
                let dir = self.out.join("adapter");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let peft = read_peft_config(adapter)?;
                model.save_parameter_set(&dir, &peft, self.adapter_naming)?;
                let mut base = model;
                base.language_model = base.language_model.without_lora();
                save_llava(&base, &config, &self.out, self.transformers)?;
                written.push("adapter/");
            }
            _ => {
                model.language_model = model.language_model.merge_lora();
                save_llava(&model, &config, &self.out, self.transformers)?;
            }
        }
        copy_side_files(&self.model, &self.out, &config)?;
        Ok(format!(
            "{} -> {} (transformers {}.x layout{}): {}, generation_config.json and the \
             tokenizer files found beside the model\n",
            self.model.display(),
            self.out.display(),
            match self.transformers {
                TransformersLayout::V4 => 4,
                TransformersLayout::V5 => 5,
            },
            match (&self.adapter, self.unmerged) {
                (Some(_), true) => ", adapter kept separate",
                (Some(_), false) => ", adapter merged",
                _ => "",
            },
            written.join(", ")
        ))
    }
}
