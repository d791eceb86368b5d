//! The tiny continual pipeline's data and run config: three CoIN-format tasks on images of one
//! flat colour, shared by the library's tests and the cross-backend tests in `backends/`.

use std::path::{Path, PathBuf};

const COLOURS: [(&str, [u8; 3]); 4] = [
    ("red", [220, 30, 30]),
    ("green", [30, 200, 40]),
    ("blue", [30, 40, 220]),
    ("white", [250, 250, 250]),
];

/// A synthetic task: name, instruction, answer for colour k.
pub type TaskData<'a> = (&'a str, &'a str, fn(usize) -> String);

/// Tiny CoIN-format data: `tasks` = (name, instruction, answer of colour k), 8 training and
/// 4 test records each, images of one flat colour.
pub fn make_data(dir: &Path, tasks: &[TaskData]) {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    for (k, (name, rgb)) in COLOURS.iter().enumerate() {
        let img = image::RgbImage::from_pixel(40, 32, image::Rgb(*rgb));
        img.save(images.join(format!("{k}-{name}.png"))).unwrap();
    }
    for (task, instruction, answer) in tasks {
        let folder = dir.join(task);
        std::fs::create_dir_all(&folder).unwrap();
        let train: Vec<_> = (0..8)
            .map(|i| {
                let k = i % COLOURS.len();
                serde_json::json!({
                    "id": format!("{task}-{i}"),
                    "image": format!("{k}-{}.png", COLOURS[k].0),
                    "conversations": [
                        {"from": "human", "value": format!("<image>\nWhat is shown?\n{instruction}")},
                        {"from": "gpt", "value": answer(k)}
                    ]
                })
            })
            .collect();
        let test: Vec<_> = (0..4)
            .map(|k| {
                serde_json::json!({
                    "question_id": format!("{task}-t{k}"),
                    "image": format!("{k}-{}.png", COLOURS[k].0),
                    "text": format!("What is shown?\n{instruction}"),
                    "answer": answer(k)
                })
            })
            .collect();
        std::fs::write(
            folder.join("train.json"),
            serde_json::to_string(&train).unwrap(),
        )
        .unwrap();
        std::fs::write(
            folder.join("test.json"),
            serde_json::to_string(&test).unwrap(),
        )
        .unwrap();
    }
}

fn colour(k: usize) -> String {
    COLOURS[k].0.to_string()
}
fn yes_no(k: usize) -> String {
    if k.is_multiple_of(2) { "yes" } else { "no" }.to_string()
}
fn letter(k: usize) -> String {
    ["A", "B", "C", "D"][k].to_string()
}

/// Three tasks: the first two share an instruction (retrain, EMA on), the third expands.
pub fn three_tasks(dir: &Path, model: &Path, tokenizer: &Path) -> PathBuf {
    make_data(
        dir,
        &[
            (
                "colour",
                "Answer the question using a single word or phrase.",
                colour,
            ),
            (
                "bright",
                "Answer the question using a single word or phrase.",
                yes_no,
            ),
            ("option", "Pick the option letter.", letter),
        ],
    );
    let config = format!(
        r#"
[model]
dir = "{model}"
tokenizer = "{tokenizer}"

[lora]
r = 4
alpha = 8.0
dropout = 0.0
seed = 7

[train]
epochs = 12
batch_size = 4
lr_lora = 0.01
lr_projector = 0.001
max_len = 128
progress = false

[method]
ema = "official"

[eval]
batch_size = 3
max_new_tokens = 3

[data]
root = "."
image_root = "images"

[[tasks]]
name = "colour"
scorer = "exact"

[[tasks]]
name = "bright"
scorer = "exact"

[[tasks]]
name = "option"
scorer = "exact"
"#,
        model = model.display(),
        tokenizer = tokenizer.display(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, config).unwrap();
    path
}
