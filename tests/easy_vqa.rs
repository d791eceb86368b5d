//! The easy-VQA task split: question classification, balanced sampling, the files written.

use std::path::Path;

use lcia::experiments::easy_vqa::data::{
    EasyVqaConfig, TASKS, image_labels, instruction, prepare, task_of,
};
use serde_json::Value;

use crate::pipeline::temp_dir;

#[test]
fn questions_go_to_their_task() {
    let cases = [
        ("what color is the shape?", "blue", "colour"),
        ("what is the color of the triangle?", "teal", "colour"),
        ("what is the blue shape?", "rectangle", "shape"),
        ("what shape does the image contain?", "circle", "shape"),
        ("is there a black shape?", "no", "colour-present"),
        ("is a gray shape present?", "yes", "colour-present"),
        (
            "does the image not contain a gray shape?",
            "yes",
            "colour-absent",
        ),
        ("is no red shape present?", "no", "colour-absent"),
        (
            "does the image contain a rectangle?",
            "yes",
            "shape-present",
        ),
        ("is there a triangle in the image?", "no", "shape-present"),
        ("is there not a circle?", "no", "shape-absent"),
        ("is no triangle present?", "yes", "shape-absent"),
    ];
    for (q, a, task) in cases {
        assert_eq!(task_of(q, a), Some(task), "{q} -> {a}");
    }
    assert_eq!(task_of("how many shapes?", "2"), None);
    assert_eq!(instruction("colour-absent"), instruction("shape-present"));
    assert_ne!(instruction("colour"), instruction("shape"));
}

fn write_split(root: &Path, split: &str, images: u64) {
    let colours = [
        "red", "green", "blue", "black", "gray", "yellow", "teal", "brown",
    ];
    let shapes = ["circle", "rectangle", "triangle"];
    let mut qs = Vec::new();
    for i in 0..images {
        let (c, s) = (colours[i as usize % 8], shapes[i as usize % 3]);
        let other = colours[(i as usize + 3) % 8];
        qs.push(serde_json::json!(["what color is the shape?", c, i]));
        qs.push(serde_json::json!([format!("what is the {c} shape?"), s, i]));
        qs.push(serde_json::json!([
            format!("is there a {c} shape?"),
            "yes",
            i
        ]));
        qs.push(serde_json::json!([
            format!("is there a {other} shape?"),
            "no",
            i
        ]));
        qs.push(serde_json::json!([
            format!("is there not a {c} shape?"),
            "no",
            i
        ]));
        qs.push(serde_json::json!([
            format!("is there not a {other} shape?"),
            "yes",
            i
        ]));
        qs.push(serde_json::json!([format!("is there a {s}?"), "yes", i]));
        qs.push(serde_json::json!(["is there a hexagon?", "no", i]));
        qs.push(serde_json::json!([
            format!("does the image not contain a {s}?"),
            "no",
            i
        ]));
        qs.push(serde_json::json!([
            "does the image not contain a hexagon?",
            "yes",
            i
        ]));
    }
    let dir = root.join(split);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("questions.json"),
        serde_json::to_string(&qs).unwrap(),
    )
    .unwrap();
}

fn read(path: &Path) -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn prepare_writes_six_balanced_tasks_and_captions() {
    let root = temp_dir("easy-vqa");
    let data = root.join("data");
    write_split(&data, "train", 40);
    write_split(&data, "test", 20);
    let config = EasyVqaConfig {
        seed: 3,
        train_per_task: 10,
        test_per_task: 8,
        captions: 12,
    };
    let bench = prepare(&data, &root.join("out"), &config).unwrap();
    let names: Vec<&str> = bench.tasks.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, TASKS);
    for (task, train, test) in &bench.tasks {
        let train = read(train);
        let test = read(test);
        assert_eq!((train.len(), test.len()), (10, 8), "{task}");
        let prompt = train[0]["conversations"][0]["value"].as_str().unwrap();
        assert!(prompt.starts_with("<image>\n"), "{prompt}");
        assert!(prompt.ends_with(instruction(task)), "{prompt}");
        assert!(
            test[0]["image"]
                .as_str()
                .unwrap()
                .starts_with("test/images/")
        );
        if task.contains('-') {
            let yes = test.iter().filter(|r| r["answer"] == "yes").count();
            assert_eq!(yes, 4, "{task}: yes/no must be 50/50");
            let yes = train
                .iter()
                .filter(|r| r["conversations"][1]["value"] == "yes")
                .count();
            assert_eq!(yes, 5, "{task}");
        }
    }
    let captions = read(&bench.captions);
    assert_eq!(captions.len(), 12);
    let labels = image_labels(&data.join("train/questions.json")).unwrap();
    assert_eq!(labels.len(), 40);
    for c in &captions {
        let image = c["image"].as_str().unwrap();
        let id: u64 = image["train/images/".len()..image.len() - 4]
            .parse()
            .unwrap();
        let (colour, shape) = labels[&id];
        let want = format!(
            "a {} {}",
            lcia::experiments::easy_vqa::data::COLOURS[colour],
            lcia::experiments::easy_vqa::data::SHAPES[shape]
        );
        assert_eq!(c["conversations"][1]["value"], want.as_str());
    }
    // Same seed, same files.
    let again = prepare(&data, &root.join("again"), &config).unwrap();
    for (a, b) in bench.tasks.iter().zip(&again.tasks) {
        assert_eq!(read(&a.1), read(&b.1));
        assert_eq!(read(&a.2), read(&b.2));
    }
}
