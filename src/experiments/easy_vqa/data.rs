//! The easy-VQA data set (64×64 images of one coloured shape; questions as `[question,
//! answer, image_id]`) turned into six continual instruction tasks in the CoIN file format.
//!
//! | task | questions | answers | instruction (last line) |
//! |---|---|---|---|
//! | `colour` | what colour is the shape | 8 colours | `Answer with the colour of the shape in one word.` |
//! | `shape` | what shape is in the image | circle, rectangle, triangle | `Answer with the name of the shape in one word.` |
//! | `colour-present` | is there a red shape? | yes / no (50/50) | `Answer yes or no.` |
//! | `colour-absent` | is there not a red shape? | yes / no (50/50) | `Answer yes or no.` |
//! | `shape-present` | is there a circle? | yes / no (50/50) | `Answer yes or no.` |
//! | `shape-absent` | does the image not contain a circle? | yes / no (50/50) | `Answer yes or no.` |
//!
//! The four yes/no tasks share their instruction (grouping retrains one parameter set for
//! them, and the negated tasks flip the answers of the plain ones); the two query tasks
//! expand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::data::DataError;
use crate::experiments::demo::data::SyntheticBenchmark;
use crate::rng::SplitMix64;

/// The colours of easy-VQA.
pub const COLOURS: [&str; 8] = [
    "red", "green", "blue", "black", "gray", "yellow", "teal", "brown",
];
/// The shapes of easy-VQA.
pub const SHAPES: [&str; 3] = ["circle", "rectangle", "triangle"];
/// The six tasks in their default order.
pub const TASKS: [&str; 6] = [
    "colour",
    "shape",
    "colour-present",
    "colour-absent",
    "shape-present",
    "shape-absent",
];

/// How much of easy-VQA each task gets.
#[derive(Debug, Clone, PartialEq)]
pub struct EasyVqaConfig {
    /// Seed of the sampling.
    pub seed: u64,
    /// Training questions per task.
    pub train_per_task: usize,
    /// Test questions per task (from the test split).
    pub test_per_task: usize,
    /// Caption records for stage 1 (from the training images).
    pub captions: usize,
}

/// One question of the data set.
#[derive(Debug, Clone, PartialEq)]
struct Question {
    text: String,
    answer: String,
    image: u64,
}

fn read_questions(path: &Path) -> Result<Vec<Question>, DataError> {
    let bad = |message: String| DataError::Record {
        path: path.to_path_buf(),
        index: 0,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let raw: Vec<(String, String, u64)> = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "{e} (expected [question, answer, image_id] triples)"
        ))
    })?;
    Ok(raw
        .into_iter()
        .map(|(text, answer, image)| Question {
            text,
            answer,
            image,
        })
        .collect())
}

/// The task a question belongs to (by its answer and wording).
pub fn task_of(question: &str, answer: &str) -> Option<&'static str> {
    let words: Vec<&str> = question.trim_end_matches('?').split_whitespace().collect();
    let negated = words.contains(&"not") || words.contains(&"no");
    let names_colour = COLOURS.iter().any(|c| words.contains(c));
    Some(match answer {
        a if COLOURS.contains(&a) => "colour",
        a if SHAPES.contains(&a) => "shape",
        "yes" | "no" => match (names_colour, negated) {
            (true, false) => "colour-present",
            (true, true) => "colour-absent",
            (false, false) => "shape-present",
            (false, true) => "shape-absent",
        },
        _ => return None,
    })
}

/// The instruction line of a task.
pub fn instruction(task: &str) -> &'static str {
    match task {
        "colour" => "Answer with the colour of the shape in one word.",
        "shape" => "Answer with the name of the shape in one word.",
        _ => "Answer yes or no.",
    }
}

/// The colour and shape of each image, read off its questions' answers.
pub fn image_labels(questions_file: &Path) -> Result<BTreeMap<u64, (usize, usize)>, DataError> {
    let mut colour = BTreeMap::new();
    let mut shape = BTreeMap::new();
    for q in read_questions(questions_file)? {
        if let Some(c) = COLOURS.iter().position(|&c| c == q.answer) {
            colour.insert(q.image, c);
        }
        if let Some(s) = SHAPES.iter().position(|&s| s == q.answer) {
            shape.insert(q.image, s);
        }
    }
    Ok(colour
        .into_iter()
        .filter_map(|(image, c)| shape.get(&image).map(|&s| (image, (c, s))))
        .collect())
}

/// Samples `n` questions, half "yes" and half "no" for yes/no tasks.
fn sample(mut pool: Vec<Question>, n: usize, rng: &mut SplitMix64) -> Vec<Question> {
    rng.shuffle(&mut pool);
    if !pool.iter().any(|q| q.answer == "yes") {
        pool.truncate(n);
        return pool;
    }
    let (yes, no): (Vec<_>, Vec<_>) = pool.into_iter().partition(|q| q.answer == "yes");
    let mut out: Vec<Question> = yes
        .into_iter()
        .take(n / 2)
        .chain(no.into_iter().take(n - n / 2))
        .collect();
    rng.shuffle(&mut out);
    out
}

/// Writes a generated file as JSON, atomically.
fn write(path: &Path, value: &serde_json::Value) -> Result<(), DataError> {
    crate::io::write_json(path, value).map_err(|e| DataError::Record {
        path: path.to_path_buf(),
        index: 0,
        message: format!("cannot write: {e}"),
    })
}

/// Writes the six tasks (`<task>/train.json`, `<task>/test.json`) and the stage-1 captions
/// (`stage1/train.json`: "a {colour} {shape}") into `out`, reading easy-VQA's `data` folder
/// `data` (with `train/` and `test/`). Image paths are relative to `data`.
pub fn prepare(
    data: &Path,
    out: &Path,
    config: &EasyVqaConfig,
) -> Result<SyntheticBenchmark, DataError> {
    let mut rng = SplitMix64::new(config.seed);
    let mut tasks = Vec::new();
    let mut by_split = BTreeMap::new();
    for split in ["train", "test"] {
        let questions = read_questions(&data.join(split).join("questions.json"))?;
        let mut by_task: BTreeMap<&str, Vec<Question>> = BTreeMap::new();
        for q in questions {
            if let Some(task) = task_of(&q.text, &q.answer) {
                by_task.entry(task).or_default().push(q);
            }
        }
        by_split.insert(split, by_task);
    }
    for task in TASKS {
        let mut files = Vec::new();
        for (split, n) in [
            ("train", config.train_per_task),
            ("test", config.test_per_task),
        ] {
            let pool = by_split[split].get(task).cloned().unwrap_or_default();
            let records: Vec<serde_json::Value> = sample(pool, n, &mut rng)
                .into_iter()
                .enumerate()
                .map(|(i, q)| {
                    let prompt = format!("{}\n{}", q.text, instruction(task));
                    let image = format!("{split}/images/{}.png", q.image);
                    let id = format!("{task}-{split}-{i}");
                    match split {
                        "train" => json!({"id": id, "image": image, "conversations": [
                            {"from": "human", "value": format!("<image>\n{prompt}")},
                            {"from": "gpt", "value": q.answer}]}),
                        _ => json!({"question_id": id, "image": image, "text": prompt,
                            "answer": q.answer}),
                    }
                })
                .collect();
            let path = out.join(task).join(format!("{split}.json"));
            write(&path, &serde_json::Value::Array(records))?;
            files.push(path);
        }
        tasks.push((task.to_string(), files[0].clone(), files[1].clone()));
    }
    let mut labelled: Vec<(u64, (usize, usize))> =
        image_labels(&data.join("train/questions.json"))?
            .into_iter()
            .collect();
    rng.shuffle(&mut labelled);
    let captions: Vec<serde_json::Value> = labelled
        .into_iter()
        .take(config.captions)
        .map(|(image, (c, s))| {
            json!({"id": format!("caption-{image}"), "image": format!("train/images/{image}.png"),
                "conversations": [
                    {"from": "human", "value": "<image>\nDescribe the image briefly."},
                    {"from": "gpt", "value": format!("a {} {}", COLOURS[c], SHAPES[s])}]})
        })
        .collect();
    let caption_file = out.join("stage1/train.json");
    write(&caption_file, &serde_json::Value::Array(captions))?;
    Ok(SyntheticBenchmark {
        root: out.to_path_buf(),
        image_root: data.to_path_buf(),
        captions: caption_file,
        tasks,
    })
}

/// easy-VQA's `data` folder under the asset cache.
pub fn data_dir(cache: &Path) -> PathBuf {
    cache.join("easy_vqa/data")
}

/// Writes the easy-VQA retention set into `out` (`pope/`, `mme/`): POPE-style shape and
/// MME-style colour questions on the last `images` test images of easy-VQA's `data` folder
/// (never trained on; the tasks' test records draw from the same split).
pub fn write_retention_data(data: &Path, out: &Path, images: usize) -> crate::Result<()> {
    use crate::experiments::retention_set::{LabelledImage, Vocabulary, write_yes_no_set};

    let labels = image_labels(&data.join("test").join("questions.json"))?;
    let mut labelled = Vec::with_capacity(images);
    for (&image, &(colour, shape)) in labels.iter().rev().take(images) {
        let path = data.join("test/images").join(format!("{image}.png"));
        let png = std::fs::read(&path).map_err(|e| crate::Error::io(&path, e))?;
        labelled.push(LabelledImage {
            png,
            shape,
            colour,
            position: None,
        });
    }
    let words = Vocabulary {
        shapes: &SHAPES,
        colours: &COLOURS,
        positions: &[],
    };
    write_yes_no_set(out, &labelled, words, 2026)
}
