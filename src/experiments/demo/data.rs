//! A deterministic synthetic multimodal instruction benchmark in the CoIN file format: coloured
//! shapes on varied backgrounds, a caption set for alignment ("stage 1"), and five instruction
//! tasks. Three tasks share one instruction line (similar instructions, different answers: the
//! same group is retrained and forgetting bites); two have their own (new groups).

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde_json::json;

use crate::data::DataError;
use crate::rng::SplitMix64;

/// Shape names.
pub const SHAPES: [&str; 4] = ["circle", "square", "triangle", "cross"];
/// Colour names and their RGB values.
pub const COLOURS: [(&str, [u8; 3]); 5] = [
    ("red", [214, 40, 40]),
    ("green", [40, 170, 60]),
    ("blue", [40, 80, 220]),
    ("yellow", [235, 200, 30]),
    ("purple", [140, 50, 170]),
];
/// Position names (the quadrant the shape sits in).
pub const POSITIONS: [&str; 4] = ["left", "right", "top", "bottom"];
const SINGLE_WORD: &str = "Answer the question using a single word or phrase.";

/// One synthetic task: its name, question, instruction line and which attribute answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticTask {
    /// Task name (folder name).
    pub name: &'static str,
    /// The question line.
    pub question: &'static str,
    /// The instruction line (the last line, which grouping compares).
    pub instruction: &'static str,
}

/// The five tasks in training order: colour (new group), position (new), shape (retrains the
/// colour group), count (new), size (retrains the colour group again).
pub const TASKS: [SyntheticTask; 5] = [
    SyntheticTask {
        name: "colour",
        question: "What colour is the shape?",
        instruction: SINGLE_WORD,
    },
    SyntheticTask {
        name: "position",
        question: "Where is the shape?",
        instruction: "Answer with left, right, top or bottom.",
    },
    SyntheticTask {
        name: "shape",
        question: "What shape is in the image?",
        instruction: SINGLE_WORD,
    },
    SyntheticTask {
        name: "count",
        question: "How many shapes are there?",
        instruction: "Reply with a number.",
    },
    SyntheticTask {
        name: "size",
        question: "Is the shape big or small?",
        instruction: SINGLE_WORD,
    },
];

/// One drawn scene and its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// Index into [`COLOURS`].
    pub colour: usize,
    /// Index into [`POSITIONS`] (single-shape scenes).
    pub position: usize,
    /// Shapes drawn (1-3; more than one only in counting scenes).
    pub count: usize,
    /// Big or small.
    pub big: bool,
}

impl Scene {
    /// A random single-shape scene, or a counting scene of 1-3 small shapes.
    pub fn random(rng: &mut SplitMix64, counting: bool) -> Self {
        let pick = |rng: &mut SplitMix64, n: usize| (rng.next_u64() % n as u64) as usize;
        Self {
            shape: pick(rng, SHAPES.len()),
            colour: pick(rng, COLOURS.len()),
            position: pick(rng, POSITIONS.len()),
            count: if counting { 1 + pick(rng, 3) } else { 1 },
            big: !counting && rng.next_u64().is_multiple_of(2),
        }
    }

    /// The answer of `task` for this scene.
    pub fn answer(&self, task: &str) -> String {
        match task {
            "colour" => COLOURS[self.colour].0.into(),
            "position" => POSITIONS[self.position].into(),
            "shape" => SHAPES[self.shape].into(),
            "count" => self.count.to_string(),
            _ => if self.big { "big" } else { "small" }.into(),
        }
    }

    /// A caption: "a big red circle on the left", or "two small red circles".
    pub fn caption(&self) -> String {
        let (shape, colour) = (SHAPES[self.shape], COLOURS[self.colour].0);
        match self.count {
            1 => format!(
                "a {} {colour} {shape} on the {}",
                if self.big { "big" } else { "small" },
                POSITIONS[self.position]
            ),
            n => format!("{} small {colour} {shape}s", ["", "one", "two", "three"][n]),
        }
    }

    /// Draws the scene on a `size`×`size` background of a random muted colour.
    pub fn draw(&self, size: u32, rng: &mut SplitMix64) -> RgbImage {
        let mut jitter = |base: u8| base.saturating_add((rng.next_u64() % 60) as u8);
        let background = Rgb([jitter(90), jitter(90), jitter(90)]);
        let mut image = RgbImage::from_pixel(size, size, background);
        let s = size as f64;
        let centres: Vec<(f64, f64)> = if self.count == 1 {
            let c = [(0.27, 0.5), (0.73, 0.5), (0.5, 0.27), (0.5, 0.73)][self.position];
            vec![(c.0 * s, c.1 * s)]
        } else {
            let mut cells: Vec<usize> = (0..4).collect();
            rng.shuffle(&mut cells);
            cells[..self.count]
                .iter()
                .map(|&k| {
                    (
                        (0.27 + 0.46 * (k % 2) as f64) * s,
                        (0.27 + 0.46 * (k / 2) as f64) * s,
                    )
                })
                .collect()
        };
        let radius = s * if self.big { 0.25 } else { 0.15 };
        let colour = Rgb(COLOURS[self.colour].1);
        for (cx, cy) in centres {
            for (x, y, pixel) in image.enumerate_pixels_mut() {
                let (dx, dy) = (
                    (x as f64 + 0.5 - cx) / radius,
                    (y as f64 + 0.5 - cy) / radius,
                );
                if inside(self.shape, dx, dy) {
                    *pixel = colour;
                }
            }
        }
        image
    }
}

/// Whether the offset `(dx, dy)` (in radii from the centre) is inside the shape.
fn inside(shape: usize, dx: f64, dy: f64) -> bool {
    match shape {
        0 => dx * dx + dy * dy <= 1.0,
        1 => dx.abs() <= 0.85 && dy.abs() <= 0.85,
        2 => dy <= 0.8 && dy >= -1.0 + 2.0 * dx.abs(),
        _ => (dx.abs() <= 0.3 && dy.abs() <= 1.0) || (dy.abs() <= 0.3 && dx.abs() <= 1.0),
    }
}

/// Sizes of the generated benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Image side in pixels.
    pub image_size: u32,
    /// Caption records for stage 1.
    pub captions: usize,
    /// Training records per task.
    pub train_per_task: usize,
    /// Test records per task.
    pub test_per_task: usize,
}

/// Where the generated files are.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticBenchmark {
    /// The folder.
    pub root: PathBuf,
    /// Folder of all images (record paths are relative to it).
    pub image_root: PathBuf,
    /// Stage-1 caption records (LLaVA training format).
    pub captions: PathBuf,
    /// `(task, train file, test file)` in training order.
    pub tasks: Vec<(String, PathBuf, PathBuf)>,
}

/// Writes a generated file as JSON, atomically.
fn write(path: &Path, value: &serde_json::Value) -> Result<(), DataError> {
    crate::io::write_json(path, value).map_err(|e| DataError::Record {
        path: path.to_path_buf(),
        index: 0,
        message: format!("cannot write: {e}"),
    })
}

fn image(
    root: &Path,
    name: &str,
    scene: &Scene,
    size: u32,
    rng: &mut SplitMix64,
) -> Result<String, DataError> {
    let file = format!("{name}.png");
    let path = root.join("images").join(&file);
    scene
        .draw(size, rng)
        .save(&path)
        .map_err(|e| DataError::Image {
            path: path.clone(),
            message: e.to_string(),
        })?;
    Ok(file)
}

/// Writes the benchmark into `root`: `images/`, `stage1/train.json` and `<task>/train.json`,
/// `<task>/test.json` for each of [`TASKS`]. The same seed gives the same files.
pub fn generate(root: &Path, config: &SyntheticConfig) -> Result<SyntheticBenchmark, DataError> {
    let images = root.join("images");
    std::fs::create_dir_all(&images).map_err(|e| DataError::Image {
        path: images.clone(),
        message: e.to_string(),
    })?;
    let mut rng = SplitMix64::new(config.seed);
    let mut captions = Vec::with_capacity(config.captions);
    for i in 0..config.captions {
        let scene = Scene::random(&mut rng, i % 4 == 3);
        let file = image(
            root,
            &format!("caption-{i}"),
            &scene,
            config.image_size,
            &mut rng,
        )?;
        captions.push(json!({
            "id": format!("caption-{i}"),
            "image": file,
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe the image briefly."},
                {"from": "gpt", "value": scene.caption()}
            ]
        }));
    }
    let caption_file = root.join("stage1/train.json");
    write(&caption_file, &serde_json::Value::Array(captions))?;
    let mut tasks = Vec::new();
    for task in TASKS {
        let mut files = Vec::new();
        for (split, n) in [
            ("train", config.train_per_task),
            ("test", config.test_per_task),
        ] {
            let mut records = Vec::with_capacity(n);
            for i in 0..n {
                let scene = Scene::random(&mut rng, task.name == "count");
                let id = format!("{}-{split}-{i}", task.name);
                let file = image(root, &id, &scene, config.image_size, &mut rng)?;
                let prompt = format!("{}\n{}", task.question, task.instruction);
                records.push(match split {
                    "train" => json!({
                        "id": id, "image": file,
                        "conversations": [
                            {"from": "human", "value": format!("<image>\n{prompt}")},
                            {"from": "gpt", "value": scene.answer(task.name)}
                        ]
                    }),
                    _ => json!({"question_id": id, "image": file, "text": prompt, "answer": scene.answer(task.name)}),
                });
            }
            let path = root.join(task.name).join(format!("{split}.json"));
            write(&path, &serde_json::Value::Array(records))?;
            files.push(path);
        }
        tasks.push((task.name.to_string(), files[0].clone(), files[1].clone()));
    }
    Ok(SyntheticBenchmark {
        root: root.to_path_buf(),
        image_root: images,
        captions: caption_file,
        tasks,
    })
}
