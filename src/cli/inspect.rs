//! `lcia inspect DIR`: what a HuggingFace model directory holds, and how fast it runs.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use lcia::model::{HfConfig, hf};
use lcia_backends::BackendTask;

/// Loads the model in `dir` (if it has weights) and times `repeat` forwards of one sequence.
pub struct Inspect {
    /// The model directory (`config.json` + safetensors).
    pub dir: PathBuf,
    /// Text tokens in the timed sequence (image tokens come on top for LLaVA).
    pub tokens: usize,
    /// Timed forwards after one warm-up.
    pub repeat: usize,
}

impl BackendTask for Inspect {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        type Inner<AB> = <AB as AutodiffBackend>::InnerBackend;
        let config = hf::read_config(&self.dir)?;
        let (kind, params) = match &config {
            HfConfig::Llama(c) => ("llama", c.num_params()),
            HfConfig::ClipVision(c) => ("clip vision", c.num_params()),
            HfConfig::Llava(c) => ("llava", c.num_params()),
        };
        let mut report = format!(
            "{}: {kind}, {params} parameters ({:.3} B, from config.json)\n",
            self.dir.display(),
            params as f64 / 1e9
        );
        if hf::weight_files(&self.dir).is_err() {
            report.push_str("no weights in the directory: nothing loaded or timed\n");
            return Ok(report);
        }
        let ids = |vocab: usize, len: usize| {
            Tensor::<Inner<AB>, 2, Int>::random(
                [1, len],
                Distribution::Uniform(1.0, (vocab - 1) as f64),
                &device,
            )
        };
        let start = Instant::now();
        let forward: Box<dyn Fn() -> anyhow::Result<Tensor<Inner<AB>, 3>>> = match config {
            HfConfig::Llama(c) => {
                let model = lcia::model::load_llama::<Inner<AB>>(&self.dir, &device)?;
                let ids = ids(c.vocab_size, self.tokens);
                Box::new(move || Ok(model.forward(ids.clone())))
            }
            HfConfig::ClipVision(c) => {
                let model = lcia::model::load_clip_vision::<Inner<AB>>(&self.dir, &device)?;
                let pixels = pixels::<Inner<AB>>(c.image_size, &device);
                Box::new(move || {
                    Ok(model
                        .hidden_states(pixels.clone())
                        .pop()
                        .expect("one state"))
                })
            }
            HfConfig::Llava(c) => {
                let model = lcia::model::load_llava::<Inner<AB>>(&self.dir, &device)?;
                let n_img = c.vision_config.num_patches();
                let image = Tensor::full([1, n_img], c.image_token_index, &device);
                // text ids below the image token, so none is taken for an image position
                let text_vocab = c
                    .text_config
                    .vocab_size
                    .min(c.image_token_index.max(2) as usize);
                let ids = Tensor::cat(
                    vec![ids(text_vocab, 1), image, ids(text_vocab, self.tokens)],
                    1,
                );
                let pixels = pixels::<Inner<AB>>(c.vision_config.image_size, &device);
                Box::new(move || {
                    Ok(model.forward(ids.clone(), Some(pixels.clone()), None, None)?)
                })
            }
        };
        report.push_str(&format!(
            "loaded in {:.3} s\n",
            start.elapsed().as_secs_f64()
        ));
        let out = forward()?;
        let _ = Inner::<AB>::sync(&device);
        let start = Instant::now();
        for _ in 0..self.repeat {
            let _ = forward()?.into_data();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / self.repeat.max(1) as f64;
        report.push_str(&format!(
            "forward of one sequence -> {:?}: {ms:.3} ms (mean of {})\n",
            out.dims(),
            self.repeat
        ));
        Ok(report)
    }
}

fn pixels<B: Backend>(size: usize, device: &B::Device) -> Tensor<B, 4> {
    Tensor::random([1, 3, size, size], Distribution::Normal(0.0, 1.0), device)
}
