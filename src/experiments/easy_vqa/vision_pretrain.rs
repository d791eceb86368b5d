//! Stage 0: a small CLIP-layout vision tower trained from random weights to tell the colour
//! and the shape of an image (two linear heads on the mean of the selected hidden state's
//! patch tokens), so the LLaVA built on it has image features worth projecting.

use std::path::PathBuf;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::data::ImagePreprocess;
use crate::model::{ClipVision, ClipVisionConfig};
use crate::rng::SplitMix64;

/// The tower with its two classification heads.
#[derive(Module, Debug)]
pub struct AttributeClassifier<B: Backend> {
    /// The vision tower being trained.
    pub vision: ClipVision<B>,
    /// Colour head.
    pub colour: Linear<B>,
    /// Shape head.
    pub shape: Linear<B>,
    layer: i64,
}

impl<B: Backend> AttributeClassifier<B> {
    /// A random-initialised tower and heads; `layer` is the hidden state the LLaVA will read.
    pub fn new(
        config: &ClipVisionConfig,
        layer: i64,
        colours: usize,
        shapes: usize,
        device: &B::Device,
    ) -> Self {
        let width = config.hidden_size;
        Self {
            vision: ClipVision::init(config, device),
            colour: LinearConfig::new(width, colours).init(device),
            shape: LinearConfig::new(width, shapes).init(device),
            layer,
        }
    }

    /// Colour and shape logits for `[images, 3, size, size]` pixels.
    pub fn forward(&self, pixels: Tensor<B, 4>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let hidden = self
            .vision
            .hidden_state(pixels, self.layer)
            .expect("the layer was checked when the LLaVA config was read");
        let [images, tokens, width] = hidden.dims();
        let pooled = hidden
            .slice([0..images, 1..tokens, 0..width])
            .mean_dim(1)
            .reshape([images, width]);
        (
            self.colour.forward(pooled.clone()),
            self.shape.forward(pooled),
        )
    }
}

/// A labelled image: file, colour class, shape class.
pub type LabelledImage = (PathBuf, usize, usize);

/// Sizes of the stage-0 training.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// Seed of the weights and of the image order.
    pub seed: u64,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// What stage 0 reached.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PretrainReport {
    /// Optimizer steps.
    pub steps: usize,
    /// Mean loss of the first and of the last epoch.
    pub loss: (f64, f64),
    /// Colour and shape accuracy (%) on the held-out images.
    pub test_accuracy: (f64, f64),
    /// Seconds.
    pub seconds: f64,
}

fn load_batch<B: Backend>(
    items: &[&LabelledImage],
    images: &ImagePreprocess,
    size: usize,
    device: &B::Device,
) -> crate::Result<(Tensor<B, 4>, Vec<i64>, Vec<i64>)> {
    let mut pixels = Vec::with_capacity(items.len() * 3 * size * size);
    for (path, _, _) in items {
        pixels.extend(images.load(path)?);
    }
    let pixels = Tensor::from_data(
        TensorData::new(pixels, [items.len(), 3, size, size]),
        device,
    );
    let colours = items.iter().map(|i| i.1 as i64).collect();
    let shapes = items.iter().map(|i| i.2 as i64).collect();
    Ok((pixels, colours, shapes))
}

fn labels<B: Backend>(values: Vec<i64>, device: &B::Device) -> Tensor<B, 1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Trains the tower of `config` (reading hidden state `layer`) on `train`, reports accuracy on
/// `test`, and returns the tower without its heads.
pub fn pretrain_vision<AB: AutodiffBackend>(
    config: &ClipVisionConfig,
    layer: i64,
    classes: (usize, usize),
    train: &[LabelledImage],
    test: &[LabelledImage],
    settings: &PretrainConfig,
    device: &AB::Device,
) -> crate::Result<(ClipVision<AB::InnerBackend>, PretrainReport)> {
    let started = std::time::Instant::now();
    AB::seed(device, settings.seed);
    let mut model = AttributeClassifier::<AB>::new(config, layer, classes.0, classes.1, device);
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let images = ImagePreprocess::llava(config.image_size);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut rng = SplitMix64::new(settings.seed);
    let mut order: Vec<&LabelledImage> = train.iter().collect();
    let (mut steps, mut first, mut last) = (0, f64::NAN, f64::NAN);
    let bar = crate::progress::bar(
        (settings.epochs * order.len().div_ceil(settings.batch_size)) as u64,
        settings.progress,
    );
    for epoch in 0..settings.epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        let mut batches = 0;
        for batch in order.chunks(settings.batch_size) {
            let (pixels, colours, shapes) =
                load_batch::<AB>(batch, &images, config.image_size, device)?;
            let (colour, shape) = model.forward(pixels);
            let loss = loss_fn.forward(colour, labels(colours, device))
                + loss_fn.forward(shape, labels(shapes, device));
            total += loss.clone().into_scalar().elem::<f64>();
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(settings.lr, model, grads);
            steps += 1;
            bar.inc(1);
        }
        let mean = total / batches.max(1) as f64;
        if epoch == 0 {
            first = mean;
        }
        last = mean;
        bar.set_message(format!("loss {mean:.3}"));
    }
    bar.finish_and_clear();
    let model = model.valid();
    let (mut colour_hits, mut shape_hits) = (0usize, 0usize);
    for batch in test.iter().collect::<Vec<_>>().chunks(64) {
        let (pixels, colours, shapes) =
            load_batch::<AB::InnerBackend>(batch, &images, config.image_size, device)?;
        let (colour, shape) = model.forward(pixels);
        let hits = |logits: Tensor<AB::InnerBackend, 2>, want: &[i64]| {
            let got: Vec<i64> = logits.argmax(1).into_data().iter::<i64>().collect();
            got.iter().zip(want).filter(|(a, b)| a == b).count()
        };
        colour_hits += hits(colour, &colours);
        shape_hits += hits(shape, &shapes);
    }
    let pct = |hits: usize| 100.0 * hits as f64 / test.len().max(1) as f64;
    let report = PretrainReport {
        steps,
        loss: (first, last),
        test_accuracy: (pct(colour_hits), pct(shape_hits)),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((model.vision, report))
}
